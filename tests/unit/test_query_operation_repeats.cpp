// query_operation: what a repeated request carries after the requests sent in between (a
// token refetch after a 401, a retried control-plane token before discovery). Found by the
// end-to-end tests; pinned here with the poll interface and a manual clock.
#include <dbserve/client/client.hpp>
#include <dbserve/client/query_operation.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
const char* body = R"({"instances":[[1,2]]})";

client_config base_config() {
    client_config c;
    c.jitter = [] { return 0.0; };
    return c;
}

// Steps until the operation asks to send something, with a bound so a looping operation
// fails the test instead of hanging it (next() itself must return).
operation_step next_send(query_operation& op, manual_clock& clock) {
    for (int i = 0; i < 10; ++i) {
        auto step = op.next();
        if (step.kind == operation_step::wait_until) {
            clock.advance(step.deadline - clock.monotonic_now());
            continue;
        }
        return step;
    }
    FAIL("the operation never asked to send");
    return {};
}
}  // namespace

TEST_CASE("an invocation repeated after a 401 carries the query body and JSON type, with the new token") {
    manual_clock clock;
    auto config = base_config();
    config.url = url;
    basic_client<testing::poll_traits> client(config, no_transport{}, clock,
                                              static_secret_source{testing::service_principal()});
    REQUIRE(client.load_credentials());
    auto op = client.start_query(std::string(body));
    auto t1 = op.next();
    REQUIRE(t1.kind == operation_step::send);
    op.on_response(t1.request_id, testing::token_reply("first-token"));
    auto q1 = op.next();
    REQUIRE(q1.kind == operation_step::send);
    CHECK(q1.request->body == body);
    op.on_response(q1.request_id, testing::error_reply(401, "UNAUTHENTICATED", "token revoked"));

    auto t2 = op.next();
    REQUIRE(t2.kind == operation_step::send);
    CHECK(t2.request->url.find("/oidc/v1/token") != std::string::npos);
    op.on_response(t2.request_id, testing::token_reply("second-token"));

    auto q2 = op.next();
    REQUIRE(q2.kind == operation_step::send);
    CHECK(q2.request->url == url);
    CHECK(q2.request->body == body);
    CHECK(q2.request->headers.get("Content-Type") == "application/json");
    CHECK(q2.request->headers.get("Authorization") == "Bearer second-token");
    op.on_response(q2.request_id, testing::json_response(200, R"({"predictions":[3]})"));
    auto done = op.next();
    REQUIRE(done.kind == operation_step::done);
    REQUIRE(done.outcome);
    CHECK(done.outcome->has_value());
}

TEST_CASE("a retried control-plane token request goes on to discovery and the exchange") {
    manual_clock clock;
    auto config = base_config();
    config.endpoint_name = "my-ep";
    config.auth = token_path::token_exchange;
    basic_client<testing::poll_traits> client(config, no_transport{}, clock,
                                              static_secret_source{testing::service_principal()});
    REQUIRE(client.load_credentials());
    auto op = client.start_query(std::string(body));
    auto c1 = next_send(op, clock);
    REQUIRE(c1.kind == operation_step::send);
    CHECK(c1.request->url.find("/oidc/v1/token") != std::string::npos);
    op.on_response(c1.request_id, testing::oauth_error_reply(503, "temporarily_unavailable", "try later"));

    auto c2 = next_send(op, clock);
    REQUIRE(c2.kind == operation_step::send);
    CHECK(c2.request->url.find("/oidc/v1/token") != std::string::npos);
    op.on_response(c2.request_id, testing::token_reply("control-token"));

    auto d = next_send(op, clock);
    REQUIRE(d.kind == operation_step::send);
    CHECK(d.request->url.find("/api/2.0/serving-endpoints/my-ep") != std::string::npos);
    const std::string details = authorization_details::for_serving_endpoint("abc123").json();
    op.on_response(d.request_id, testing::discovery_reply("my-ep", url, details));

    auto x = next_send(op, clock);
    REQUIRE(x.kind == operation_step::send);
    CHECK(x.request->body.find("jwt-bearer") != std::string::npos);
    op.on_response(x.request_id, testing::token_reply("data-token"));

    auto q = next_send(op, clock);
    REQUIRE(q.kind == operation_step::send);
    CHECK(q.request->url == url);
    CHECK(q.request->body == body);
    op.on_response(q.request_id, testing::json_response(200, R"({"predictions":[3]})"));
    auto done = op.next();
    REQUIRE(done.kind == operation_step::done);
    REQUIRE(done.outcome);
    CHECK(done.outcome->has_value());
}
