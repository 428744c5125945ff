// Token lifecycle, retries and error rules, each run through the blocking, callback and
// poll drivers (see scenario_harness.hpp). Deterministic: manual clock, scripted replies.
#include "scenario_harness.hpp"

#include <doctest/doctest.h>

using namespace dbserve;
using namespace std::chrono_literals;
using scenario::harness;

TEST_CASE_TEMPLATE("1000 queries started together on an empty cache make one token request", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.hold_first_token = true;
    auto results = h.run(1000);
    CHECK(scenario::count_ok(results) == 1000);
    CHECK(h.stats().token_requests == 1);
    CHECK(h.stats().invocations == 1000);
    CHECK(h.replies.count("/oidc/v1/token") == 1);
    // Callback and poll start every query at once: all but the fetching one wait. The
    // blocking driver runs them on `threads` threads, each query in turn: the first query
    // of every thread but the fetching one waits; the later ones find the token cached.
    if (D::value != scenario::driver::blocking) CHECK(h.stats().token_waits == 999);
    else CHECK(h.stats().token_waits == h.threads - 1);
    for (auto& r : scenario::invocations(h.replies)) CHECK(scenario::bearer_of(r) == "t1");
}

TEST_CASE_TEMPLATE("1000 queries while the token is stale make one refresh and none waits", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    REQUIRE(h.run_one());
    h.clock.advance(45min);  // a one-hour token is stale in its last 20 minutes
    auto results = h.run(1000);
    CHECK(scenario::count_ok(results) == 1000);
    CHECK(h.stats().token_requests == 2);
    CHECK(h.stats().token_waits == 0);
    CHECK(h.stats().invocations == 1001);
    // Afterwards the refreshed token is served.
    h.replies.clear_requests();
    REQUIRE(h.run_one());
    CHECK(scenario::bearer_of(scenario::invocations(h.replies).back()) == "t2");
    CHECK(h.stats().token_requests == 2);
}

TEST_CASE_TEMPLATE("a failed refresh while stale keeps the old token and retries after the backoff", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.replies.on("/oidc/v1/token")
        .reply(testing::token_reply("t1"))
        .reply(testing::error_reply(503, "TEMPORARILY_UNAVAILABLE", "token service busy"))
        .always(testing::token_reply("t2"));
    h.replies.on("/invocations").always(testing::json_response(200, "{\"predictions\":[1]}"));
    REQUIRE(h.run_one());
    h.clock.advance(45min);
    REQUIRE(h.run_one());  // starts the refresh, which fails
    CHECK(h.stats().token_requests == 2);
    REQUIRE(h.run_one());
    h.clock.advance(59s);
    REQUIRE(h.run_one());
    CHECK(h.stats().token_requests == 2);  // still backing off
    for (auto& r : scenario::invocations(h.replies)) CHECK(scenario::bearer_of(r) == "t1");
    h.clock.advance(1s);  // the one-minute backoff is over
    REQUIRE(h.run_one());
    CHECK(h.stats().token_requests == 3);
    h.replies.clear_requests();
    REQUIRE(h.run_one());
    CHECK(scenario::bearer_of(scenario::invocations(h.replies).back()) == "t2");
}

TEST_CASE_TEMPLATE("an expired token with the token endpoint down fails every query with the token error", D,
                   SCENARIO_DRIVERS) {
    harness h(D::value);
    h.replies.on("/oidc/v1/token").reply(testing::token_reply("t1"));
    h.replies.on("/invocations").always(testing::json_response(200, "{\"predictions\":[1]}"));
    REQUIRE(h.run_one());
    h.clock.advance(2h);
    h.replies.on("/oidc/v1/token").always(testing::transport_failure(errc::connection, "connection refused"));
    auto results = h.run(100);
    REQUIRE(results.size() == 100);
    for (auto& r : results) {
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::connection);
        CHECK(r.error().message.find("/oidc/v1/token") != std::string::npos);
        CHECK(r.error().message.find("client-secret") == std::string::npos);
    }
    CHECK(h.stats().invocations == 1);
    // One fetch (with its retries) served everyone: those that came later fail at once
    // during the refusal backoff instead of fetching again.
    CHECK(h.stats().token_requests == 1 + static_cast<std::uint64_t>(h.config.retry.max_attempts));
}

TEST_CASE_TEMPLATE("the token endpoint's error and description reach the caller, the secret never", D,
                   SCENARIO_DRIVERS) {
    harness h(D::value);
    h.replies.on("/oidc/v1/token").always(testing::oauth_error_reply(401, "invalid_client", "Client authentication failed"));
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(r.error().service_code == "invalid_client");
    CHECK(r.error().message.find("Client authentication failed") != std::string::npos);
    CHECK(r.error().to_string().find("client-secret") == std::string::npos);
    // Refused credentials are loaded again once and tried once more, then the error stands.
    CHECK(h.stats().token_requests == 2);
    CHECK(h.stats().credential_loads == 2);
    CHECK(h.stats().credential_reloads == 1);
    CHECK(h.stats().invocations == 0);
}

TEST_CASE_TEMPLATE("a 401 drops the token, fetches one new token and retries once", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").reply(testing::error_reply(401, "UNAUTHENTICATED", "token expired"));
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().token_requests == 2);
    CHECK(h.stats().invocations == 2);
    auto calls = scenario::invocations(h.replies);
    REQUIRE(calls.size() == 2);
    CHECK(scenario::bearer_of(calls[0]) == "t1");
    CHECK(scenario::bearer_of(calls[1]) == "t2");
    // The repeat is the same query, not the token request sent in between.
    CHECK(calls[1].body == calls[0].body);
    CHECK(calls[1].headers.get("Content-Type") == "application/json");
    CHECK(calls[1].headers.get("X-Databricks-Workspace-Id") == "1234567890123456");
}

TEST_CASE_TEMPLATE("a second 401 is a clean authentication error", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").always(testing::error_reply(401, "UNAUTHENTICATED", "invalid token"));
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(r.error().http_status == 401);
    CHECK(r.error().message.find("twice") != std::string::npos);
    CHECK(r.error().message.find("my-ep") != std::string::npos);
    CHECK(h.stats().token_requests == 2);
    CHECK(h.stats().invocations == 2);
}

TEST_CASE_TEMPLATE("a 401 does not drop a token that was already replaced", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    REQUIRE(h.run_one());  // t1 cached
    h.replies.on("/invocations").reply(testing::error_reply(401, "UNAUTHENTICATED", "expired"));
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().token_requests == 2);
    REQUIRE(h.run_one());  // t2 is still cached: no third token
    CHECK(h.stats().token_requests == 2);
}

TEST_CASE_TEMPLATE("a 403 is a permission error naming the action and the endpoint, not retried", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").always(testing::error_reply(403, "PERMISSION_DENIED", "no access"));
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::permission);
    CHECK(r.error().message.find("query_inference_endpoint") != std::string::npos);
    CHECK(r.error().message.find("my-ep") != std::string::npos);
    CHECK(h.stats().invocations == 1);
    CHECK(h.stats().token_requests == 1);
}

TEST_CASE_TEMPLATE("429 with Retry-After: 2 waits two seconds on the clock", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").reply(testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "slow down", {{"Retry-After", "2"}}));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.now() - start == 2s);
    CHECK(h.stats().invocations == 2);
    CHECK(h.stats().retries == 1);
    if (D::value == scenario::driver::blocking) {
        REQUIRE(h.clock.sleeps().size() == 1);
        CHECK(h.clock.sleeps().front() == 2s);
    }
}

TEST_CASE_TEMPLATE("a Retry-After HTTP date is honoured", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    // The manual clock's wall time starts at 2026-01-01T00:00:00Z, a Thursday.
    h.replies.on("/invocations").reply(testing::error_reply(503, "TEMPORARILY_UNAVAILABLE", "busy",
                                                            {{"Retry-After", "Thu, 01 Jan 2026 00:00:05 GMT"}}));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.now() - start == 5s);
    CHECK(h.stats().invocations == 2);
}

TEST_CASE_TEMPLATE("a garbage Retry-After falls back to the backoff", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").reply(testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "x", {{"Retry-After", "soon"}}));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE(r);
    // jitter 0: half the 500 ms initial backoff
    CHECK(h.now() - start == 250ms);
}

TEST_CASE_TEMPLATE("a Retry-After beyond the cap is capped", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.retry.max_retry_after = 10s;
    h.replies.on("/invocations").reply(testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "x", {{"Retry-After", "3600"}}));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.now() - start == 10s);
}

TEST_CASE_TEMPLATE("a read timeout on the POST is not retried and says the outcome is unknown", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").reply(testing::transport_failure(errc::timeout, "read timed out", true));
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::timeout);
    CHECK(r.error().request_may_have_been_processed);
    CHECK(r.error().message.find("outcome is unknown") != std::string::npos);
    CHECK(h.stats().invocations == 1);
}

TEST_CASE_TEMPLATE("a read timeout on the POST is retried when the user opts in", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.config.retry.retry_post_when_outcome_unknown = true;
    h.replies.on("/invocations").reply(testing::transport_failure(errc::timeout, "read timed out", true));
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().invocations == 2);
}

TEST_CASE_TEMPLATE("a connection refused before sending is retried with exponential backoff", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations")
        .reply(testing::transport_failure(errc::connection, "connection refused"))
        .reply(testing::transport_failure(errc::connection, "connection refused"));
    const auto start = h.now();
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().invocations == 3);
    CHECK(h.now() - start == 250ms + 500ms);  // jitter 0: half of 500 ms, then half of 1 s
}

TEST_CASE_TEMPLATE("retries stop after max_attempts with the last error", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    h.replies.on("/invocations").always(testing::error_reply(503, "TEMPORARILY_UNAVAILABLE", "down"));
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::unavailable);
    CHECK(h.stats().invocations == static_cast<std::uint64_t>(h.config.retry.max_attempts));
}

TEST_CASE_TEMPLATE("a personal access token is refused before any request", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.secrets.values = credentials{};
    h.secrets.values.host = scenario::workspace;
    h.secrets.values.token = secret_string("dapi0123456789abcdef");
    h.script_tokens_and_success();
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(r.error().message.find("personal access token") != std::string::npos);
    CHECK(r.error().message.find("dapi0123") == std::string::npos);
    CHECK(h.replies.request_count() == 0);
}

TEST_CASE_TEMPLATE("a bearer token is never sent over plain http except to loopback", D, SCENARIO_DRIVERS) {
    SUBCASE("a remote http URL is a configuration error") {
        harness h(D::value);
        h.config.url = "http://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
        h.script_tokens_and_success();
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::configuration);
        CHECK(r.error().message.find("plain http") != std::string::npos);
        CHECK(h.replies.request_count() == 0);
    }
    SUBCASE("loopback http is allowed") {
        harness h(D::value);
        h.config.url = "http://localhost:8080/1234567890123456/serving-endpoints/my-ep/invocations";
        h.secrets.values.host = "http://localhost:8080";
        h.script_tokens_and_success();
        auto r = h.run_one();
        CHECK(r);
    }
}

// ---------------------------------------------------------------- discovery

using scenario::discovered_details;
using scenario::script_discovery;

TEST_CASE_TEMPLATE("discovery by name, then the jwt-bearer exchange with the details byte for byte", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    auto r = h.run_one();
    REQUIRE(r);
    auto requests = h.replies.requests();
    REQUIRE(requests.size() == 4);
    // 1. control-plane token: client credentials, no authorization_details
    CHECK(requests[0].url == std::string(scenario::workspace) + "/oidc/v1/token");
    CHECK(requests[0].body == "grant_type=client_credentials&scope=all-apis");
    CHECK(requests[0].headers.get("Authorization").substr(0, 6) == "Basic ");
    // 2. discovery with the control-plane token
    CHECK(requests[1].method == http_method::get);
    CHECK(requests[1].url == std::string(scenario::workspace) + "/api/2.0/serving-endpoints/my-ep");
    CHECK(requests[1].headers.get("Authorization") == "Bearer cp-token");
    // 3. exchange: no client authentication, the discovered details form-encoded as given
    CHECK_FALSE(requests[2].headers.contains("Authorization"));
    std::string expected = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=cp-token"
                           "&authorization_details=";
    expected += "%5B%7B%22type%22%3A%22workspace_permission%22%2C%22object_type%22%3A%22serving-endpoints%22%2C"
                "%22object_path%22%3A%22%2Fserving-endpoints%2Fabc123%22%2C%22actions%22%3A%5B"
                "%22query_inference_endpoint%22%5D%7D%5D";
    CHECK(requests[2].body == expected);
    // 4. the query with the data-plane token
    CHECK(requests[3].url == scenario::ro_url);
    CHECK(requests[3].headers.get("Authorization") == "Bearer dp-token");
    CHECK(requests[3].headers.get("X-Databricks-Workspace-Id") == "1234567890123456");
    CHECK(h.stats().discoveries == 1);
    CHECK(h.stats().control_plane_token_requests == 1);
    // Cached: the next query goes straight to the endpoint.
    REQUIRE(h.run_one());
    CHECK(h.replies.request_count() == 5);
}

TEST_CASE_TEMPLATE("a throttled discovery is retried after Retry-After", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    h.replies.on("/api/2.0/serving-endpoints/my-ep")
        .reply(testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "slow down", {{"Retry-After", "1"}}));
    const auto start = h.now();
    REQUIRE(h.run_one());
    CHECK(h.stats().discoveries == 2);
    CHECK(h.now() - start == 1s);
}

TEST_CASE_TEMPLATE("many queries started together discover once", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    auto results = h.run(50);
    CHECK(scenario::count_ok(results) == 50);
    CHECK(h.stats().discoveries == 1);
    CHECK(h.stats().token_requests == 2);
}

TEST_CASE_TEMPLATE("a 404 from the data plane discovers the endpoint again once", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    const std::string moved =
        "https://def456.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
    h.replies.on("/api/2.0/serving-endpoints/my-ep")
        .reply(testing::discovery_reply("my-ep", scenario::ro_url, discovered_details))
        .always(testing::discovery_reply("my-ep", moved, discovered_details));
    h.replies.on("abc123.7").always(testing::error_reply(404, "RESOURCE_DOES_NOT_EXIST", "gone"));
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().discoveries == 2);
    auto calls = scenario::invocations(h.replies);
    REQUIRE(calls.size() == 2);
    CHECK(calls[1].url == moved);
    CHECK(calls[1].body == calls[0].body);
    CHECK(calls[1].headers.get("Authorization") == "Bearer dp-token");
    CHECK(calls[1].headers.get("Content-Type") == "application/json");
}

TEST_CASE_TEMPLATE("a 404 after re-discovery is a not-found error", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    h.replies.on("abc123.7").always(testing::error_reply(404, "RESOURCE_DOES_NOT_EXIST", "gone"));
    auto r = h.run_one();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::not_found);
    CHECK(h.stats().discoveries == 2);
}

TEST_CASE_TEMPLATE("a name-resolution failure of the data plane discovers the endpoint again", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    h.replies.on("abc123.7").reply(testing::transport_failure(errc::name_resolution, "could not resolve host"));
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().discoveries == 2);
}

TEST_CASE_TEMPLATE("discovery errors name the endpoint", D, SCENARIO_DRIVERS) {
    SUBCASE("not found") {
        harness h(D::value);
        script_discovery(h, scenario::ro_url);
        h.replies.on("/api/2.0/serving-endpoints/my-ep")
            .always(testing::error_reply(404, "RESOURCE_DOES_NOT_EXIST", "Endpoint not found"));
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::not_found);
        CHECK(r.error().message.find("'my-ep'") != std::string::npos);
    }
    SUBCASE("not route optimized") {
        harness h(D::value);
        script_discovery(h, scenario::ro_url);
        h.replies.on("/api/2.0/serving-endpoints/my-ep")
            .always(testing::json_response(200, R"({"name":"my-ep","state":{"ready":"READY"},"route_optimized":false})"));
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::configuration);
        CHECK(r.error().message.find("not route optimized") != std::string::npos);
    }
    SUBCASE("not ready") {
        harness h(D::value);
        script_discovery(h, scenario::ro_url);
        h.replies.on("/api/2.0/serving-endpoints/my-ep")
            .always(testing::discovery_reply("my-ep", scenario::ro_url, discovered_details, "NOT_READY"));
        auto r = h.run_one();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::unavailable);
        CHECK(r.error().message.find("not ready") != std::string::npos);
        CHECK(h.stats().discoveries == 1);  // reported at once, not retried
        // A failed discovery is not cached: the next query asks again.
        h.replies.on("/api/2.0/serving-endpoints/my-ep").always(testing::discovery_reply("my-ep", scenario::ro_url, discovered_details));
        CHECK(h.run_one());
    }
}

// ---------------------------------------------------------------- supplied tokens

TEST_CASE_TEMPLATE("a supplied token is used until it turns stale, then supplied again", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto clock = h.clock;
    h.config.auth = token_path::supplied;
    h.config.supply_token = [calls, clock]() -> result<supplied_token> {
        const int n = ++*calls;
        return supplied_token{secret_string("s" + std::to_string(n)), clock.wall_now() + std::chrono::minutes(10)};
    };
    h.secrets.values = credentials{};
    h.replies.on("/invocations").always(testing::json_response(200, "{}"));
    REQUIRE(h.run_one());
    REQUIRE(h.run_one());
    CHECK(calls->load() == 1);
    h.clock.advance(6min);  // a 10-minute token is stale after 5 minutes
    REQUIRE(h.run_one());
    CHECK(calls->load() == 2);
    CHECK(h.stats().token_requests == 0);
    h.replies.clear_requests();
    REQUIRE(h.run_one());
    CHECK(scenario::bearer_of(scenario::invocations(h.replies).back()) == "s2");
}

// ---------------------------------------------------------------- streaming

TEST_CASE_TEMPLATE("a streamed chat delivers each delta, then the finish reason and usage", D, SCENARIO_DRIVERS) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
        CAPTURE(seed);
        harness h(D::value);
        h.sync_transport.chunked(seed, 7);
        h.async_transport.chunked(seed, 7);
        h.replies.on("/oidc/v1/token").always(testing::token_reply("t1"));
        h.replies.on("/invocations").always(testing::sse_reply({
            R"({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]})",
            R"({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"}}]})",
            R"({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})",
        }));
        auto run = h.run_stream(R"({"messages":[{"role":"user","content":"hi"}]})");
        REQUIRE(run.outcome);
        CHECK(run.deltas == std::vector<std::string>{"Hel", "lo", ""});
        const auto& summary = run.outcome->summary;
        CHECK(summary.content == "Hello");
        CHECK(summary.finish_reason == "stop");
        REQUIRE(summary.usage);
        CHECK(summary.usage->total_tokens == 5);
        auto calls = scenario::invocations(h.replies);
        REQUIRE(calls.size() == 1);
        CHECK(calls[0].headers.get("Accept") == "text/event-stream");
        CHECK(calls[0].body == R"({"stream":true,"messages":[{"role":"user","content":"hi"}]})");
    }
}

TEST_CASE_TEMPLATE("an error body instead of a stream is reported as that error", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.sync_transport.chunked(3, 5);
    h.async_transport.chunked(3, 5);
    h.replies.on("/oidc/v1/token").always(testing::token_reply("t1"));
    h.replies.on("/invocations").always(testing::error_reply(400, "BAD_REQUEST", "messages must not be empty"));
    auto run = h.run_stream(R"({"messages":[]})");
    REQUIRE_FALSE(run.outcome);
    CHECK(run.outcome.error().code == errc::bad_request);
    CHECK(run.outcome.error().message.find("messages must not be empty") != std::string::npos);
    CHECK(run.deltas.empty());
}

TEST_CASE_TEMPLATE("a 401 on a streamed query refreshes the token and streams on the retry", D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.sync_transport.chunked(5, 4);
    h.async_transport.chunked(5, 4);
    h.script_tokens_and_success();
    h.replies.on("/invocations")
        .reply(testing::error_reply(401, "UNAUTHENTICATED", "expired"))
        .always(testing::sse_reply({R"({"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]})"}));
    auto run = h.run_stream(R"({"messages":[{"role":"user","content":"hi"}]})");
    REQUIRE(run.outcome);
    CHECK(run.outcome->summary.content == "ok");
    CHECK(h.stats().token_requests == 2);
}

TEST_CASE_TEMPLATE("a stale token on the exchange path is refreshed in the background with a new control-plane token",
                   D, SCENARIO_DRIVERS) {
    harness h(D::value);
    script_discovery(h, scenario::ro_url);
    auto control = std::make_shared<std::atomic<int>>(0);
    auto data = std::make_shared<std::atomic<int>>(0);
    h.replies.on("/oidc/v1/token").respond([control, data](const http_request& r) -> result<http_response> {
        if (r.body.find("grant_type=client_credentials") != std::string::npos)
            return testing::token_reply("cp" + std::to_string(++*control));
        return testing::token_reply("dp" + std::to_string(++*data));
    });
    REQUIRE(h.run_one());
    CHECK(h.stats().token_requests == 2);
    h.clock.advance(45min);
    REQUIRE(h.run_one());
    CHECK(h.stats().token_requests == 4);
    CHECK(h.stats().control_plane_token_requests == 2);
    CHECK(h.stats().discoveries == 1);
    CHECK(h.stats().token_waits == 0);
    auto requests = h.replies.requests();
    bool exchanged_with_new_assertion = false;
    for (auto& r : requests)
        if (r.body.find("assertion=cp2") != std::string::npos) exchanged_with_new_assertion = true;
    CHECK(exchanged_with_new_assertion);
    h.replies.clear_requests();
    REQUIRE(h.run_one());
    CHECK(scenario::bearer_of(scenario::invocations(h.replies).back()) == "dp2");
}

TEST_CASE_TEMPLATE("a 401 while this query's own background refresh runs waits for that refresh, then retries",
                   D, SCENARIO_DRIVERS) {
    harness h(D::value);
    h.script_tokens_and_success();
    REQUIRE(h.run_one());
    h.clock.advance(45min);
    h.replies.on("/invocations").reply(testing::error_reply(401, "UNAUTHENTICATED", "revoked"));
    auto r = h.run_one();
    REQUIRE(r);
    CHECK(h.stats().token_requests == 2);
    auto calls = scenario::invocations(h.replies);
    REQUIRE(calls.size() == 3);
    CHECK(scenario::bearer_of(calls[1]) == "t1");
    CHECK(scenario::bearer_of(calls[2]) == "t2");
}
