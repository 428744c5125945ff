// The poll interface of query_operation: what the caller's own loop sees.
#include <dbserve/client/client.hpp>
#include <dbserve/client/query_operation.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";

struct fixture {
    manual_clock clock;
    basic_client<testing::poll_traits> client;
    // Loaded ahead, as a poll loop that keeps the credential step out of its frames does.
    fixture() : client(config(), no_transport{}, clock, static_secret_source{testing::service_principal()}) {
        REQUIRE(client.load_credentials());
    }
    static client_config config() {
        client_config c;
        c.url = url;
        c.jitter = [] { return 0.0; };
        return c;
    }
};

http_response ok() { return testing::json_response(200, R"({"predictions":[1]})"); }
}  // namespace

TEST_CASE("a poll operation asks for the token, then the query, then is done") {
    fixture f;
    auto op = f.client.start_query(std::string("{}"));
    auto s1 = op.next();
    REQUIRE(s1.kind == operation_step::send);
    CHECK(s1.request->url.find("/oidc/v1/token") != std::string::npos);
    CHECK(s1.timeout == 60s);
    // Nothing else to do until the response arrives: idle is false in a boolean context.
    auto idle = op.next();
    CHECK(idle.kind == operation_step::idle);
    CHECK_FALSE(idle);
    CHECK_FALSE(idle.waiting_for_others);
    op.on_response(s1.request_id, testing::token_reply("tok"));
    auto s2 = op.next();
    REQUIRE(s2.kind == operation_step::send);
    CHECK(s2.request->url == url);
    CHECK(s2.request_id != s1.request_id);
    CHECK(s2.timeout == 0ms);  // the invocation: the transport's default unless configured
    op.on_response(s2.request_id, ok());
    auto s3 = op.next();
    REQUIRE(s3.kind == operation_step::done);
    REQUIRE(s3.outcome);
    REQUIRE(*s3.outcome);
    CHECK((*s3.outcome)->status == 200);
    CHECK(op.finished());
}

TEST_CASE("per-query timeouts override the configured invocation timeout") {
    fixture f;
    query_options options;
    options.timeout = 5s;
    auto op = f.client.start_query(std::string("{}"), options);
    auto t = op.next();
    op.on_response(t.request_id, testing::token_reply("tok"));
    CHECK(op.next().timeout == 5s);
}

TEST_CASE("a response with an unknown request id is ignored") {
    fixture f;
    auto op = f.client.start_query(std::string("{}"));
    auto s1 = op.next();
    op.on_response(s1.request_id + 100, testing::token_reply("wrong"));
    CHECK(op.next().kind == operation_step::idle);
    op.on_response(s1.request_id, testing::token_reply("tok"));
    CHECK(op.next().kind == operation_step::send);
}

TEST_CASE("a second operation waits for the first one's token fetch") {
    fixture f;
    auto a = f.client.start_query(std::string("{}"));
    auto b = f.client.start_query(std::string("{}"));
    auto sa = a.next();
    REQUIRE(sa.kind == operation_step::send);
    auto sb = b.next();
    CHECK(sb.kind == operation_step::idle);
    CHECK(sb.waiting_for_others);
    a.on_response(sa.request_id, testing::token_reply("tok"));
    REQUIRE(a.next().kind == operation_step::send);
    auto sb2 = b.next();
    REQUIRE(sb2.kind == operation_step::send);
    CHECK(sb2.request->headers.get("Authorization") == "Bearer tok");
    CHECK(f.client.statistics().token_requests == 1);
}

TEST_CASE("dropping an operation that fetches a token lets the next one fetch") {
    fixture f;
    auto b = f.client.start_query(std::string("{}"));
    {
        auto a = f.client.start_query(std::string("{}"));
        REQUIRE(a.next().kind == operation_step::send);
        CHECK(b.next().waiting_for_others);
    }
    auto sb = b.next();
    REQUIRE(sb.kind == operation_step::send);
    CHECK(sb.request->url.find("/oidc/v1/token") != std::string::npos);
}

TEST_CASE("while the token is stale the refresh and the query are handed out together") {
    fixture f;
    auto first = f.client.start_query(std::string("{}"));
    auto t = first.next();
    first.on_response(t.request_id, testing::token_reply("old"));
    auto q = first.next();
    first.on_response(q.request_id, ok());
    REQUIRE(first.next().kind == operation_step::done);

    f.clock.advance(45min);
    auto op = f.client.start_query(std::string("{}"));
    auto a = op.next();
    auto b = op.next();
    REQUIRE(a.kind == operation_step::send);
    REQUIRE(b.kind == operation_step::send);
    const bool refresh_first = a.request->url.find("/oidc/v1/token") != std::string::npos;
    auto& s1 = refresh_first ? a : b;  // the refresh
    auto& s2 = refresh_first ? b : a;  // the query
    CHECK(s1.request->url.find("/oidc/v1/token") != std::string::npos);
    CHECK(s2.request->headers.get("Authorization") == "Bearer old");
    // The query answers first; the operation still waits for its refresh.
    op.on_response(s2.request_id, ok());
    CHECK(op.next().kind == operation_step::idle);
    op.on_response(s1.request_id, testing::token_reply("new"));
    auto done = op.next();
    REQUIRE(done.kind == operation_step::done);
    CHECK(*done.outcome);
    CHECK(f.client.data_token_state() == token_state::fresh);
}

TEST_CASE("a backoff is a wait_until on the monotonic clock, repeated until it has passed") {
    fixture f;
    auto op = f.client.start_query(std::string("{}"));
    auto t = op.next();
    op.on_response(t.request_id, testing::token_reply("tok"));
    auto q = op.next();
    op.on_response(q.request_id,
                   testing::error_reply(429, "REQUEST_LIMIT_EXCEEDED", "later", {{"Retry-After", "3"}}));
    auto w = op.next();
    REQUIRE(w.kind == operation_step::wait_until);
    CHECK(w.deadline == f.clock.monotonic_now() + 3s);
    f.clock.advance(2s);
    auto w2 = op.next();
    REQUIRE(w2.kind == operation_step::wait_until);
    CHECK(w2.deadline == w.deadline);
    f.clock.advance(1s);
    auto again = op.next();
    REQUIRE(again.kind == operation_step::send);
    CHECK(again.request->url == url);
}

TEST_CASE("a finished operation keeps answering done") {
    fixture f;
    auto op = f.client.start_query(std::string("{}"));
    auto t = op.next();
    op.on_response(t.request_id, testing::oauth_error_reply(400, "invalid_request", "bad"));
    auto done = op.next();
    REQUIRE(done.kind == operation_step::done);
    REQUIRE(done.outcome);
    CHECK_FALSE(*done.outcome);
    auto again = op.next();
    CHECK(again.kind == operation_step::done);
    CHECK_FALSE(again.outcome);
}

TEST_CASE("a poll stream hands out chunks as steps while the body arrives") {
    fixture f;
    auto op = f.client.start_stream(std::string(R"({"messages":[]})"));
    auto t = op.next();
    op.on_response(t.request_id, testing::token_reply("tok"));
    auto q = op.next();
    REQUIRE(q.kind == operation_step::send);
    CHECK(q.streaming);
    CHECK(q.request->headers.get("Accept") == "text/event-stream");
    http_response head;
    head.status = 200;
    head.headers.add_unchecked("Content-Type", "text/event-stream");
    op.on_body_chunk(q.request_id, head, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n");
    CHECK(op.next().kind == operation_step::idle);
    op.on_body_chunk(q.request_id, head, "\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n");
    auto c = op.next();
    REQUIRE(c.kind == operation_step::chunk);
    CHECK(c.stream_chunk->content() == "a");
    auto c2 = op.next();
    REQUIRE(c2.kind == operation_step::chunk);
    CHECK(c2.stream_chunk->content() == "b");
    op.on_body_chunk(q.request_id, head, "data: [DONE]\n\n");
    op.on_response(q.request_id, head);
    auto done = op.next();
    REQUIRE(done.kind == operation_step::done);
    REQUIRE(*done.outcome);
    CHECK(op.summary().content == "ab");
    CHECK(op.summary().chunks == 2);
}

TEST_CASE("a stream cut before [DONE] is an error") {
    fixture f;
    auto op = f.client.start_stream(std::string("{}"));
    auto t = op.next();
    op.on_response(t.request_id, testing::token_reply("tok"));
    auto q = op.next();
    http_response head;
    head.status = 200;
    op.on_body_chunk(q.request_id, head, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
    op.on_response(q.request_id, head);
    auto s = op.next();
    while (s.kind == operation_step::chunk) s = op.next();
    REQUIRE(s.kind == operation_step::done);
    REQUIRE_FALSE(*s.outcome);
    CHECK(s.outcome->error().code == errc::bad_response);
}

TEST_CASE("a body that sets stream to false is refused for a streamed query") {
    fixture f;
    auto op = f.client.start_stream(std::string(R"({"stream":false})"));
    auto t = op.next();
    op.on_response(t.request_id, testing::token_reply("tok"));
    auto s = op.next();
    REQUIRE(s.kind == operation_step::done);
    CHECK(s.outcome->error().code == errc::invalid_argument);
}

TEST_CASE("operations can be moved while in flight") {
    fixture f;
    auto op = f.client.start_query(std::string("{}"));
    auto t = op.next();
    query_operation moved = std::move(op);
    moved.on_response(t.request_id, testing::token_reply("tok"));
    auto q = moved.next();
    REQUIRE(q.kind == operation_step::send);
    std::vector<query_operation> ops;
    ops.push_back(std::move(moved));
    ops[0].on_response(q.request_id, ok());
    CHECK(ops[0].next().kind == operation_step::done);
}
