// The fakes users test their own code with.
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <thread>

using namespace dbserve;

namespace {
http_request get(std::string url) {
    http_request r;
    r.url = std::move(url);
    return r;
}
}  // namespace

TEST_CASE("a script replays queued replies in order, then the repeated one") {
    testing::script s;
    s.on("/a").reply(testing::json_response(201, "1")).reply(testing::json_response(202, "2")).always(testing::json_response(200, "x"));
    CHECK(s.answer(get("https://h/a"))->status == 201);
    CHECK(s.answer(get("https://h/a"))->status == 202);
    CHECK(s.answer(get("https://h/a"))->status == 200);
    CHECK(s.answer(get("https://h/a"))->status == 200);
    CHECK(s.count("/a") == 4);
}

TEST_CASE("a script answers an unscripted request with a connection error naming it") {
    testing::script s;
    auto r = s.answer(get("https://h/none"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::connection);
    CHECK(r.error().message.find("https://h/none") != std::string::npos);
}

TEST_CASE("the route added last wins, and routes can be limited to a method") {
    testing::script s;
    s.on("/x").always(testing::json_response(200, "general"));
    s.on("/x/special").always(testing::json_response(200, "special"));
    s.on("/x", http_method::post).always(testing::json_response(200, "post"));
    CHECK(s.answer(get("https://h/x/special"))->body == "special");
    CHECK(s.answer(get("https://h/x/other"))->body == "general");
    http_request post = get("https://h/x/other");
    post.method = http_method::post;
    CHECK(s.answer(post)->body == "post");
}

TEST_CASE("a script replays transport errors and computed replies") {
    testing::script s;
    s.on("/t").reply(testing::transport_failure(errc::timeout, "read timed out", true));
    s.on("/t").respond([](const http_request& r) -> result<http_response> {
        return testing::json_response(200, r.url);
    });
    auto first = s.answer(get("https://h/t"));
    REQUIRE_FALSE(first);
    CHECK(first.error().request_may_have_been_processed);
    CHECK(s.answer(get("https://h/t?1"))->body == "https://h/t?1");
}

TEST_CASE("the fake transport delivers a streamed body in random chunks that add up to it") {
    testing::fake_transport t;
    const std::string body = "data: {\"a\":1}\n\ndata: [DONE]\n\n";
    t.replies().on("/s").always(testing::json_response(200, body));
    t.chunked(42, 5);
    std::string received;
    std::size_t pieces = 0;
    send_options options;
    options.on_body_chunk = [&](const http_response& head, std::string_view chunk) {
        CHECK(head.status == 200);
        CHECK(chunk.size() >= 1);
        CHECK(chunk.size() <= 5);
        received.append(chunk.data(), chunk.size());
        ++pieces;
    };
    auto r = t.send(get("https://h/s"), options);
    REQUIRE(r);
    CHECK(r->body.empty());
    CHECK(received == body);
    CHECK(pieces > 5);
}

TEST_CASE("the fake transport holds matching requests until released") {
    testing::fake_transport t;
    t.replies().on("/slow").always(testing::json_response(200, "ok"));
    t.hold("/slow");
    std::optional<result<http_response>> got;
    std::thread sender([&] { got.emplace(t.send(get("https://h/slow"), send_options{})); });
    t.wait_until_held(1);
    CHECK_FALSE(got.has_value());
    t.release();
    sender.join();
    REQUIRE(got);
    CHECK((*got)->body == "ok");
}

TEST_CASE("the fake async transport keeps requests until the test completes them") {
    testing::fake_async_transport t;
    t.replies().on("/a").always(testing::json_response(200, "a"));
    int done = 0;
    t.async_send(get("https://h/a"), send_options{}, [&](result<http_response> r) {
        CHECK(r->body == "a");
        ++done;
    });
    t.async_send(get("https://h/a"), send_options{}, [&](result<http_response>) { ++done; });
    CHECK(t.pending() == 2);
    CHECK(t.pending_urls().front() == "https://h/a");
    CHECK(t.complete_next());
    CHECK(done == 1);
    CHECK(t.complete_all() == 1);
    CHECK(done == 2);
    CHECK_FALSE(t.complete_next());
}

TEST_CASE("copies of a fake share their script and records") {
    testing::fake_transport a;
    testing::fake_transport b = a;
    a.replies().on("/x").always(testing::json_response(200, "x"));
    REQUIRE(b.send(get("https://h/x"), send_options{}));
    CHECK(a.replies().count("/x") == 1);
}

TEST_CASE("the reply builders make what the service sends") {
    auto token = testing::token_reply("abc", 600);
    CHECK(token.status == 200);
    CHECK(nlohmann::json::parse(token.body)["expires_in"] == 600);
    auto sse = testing::sse_reply({"{}"});
    CHECK(sse.headers.get("Content-Type") == "text/event-stream");
    CHECK(sse.body == "data: {}\n\ndata: [DONE]\n\n");
    auto sp = testing::service_principal();
    CHECK_FALSE(sp.client_secret.empty());
}
