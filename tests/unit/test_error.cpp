#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/result.hpp>

#include <doctest/doctest.h>

#include <string>
#include <system_error>

using namespace dbserve;

TEST_CASE("every error category has a distinct stable name") {
    CHECK(to_string(errc::throttled) == "throttled");
    CHECK(to_string(errc::tls) == "tls");
    CHECK(to_string(errc::response_too_large) == "response_too_large");
    for (int a = 1; a <= static_cast<int>(errc::response_too_large); ++a)
        for (int b = a + 1; b <= static_cast<int>(errc::response_too_large); ++b)
            CHECK(to_string(static_cast<errc>(a)) != to_string(static_cast<errc>(b)));
}

TEST_CASE("an error's text names the category, status, service code and request id") {
    error e(errc::throttled, "slow down");
    e.http_status = 429;
    e.service_code = "REQUEST_LIMIT_EXCEEDED";
    e.request_id = "abc-123";
    CHECK(e.to_string() == "throttled (HTTP 429, REQUEST_LIMIT_EXCEEDED): slow down [request id abc-123]");
    CHECK(error(errc::configuration, "no host").to_string() == "configuration: no host");
}

TEST_CASE("errc converts to std::error_code in the dbserve category") {
    std::error_code ec = errc::timeout;
    CHECK(ec.category().name() == std::string("dbserve"));
    CHECK(ec.message() == "timeout");
    CHECK(static_cast<bool>(ec == make_error_code(errc::timeout)));
    CHECK(static_cast<bool>(ec != make_error_code(errc::tls)));
}

TEST_CASE("result holds a value or an error") {
    result<int> ok = 42;
    REQUIRE(ok.has_value());
    CHECK(*ok == 42);
    CHECK(ok.value_or(7) == 42);

    result<int> bad = unexpected(errc::not_found, "no such endpoint");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == errc::not_found);
    CHECK(bad.value_or(7) == 7);

    result<std::string> moved = std::string("abc");
    std::string taken = std::move(moved).value();
    CHECK(taken == "abc");
}

TEST_CASE("result<void> reports success or the error") {
    result<void> ok;
    CHECK(ok.has_value());
    result<void> bad = error(errc::tls, "unknown CA");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == "unknown CA");
}
