// One client shared by many threads, under ThreadSanitizer: blocking, callback and poll
// queries at once while time moves, tokens turn stale and expire, and the data plane
// sometimes answers 401 or 429. Any data race fails the run (halt_on_error=1).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dbserve/client.hpp>
#include <dbserve/testing.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
client_config configured() {
    client_config c;
    c.url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
    c.jitter = [] { return 0.5; };
    c.retry.retry_post_when_outcome_unknown = false;
    return c;
}

// Tokens live 2 minutes (stale after 1, expired 40 s before the end); every 13th
// invocation is a 401 and every 29th a 429, so refreshes, drops and retries interleave.
testing::script busy_script() {
    testing::script s;
    auto tokens = std::make_shared<std::atomic<int>>(0);
    auto calls = std::make_shared<std::atomic<int>>(0);
    s.on("/oidc/v1/token").respond([tokens](const http_request&) -> result<http_response> {
        return testing::token_reply("t" + std::to_string(++*tokens), 120);
    });
    s.on("/invocations").respond([calls](const http_request&) -> result<http_response> {
        const int n = ++*calls;
        if (n % 13 == 0) return testing::error_reply(401, "UNAUTHENTICATED", "expired");
        if (n % 29 == 0) return testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "slow", {{"Retry-After", "1"}});
        return testing::json_response(200, R"({"predictions":[1]})");
    });
    return s;
}
// With 401s and 429s spread over all queries, one query may draw a 401 twice (a clean
// authentication error) or only 429s until its attempts run out: both are correct outcomes.
bool expected_failure(const dbserve::error& e) {
    return e.code == errc::authentication || e.code == errc::throttled;
}

std::mutex report_mutex;
void unexpected_error(const dbserve::error& e) {
    std::lock_guard<std::mutex> lock(report_mutex);
    FAIL_CHECK(e.to_string());
}
}  // namespace

TEST_CASE("blocking queries from many threads while the clock moves") {
    manual_clock clock;
    testing::fake_transport transport(busy_script());
    basic_client<testing::traits> client(configured(), transport, clock,
                                         static_secret_source{testing::service_principal()});
    std::atomic<bool> stop{false};
    std::thread ticker([&] {
        while (!stop) {
            clock.advance(100ms);
            std::this_thread::yield();
        }
    });
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 300; ++i) {
                auto r = client.query(std::string(R"({"inputs":[1]})"));
                if (r || expected_failure(r.error())) ++ok;
                else unexpected_error(r.error());
            }
        });
    for (auto& t : threads) t.join();
    stop = true;
    ticker.join();
    CHECK(ok == 8 * 300);
    CHECK(client.statistics().queries_started == 8u * 300u);
}

TEST_CASE("callback queries started from many threads, completed by another") {
    manual_clock clock;
    testing::fake_async_transport transport(busy_script());
    basic_client<testing::async_traits> client(configured(), transport, clock,
                                               static_secret_source{testing::service_principal()});
    constexpr int per_thread = 300;
    constexpr int starters = 4;
    std::atomic<int> finished{0};
    std::atomic<int> ok{0};
    std::atomic<bool> stop{false};
    std::thread completer([&] {
        while (!stop) {
            if (!transport.complete_next()) {
                clock.advance(50ms);
                std::this_thread::yield();
            }
        }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < starters; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i)
                client.async_query(std::string("{}"), [&](result<query_response> r) {
                    if (r || expected_failure(r.error())) ++ok;
                    else unexpected_error(r.error());
                    ++finished;
                });
        });
    for (auto& t : threads) t.join();
    while (finished < starters * per_thread) std::this_thread::yield();
    stop = true;
    completer.join();
    CHECK(ok == starters * per_thread);
}

TEST_CASE("poll operations driven on several threads share one client") {
    manual_clock clock;
    testing::fake_transport network(busy_script());
    basic_client<testing::poll_traits> client(configured(), no_transport{}, clock,
                                              static_secret_source{testing::service_principal()});
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                auto op = client.start_query(std::string("{}"));
                for (;;) {
                    auto step = op.next();
                    if (step.kind == operation_step::send) {
                        op.on_response(step.request_id, network.send(*step.request, step.options()));
                    } else if (step.kind == operation_step::wait_until) {
                        clock.advance(step.deadline - clock.monotonic_now());
                    } else if (step.kind == operation_step::done) {
                        if (*step.outcome || expected_failure(step.outcome->error())) ++ok;
                        else unexpected_error(step.outcome->error());
                        break;
                    } else if (step.kind == operation_step::idle) {
                        std::this_thread::yield();  // another thread's token fetch
                    }
                }
            }
        });
    for (auto& t : threads) t.join();
    CHECK(ok == 6 * 200);
}
