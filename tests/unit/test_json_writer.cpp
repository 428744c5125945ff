#include <dbserve/payload/json_writer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

using namespace dbserve;

namespace {
std::string write_double(double v, non_finite_policy p = non_finite_policy::error) {
    std::string out;
    json_writer w(out);
    bool ok = w.number(v, p);
    w.finish();
    return ok ? out : "<refused>";
}
std::string write_string(std::string_view s, invalid_utf8_policy p = invalid_utf8_policy::error,
                         std::size_t* bad = nullptr) {
    std::string out;
    json_writer w(out);
    bool ok = w.string(s, p, bad);
    w.finish();
    return ok ? out : "<refused>";
}
std::uint64_t bits(double v) {
    std::uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}
}  // namespace

TEST_CASE("doubles are written in the shortest form that reads back bit-identical") {
    std::mt19937_64 rng(42);
    std::string out;
    for (int i = 0; i < 200000; ++i) {
        std::uint64_t b = rng();
        double v;
        std::memcpy(&v, &b, sizeof v);
        if (!std::isfinite(v)) continue;
        std::string text = write_double(v);
        double back = std::strtod(text.c_str(), nullptr);
        REQUIRE(bits(back) == bits(v));
    }
    CHECK(write_double(0.1) == "0.1");
    CHECK(write_double(1.0 / 3.0) == "0.3333333333333333");
    CHECK(write_double(5e-324) == "5e-324");
    CHECK(write_double(1.7976931348623157e308) == "1.7976931348623157e+308");
}

TEST_CASE("a double with an integer value keeps a decimal point so it stays a float") {
    CHECK(write_double(3.0) == "3.0");
    CHECK(write_double(-42.0) == "-42.0");
    CHECK(write_double(0.0) == "0.0");
    CHECK(write_double(-0.0) == "-0.0");
    CHECK(write_double(1e21) == "1e+21");
    auto back = nlohmann::json::parse(write_double(-0.0));
    CHECK(back.is_number_float());
    CHECK(std::signbit(back.get<double>()));
}

TEST_CASE("floats are written as the shortest float") {
    std::string out;
    {
        json_writer w(out);
        CHECK(w.number(0.1f));
    }
    CHECK(out == "0.1");
    CHECK(std::strtof(out.c_str(), nullptr) == 0.1f);
}

TEST_CASE("non-finite numbers are refused by default and written as null on request") {
    CHECK(write_double(std::nan("")) == "<refused>");
    CHECK(write_double(INFINITY) == "<refused>");
    CHECK(write_double(-INFINITY) == "<refused>");
    CHECK(write_double(std::nan(""), non_finite_policy::write_null) == "null");
    CHECK(write_double(INFINITY, non_finite_policy::write_null) == "null");
}

TEST_CASE("integers and booleans") {
    std::string out;
    {
        json_writer w(out);
        w.number(std::numeric_limits<std::int64_t>::min());
        w.put(',');
        w.number(std::numeric_limits<std::uint64_t>::max());
        w.put(',');
        w.boolean(true);
        w.put(',');
        w.null();
    }
    CHECK(out == "-9223372036854775808,18446744073709551615,true,null");
}

TEST_CASE("strings are escaped per RFC 8259") {
    CHECK(write_string("plain") == "\"plain\"");
    CHECK(write_string("a\"b\\c") == R"("a\"b\\c")");
    CHECK(write_string("\b\f\n\r\t") == R"("\b\f\n\r\t")");
    CHECK(write_string(std::string_view("\x01\x1f\0", 3)) == R"("\u0001\u001f\u0000")");
    CHECK(write_string("\x7f/") == "\"\x7f/\"");
    CHECK(write_string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
    // Every escaped string parses back to the original.
    std::string all;
    for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
    auto parsed = nlohmann::json::parse(write_string(all));
    CHECK(parsed.get<std::string>() == all);
}

TEST_CASE("invalid UTF-8 is refused with the offset of the first bad byte") {
    struct bad_case { const char* text; std::size_t offset; };
    const bad_case cases[] = {
        {"ab\xC0\x80", 2},          // overlong NUL
        {"\xE0\x80\xAF", 0},        // overlong '/'
        {"x\xED\xA0\x80", 1},       // UTF-16 surrogate
        {"\xF4\x90\x80\x80", 0},    // past U+10FFFF
        {"\xF5\x80\x80\x80", 0},    // invalid lead byte
        {"ok\x80", 2},              // lone continuation byte
        {"abc\xE2\x82", 3},         // truncated at the end
        {"\xE2\x82" "A", 0},        // truncated before ASCII
        {"\xFF", 0},
    };
    for (const auto& c : cases) {
        std::size_t bad = 999;
        CHECK(write_string(c.text, invalid_utf8_policy::error, &bad) == "<refused>");
        CHECK(bad == c.offset);
    }
}

TEST_CASE("the replace policy writes U+FFFD for each maximal invalid subsequence") {
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(write_string("a\xE2\x82" "b", invalid_utf8_policy::replace) == "\"a" + fffd + "b\"");
    CHECK(write_string("\xF0\x80\x80", invalid_utf8_policy::replace) == "\"" + fffd + fffd + fffd + "\"");
    CHECK(write_string("\xC0\xAF", invalid_utf8_policy::replace) == "\"" + fffd + fffd + "\"");
    CHECK(write_string("\xED\xA0\x80", invalid_utf8_policy::replace) == "\"" + fffd + fffd + fffd + "\"");
    CHECK(write_string("\xF0\x9F\x98", invalid_utf8_policy::replace) == "\"" + fffd + "\"");
    auto parsed = nlohmann::json::parse(write_string("x\xFFy", invalid_utf8_policy::replace));
    CHECK(parsed.get<std::string>() == "x" + fffd + "y");
}

TEST_CASE("the writer appends after what the buffer already holds") {
    std::string out = "prefix:";
    out.reserve(1000);
    {
        json_writer w(out);
        w.raw("[");
        CHECK(w.number(1.5));
        w.raw("]");
    }
    CHECK(out == "prefix:[1.5]");
}

TEST_CASE("the buffer grows across many writes") {
    std::string out;
    json_writer w(out);
    for (int i = 0; i < 100000; ++i) {
        w.number(i);
        w.put(',');
    }
    w.finish();
    CHECK(out.size() == 588890);
    CHECK(out.substr(0, 6) == "0,1,2,");
}

TEST_CASE("JSON values are written with the same number and UTF-8 rules, naming the path") {
    nlohmann::json v = {{"a", {{"b", {1, std::nan("")}}}}};
    std::string out;
    json_writer w(out);
    json_write_failure failure;
    CHECK_FALSE(detail::write_json_value(w, v, write_options{}, "params", failure));
    CHECK(failure.path == "params.a.b[1]");
    CHECK(failure.reason.find("NaN") != std::string::npos);

    nlohmann::json s = {{"k", "bad\xFF"}};
    CHECK_FALSE(detail::write_json_value(w, s, write_options{}, "", failure));
    CHECK(failure.path == "k");

    std::string ok_out;
    {
        json_writer w2(ok_out);
        write_options nulls;
        nulls.non_finite = non_finite_policy::write_null;
        CHECK(detail::write_json_value(w2, v, nulls, "", failure));
    }
    CHECK(ok_out == R"({"a":{"b":[1,null]}})");
}
