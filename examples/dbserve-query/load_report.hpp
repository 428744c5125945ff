// Load mode's summary: counts, failures by kind, throughput and latency percentiles,
// printed as text for people or as one JSON object for scripts. Queries still running when
// --duration ended are neither successes nor failures: they are counted apart (unfinished)
// and left out of the latencies.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace dbserve_query {

struct load_report {
    std::size_t queries = 0;
    std::size_t successes = 0;
    std::map<std::string, std::size_t> failures_by_kind;
    std::vector<double> latencies_ms;  // one per finished query
    double elapsed_s = 0;
    std::size_t token_requests = 0;
    std::size_t unfinished = 0;  // still running when --duration ended

    void record_success(double latency_ms) {
        ++queries;
        ++successes;
        latencies_ms.push_back(latency_ms);
    }
    void record_failure(const std::string& kind, double latency_ms) {
        ++queries;
        ++failures_by_kind[kind];
        latencies_ms.push_back(latency_ms);
    }
    void record_unfinished() { ++unfinished; }
    void merge(const load_report& other) {
        unfinished += other.unfinished;
        queries += other.queries;
        successes += other.successes;
        for (const auto& [k, n] : other.failures_by_kind) failures_by_kind[k] += n;
        latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(), other.latencies_ms.end());
    }

    // Nearest-rank percentile over the sorted latencies; 0 when there are none.
    static double percentile(const std::vector<double>& sorted, double p) {
        if (sorted.empty()) return 0;
        auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
        return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
    }

    nlohmann::json to_json() const {
        std::vector<double> sorted = latencies_ms;
        std::sort(sorted.begin(), sorted.end());
        nlohmann::json failures = nlohmann::json::object();
        for (const auto& [k, n] : failures_by_kind) failures[k] = n;
        return {
            {"queries", queries},
            {"successes", successes},
            {"failures", queries - successes},
            {"failures_by_kind", failures},
            {"elapsed_s", elapsed_s},
            {"queries_per_second", elapsed_s > 0 ? static_cast<double>(queries) / elapsed_s : 0.0},
            {"latency_ms",
             {{"p50", percentile(sorted, 50)},
              {"p90", percentile(sorted, 90)},
              {"p99", percentile(sorted, 99)},
              {"max", sorted.empty() ? 0.0 : sorted.back()}}},
            {"token_requests", token_requests},
            {"unfinished", unfinished},
        };
    }

    void print_text(std::FILE* out) const {
        auto j = to_json();
        std::fprintf(out, "queries:        %zu (%zu succeeded, %zu failed)\n", queries, successes,
                     queries - successes);
        for (const auto& [k, n] : failures_by_kind) std::fprintf(out, "  failed, %s: %zu\n", k.c_str(), n);
        std::fprintf(out, "elapsed:        %.3f s\n", elapsed_s);
        std::fprintf(out, "throughput:     %.1f queries/s\n", j["queries_per_second"].get<double>());
        const auto& l = j["latency_ms"];
        std::fprintf(out, "latency (ms):   p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", l["p50"].get<double>(),
                     l["p90"].get<double>(), l["p99"].get<double>(), l["max"].get<double>());
        std::fprintf(out, "token requests: %zu\n", token_requests);
        if (unfinished != 0)
            std::fprintf(out, "unfinished:     %zu (still running when --duration ended; not counted above)\n",
                         unfinished);
    }
};

}  // namespace dbserve_query
