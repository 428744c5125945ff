// One client shared by many threads, under ThreadSanitizer: blocking, callback and poll
// queries at once while time moves, tokens turn stale and expire, and the data plane
// answers 401 or 429 to the queries planned for it. Any data race or lock-order inversion
// fails the run (halt_on_error=1, no suppressions); every query's outcome is checked
// against the plan.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
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
    // The clocks move fast and without regard to the queries: only the attempt budget may
    // end a query's retries, so each query's outcome follows from the plan alone.
    c.retry.max_elapsed = std::chrono::hours(24 * 365);
    // The refusal backoff after 401s on young tokens would fail queries outside the plan,
    // depending on which 401s happen to come in a row; its own scenario tests cover it.
    c.lifecycle.young_token_window = std::chrono::milliseconds{0};
    return c;
}

// Faults are planned per query, by the number each query carries in its body, so every
// query's outcome is known whatever the threads' interleaving: some always get a 401 (the
// query fails with authentication after one refetch) or a 429 (throttled once its attempts
// run out), some get one 401 or one 429 and then succeed, the rest succeed at once. Tokens
// live 2 minutes (stale after 1, expired 40 s before the end), so refreshes, drops and
// retries interleave.
bool always_401(int k) { return k % 13 == 0; }
bool always_429(int k) { return !always_401(k) && k % 29 == 0; }
bool once_401(int k) { return !always_401(k) && !always_429(k) && k % 7 == 0; }
bool once_429(int k) { return !always_401(k) && !always_429(k) && !once_401(k) && k % 11 == 0; }

std::string body_of(int k) { return "{\"inputs\":[" + std::to_string(k) + "]}"; }

testing::script busy_script() {
    testing::script s;
    auto tokens = std::make_shared<std::atomic<int>>(0);
    struct seen_attempts {
        std::mutex mutex;
        std::map<int, int> attempts;
    };
    auto seen = std::make_shared<seen_attempts>();
    s.on("/oidc/v1/token").respond([tokens](const http_request&) -> result<http_response> {
        return testing::token_reply("t" + std::to_string(++*tokens), 120);
    });
    s.on("/invocations").respond([seen](const http_request& r) -> result<http_response> {
        const auto open = r.body.find('[');
        if (open == std::string::npos) return testing::error_reply(400, "BAD_REQUEST", "no query number");
        const int k = std::atoi(r.body.c_str() + open + 1);
        int attempt = 0;
        {
            std::lock_guard<std::mutex> lock(seen->mutex);
            attempt = ++seen->attempts[k];
        }
        if (always_401(k) || (once_401(k) && attempt == 1))
            return testing::error_reply(401, "UNAUTHENTICATED", "expired");
        if (always_429(k) || (once_429(k) && attempt == 1))
            return testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "slow", {{"Retry-After", "1"}});
        return testing::json_response(200, R"({"predictions":[1]})");
    });
    return s;
}

// What the queries numbered [0, count) came to, against the plan.
struct tally {
    std::atomic<int> succeeded{0}, authentication{0}, throttled{0}, other{0};

    void add(const result<query_response>& r) {
        if (r) ++succeeded;
        else if (r.error().code == errc::authentication) ++authentication;
        else if (r.error().code == errc::throttled) ++throttled;
        else {
            ++other;
            std::lock_guard<std::mutex> lock(report_mutex());
            FAIL_CHECK(r.error().to_string());
        }
    }
    void check_against_plan(int count) const {
        int expect_401 = 0, expect_429 = 0;
        for (int k = 0; k < count; ++k) {
            expect_401 += always_401(k);
            expect_429 += always_429(k);
        }
        CHECK(authentication.load() == expect_401);
        CHECK(throttled.load() == expect_429);
        CHECK(other.load() == 0);
        CHECK(succeeded.load() == count - expect_401 - expect_429);
        CHECK(succeeded.load() > count / 2);  // the plan leaves most queries alone
    }
    static std::mutex& report_mutex() {
        static std::mutex m;
        return m;
    }
};
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
    tally outcomes;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) outcomes.add(client.query(body_of(t * 300 + i)));
        });
    for (auto& t : threads) t.join();
    stop = true;
    ticker.join();
    outcomes.check_against_plan(8 * 300);
    const auto stats = client.statistics();
    CHECK(stats.queries_started == 8u * 300u);
    CHECK(stats.queries_succeeded == static_cast<std::uint64_t>(outcomes.succeeded.load()));
}

TEST_CASE("callback queries started from many threads, completed by another") {
    manual_clock clock;
    testing::fake_async_transport transport(busy_script());
    basic_client<testing::async_traits> client(configured(), transport, clock,
                                               static_secret_source{testing::service_principal()});
    constexpr int per_thread = 300;
    constexpr int starters = 4;
    std::atomic<int> finished{0};
    tally outcomes;
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
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i)
                client.async_query(body_of(t * per_thread + i), [&](result<query_response> r) {
                    outcomes.add(r);
                    ++finished;
                });
        });
    for (auto& t : threads) t.join();
    while (finished < starters * per_thread) std::this_thread::yield();
    stop = true;
    completer.join();
    CHECK(finished == starters * per_thread);
    outcomes.check_against_plan(starters * per_thread);
}

TEST_CASE("poll operations driven on several threads share one client") {
    manual_clock clock;
    testing::fake_transport network(busy_script());
    basic_client<testing::poll_traits> client(configured(), no_transport{}, clock,
                                              static_secret_source{testing::service_principal()});
    tally outcomes;
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                auto op = client.start_query(body_of(t * 200 + i));
                for (;;) {
                    auto step = op.next();
                    if (step.kind == operation_step::send) {
                        op.on_response(step.request_id, network.send(*step.request, step.options()));
                    } else if (step.kind == operation_step::load_credentials) {
                        op.load_credentials();
                    } else if (step.kind == operation_step::wait_until) {
                        clock.advance(step.deadline - clock.monotonic_now());
                    } else if (step.kind == operation_step::done) {
                        outcomes.add(*step.outcome);
                        break;
                    } else if (step.kind == operation_step::idle) {
                        std::this_thread::yield();  // another thread's token fetch
                    }
                }
            }
        });
    for (auto& t : threads) t.join();
    outcomes.check_against_plan(6 * 200);
}
