// What a service embedding dbserve exports as metrics, fed by the client's events
// (client_config::events) rather than by reading logs: counters by event kind and outcome,
// and a histogram of query latencies, here printed at the end instead of scraped.
//
// The sink runs on the thread that drives each query (here: this one, the blocking
// client), must not throw and should be quick: it takes a lock and bumps numbers. An
// event's views live only during the call, and no event carries a secret.
//
//   query_events --endpoint sum-model [QUERIES]
#include <example_options.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/client/events.hpp>
#include <dbserve/curl/transport.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace {
const char* const usage =
    "usage: query_events [--endpoint NAME] [--cacert FILE] [--resolve HOST:PORT:ADDRESS]... [QUERIES]\n"
    "Queries an endpoint (DATABRICKS_SERVING_ENDPOINT or --endpoint) QUERIES times (default 20)\n"
    "and prints the counters and latency histogram its events fed, with DATABRICKS_HOST,\n"
    "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET.\n";

// A metrics registry as small as it gets: named counters and one histogram with
// power-of-two millisecond buckets (<1, <2, <4, ... ms).
class metrics {
public:
    void on_event(const dbserve::query_event& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string name(dbserve::to_string(e.kind));
        if (e.kind == dbserve::event_kind::query_finished) {
            name += e.failure ? "{outcome=\"" + std::string(dbserve::to_string(e.failure->code)) + "\"}"
                              : "{status=\"" + std::to_string(e.status) + "\"}";
            const double ms = std::chrono::duration<double, std::milli>(e.latency).count();
            std::size_t bucket = 0;
            while (bucket + 1 < buckets_.size() && ms >= static_cast<double>(1ull << bucket)) ++bucket;
            ++buckets_[bucket];
            bytes_sent_ += e.request_bytes;
            bytes_received_ += e.response_bytes;
        }
        if (e.kind == dbserve::event_kind::token_fetched)
            name += "{path=\"" + std::string(dbserve::to_string(e.path)) + "\"}";
        ++counters_[name];
    }

    void print(std::FILE* out) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& [name, n] : counters_) std::fprintf(out, "dbserve_events_total %s %llu\n", name.c_str(), n);
        std::fprintf(out, "dbserve_query_bytes sent %zu received %zu\n", bytes_sent_, bytes_received_);
        for (std::size_t i = 0; i < buckets_.size(); ++i)
            if (buckets_[i] != 0)
                std::fprintf(out, "dbserve_query_latency_ms le=%llu: %llu\n", 1ull << i, buckets_[i]);
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, unsigned long long> counters_;
    std::array<unsigned long long, 20> buckets_{};
    std::size_t bytes_sent_ = 0, bytes_received_ = 0;
};
}  // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto options = examples::parse_example_options(argc, argv, "DATABRICKS_SERVING_ENDPOINT", usage, exit_code);
    if (!options) return exit_code;
    int queries = 20;
    if (options->arguments.size() > 1 ||
        (options->arguments.size() == 1 && (queries = std::atoi(options->arguments[0].c_str())) <= 0)) {
        std::fprintf(stderr, "QUERIES must be a positive number\n%s", usage);
        return 2;
    }

    auto registry = std::make_shared<metrics>();
    dbserve::client_config config;
    config.endpoint_name = options->endpoint;
    config.auth = dbserve::token_path::client_credentials;
    config.events = [registry](const dbserve::query_event& e) { registry->on_event(e); };
    dbserve::basic_client<dbserve::traits_for<dbserve::curl::blocking_transport, dbserve::system_clock_policy,
                                              dbserve::environment_secret_source>>
        client(std::move(config), dbserve::curl::blocking_transport(options->transport));

    int failed = 0;
    for (int i = 0; i < queries; ++i) {
        auto r = client.query(std::string(R"({"inputs":[[1,2,3]]})"));
        if (!r) {
            ++failed;
            std::fprintf(stderr, "query_events: a query failed: %s\n", r.error().to_string().c_str());
        } else if (i == 0 && r->trace) {
            // The trace the first query ran under, to find it in a tracing backend.
            std::printf("first query: trace %s, request id %s\n", r->trace->traceparent.c_str(), r->request_id.c_str());
        }
    }
    registry->print(stdout);
    return failed == 0 ? 0 : 1;
}
