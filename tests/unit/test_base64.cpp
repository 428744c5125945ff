#include <dbserve/protocol/detail/base64.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace dbserve;
using detail::base64_decode;
using detail::base64_encode;

TEST_CASE("base64 encodes the RFC 4648 test vectors with padding") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64 uses the standard alphabet with '+' and '/'") {
    CHECK(base64_encode("\xfb\xff") == "+/8=");
    CHECK(base64_encode(std::string_view("\0\0\0", 3)) == "AAAA");
    CHECK(base64_encode("\xff\xff\xff") == "////");
}

TEST_CASE("base64 decodes the RFC 4648 test vectors, padded or not") {
    CHECK(base64_decode("").value() == "");
    CHECK(base64_decode("Zg==").value() == "f");
    CHECK(base64_decode("Zm8=").value() == "fo");
    CHECK(base64_decode("Zm9v").value() == "foo");
    CHECK(base64_decode("Zm9vYmFy").value() == "foobar");
    CHECK(base64_decode("Zg").value() == "f");
    CHECK(base64_decode("Zm8").value() == "fo");
    CHECK(base64_decode("+/8=").value() == "\xfb\xff");
}

TEST_CASE("every byte string round-trips through base64") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        const std::string input = all.substr(0, n) + all.substr(256 - n % 7);
        auto back = base64_decode(base64_encode(input));
        REQUIRE(back);
        CHECK(*back == input);
    }
}

TEST_CASE("base64 decoding refuses characters outside the alphabet, naming the position") {
    auto url_safe = base64_decode("-_8=");
    REQUIRE_FALSE(url_safe);
    CHECK(url_safe.error().code == errc::invalid_argument);
    CHECK(url_safe.error().message.find("position 1") != std::string::npos);
    CHECK_FALSE(base64_decode("Zm9v YmFy"));
    CHECK_FALSE(base64_decode("Zm9v\nYmFy"));
    CHECK_FALSE(base64_decode(std::string_view("Zm9\0", 4)));
    CHECK_FALSE(base64_decode("Zm9v\xC3\xA9"));
}

TEST_CASE("base64 decoding refuses misplaced or partial padding and impossible lengths") {
    auto inner = base64_decode("Zg==Zg==");
    REQUIRE_FALSE(inner);
    CHECK(inner.error().message.find("padding") != std::string::npos);
    CHECK_FALSE(base64_decode("Zg="));
    CHECK_FALSE(base64_decode("Z==="));
    CHECK_FALSE(base64_decode("===="));
    CHECK_FALSE(base64_decode("Z"));
    // One character carries 6 bits, less than a byte, even when those bits are zero.
    CHECK_FALSE(base64_decode("A"));
    CHECK_FALSE(base64_decode("AAAAA"));
    CHECK_FALSE(base64_decode("Zm9vY"));
    CHECK_FALSE(base64_decode("="));
}

TEST_CASE("base64 decoding refuses non-zero leftover bits so each value has one encoding") {
    CHECK(base64_decode("Zg==").value() == "f");
    CHECK_FALSE(base64_decode("Zh=="));
    CHECK_FALSE(base64_decode("Zm9="));
    CHECK_FALSE(base64_decode("Zh"));
}
