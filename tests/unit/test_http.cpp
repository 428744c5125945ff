#include <dbserve/protocol/http.hpp>

#include <doctest/doctest.h>

using namespace dbserve;

TEST_CASE("header lookup ignores case") {
    header_list h;
    REQUIRE(h.add("Content-Type", "application/json"));
    CHECK(h.get("content-type") == "application/json");
    CHECK(h.get("CONTENT-TYPE") == "application/json");
    CHECK(h.find("accept") == nullptr);
    CHECK(h.get("accept").empty());
}

TEST_CASE("set replaces every header of that name, whatever its case") {
    header_list h;
    REQUIRE(h.add("accept", "a"));
    REQUIRE(h.add("Accept", "b"));
    REQUIRE(h.set("ACCEPT", "c"));
    CHECK(h.size() == 1);
    CHECK(h.get("accept") == "c");
}

TEST_CASE("header values with CR, LF or NUL are refused so nothing can inject a header") {
    header_list h;
    auto r = h.add("Authorization", "Bearer abc\r\nX-Evil: 1");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find("Authorization") != std::string::npos);
    // The message names the header but never repeats the value (it may be a token).
    CHECK(r.error().message.find("abc") == std::string::npos);
    CHECK_FALSE(h.add("X-A", std::string("a\0b", 3)));
    CHECK_FALSE(h.add("X-A", "a\nb"));
    CHECK(h.empty());
}

TEST_CASE("header names must be RFC 9110 tokens") {
    header_list h;
    CHECK_FALSE(h.add("", "v"));
    CHECK_FALSE(h.add("Bad Name", "v"));
    CHECK_FALSE(h.add("Bad:Name", "v"));
    CHECK_FALSE(h.add("X\r\nY", "v"));
    CHECK(h.add("X-Databricks-Workspace-Id", "123"));
}

TEST_CASE("header_list::take_last moves out the value of the last header of that name") {
    header_list headers;
    headers.add_unchecked("traceparent", "first");
    headers.add_unchecked("Authorization", "Bearer x");
    headers.add_unchecked("TraceParent", "second-and-longer-than-a-short-string");
    CHECK(headers.take_last("traceparent") == "second-and-longer-than-a-short-string");
    CHECK(headers.size() == 3);
    CHECK(headers.get("traceparent") == "first");
    CHECK(headers.take_last("tracestate").empty());
}
