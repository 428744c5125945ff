// What a caller sees of a query from outside: the W3C trace context its requests carry,
// the events it reports to client_config::events, and a stream's inactivity timeout.
#include <dbserve/client/client.hpp>
#include <dbserve/client/events.hpp>
#include <dbserve/client/query_group.hpp>
#include <dbserve/client/trace_context.hpp>
#include <dbserve/client/workspace.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <iterator>
#include <set>
#include <string>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
const char* details =
    R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/abc123","actions":["query_inference_endpoint"]}])";
const char* caller_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

client_config configured() {
    client_config c;
    c.url = url;
    c.jitter = [] { return 0.0; };
    return c;
}

testing::fake_transport scripted() {
    testing::fake_transport t;
    t.replies().on("/oidc/v1/token").always(testing::token_reply("secret-token-value"));
    t.replies().on("/invocations").always(testing::json_response(
        200, R"({"predictions":[1]})", {{"served-model-name", "model-a"}, {"x-request-id", "req-7"}}));
    return t;
}

// Issues tokens, and answers invocations with each of `first` once, in order, then `then`.
testing::fake_transport answering(std::initializer_list<http_response> first, http_response then) {
    testing::fake_transport t;
    t.replies().on("/oidc/v1/token").always(testing::token_reply("secret-token-value"));
    auto invocations = t.replies().on("/invocations");
    for (const auto& r : first) invocations.reply(r);
    invocations.always(std::move(then));
    return t;
}

// Every event a client reports, copied out of the call (its views end with it).
struct recorded_event {
    event_kind kind;
    std::string endpoint, trace_id, failure, reason, served_model, finish_reason;
    token_path path;
    std::chrono::nanoseconds lifetime, latency, wait, since_previous;
    bool old_token_served;
    int status, attempt, attempts;
    std::size_t request_bytes, response_bytes, chunks;
    std::optional<token_usage> usage;
};

struct recorder {
    std::shared_ptr<std::vector<recorded_event>> events = std::make_shared<std::vector<recorded_event>>();
    event_sink sink() const {
        return [events = events](const query_event& e) {
            events->push_back({e.kind, std::string(e.endpoint), std::string(e.trace_id),
                               e.failure ? e.failure->to_string() : std::string(), std::string(e.reason),
                               std::string(e.served_model), std::string(e.finish_reason), e.path, e.lifetime,
                               e.latency, e.wait, e.since_previous, e.old_token_served, e.status, e.attempt,
                               e.attempts, e.request_bytes, e.response_bytes, e.chunks, e.usage});
        };
    }
    std::vector<recorded_event> of(event_kind kind) const {
        std::vector<recorded_event> out;
        for (const auto& e : *events)
            if (e.kind == kind) out.push_back(e);
        return out;
    }
};

// A client of the configured endpoint whose events go to `seen`.
basic_client<testing::traits> client_with_sink(testing::fake_transport& transport, const recorder& seen) {
    auto config = configured();
    config.events = seen.sink();
    return basic_client<testing::traits>(config, transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
}

// The same for a poll client driven by the test, on `clock` (shared with the test).
basic_client<testing::poll_traits> poll_client_with_sink(const manual_clock& clock, const recorder& seen) {
    auto config = configured();
    config.events = seen.sink();
    return basic_client<testing::poll_traits>(config, no_transport{}, clock,
                                              static_secret_source{testing::service_principal()});
}

bool is_generated_traceparent(const std::string& value) { return value.size() == 55 && check_traceparent(value); }
}  // namespace

// ---------------------------------------------------------------- trace context

TEST_CASE("traceparent: the W3C format is checked field by field") {
    CHECK(check_traceparent(caller_parent));
    CHECK(check_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    // A later version may carry more fields after a '-'.
    CHECK(check_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
    const char* bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",           // short
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",          // uppercase
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",          // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",          // all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",          // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",    // version 00 is exact
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",          // separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",          // not hex
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",         // later version, no '-'
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\n",         // flags
    };
    for (const char* value : bad) {
        CAPTURE(value);
        auto checked = check_traceparent(value);
        REQUIRE_FALSE(checked);
        CHECK(checked.error().code == errc::invalid_argument);
        CHECK(checked.error().message.find("traceparent") != std::string::npos);
    }
}

TEST_CASE("tracestate: members, keys and values are checked") {
    CHECK(check_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    CHECK(check_tracestate("tenant@vendor=v , , other=x"));
    CHECK(check_tracestate(""));
    const std::string bad[] = {"Rojo=1", "rojo", "=1", "rojo=a,b=", "rojo=a=b", "rojo=a\tb",
                               "a@=1", std::string(513, 'a'), "k=\x01"};
    for (const auto& value : bad) {
        CAPTURE(value);
        CHECK_FALSE(check_tracestate(value));
    }
    std::string many;
    for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
    CHECK_FALSE(check_tracestate(many));
}

TEST_CASE("generated traceparents are valid, never all zero, and differ") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto value = generate_traceparent(i % 2 == 0);
        REQUIRE(is_generated_traceparent(value));
        CHECK(value.substr(53) == (i % 2 == 0 ? "01" : "00"));
        seen.insert(std::string(trace_id_of(value)));
    }
    CHECK(seen.size() == 1000);
}

TEST_CASE("trace ids are written as lowercase hex, highest digit first") {
    const std::uint64_t words[] = {0, 1, 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 0xa0b1c2d3e4f50617ULL,
                                   ~std::uint64_t(0)};
    std::uint64_t state = 7;
    std::vector<std::uint64_t> all(std::begin(words), std::end(words));
    for (int i = 0; i < 10000; ++i) all.push_back(detail::splitmix64(state));
    for (std::uint64_t word : all) {
        char written[16];
        detail::write_hex(written, word);
        char expected[17];
        std::snprintf(expected, sizeof expected, "%016llx", static_cast<unsigned long long>(word));
        REQUIRE(std::string(written, 16) == expected);
    }
}

TEST_CASE("the result's traceparent is the one the requests carried, through a 401, a retry and a new token") {
    auto transport = answering({testing::error_reply(401, "UNAUTHENTICATED", "token expired"),
                                testing::error_reply(503, "TEMPORARILY_UNAVAILABLE", "busy")},
                               testing::json_response(200, "{}"));
    recorder seen;
    auto client = client_with_sink(transport, seen);
    auto r = client.query(std::string("{}"));
    REQUIRE(r);
    REQUIRE(r->trace);
    CHECK(is_generated_traceparent(r->trace->traceparent));
    const auto requests = transport.replies().requests();
    CHECK(requests.size() == 5);  // token, invocation (401), token, invocation (503), invocation
    for (const auto& request : requests) CHECK(request.headers.get("traceparent") == r->trace->traceparent);
    auto done = seen.of(event_kind::query_finished);
    REQUIRE(done.size() == 1);
    CHECK(done[0].trace_id == std::string(trace_id_of(r->trace->traceparent)));
}

TEST_CASE("a caller's trace context is in the result and in the query's events, and stays with its query") {
    auto transport = scripted();
    recorder seen;
    auto config = configured();
    config.events = seen.sink();
    basic_client<testing::poll_traits> client(config, no_transport{}, manual_clock{},
                                              static_secret_source{testing::service_principal()});
    query_options options;
    options.trace = trace_context{caller_parent, "rojo=1"};
    auto started = client.start_query(std::string("{}"), options);
    auto op = std::move(started);  // the operation moves; the context it sends moves with it
    std::optional<result<query_response>> outcome;
    for (int guard = 0; guard < 20 && !outcome; ++guard) {
        auto step = op.next();
        if (step.kind == operation_step::load_credentials) op.load_credentials();
        else if (step.kind == operation_step::send)
            op.on_response(step.request_id, transport.send(*step.request, step.options()));
        else if (step.kind == operation_step::done) outcome.emplace(std::move(*step.outcome));
    }
    REQUIRE(outcome);
    auto& r = *outcome;
    REQUIRE(r);
    REQUIRE(r->trace);
    CHECK(r->trace->traceparent == caller_parent);
    CHECK(r->trace->tracestate == "rojo=1");
    for (const auto& request : transport.replies().requests()) CHECK(request.headers.get("traceparent") == caller_parent);
    for (const auto& e : *seen.events) CHECK(e.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("a background token refresh that ends after the result keeps the query's trace in its requests and events") {
    for (const bool from_caller : {true, false}) {
        CAPTURE(from_caller);
        manual_clock clock;
        recorder seen;
        auto client = poll_client_with_sink(clock, seen);
        auto transport = scripted();
        // Sends every request the operation asks for, answering invocations before token
        // requests, so a background refresh ends after the query's result.
        auto drive = [&](query_operation& op) {
            std::vector<std::pair<std::uint64_t, http_request>> pending;
            std::optional<result<query_response>> outcome;
            for (int guard = 0; guard < 50 && !outcome; ++guard) {
                auto step = op.next();
                if (step.kind == operation_step::load_credentials) op.load_credentials();
                else if (step.kind == operation_step::send) pending.push_back({step.request_id, *step.request});
                else if (step.kind == operation_step::done) outcome.emplace(std::move(*step.outcome));
                else if (!pending.empty()) {
                    auto next = pending.begin();
                    for (auto p = pending.begin(); p != pending.end(); ++p)
                        if (p->second.url.find("/invocations") != std::string::npos) next = p;
                    auto sent = std::move(*next);
                    pending.erase(next);
                    op.on_response(sent.first, transport.send(sent.second, send_options{}));
                }
            }
            return outcome;
        };
        query_options options;
        if (from_caller) options.trace = trace_context{caller_parent, "rojo=1"};
        {
            auto first = client.start_query(std::string("{}"), options);
            auto done = drive(first);
            REQUIRE(done);
            REQUIRE(*done);
        }
        clock.advance(58min);  // the cached token is now stale: the next query refreshes it beside
        seen.events->clear();
        const std::size_t sent_before = transport.replies().requests().size();
        auto op = client.start_query(std::string("{}"), options);
        auto done = drive(op);
        REQUIRE(done);
        REQUIRE(*done);
        const auto& r = **done;
        REQUIRE(r.trace);
        const std::string trace_id(trace_id_of(r.trace->traceparent));
        REQUIRE(trace_id.size() == 32);
        const auto requests = transport.replies().requests();
        REQUIRE(requests.size() == sent_before + 2);  // the invocation and the background token request
        for (std::size_t i = sent_before; i < requests.size(); ++i)
            CHECK(requests[i].headers.get("traceparent") == r.trace->traceparent);
        REQUIRE(seen.of(event_kind::token_fetched).size() == 1);
        REQUIRE(seen.of(event_kind::query_finished).size() == 1);
        for (const auto& e : *seen.events) CHECK(e.trace_id == trace_id);
    }
}

TEST_CASE("every request of a query carries the query's generated traceparent; the result names it") {
    auto transport = scripted();
    basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    auto first = client.query(std::string("{}"));
    REQUIRE(first);
    auto requests = transport.replies().requests();
    REQUIRE(requests.size() == 2);  // token, invocation
    const std::string sent(requests[0].headers.get("traceparent"));
    CHECK(is_generated_traceparent(sent));
    CHECK(sent.substr(53) == "00");  // not sampled unless configured
    CHECK(requests[1].headers.get("traceparent") == sent);
    CHECK(requests[1].headers.get("tracestate").empty());
    REQUIRE(first->trace);
    CHECK(first->trace->traceparent == sent);
    CHECK(first->trace->tracestate.empty());
    CHECK_FALSE(first->client_request_id);
    CHECK(first->request_id == "req-7");
    auto second = client.query(std::string("{}"));
    REQUIRE(second);
    REQUIRE(second->trace);
    CHECK(is_generated_traceparent(second->trace->traceparent));
    CHECK(trace_id_of(second->trace->traceparent) != trace_id_of(first->trace->traceparent));
    CHECK(transport.replies().requests().back().headers.get("traceparent") == second->trace->traceparent);
}

TEST_CASE("the sampled flag of generated traceparents is configurable, and generation can be turned off") {
    auto transport = scripted();
    auto config = configured();
    config.trace.sampled = true;
    basic_client<testing::traits> sampled(config, transport, manual_clock{},
                                          static_secret_source{testing::service_principal()});
    auto r = sampled.query(std::string("{}"));
    REQUIRE(r);
    REQUIRE(r->trace);
    CHECK(r->trace->traceparent.substr(53) == "01");

    auto quiet_transport = scripted();
    config.trace.generate = false;
    basic_client<testing::traits> quiet(config, quiet_transport, manual_clock{},
                                        static_secret_source{testing::service_principal()});
    auto q = quiet.query(std::string("{}"));
    REQUIRE(q);
    CHECK_FALSE(q->trace);
    for (const auto& request : quiet_transport.replies().requests()) CHECK(request.headers.get("traceparent").empty());
}

TEST_CASE("the caller's traceparent and tracestate are sent on every request as given, with the client request id linked") {
    auto transport = scripted();
    auto config = configured();
    config.trace.generate = false;  // the caller's context wins either way
    basic_client<testing::traits> client(config, transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    query_options options;
    options.trace = trace_context{caller_parent, "rojo=00f067aa0ba902b7"};
    options.client_request_id = "order-17";
    auto r = client.query(std::string("{}"), options);
    REQUIRE(r);
    for (const auto& request : transport.replies().requests()) {
        CHECK(request.headers.get("traceparent") == caller_parent);
        CHECK(request.headers.get("tracestate") == "rojo=00f067aa0ba902b7");
    }
    REQUIRE(r->trace);
    CHECK(r->trace->traceparent == caller_parent);
    CHECK(r->trace->tracestate == "rojo=00f067aa0ba902b7");
    CHECK(r->client_request_id == std::string("order-17"));
    CHECK(r->request_id == "req-7");
    CHECK(transport.replies().requests().back().body == R"({"client_request_id":"order-17"})");
}

TEST_CASE("a malformed caller trace context fails the query before anything is sent") {
    struct bad_case {
        const char* parent;
        const char* state;
        const char* says;
    };
    const bad_case cases[] = {
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "", "trace id"},
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", "all zero"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX: y", "", "55 characters"},
        {caller_parent, "Bad Key=1", "tracestate"},
        {"", "rojo=1", "without a traceparent"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.parent);
        CAPTURE(c.state);
        auto transport = scripted();
        basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                             static_secret_source{testing::service_principal()});
        query_options options;
        options.trace = trace_context{c.parent, c.state};
        auto r = client.query(std::string("{}"), options);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::invalid_argument);
        CHECK(r.error().message.find(c.says) != std::string::npos);
        CHECK(transport.replies().requests().empty());
    }
}

TEST_CASE("discovery requests carry the traceparent too") {
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/api/2.0/serving-endpoints/my-ep").always(testing::discovery_reply("my-ep", url, details));
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    client_config config;
    config.endpoint_name = "my-ep";
    config.jitter = [] { return 0.0; };
    basic_client<testing::traits> client(config, transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    auto r = client.query(std::string("{}"));
    REQUIRE(r);
    auto requests = transport.replies().requests();
    REQUIRE(requests.size() >= 3);  // control token, discovery, token exchange, invocation
    bool saw_discovery = false;
    for (const auto& request : requests) {
        CHECK(request.headers.get("traceparent") == r->trace->traceparent);
        if (request.url.find("/api/2.0/serving-endpoints/") != std::string::npos) saw_discovery = true;
    }
    CHECK(saw_discovery);
}

// ---------------------------------------------------------------- events

TEST_CASE("events: a token fetched and a query finished, with their figures and no secret") {
    auto transport = scripted();
    recorder seen;
    auto client = client_with_sink(transport, seen);
    auto r = client.query(std::string(R"({"inputs":[1]})"));
    REQUIRE(r);
    REQUIRE(seen.events->size() == 2);
    const auto& token = (*seen.events)[0];
    CHECK(token.kind == event_kind::token_fetched);
    CHECK(token.path == token_path::client_credentials);
    CHECK(token.lifetime == 3600s);
    CHECK(token.endpoint == "my-ep");
    CHECK(token.trace_id == std::string(trace_id_of(r->trace->traceparent)));
    const auto& done = (*seen.events)[1];
    CHECK(done.kind == event_kind::query_finished);
    CHECK(done.status == 200);
    CHECK(done.failure.empty());
    CHECK(done.attempts == 1);
    CHECK(done.request_bytes == std::string(R"({"inputs":[1]})").size());
    CHECK(done.response_bytes == std::string(R"({"predictions":[1]})").size());
    CHECK(done.served_model == "model-a");
    CHECK(done.trace_id.size() == 32);
    // A second query uses the cached token: only its end is reported.
    REQUIRE(client.query(std::string("{}")));
    CHECK(seen.events->size() == 3);
    CHECK(seen.events->back().kind == event_kind::query_finished);
}

TEST_CASE("events: a retry is scheduled with its status, wait and attempt; a failed query reports its error") {
    auto transport = answering({testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "slow down")},
                               testing::error_reply(400, "BAD_REQUEST", "bad input"));
    recorder seen;
    auto client = client_with_sink(transport, seen);
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    auto retries = seen.of(event_kind::retry_scheduled);
    REQUIRE(retries.size() == 1);
    CHECK(retries[0].status == 429);
    CHECK(retries[0].attempt == 1);
    CHECK(retries[0].wait > 0ns);
    CHECK(retries[0].failure.find("slow down") != std::string::npos);
    auto done = seen.of(event_kind::query_finished);
    REQUIRE(done.size() == 1);
    CHECK(done[0].status == 400);
    CHECK(done[0].attempts == 2);
    CHECK(done[0].failure.find("bad input") != std::string::npos);
    for (const auto& e : *seen.events) CHECK(e.failure.find("secret-token-value") == std::string::npos);
}

TEST_CASE("events: discovery, and re-discovery after a 404 with its reason") {
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/api/2.0/serving-endpoints/my-ep").always(testing::discovery_reply("my-ep", url, details));
    transport.replies()
        .on("/invocations")
        .reply(testing::error_reply(404, "RESOURCE_DOES_NOT_EXIST", "gone"))
        .always(testing::json_response(200, "{}"));
    recorder seen;
    client_config config;
    config.endpoint_name = "my-ep";
    config.jitter = [] { return 0.0; };
    config.events = seen.sink();
    basic_client<testing::traits> client(config, transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    auto found = seen.of(event_kind::discovered);
    REQUIRE(found.size() == 2);
    CHECK(found[0].reason == "first lookup");
    CHECK(found[0].endpoint == "my-ep");
    CHECK(found[1].reason.find("404") != std::string::npos);
    auto tokens = seen.of(event_kind::token_fetched);
    REQUIRE_FALSE(tokens.empty());
    CHECK(tokens[0].path == token_path::token_exchange);
}

TEST_CASE("events: one sink for a workspace; each event names the endpoint its query went to") {
    const std::string chat_url =
        "https://chat1.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/chat/invocations";
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/api/2.0/serving-endpoints/chat").always(testing::discovery_reply(
        "chat",
        chat_url,
        R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/chat1","actions":["query_inference_endpoint"]}])"));
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    recorder seen;
    workspace_config config;
    config.jitter = [] { return 0.0; };
    config.events = seen.sink();
    basic_workspace<testing::traits> workspace(config, transport, manual_clock{},
                                               static_secret_source{testing::service_principal()});
    auto chat = workspace.endpoint("chat");
    auto model = workspace.endpoint_at(url);
    REQUIRE(chat.query(std::string("{}")));
    REQUIRE(model.query(std::string("{}")));
    auto tokens = seen.of(event_kind::token_fetched);
    auto done = seen.of(event_kind::query_finished);
    REQUIRE(tokens.size() == 2);  // each endpoint's data-plane token
    REQUIRE(done.size() == 2);
    CHECK(seen.of(event_kind::discovered).at(0).endpoint == "chat");
    CHECK(tokens[0].endpoint == "chat");
    CHECK(tokens[0].path == token_path::token_exchange);  // each endpoint's own token path
    CHECK(tokens[1].endpoint == "my-ep");
    CHECK(tokens[1].path == token_path::client_credentials);
    CHECK(done[0].endpoint == "chat");
    CHECK(done[1].endpoint == "my-ep");
}

TEST_CASE("events: a failed token refresh says whether the old token is still served, without the token") {
    auto clock = manual_clock{};
    int calls = 0;
    recorder seen;
    auto config = configured();
    config.auth = token_path::supplied;
    config.events = seen.sink();
    config.supply_token = [&calls, clock]() -> result<supplied_token> {
        if (++calls == 1) return supplied_token{secret_string("supplied-secret"), clock.wall_now() + 1h};
        return unexpected(errc::authentication, "the broker is down");
    };
    testing::fake_transport transport;
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    basic_client<testing::traits> client(config, transport, clock, static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    REQUIRE(seen.of(event_kind::token_fetched).size() == 1);
    CHECK(seen.of(event_kind::token_fetched)[0].path == token_path::supplied);
    clock.advance(58min);  // stale: refreshed beside the query, the old one still served
    REQUIRE(client.query(std::string("{}")));
    auto failed = seen.of(event_kind::token_refresh_failed);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].old_token_served);
    CHECK(failed[0].failure.find("the broker is down") != std::string::npos);
    for (const auto& e : *seen.events) CHECK(e.failure.find("supplied-secret") == std::string::npos);
}

TEST_CASE("events: a stream reports its first byte, first token, each chunk and its end") {
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/invocations").always(testing::sse_reply(
        {R"({"choices":[{"delta":{"role":"assistant"}}]})", R"({"choices":[{"delta":{"content":"Hel"}}]})",
         R"({"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"}));
    transport.chunked(7, 9);
    recorder seen;
    auto client = client_with_sink(transport, seen);
    std::string text;
    auto r = client.stream(std::string(R"({"messages":[]})"), [&](const chat_chunk& c) { text += c.content(); });
    REQUIRE(r);
    CHECK(text == "Hello");
    CHECK(seen.of(event_kind::stream_first_byte).size() == 1);
    CHECK(seen.of(event_kind::stream_first_token).size() == 1);
    auto chunks = seen.of(event_kind::stream_chunk);
    REQUIRE(chunks.size() == 3);
    CHECK(chunks[2].chunks == 3);
    auto end = seen.of(event_kind::stream_end);
    REQUIRE(end.size() == 1);
    CHECK(end[0].finish_reason == "stop");
    REQUIRE(end[0].usage);
    CHECK(end[0].usage->completion_tokens == 2);
    CHECK(end[0].chunks == 3);
    // The order: first byte, the role chunk, first token, ... , end, finished.
    std::vector<event_kind> order;
    for (const auto& e : *seen.events) order.push_back(e.kind);
    auto at = [&](event_kind k) { return std::find(order.begin(), order.end(), k) - order.begin(); };
    CHECK(at(event_kind::stream_first_byte) < at(event_kind::stream_chunk));
    CHECK(at(event_kind::stream_chunk) < at(event_kind::stream_first_token));
    CHECK(at(event_kind::stream_end) < at(event_kind::query_finished));
    auto done = seen.of(event_kind::query_finished);
    REQUIRE(done.size() == 1);
    CHECK(done[0].response_bytes == testing::sse_reply({R"({"choices":[{"delta":{"role":"assistant"}}]})",
                                                        R"({"choices":[{"delta":{"content":"Hel"}}]})",
                                                        R"({"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"})
                                        .body.size());
}

TEST_CASE("events: chunk times follow the clock in a poll stream") {
    manual_clock clock;
    recorder seen;
    auto client = poll_client_with_sink(clock, seen);
    REQUIRE(client.load_credentials());  // ahead, so next() starts with the token request
    auto op = client.start_stream(std::string("{}"));
    auto t = op.next();
    op.on_response(t.request_id, testing::token_reply("tok"));
    auto q = op.next();
    REQUIRE(q.kind == operation_step::send);
    http_response head;
    head.status = 200;
    clock.advance(300ms);
    op.on_body_chunk(q.request_id, head, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
    clock.advance(50ms);
    op.on_body_chunk(q.request_id, head, "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n");
    auto first = seen.of(event_kind::stream_first_token);
    REQUIRE(first.size() == 1);
    CHECK(first[0].latency == 300ms);
    auto chunks = seen.of(event_kind::stream_chunk);
    REQUIRE(chunks.size() == 2);
    CHECK(chunks[0].since_previous == 300ms);
    CHECK(chunks[1].since_previous == 50ms);
}

// ---------------------------------------------------------------- stream inactivity

TEST_CASE("stream idle timeout: the send step carries it, and a poll driver's wait says when the stream stalls") {
    manual_clock clock;
    auto config = configured();
    config.stream_idle_timeout = 2s;
    basic_client<testing::poll_traits> client(config, no_transport{}, clock,
                                              static_secret_source{testing::service_principal()});
    REQUIRE(client.load_credentials());  // ahead, so next() starts with the token request
    auto op = client.start_stream(std::string("{}"));
    auto t = op.next();
    CHECK(t.idle_timeout == 0ms);  // a token request is not a stream
    op.on_response(t.request_id, testing::token_reply("tok"));
    auto q = op.next();
    REQUIRE(q.kind == operation_step::send);
    CHECK(q.idle_timeout == 2s);
    CHECK(q.options().idle_timeout == 2s);
    const auto sent_at = clock.monotonic_now();
    auto idle = op.next();
    REQUIRE(idle.kind == operation_step::idle);
    CHECK(idle.deadline == sent_at + 2s);
    http_response head;
    head.status = 200;
    // A stream that keeps sending is never cut: a byte every 1.5 s for 15 s.
    for (int i = 0; i < 10; ++i) {
        clock.advance(1500ms);
        op.on_body_chunk(q.request_id, head, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
        auto s = op.next();
        while (s.kind == operation_step::chunk) s = op.next();
        REQUIRE(s.kind == operation_step::idle);
        CHECK(s.deadline == clock.monotonic_now() + 2s);
    }
    clock.advance(2s);
    auto s = op.next();
    while (s.kind == operation_step::chunk) s = op.next();
    REQUIRE(s.kind == operation_step::done);
    REQUIRE_FALSE(*s.outcome);
    CHECK(s.outcome->error().code == errc::timeout);
    CHECK(s.outcome->error().request_may_have_been_processed);
    CHECK(s.outcome->error().message.find("sent no byte for 2 s") != std::string::npos);
    CHECK(op.summary().chunks == 10);  // the chunks so far are kept
    CHECK(op.summary().content == std::string(10, 'x'));
}

TEST_CASE("stream idle timeout: a query_group's idle step says when a workspace's stream stalls, and ends it then") {
    manual_clock clock;
    workspace_config config;
    config.stream_idle_timeout = 2s;
    basic_workspace<testing::poll_traits> workspace(config, no_transport{}, clock,
                                                    static_secret_source{testing::service_principal()});
    REQUIRE(workspace.load_credentials());
    query_group group;
    const auto key = group.add(workspace.endpoint_at(url).start_stream(std::string("{}")));
    auto t = group.next();
    REQUIRE(t.step.kind == operation_step::send);
    group.on_response(key, t.step.request_id, testing::token_reply("tok"));
    auto q = group.next();
    REQUIRE(q.step.kind == operation_step::send);
    CHECK(q.step.idle_timeout == 2s);
    const auto sent_at = clock.monotonic_now();
    auto idle = group.next();
    REQUIRE(idle.step.kind == operation_step::idle);
    CHECK(idle.step.deadline == sent_at + 2s);
    clock.advance(2s);
    auto done = group.next();
    REQUIRE(done.step.kind == operation_step::done);
    REQUIRE_FALSE(*done.step.outcome);
    CHECK(done.step.outcome->error().code == errc::timeout);
}

TEST_CASE("stream idle timeout: a per-query value overrides the configured one, and the transport gets it") {
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    std::vector<std::chrono::milliseconds> seen_idle;
    transport.replies().on("/invocations").respond([](const http_request&) {
        return result<http_response>(testing::sse_reply({R"({"choices":[{"delta":{"content":"a"}}]})"}));
    });
    struct capturing {
        testing::fake_transport inner;
        std::shared_ptr<std::vector<std::chrono::milliseconds>> idle =
            std::make_shared<std::vector<std::chrono::milliseconds>>();
        result<http_response> send(const http_request& r, const send_options& o) {
            idle->push_back(o.idle_timeout);
            return inner.send(r, o);
        }
    };
    struct capturing_traits : testing::traits {
        using transport = capturing;
    };
    auto config = configured();
    config.stream_idle_timeout = 30s;
    basic_client<capturing_traits> client(config, capturing{transport}, manual_clock{},
                                          static_secret_source{testing::service_principal()});
    auto ignore = [](const chat_chunk&) {};
    REQUIRE(client.stream(std::string("{}"), ignore));
    query_options options;
    options.stream_idle_timeout = 5s;
    REQUIRE(client.stream(std::string("{}"), ignore, options));
    REQUIRE(client.query(std::string("{}")));
    auto& idle = *client.transport().idle;
    REQUIRE(idle.size() == 4);  // token, stream, stream, query
    CHECK(idle[0] == 0ms);
    CHECK(idle[1] == 30s);
    CHECK(idle[2] == 5s);
    CHECK(idle[3] == 0ms);  // not a stream
}

TEST_CASE("stream idle timeout: the callback driver wakes at the stall and ends the query, even if the transport never does") {
    manual_clock clock;
    testing::fake_async_transport transport(testing::script(), testing::fake_async_transport::mode::immediate);
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.never_answer("/invocations");  // a transport that ignores the idle timeout
    auto config = configured();
    config.stream_idle_timeout = 3s;
    {
        basic_client<testing::async_traits> client(config, transport, clock,
                                                   static_secret_source{testing::service_principal()});
        std::optional<result<stream_response>> outcome;
        client.async_stream(
            std::string("{}"), [](const chat_chunk&) {},
            [&outcome](result<stream_response> r) { outcome.emplace(std::move(r)); });
        REQUIRE(transport.unanswered() == 1);
        clock.advance(2900ms);
        CHECK_FALSE(outcome);
        clock.advance(100ms);
        REQUIRE(outcome);
        REQUIRE_FALSE(*outcome);
        CHECK(outcome->error().code == errc::timeout);
        CHECK(outcome->error().message.find("sent no byte for 3 s") != std::string::npos);
    }
    transport.forget_unanswered();
}
