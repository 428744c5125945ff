// What the client machinery costs per query, beside the floor: the same request built by
// hand with string concatenation and sent through the same canned transport. The token is
// cached (one-hour lifetime, real clock), the payload small. Heap allocations per query
// are counted by the replaced global operator new below.
#include <dbserve/client/client.hpp>
#include <dbserve/client/events.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {
using namespace dbserve;

const std::string url =
    "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
const std::string body = R"({"dataframe_split":{"columns":["a","b"],"data":[[1,2.5]]}})";
// A realistic token length: Databricks OAuth tokens are JWTs of roughly 800-1000 bytes.
const std::string token(900, 'x');

// Answers every invocation with the same small response; token requests with a token.
struct canned_transport {
    http_response response;
    http_response token_response;
    canned_transport() {
        response.status = 200;
        response.headers.add_unchecked("Content-Type", "application/json");
        response.headers.add_unchecked("served-model-name", "model-a");
        response.body = R"({"predictions":[0.5]})";
        token_response.status = 200;
        token_response.headers.add_unchecked("Content-Type", "application/json");
        token_response.body = "{\"access_token\":\"" + token + "\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    }
    result<http_response> send(const http_request& request, const send_options&) {
        benchmark::DoNotOptimize(request.body.data());
        if (request.url.size() > 20 && request.url.compare(request.url.size() - 12, 12, "/invocations") == 0)
            return response;
        return token_response;
    }
};

struct bench_traits : default_traits {
    using transport = canned_transport;
    using secret_source = static_secret_source;
};

credentials service_principal() {
    credentials c;
    c.host = "https://adb-1234567890123456.7.azuredatabricks.net";
    c.client_id = "client-id";
    c.client_secret = secret_string("client-secret");
    return c;
}

// DBSERVE_BENCH_ITERATIONS=N runs each benchmark exactly N iterations, once: for counting
// instructions under callgrind (bench/count-client.sh), where timing-chosen counts vary.
void fixed_iterations(benchmark::internal::Benchmark* b) {
    if (const char* n = std::getenv("DBSERVE_BENCH_ITERATIONS")) b->Iterations(std::strtoll(n, nullptr, 10));
}

void report_allocations(benchmark::State& state, std::uint64_t before) {
    state.counters["allocs/query"] = benchmark::Counter(static_cast<double>(allocations.load() - before),
                                                        benchmark::Counter::kAvgIterations);
}

// The floor: the request written out by hand, sent through the same transport, and the
// served model name read back; no token cache, no state machine, no retries.
void floor_hand_written(benchmark::State& state) {
    canned_transport transport;
    const std::string bearer = "Bearer " + token;
    const std::string workspace_id = "1234567890123456";
    std::uint64_t before = allocations.load();
    for (auto _ : state) {
        http_request request;
        request.method = http_method::post;
        request.url = url;
        request.headers.reserve(4);
        request.headers.add_unchecked("Authorization", bearer);
        request.headers.add_unchecked("Content-Type", "application/json");
        request.headers.add_unchecked("Accept", "application/json");
        request.headers.add_unchecked("X-Databricks-Workspace-Id", workspace_id);
        request.body = body;
        send_options options;
        options.timeout = std::chrono::milliseconds(60'000);
        auto response = transport.send(request, options);
        std::string served(response->headers.get("served-model-name"));
        benchmark::DoNotOptimize(served.data());
        benchmark::DoNotOptimize(response);
    }
    report_allocations(state, before);
}
BENCHMARK(floor_hand_written)->Apply(fixed_iterations);

// The configuration of the client benchmarks. `traced`: a traceparent generated per query
// (the default); `sink`: an event sink that counts the events.
enum class observing { traced, untraced, sink };
client_config bench_config(observing how) {
    client_config config;
    config.url = url;
    config.trace.generate = how != observing::untraced;
    if (how == observing::sink) {
        static std::uint64_t events = 0;
        config.events = [](const query_event&) { benchmark::DoNotOptimize(++events); };
    }
    return config;
}

void run_blocking_query(benchmark::State& state, observing how) {
    client_config config = bench_config(how);
    basic_client<bench_traits> client(config, canned_transport{}, system_clock_policy{},
                                      static_secret_source{service_principal()});
    if (!client.query(std::string(body))) state.SkipWithError("warm-up query failed");
    std::uint64_t before = allocations.load();
    for (auto _ : state) {
        auto response = client.query(std::string(body));
        benchmark::DoNotOptimize(response);
    }
    report_allocations(state, before);
}
void client_blocking_query(benchmark::State& state) { run_blocking_query(state, observing::traced); }
BENCHMARK(client_blocking_query)->Apply(fixed_iterations);
// No traceparent and no event sink: what the query costs with every observation hook unused.
void client_blocking_query_untraced(benchmark::State& state) { run_blocking_query(state, observing::untraced); }
BENCHMARK(client_blocking_query_untraced)->Apply(fixed_iterations);
// A traceparent and an event sink that counts (one token_fetched at warm-up, then one
// query_finished per query).
void client_blocking_query_events(benchmark::State& state) { run_blocking_query(state, observing::sink); }
BENCHMARK(client_blocking_query_events)->Apply(fixed_iterations);

// The poll driver: the caller's loop sends the request itself.
void run_poll_query(benchmark::State& state, observing how) {
    client_config config = bench_config(how);
    basic_client<bench_traits> client(config, canned_transport{}, system_clock_policy{},
                                      static_secret_source{service_principal()});
    if (!client.query(std::string(body))) state.SkipWithError("warm-up query failed");
    canned_transport network;
    std::uint64_t before = allocations.load();
    for (auto _ : state) {
        auto op = client.start_query(std::string(body));
        for (;;) {
            auto step = op.next();
            if (step.kind == operation_step::send) {
                op.on_response(step.request_id, network.send(*step.request, step.options()));
                continue;
            }
            benchmark::DoNotOptimize(step.outcome);
            break;
        }
    }
    report_allocations(state, before);
}
void client_poll_query(benchmark::State& state) { run_poll_query(state, observing::traced); }
BENCHMARK(client_poll_query)->Apply(fixed_iterations);
void client_poll_query_untraced(benchmark::State& state) { run_poll_query(state, observing::untraced); }
BENCHMARK(client_poll_query_untraced)->Apply(fixed_iterations);
}  // namespace

BENCHMARK_MAIN();
