// What bounds a query, each run through the blocking, callback and poll drivers (see
// scenario_harness.hpp): the total deadline, the per-request timeouts under it, the
// refusal backoff that keeps a refusing service from drawing a token storm, the checks on
// a discovered endpoint, and a token supplier that misbehaves. Manual clock, no sleeps.
#include "scenario_harness.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace dbserve;
using namespace std::chrono_literals;
using scenario::harness;

namespace {

using scenario::script_discovery;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::chrono::milliseconds> timeouts_to(const harness& h, const std::string& url_part) {
    std::vector<std::chrono::milliseconds> out;
    for (const auto& t : h.timeouts())
        if (contains(t.url, url_part)) out.push_back(t.timeout);
    return out;
}

}  // namespace

// ---------------------------------------------------------------- the total deadline

TEST_CASE_TEMPLATE("a token endpoint that never answers ends the query at its deadline", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.query_deadline = 3s;  // auth_timeout stays 60 s
    h.never_answered = "/oidc/v1/token";
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(contains(r.error().message, "deadline of 3 s"));
    CHECK(contains(r.error().message, "getting a token for serving endpoint 'my-ep'"));
    CHECK_FALSE(r.error().request_may_have_been_processed);
    CHECK(h.now() - start == 3s);
    CHECK(h.stats().invocations == 0);
    // The request was sent with the time left, not the 60 s auth_timeout.
    CHECK(timeouts_to(h, "/oidc/v1/token") == std::vector<std::chrono::milliseconds>{3s});
}

TEST_CASE_TEMPLATE("a token request that never answers times out after auth_timeout", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.auth_timeout = 20s;
    h.config.retry = retry_policy::no_retries();
    h.timing_out = "/oidc/v1/token";
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(contains(r.error().message, "/oidc/v1/token"));
    CHECK(h.now() - start == 20s);
    CHECK(timeouts_to(h, "/oidc/v1/token") == std::vector<std::chrono::milliseconds>{20s});
}

TEST_CASE_TEMPLATE("each request's timeout is its own or the time left, whichever is shorter", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.auth_timeout = 60s;
    h.config.query_deadline = 90s;
    h.timing_out = "/oidc/v1/token";
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(contains(r.error().message, "deadline of 90 s"));
    // 60 s, a 250 ms backoff, then the 29.75 s left.
    CHECK(timeouts_to(h, "/oidc/v1/token") == std::vector<std::chrono::milliseconds>{60s, 29750ms});
    CHECK(h.now() - start == 90s);
}

TEST_CASE_TEMPLATE("discovery that never answers ends the query at its deadline", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    h.config.query_deadline = 5s;
    h.never_answered = "/api/2.0/serving-endpoints/";
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(contains(r.error().message, "deadline of 5 s"));
    CHECK(contains(r.error().message, "looking up serving endpoint 'my-ep'"));
    CHECK(h.now() - start == 5s);
    CHECK(h.stats().token_requests == 1);  // the control-plane token only
    // The discovery was abandoned, not failed: the next query looks the endpoint up again.
    auto again = h.run_one();
    REQUIRE_FALSE(again);
    CHECK(h.stats().discoveries == 2);
}

TEST_CASE_TEMPLATE("a POST that never answers ends at the deadline with its outcome unknown", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.query_deadline = 4s;
    h.never_answered = "/invocations";
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(r.error().request_may_have_been_processed);
    CHECK(contains(r.error().message, "outcome is unknown"));
    CHECK(h.stats().invocations == 1);
}

TEST_CASE_TEMPLATE("a retry wait that would end past the deadline is not taken", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.query_deadline = 5s;
    h.replies.on("/invocations").reply(testing::error_reply(503, "TEMPORARILY_UNAVAILABLE", "busy", {{"Retry-After", "10"}}));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::unavailable);
    CHECK(contains(r.error().message, "not retried: waiting 10 s would pass the query's deadline of 5 s"));
    CHECK(h.now() == start);
    CHECK(h.stats().invocations == 1);
    // A wait that ends in time is taken.
    h.replies.on("/invocations").reply(testing::error_reply(503, "TEMPORARILY_UNAVAILABLE", "busy", {{"Retry-After", "4"}}));
    REQUIRE(h.run_one());
    CHECK(h.stats().invocations == 3);
}

TEST_CASE_TEMPLATE("query_options::deadline overrides the configured one", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.query_deadline = 30s;
    h.never_answered = "/invocations";
    h.build();
    query_options options;
    options.deadline = 2s;
    const auto start = h.now();
    result<query_response> r = unexpected(errc::cancelled, "not run");
    switch (D::value) {
        case scenario::driver::blocking: r = h.blocking->query(std::string("{}"), options); break;
        case scenario::driver::callback: {
            bool finished = false;
            h.callback->async_query(std::string("{}"), [&](result<query_response> out) {
                r = std::move(out);
                finished = true;
            }, options);
            while (!finished && (h.async_transport.complete_next() || h.clock.pending_waits() > 0))
                h.clock.advance(100ms);
            REQUIRE(finished);
            break;
        }
        case scenario::driver::poll: {
            auto op = h.poll->start_query(std::string("{}"), options);
            for (int guard = 0; guard < 100; ++guard) {
                auto step = op.next();
                if (step.kind == operation_step::send) {
                    if (!contains(step.request->url, "/invocations"))
                        op.on_response(step.request_id, h.sync_transport.send(*step.request, step.options()));
                } else if (step.kind == operation_step::load_credentials) {
                    op.load_credentials();
                } else if (step.kind == operation_step::idle) {
                    // The poll API says when to wake: the query's deadline.
                    REQUIRE(step.deadline == start + 2s);
                    h.clock.advance(step.deadline - h.now());
                } else if (step.kind == operation_step::done) {
                    r = std::move(*step.outcome);
                    break;
                }
            }
            break;
        }
    }
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "deadline of 2 s"));
    CHECK(h.now() - start == 2s);
}

// A query waits for another's token fetch, which hangs: the waiter ends at its own
// deadline, and the fetching query (without one) carries on.
TEST_CASE("a query waiting on another's token fetch ends at its deadline: poll") {
    harness h(scenario::driver::poll);
    h.script_tokens_and_success();
    h.build();
    REQUIRE(h.poll->load_credentials());
    auto fetching = h.poll->start_query(std::string("{}"));
    query_options short_options;
    short_options.deadline = 2s;
    auto waiting = h.poll->start_query(std::string("{}"), short_options);
    const auto start = h.now();
    auto token = fetching.next();
    REQUIRE(token.kind == operation_step::send);
    auto idle = waiting.next();
    REQUIRE(idle.kind == operation_step::idle);
    CHECK(idle.waiting_for_others);
    CHECK(idle.deadline == start + 2s);
    h.clock.advance(2s);
    auto done = waiting.next();
    REQUIRE(done.kind == operation_step::done);
    REQUIRE_FALSE(*done.outcome);
    CHECK(done.outcome->error().code == errc::timeout);
    CHECK(contains(done.outcome->error().message, "waiting for another query's token request"));
    CHECK_FALSE(done.outcome->error().request_may_have_been_processed);
    fetching.on_response(token.request_id, testing::token_reply("t1"));
    auto invoke = fetching.next();
    REQUIRE(invoke.kind == operation_step::send);
    CHECK(invoke.request->headers.get("Authorization") == "Bearer t1");
}

TEST_CASE("a query whose deadline passes while it fetches gives the fetch up to a waiting query: poll") {
    harness h(scenario::driver::poll);
    h.script_tokens_and_success();
    h.build();
    REQUIRE(h.poll->load_credentials());
    query_options short_options;
    short_options.deadline = 2s;
    auto fetching = h.poll->start_query(std::string("{}"), short_options);
    auto waiting = h.poll->start_query(std::string("{}"));
    auto token = fetching.next();
    REQUIRE(token.kind == operation_step::send);
    CHECK(token.timeout == 2s);
    REQUIRE(waiting.next().kind == operation_step::idle);
    h.clock.advance(2s);
    auto done = fetching.next();
    REQUIRE(done.kind == operation_step::done);
    CHECK(done.outcome->error().code == errc::timeout);
    // Not failed for the waiter: it fetches in its place.
    auto own = waiting.next();
    REQUIRE(own.kind == operation_step::send);
    CHECK(contains(own.request->url, "/oidc/v1/token"));
    CHECK(own.timeout == 60s);
}

TEST_CASE("a query waiting on another's token fetch ends at its deadline: callback") {
    harness h(scenario::driver::callback);
    h.script_tokens_and_success();
    h.build();
    std::optional<result<query_response>> fetching, waiting;
    h.callback->async_query(std::string("{}"), [&](result<query_response> r) { fetching.emplace(std::move(r)); });
    query_options short_options;
    short_options.deadline = 2s;
    h.callback->async_query(std::string("{}"), [&](result<query_response> r) { waiting.emplace(std::move(r)); },
                            short_options);
    REQUIRE(h.async_transport.pending() == 1);  // one token request
    h.clock.advance(2s);
    REQUIRE(waiting);
    REQUIRE_FALSE(*waiting);
    CHECK(waiting->error().code == errc::timeout);
    CHECK(contains(waiting->error().message, "waiting for another query's token request"));
    CHECK_FALSE(fetching);
    h.async_transport.complete_all();
    REQUIRE(fetching);
    CHECK(*fetching);
}

TEST_CASE("a query waiting on another's token fetch ends at its deadline: blocking") {
    harness h(scenario::driver::blocking);
    h.script_tokens_and_success();
    h.build();
    h.sync_transport.hold("/oidc/v1/token");
    std::optional<result<query_response>> fetching;
    std::thread fetcher([&] { fetching.emplace(h.blocking->query(std::string("{}"))); });
    h.sync_transport.wait_until_held(1);
    query_options short_options;
    short_options.deadline = 2s;
    std::optional<result<query_response>> waiting;
    std::thread waiter([&] { waiting.emplace(h.blocking->query(std::string("{}"), short_options)); });
    // Once the waiter waits (it counts a token wait), its deadline passes. Whether the
    // clock's wake or the token's arrival wakes it, it must end with the deadline's error.
    // (The token is released before joining, so a waiter that ignored its deadline ends
    // with a success and fails the checks instead of hanging.)
    while (h.blocking->statistics().token_waits < 1) std::this_thread::yield();
    h.clock.advance(2s);
    h.sync_transport.release();
    waiter.join();
    fetcher.join();
    REQUIRE(waiting);
    REQUIRE_FALSE(*waiting);
    CHECK(waiting->error().code == errc::timeout);
    CHECK(contains(waiting->error().message, "waiting for another query's token request"));
    REQUIRE(fetching);
    CHECK(*fetching);
    CHECK(h.stats().token_requests == 1);
}

// ---------------------------------------------------------------- no token storm

TEST_CASE_TEMPLATE("a data plane that answers 401 to everything draws one token request per backoff period", D,
                   SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").always(testing::error_reply(401, "UNAUTHENTICATED", "invalid token"));
    auto check_all_refused = [](const std::vector<result<query_response>>& results) {
        for (const auto& r : results) {
            REQUIRE_FALSE(r);
            CHECK(r.error().code == errc::authentication);
            CHECK(r.error().http_status == 401);
        }
    };
    // The first 401 on a young token may be a revocation: one new token; the second
    // blocks new tokens for 1 s, and every other query fails at once.
    auto results = h.run(100);
    check_all_refused(results);
    CHECK(h.stats().token_requests == 2);
    const auto invocations = h.stats().invocations;
    CHECK(invocations <= 200);
    auto more = h.run(100);
    check_all_refused(more);
    CHECK(contains(more.front().error().message, "No new token is requested for it for the next 1 s"));
    CHECK(h.stats().token_requests == 2);
    CHECK(h.stats().invocations == invocations);  // failed fast: nothing sent
    // One token per period, the period doubling: 1 s, then 2 s.
    h.clock.advance(1s);
    check_all_refused(h.run(100));
    CHECK(h.stats().token_requests == 3);
    h.clock.advance(1999ms);
    check_all_refused(h.run(10));
    CHECK(h.stats().token_requests == 3);
    h.clock.advance(1ms);
    check_all_refused(h.run(10));
    CHECK(h.stats().token_requests == 4);
    // An accepted token ends it: the next young-token 401s start again at one second.
    h.clock.advance(4s);
    h.replies.on("/invocations").always(testing::json_response(200, "{}"));
    REQUIRE(h.run_one());
    CHECK(h.stats().token_requests == 5);
    h.replies.on("/invocations").always(testing::error_reply(401, "UNAUTHENTICATED", "invalid token"));
    auto again = h.run_one();
    REQUIRE_FALSE(again);
    CHECK(h.stats().token_requests == 6);
    CHECK(contains(h.run_one().error().message, "for the next 1 s"));
}

TEST_CASE_TEMPLATE("a token endpoint that keeps refusing draws one token request per backoff period", D,
                   SCENARIO_DRIVERS) {
    for (int status : {401, 500}) {
        CAPTURE(status);
        harness h(D::value);
        h.script_tokens_and_success();
        if (status == 401)
            h.replies.on("/oidc/v1/token").always(testing::oauth_error_reply(401, "invalid_client", "Client authentication failed"));
        else
            h.replies.on("/oidc/v1/token").always(testing::error_reply(500, "INTERNAL_ERROR", "token service broken"));
        // invalid_client: each fetch loads the credentials again once and tries them once more.
        const std::uint64_t per_fetch = status == 401 ? 2 : 1;
        auto results = h.run(100);
        for (const auto& r : results) {
            REQUIRE_FALSE(r);
            CHECK(r.error().code == (status == 401 ? errc::authentication : errc::service));
            CHECK_FALSE(contains(r.error().to_string(), "client-secret"));
        }
        CHECK(h.stats().token_requests == per_fetch);
        CHECK(h.stats().credential_reloads == per_fetch - 1);
        h.clock.advance(999ms);
        auto blocked = h.run(10);
        CHECK(contains(blocked.front().error().message, "no new token is requested for the next 1 s"));
        if (status == 401) CHECK(blocked.front().error().service_code == "invalid_client");
        CHECK(h.stats().token_requests == per_fetch);
        h.clock.advance(1ms);
        h.run(10);
        CHECK(h.stats().token_requests == 2 * per_fetch);
        h.clock.advance(2s);
        h.run(10);
        CHECK(h.stats().token_requests == 3 * per_fetch);
        CHECK(h.stats().invocations == 0);
    }
}

TEST_CASE_TEMPLATE("a 429 with Retry-After from the token endpoint is waited out inside the query", D,
                   SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/oidc/v1/token")
        .reply(testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "slow down", {{"Retry-After", "3"}}))
        .always(testing::token_reply("t2"));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.now() - start == 3s);
    CHECK(h.stats().token_requests == 2);
    CHECK(h.stats().retries == 1);
    CHECK(scenario::bearer_of(scenario::invocations(h.replies).back()) == "t2");
}

// ---------------------------------------------------------------- discovery

TEST_CASE_TEMPLATE("a 401 from the control plane during discovery refreshes the control-plane token once", D,
                   SCENARIO_DRIVERS) {
    SUBCASE("the second lookup succeeds") {
        harness h(D::value);
        script_discovery(h, scenario::ro_url);
        h.replies.on("/api/2.0/serving-endpoints/my-ep").reply(testing::error_reply(401, "UNAUTHENTICATED", "expired"));
        REQUIRE(h.run_one());
        CHECK(h.stats().discoveries == 2);
        CHECK(h.stats().control_plane_token_requests == 2);
    }
    SUBCASE("a second 401 is an authentication error") {
        harness h(D::value);
        script_discovery(h, scenario::ro_url);
        h.replies.on("/api/2.0/serving-endpoints/my-ep").always(testing::error_reply(401, "UNAUTHENTICATED", "no"));
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::authentication);
        CHECK(contains(r.error().message, "'my-ep'"));
        CHECK(h.stats().discoveries == 2);
        CHECK(h.stats().control_plane_token_requests == 2);
        // Two young control-plane tokens refused: no third one for a while.
        auto blocked = h.run_one();
        REQUIRE_FALSE(blocked);
        CHECK(h.stats().control_plane_token_requests == 2);
        CHECK(h.stats().discoveries == 2);
    }
}

TEST_CASE_TEMPLATE("a discovered endpoint off the workspace's serving domain gets no token", D, SCENARIO_DRIVERS) {
    const std::string elsewhere = "https://abc123.example.net/1234567890123456/serving-endpoints/my-ep/invocations";
    SUBCASE("refused, naming the host and the setting that allows it") {
        harness h(D::value);
        script_discovery(h, elsewhere);
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::configuration);
        CHECK(contains(r.error().message, "abc123.example.net"));
        CHECK(contains(r.error().message, "*.serving.azuredatabricks.net"));
        CHECK(contains(r.error().message, "allowed_endpoint_hosts"));
        CHECK(h.replies.count("example.net") == 0);
        CHECK(h.stats().token_requests == 1);  // the control-plane token only: no exchange
    }
    SUBCASE("allowed by a suffix in the configuration") {
        harness h(D::value);
        script_discovery(h, elsewhere);
        h.config.allowed_endpoint_hosts = {".example.net"};
        REQUIRE(h.run_one());
        CHECK(h.replies.count("abc123.example.net") == 1);
    }
    SUBCASE("another cloud's serving domain is refused") {
        harness h(D::value);
        script_discovery(h, "https://abc123.serving.cloud.databricks.com/1234567890123456/serving-endpoints/my-ep/invocations");
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::configuration);
        CHECK(h.replies.count("/invocations") == 0);
    }
    SUBCASE("a plain-http endpoint URL is refused") {
        harness h(D::value);
        script_discovery(h, "http://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations");
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "plain http"));
        CHECK(h.replies.count("/invocations") == 0);
    }
}

// ---------------------------------------------------------------- supplied tokens

TEST_CASE_TEMPLATE("a token supplier's bad answers are clear errors and nothing is sent", D, SCENARIO_DRIVERS) {
    struct bad_case {
        const char* what;
        std::function<result<supplied_token>(manual_clock)> supply;
        const char* expected;
    };
    const std::vector<bad_case> cases = {
        {"an error", [](manual_clock) -> result<supplied_token> { return unexpected(errc::unavailable, "broker down"); },
         "broker down"},
        {"an empty token",
         [](manual_clock c) -> result<supplied_token> { return supplied_token{secret_string(""), c.wall_now() + 1h}; },
         "empty token"},
        {"an expired token",
         [](manual_clock c) -> result<supplied_token> { return supplied_token{secret_string("old"), c.wall_now() - 1s}; },
         "already expired"},
        {"malformed text",
         [](manual_clock c) -> result<supplied_token> {
             return supplied_token{secret_string("tok\r\nX-Evil: 1"), c.wall_now() + 1h};
         },
         "control character"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        harness h(D::value);
        auto clock = h.clock;
        auto supply = c.supply;
        h.config.auth = token_path::supplied;
        h.config.supply_token = [supply, clock] { return supply(clock); };
        h.secrets.values = credentials{};
        h.replies.on("/invocations").always(testing::json_response(200, "{}"));
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "token supplier"));
        CHECK(contains(r.error().message, c.expected));
        CHECK_FALSE(contains(r.error().message, "X-Evil"));
        CHECK(h.replies.request_count() == 0);
    }
}

TEST_CASE_TEMPLATE("a 401 on a supplied token asks the supplier once more, then retries", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto clock = h.clock;
    h.config.auth = token_path::supplied;
    h.config.supply_token = [calls, clock]() -> result<supplied_token> {
        return supplied_token{secret_string("s" + std::to_string(++*calls)), clock.wall_now() + 1h};
    };
    h.secrets.values = credentials{};
    h.replies.on("/invocations").reply(testing::error_reply(401, "UNAUTHENTICATED", "revoked")).always(testing::json_response(200, "{}"));
    REQUIRE(h.run_one());
    CHECK(calls->load() == 2);
    auto calls_seen = scenario::invocations(h.replies);
    REQUIRE(calls_seen.size() == 2);
    CHECK(scenario::bearer_of(calls_seen[0]) == "s1");
    CHECK(scenario::bearer_of(calls_seen[1]) == "s2");
}
