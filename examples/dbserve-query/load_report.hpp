// Load mode's summary: counts, failures by kind, throughput and latency percentiles,
// printed as text for people or as one JSON object for scripts. Queries still running when
// --duration ended are neither successes nor failures: they are counted apart (unfinished)
// and left out of the latencies. Latencies go into a fixed-size histogram
// (latency_histogram.hpp), so a run of any length uses the same memory.
#pragma once

#include "latency_histogram.hpp"

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
    latency_histogram latencies;  // one value per finished query
    double elapsed_s = 0;
    std::size_t token_requests = 0;
    std::size_t unfinished = 0;  // still running when --duration ended

    void record_success(double latency_ms) {
        ++queries;
        ++successes;
        latencies.record_ms(latency_ms);
    }
    void record_failure(const std::string& kind, double latency_ms) {
        ++queries;
        ++failures_by_kind[kind];
        latencies.record_ms(latency_ms);
    }
    void record_unfinished() { ++unfinished; }
    void merge(const load_report& other) {
        unfinished += other.unfinished;
        queries += other.queries;
        successes += other.successes;
        for (const auto& [k, n] : other.failures_by_kind) failures_by_kind[k] += n;
        latencies.merge(other.latencies);
    }

    // Percentiles are nearest rank, to the histogram's precision (0.1 %); 0 when empty.
    nlohmann::json to_json() const {
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
             {{"p50", latencies.percentile_ms(50)},
              {"p90", latencies.percentile_ms(90)},
              {"p99", latencies.percentile_ms(99)},
              {"p99.9", latencies.percentile_ms(99.9)},
              {"max", latencies.max_ms()},
              {"precision", latency_histogram::relative_precision},
              // [lower_ms, upper_ms, count] for each non-empty bucket
              {"buckets", latencies.buckets_json()}}},
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
        std::fprintf(out, "latency (ms):   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
                     l["p50"].get<double>(), l["p90"].get<double>(), l["p99"].get<double>(),
                     l["p99.9"].get<double>(), l["max"].get<double>());
        latencies.print_text(out);
        std::fprintf(out, "token requests: %zu\n", token_requests);
        if (unfinished != 0)
            std::fprintf(out, "unfinished:     %zu (still running when --duration ended; not counted above)\n",
                         unfinished);
    }
};

}  // namespace dbserve_query
