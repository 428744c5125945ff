#include <dbserve/payload/sse.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using dbserve::sse_event;
using dbserve::sse_parser;

namespace {
// Feeds `text` in pieces of `chunk` bytes (0: all at once), then finishes.
std::vector<sse_event> parse_in_chunks(sse_parser& parser, const std::string& text, std::size_t chunk,
                                       bool finish = true) {
    std::vector<sse_event> events;
    auto on_event = [&](const sse_event& e) { events.push_back(e); };
    if (chunk == 0) {
        parser.feed(text, on_event);
    } else {
        for (std::size_t i = 0; i < text.size(); i += chunk)
            parser.feed(std::string_view(text).substr(i, chunk), on_event);
    }
    if (finish) parser.finish(on_event);
    return events;
}

std::vector<sse_event> parse_all(const std::string& text, std::size_t chunk = 0) {
    sse_parser parser;
    return parse_in_chunks(parser, text, chunk);
}
}  // namespace

TEST_CASE("events are delivered with their data, type and id") {
    auto events = parse_all("event: delta\nid: 7\ndata: {\"a\":1}\n\ndata: second\n\n");
    REQUIRE(events.size() == 2);
    CHECK(events[0].event == "delta");
    CHECK(events[0].id == "7");
    CHECK(events[0].data == "{\"a\":1}");
    CHECK(events[1].event.empty());
    CHECK(events[1].id == "7");  // the last event id persists
    CHECK(events[1].data == "second");
}

TEST_CASE("every chunking of a stream, down to one byte, gives the same events") {
    const std::string stream =
        ": keep-alive\r\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
        "event: x\rdata: line one\rdata: line two\r\r"
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
        "data: [DONE]\n\n";
    auto whole = parse_all(stream);
    REQUIRE(whole.size() == 3);
    CHECK(whole[1].data == "line one\nline two");
    CHECK(whole[1].event == "x");
    for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
        sse_parser parser;
        auto events = parse_in_chunks(parser, stream, chunk);
        REQUIRE(events.size() == whole.size());
        for (std::size_t i = 0; i < events.size(); ++i) {
            CHECK(events[i].data == whole[i].data);
            CHECK(events[i].event == whole[i].event);
        }
        CHECK(parser.done());
        CHECK(parser.outcome().has_value());
    }
}

TEST_CASE("a CRLF split across two chunks is one line end, not two") {
    sse_parser parser;
    std::vector<sse_event> events;
    auto on_event = [&](const sse_event& e) { events.push_back(e); };
    parser.feed("data: a\r", on_event);
    parser.feed("\ndata: b\r", on_event);
    parser.feed("\n\r", on_event);
    parser.feed("\n", on_event);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "a\nb");
}

TEST_CASE("a lone CR ends a line") {
    auto events = parse_all("data: a\rdata: b\r\rdata: c\r\r");
    REQUIRE(events.size() == 2);
    CHECK(events[0].data == "a\nb");
    CHECK(events[1].data == "c");
}

TEST_CASE("comments, unknown fields and lines without a colon are ignored") {
    auto events = parse_all(": comment\nfoo: bar\nunknown\ndata: x\n: another\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "x");
    CHECK(events[0].event.empty());
}

TEST_CASE("only one space after the colon is removed, and data without a space works") {
    auto events = parse_all("data:x\n\ndata:  two spaces\n\ndata\n\n");
    REQUIRE(events.size() == 3);
    CHECK(events[0].data == "x");
    CHECK(events[1].data == " two spaces");
    CHECK(events[2].data.empty());
}

TEST_CASE("a blank line without data dispatches nothing and resets the event type") {
    auto events = parse_all("event: ignored\n\ndata: y\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].event.empty());
}

TEST_CASE("data: [DONE] ends the stream and later bytes are ignored") {
    sse_parser parser;
    auto events = parse_in_chunks(parser, "data: 1\n\ndata: [DONE]\n\ndata: 2\n\n", 0);
    REQUIRE(events.size() == 1);
    CHECK(parser.done());
    CHECK(parser.event_count() == 1);
    CHECK(parser.outcome().has_value());
}

TEST_CASE("a last event without its blank line is delivered by finish") {
    sse_parser parser;
    auto events = parse_in_chunks(parser, "data: last", 0);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "last");
    sse_parser done_parser;
    parse_in_chunks(done_parser, "data: x\n\ndata: [DONE]", 3);
    CHECK(done_parser.done());
}

TEST_CASE("a stream that ends before [DONE] is reported as cut short") {
    sse_parser parser;
    parse_in_chunks(parser, "data: 1\n\n", 0);
    auto outcome = parser.outcome();
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().code == dbserve::errc::bad_response);
    CHECK(outcome.error().message.find("[DONE]") != std::string::npos);
}

TEST_CASE("a byte order mark at the start is skipped, even split across chunks") {
    const std::string stream = "\xEF\xBB\xBF" "data: z\n\n";
    for (std::size_t chunk = 1; chunk <= 4; ++chunk) {
        auto events = parse_all(stream, chunk);
        REQUIRE(events.size() == 1);
        CHECK(events[0].data == "z");
    }
}

TEST_CASE("a JSON error body instead of a stream is reported as the service error") {
    const std::string body =
        R"({"error_code":"REQUEST_LIMIT_EXCEEDED","message":"Exceeded rate limit"})";
    for (std::size_t chunk : {0u, 1u, 5u}) {
        sse_parser parser;
        auto events = parse_in_chunks(parser, body, chunk);
        CHECK(events.empty());
        CHECK(parser.is_not_a_stream());
        CHECK(parser.non_stream_body() == body);
        auto outcome = parser.outcome();
        REQUIRE_FALSE(outcome.has_value());
        CHECK(outcome.error().code == dbserve::errc::throttled);
        CHECK(outcome.error().service_code == "REQUEST_LIMIT_EXCEEDED");
        CHECK(outcome.error().message == "Exceeded rate limit");
    }
}

TEST_CASE("an OpenAI-style error object instead of a stream keeps its message") {
    sse_parser parser;
    parse_in_chunks(parser, "\n  {\"error\": {\"message\": \"bad max_tokens\", \"type\": \"invalid_request_error\"}}",
                    2);
    auto outcome = parser.outcome();
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().message == "bad max_tokens");
    CHECK(outcome.error().service_code == "invalid_request_error");
}

TEST_CASE("an HTML page instead of a stream is reported as a redirect, not parsed") {
    sse_parser parser;
    auto events = parse_in_chunks(parser, "<!DOCTYPE html><html><body>data: sign in</body></html>", 4);
    CHECK(events.empty());
    auto outcome = parser.outcome();
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().code == dbserve::errc::bad_response);
    CHECK(outcome.error().message.find("HTML") != std::string::npos);
}

TEST_CASE("an event over the size cap is refused instead of buffered without bound") {
    sse_parser parser(64);
    std::string big = "data: " + std::string(100, 'x') + "\n\n";
    auto events = parse_in_chunks(parser, big, 7);
    CHECK(events.empty());
    auto outcome = parser.outcome();
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().code == dbserve::errc::response_too_large);
    sse_parser many_lines(64);
    std::string lines;
    for (int i = 0; i < 20; ++i) lines += "data: 0123456789\n";
    parse_in_chunks(many_lines, lines + "\n", 0);
    CHECK(many_lines.outcome().error().code == dbserve::errc::response_too_large);
}

TEST_CASE("a line over the size cap is refused the same way however the bytes are chunked") {
    // A long line of an unknown field never reaches the data buffer; it must still be refused
    // when it arrives whole, exactly as it is when it arrives in pieces and has to be buffered.
    const std::string stream = "data: first\n\nx-padding: " + std::string(100, 'y') + "\ndata: second\n\n";
    for (std::size_t chunk : {0u, 1u, 5u, 64u}) {
        CAPTURE(chunk);
        sse_parser parser(64);
        auto events = parse_in_chunks(parser, stream, chunk);
        REQUIRE(events.size() == 1);
        CHECK(events[0].data == "first");
        auto outcome = parser.outcome();
        REQUIRE_FALSE(outcome.has_value());
        CHECK(outcome.error().code == dbserve::errc::response_too_large);
    }
}

TEST_CASE("leading whitespace over the size cap is refused the same way however the bytes are chunked") {
    // Whether the body turns out to be an error object must not decide the verdict: the
    // parser would otherwise have to buffer whitespace without bound to find out.
    const std::string body = std::string(100, '\n') + R"({"error_code":"BAD_REQUEST","message":"no"})";
    for (std::size_t chunk : {0u, 1u, 7u, 64u}) {
        CAPTURE(chunk);
        sse_parser parser(64);
        CHECK(parse_in_chunks(parser, body, chunk).empty());
        CHECK_FALSE(parser.is_not_a_stream());
        auto outcome = parser.outcome();
        REQUIRE_FALSE(outcome.has_value());
        CHECK(outcome.error().code == dbserve::errc::response_too_large);
    }
}

TEST_CASE("the retry field is read and an id holding NUL is ignored") {
    sse_parser parser;
    std::string stream = "retry: 1500\nid: a\ndata: 1\n\nid: b";
    stream += '\0';
    stream += "c\ndata: 2\n\n";
    auto events = parse_in_chunks(parser, stream, 0);
    REQUIRE(events.size() == 2);
    CHECK(events[1].id == "a");
    REQUIRE(parser.retry().has_value());
    CHECK(parser.retry()->count() == 1500);
}

TEST_CASE("an empty body is an empty stream that did not finish") {
    sse_parser parser;
    auto events = parse_in_chunks(parser, "", 0);
    CHECK(events.empty());
    CHECK_FALSE(parser.done());
    CHECK_FALSE(parser.outcome().has_value());
}
