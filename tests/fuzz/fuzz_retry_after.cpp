// parse_retry_after and parse_http_date: no crash or overflow on any input or clock
// value, delays within bounds, and every accepted date survives a format/parse round trip.
#include "fuzz_check.hpp"

#include <dbserve/protocol/retry_after.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

using namespace dbserve;
using namespace std::chrono;

namespace {
// IMF-fixdate of a time point (whole seconds), to check parsing against.
std::string format_imf(system_clock::time_point t) {
    const std::int64_t s = duration_cast<seconds>(t.time_since_epoch()).count();
    std::int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    const std::int64_t rem = s - days * 86400;
    const int weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
    static const char* names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04lld %02d:%02d:%02d GMT", names[weekday], d, months[m - 1],
                  static_cast<long long>(y), static_cast<int>(rem / 3600), static_cast<int>(rem % 3600 / 60),
                  static_cast<int>(rem % 60));
    return buffer;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The first 8 bytes pick "now" anywhere the clock can represent; the rest is the value.
    system_clock::time_point now{};
    if (size >= 8) {
        std::int64_t raw = 0;
        std::memcpy(&raw, data, 8);
        const std::int64_t range = duration_cast<milliseconds>(system_clock::duration::max()).count();
        now = system_clock::time_point(duration_cast<system_clock::duration>(milliseconds(raw % range)));
        data += 8;
        size -= 8;
    }
    const std::string_view value(reinterpret_cast<const char*>(data), size);

    const auto delay = parse_retry_after(value, now);
    if (delay) FUZZ_CHECK(delay->count() >= 0 && delay->count() <= 1'000'000'000'000LL);

    const auto date = parse_http_date(value);
    if (date) {
        const std::string text = format_imf(*date);
        const auto again = parse_http_date(text);
        FUZZ_CHECK(again && *again == *date);
        const auto fixed_now = system_clock::time_point(seconds(1'700'000'000));
        const auto from_date = parse_retry_after(text, fixed_now);
        FUZZ_CHECK(from_date.has_value());
    }
    return 0;
}
