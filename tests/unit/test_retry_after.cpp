#include <dbserve/protocol/retry_after.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace dbserve;
using namespace std::chrono;

namespace {
// 1994-11-06T08:49:37Z, the date RFC 9110 uses in its examples.
const system_clock::time_point rfc_example = system_clock::time_point(seconds(784111777));
system_clock::time_point at(long long unix_seconds) { return system_clock::time_point(seconds(unix_seconds)); }
}  // namespace

TEST_CASE("Retry-After in delta-seconds becomes milliseconds") {
    const auto now = at(1'700'000'000);
    CHECK(parse_retry_after("120", now) == milliseconds(120'000));
    CHECK(parse_retry_after("0", now) == milliseconds(0));
    CHECK(parse_retry_after("007", now) == milliseconds(7'000));
    CHECK(parse_retry_after(" 5\t", now) == milliseconds(5'000));
}

TEST_CASE("a huge delta-seconds value is capped instead of overflowing") {
    const auto capped = parse_retry_after("99999999999999999999999999999999", at(0));
    REQUIRE(capped);
    CHECK(*capped == milliseconds(1'000'000'000'000LL));
    CHECK(parse_retry_after("1000000001", at(0)) == milliseconds(1'000'000'000'000LL));
    CHECK(parse_retry_after("999999999", at(0)) == milliseconds(999'999'999'000LL));
}

TEST_CASE("garbage Retry-After values give nothing") {
    const auto now = at(1'700'000'000);
    for (const char* value : {"", "   ", "-5", "1.5", "5s", "+5", "abc", "5 6", "0x10", "Sun, 06 Nov 1994",
                              "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 31 Feb 1994 08:49:37 GMT"}) {
        CAPTURE(value);
        CHECK_FALSE(parse_retry_after(value, now).has_value());
    }
}

TEST_CASE("Retry-After as an HTTP date is the time from now until then") {
    const auto now = rfc_example - seconds(90);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == milliseconds(90'000));
    CHECK(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == milliseconds(90'000));
    CHECK(parse_retry_after("Sun Nov  6 08:49:37 1994", now) == milliseconds(90'000));
    // Sub-second precision of now is kept.
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + milliseconds(250)) == milliseconds(89'750));
}

TEST_CASE("a Retry-After date in the past means retry now") {
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example) == milliseconds(0));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_example + hours(1)) == milliseconds(0));
    CHECK(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", at(1'700'000'000)) == milliseconds(0));
}

TEST_CASE("a Retry-After date far in the future is capped like delta-seconds") {
    CHECK(parse_retry_after("Fri, 31 Dec 2199 23:59:59 GMT", at(0)) == milliseconds(1'000'000'000'000LL));
}

TEST_CASE("IMF-fixdate parses to the exact second") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == rfc_example);
    CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == at(0));
    CHECK(parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT") == at(1'700'000'000));
    CHECK(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT") == at(951'825'600));
    CHECK(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT") == at(-1));
}

TEST_CASE("the obsolete RFC 850 form parses, with two-digit years around a fixed pivot") {
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == rfc_example);
    CHECK(parse_http_date("Tuesday, 14-Nov-23 22:13:20 GMT") == at(1'700'000'000));
    CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == at(0));
    CHECK(parse_http_date("Sun, 06-Nov-94 08:49:37 GMT") == std::nullopt);  // short day name: neither form
    CHECK(parse_http_date("Sunday, 06-Nov-1994 08:49:37 GMT") == std::nullopt);
}

TEST_CASE("a two-digit year in Retry-After follows RFC 9110's 50-year rule against now") {
    // In 2150, "-49" is 2149 (in the past), not 2049.
    const auto now_2150 = at(5'680'281'600);  // 2150-01-01
    CHECK(parse_retry_after("Monday, 01-Jan-49 00:00:00 GMT", now_2150) == milliseconds(0));
    // In 2023 a date with "-73" is 2073 (50 years ahead at most), and "-74" is 1974.
    const auto now_2023 = at(1'700'000'000);
    CHECK(parse_retry_after("Sunday, 01-Jan-73 00:00:00 GMT", now_2023) > milliseconds(0));
    CHECK(parse_retry_after("Tuesday, 01-Jan-74 00:00:00 GMT", now_2023) == milliseconds(0));
    // The fixed pivot would have said 2024 for both; the rule agrees for near years.
    CHECK(parse_retry_after("Monday, 01-Jan-24 00:00:00 GMT", now_2023) == milliseconds((1'704'067'200LL - 1'700'000'000LL) * 1000));
}

TEST_CASE("the asctime form parses with a space-padded or two-digit day") {
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == rfc_example);
    CHECK(parse_http_date("Tue Nov 14 22:13:20 2023") == at(1'700'000'000));
    CHECK(parse_http_date("Sun Nov 6 08:49:37 1994") == std::nullopt);
    CHECK(parse_http_date("Sun Nov 06 08:49:37 1994") == rfc_example);
}

TEST_CASE("day and month names match in any case; GMT and UTC are accepted") {
    CHECK(parse_http_date("SUN, 06 NOV 1994 08:49:37 GMT") == rfc_example);
    CHECK(parse_http_date("sun, 06 nov 1994 08:49:37 gmt") == rfc_example);
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC") == rfc_example);
    CHECK(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT \t") == rfc_example);
    CHECK(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT") == rfc_example);
}

TEST_CASE("all twelve months are known") {
    const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long long previous = -1;
    for (const char* m : months) {
        auto t = parse_http_date(std::string("Mon, 01 ") + m + " 2001 00:00:00 GMT");
        REQUIRE(t);
        const long long s = duration_cast<seconds>(t->time_since_epoch()).count();
        CHECK(s > previous);
        previous = s;
    }
    CHECK(parse_http_date("Mon, 01 Dec 2001 00:00:00 GMT") == at(1'007'164'800));
}

TEST_CASE("invalid dates and malformed text are refused") {
    const char* bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 GMT extra",
        "Sun,06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 29 Feb 1995 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 006 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 19945 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 GMT",
        "1994-11-06T08:49:37Z",
        "120",
    };
    for (const char* value : bad) {
        CAPTURE(value);
        CHECK_FALSE(parse_http_date(value).has_value());
    }
}

TEST_CASE("a leap second and leap days are accepted") {
    CHECK(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == at(1'483'228'800));
    CHECK(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT") == at(1'709'164'800));
}

TEST_CASE("dates the clock cannot represent are refused rather than overflowing") {
    // system_clock on this platform counts nanoseconds in 64 bits: about 1677 to 2262.
    using rep_seconds = duration<long long>;
    const auto limit = duration_cast<rep_seconds>(system_clock::duration::max()).count();
    if (limit < 400LL * 365 * 86400) {
        CHECK_FALSE(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").has_value());
        CHECK_FALSE(parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT").has_value());
        CHECK_FALSE(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", at(0)).has_value());
    } else {
        CHECK(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").has_value());
    }
}
