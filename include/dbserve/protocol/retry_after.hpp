// Retry-After (RFC 9110 section 10.2.3): delta-seconds or an HTTP-date. The current time
// is a parameter, never read here, so tests step through time and nothing depends on
// the server's clock beyond the date it sent.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/text.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

// delta-seconds ("120") or an HTTP-date. Garbage (negative, fractional, empty, an
// invalid date) gives nullopt; a date in the past gives 0. Very large values are
// capped at 10^9 seconds so the arithmetic cannot overflow: callers cap further.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the obsolete RFC 850
// ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994") forms.
// Names of days and months match in any case. A two-digit year is 20yy below 70, else
// 19yy (parse_retry_after applies RFC 9110's 50-years rule against `now` instead).
// nullopt for anything else, including dates the clock cannot represent.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value);

namespace detail {
namespace http_dates {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The year of a day count (inverse of the above, year only).
constexpr std::int64_t year_from_days(std::int64_t z) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

constexpr bool is_leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
    constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

inline std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A small left-to-right reader over the date text.
class cursor {
public:
    explicit cursor(std::string_view text) noexcept : text_(text) {}
    bool at_end() const noexcept { return pos_ == text_.size(); }
    bool peek(char c) const noexcept { return pos_ < text_.size() && text_[pos_] == c; }
    bool literal(char c) noexcept {
        if (!peek(c)) return false;
        ++pos_;
        return true;
    }
    std::string_view letters() noexcept {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && ((text_[pos_] >= 'a' && text_[pos_] <= 'z') ||
                                       (text_[pos_] >= 'A' && text_[pos_] <= 'Z')))
            ++pos_;
        return text_.substr(start, pos_ - start);
    }
    // Between min_digits and max_digits decimal digits (a longer run fails on what follows).
    bool number(std::size_t min_digits, std::size_t max_digits, int& out) noexcept {
        std::size_t n = 0;
        int value = 0;
        while (pos_ < text_.size() && n < max_digits && text_[pos_] >= '0' && text_[pos_] <= '9') {
            value = value * 10 + (text_[pos_] - '0');
            ++pos_;
            ++n;
        }
        if (n < min_digits) return false;
        out = value;
        return true;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

inline int month_from_name(std::string_view name) noexcept {
    constexpr std::string_view months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec"};
    for (int i = 0; i < 12; ++i)
        if (iequals(name, months[i])) return i + 1;
    return 0;
}

inline bool is_short_day(std::string_view name) noexcept {
    constexpr std::string_view days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    for (auto d : days)
        if (iequals(name, d)) return true;
    return false;
}

inline bool is_long_day(std::string_view name) noexcept {
    constexpr std::string_view days[] = {"monday", "tuesday", "wednesday", "thursday",
                                         "friday", "saturday", "sunday"};
    for (auto d : days)
        if (iequals(name, d)) return true;
    return false;
}

inline bool time_of_day(cursor& c, int& h, int& m, int& s) noexcept {
    return c.number(2, 2, h) && c.literal(':') && c.number(2, 2, m) && c.literal(':') && c.number(2, 2, s);
}

inline bool gmt(cursor& c) noexcept {
    const auto zone = c.letters();
    return iequals(zone, "GMT") || iequals(zone, "UTC");
}

// A two-digit year: RFC 9110's rule when the current year is known, else a fixed pivot.
inline std::int64_t full_year(int two_digits, std::optional<std::int64_t> current_year) noexcept {
    if (!current_year) return two_digits < 70 ? 2000 + two_digits : 1900 + two_digits;
    const std::int64_t century = *current_year - *current_year % 100;
    std::int64_t year = century + two_digits;
    if (year > *current_year + 50) year -= 100;
    return year;
}

inline std::optional<std::chrono::system_clock::time_point> parse(std::string_view value,
                                                                  std::optional<std::int64_t> current_year) noexcept {
    cursor c(trim_ows(value));
    int day = 0, month = 0, hour = 0, minute = 0, second = 0, year_digits = 0;
    std::int64_t year = 0;
    const auto day_name = c.letters();
    if (c.literal(',')) {
        if (!c.literal(' ')) return std::nullopt;
        if (is_short_day(day_name)) {
            // IMF-fixdate (a one-digit day is tolerated)
            if (!c.number(1, 2, day) || !c.literal(' ')) return std::nullopt;
            month = month_from_name(c.letters());
            if (!c.literal(' ') || !c.number(4, 4, year_digits) || !c.literal(' ')) return std::nullopt;
            year = year_digits;
        } else if (is_long_day(day_name)) {
            // rfc850-date
            if (!c.number(2, 2, day) || !c.literal('-')) return std::nullopt;
            month = month_from_name(c.letters());
            if (!c.literal('-') || !c.number(2, 2, year_digits) || !c.literal(' ')) return std::nullopt;
            year = full_year(year_digits, current_year);
        } else {
            return std::nullopt;
        }
        if (!time_of_day(c, hour, minute, second) || !c.literal(' ') || !gmt(c)) return std::nullopt;
    } else {
        // asctime-date: "Sun Nov  6 08:49:37 1994"
        if (!is_short_day(day_name) || !c.literal(' ')) return std::nullopt;
        month = month_from_name(c.letters());
        if (!c.literal(' ')) return std::nullopt;
        if (c.literal(' ')) {
            if (!c.number(1, 1, day)) return std::nullopt;
        } else if (!c.number(2, 2, day)) {
            return std::nullopt;
        }
        if (!c.literal(' ') || !time_of_day(c, hour, minute, second) || !c.literal(' ') ||
            !c.number(4, 4, year_digits))
            return std::nullopt;
        year = year_digits;
    }
    if (!c.at_end() || month == 0) return std::nullopt;
    if (day < 1 || static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month))) return std::nullopt;
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;  // 60: a leap second
    const std::int64_t seconds = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) *
                                     86400 +
                                 hour * 3600 + minute * 60 + second;
    using duration = std::chrono::system_clock::duration;
    constexpr std::int64_t limit =
        std::chrono::duration_cast<std::chrono::seconds>(duration::max()).count() - 1;
    if (seconds > limit || seconds < -limit) return std::nullopt;
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<duration>(std::chrono::seconds(seconds)));
}

constexpr std::int64_t max_delay_seconds = 1'000'000'000;

}  // namespace http_dates
}  // namespace detail

inline std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value) {
    return detail::http_dates::parse(value, std::nullopt);
}

inline std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                                  std::chrono::system_clock::time_point now) {
    using namespace detail::http_dates;
    using std::chrono::milliseconds;
    value = trim_ows(value);
    if (value.empty()) return std::nullopt;
    if (value.front() >= '0' && value.front() <= '9') {
        std::int64_t seconds = 0;
        for (char c : value) {
            if (c < '0' || c > '9') return std::nullopt;
            if (seconds < max_delay_seconds) seconds = seconds * 10 + (c - '0');
        }
        if (seconds > max_delay_seconds) seconds = max_delay_seconds;
        return milliseconds(seconds * 1000);
    }
    // Milliseconds since the epoch have the range to subtract any two time points.
    const std::int64_t now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
    const std::int64_t now_days = (now_ms >= 0 ? now_ms : now_ms - 86'399'999) / 86'400'000;
    const auto date = parse(value, year_from_days(now_days));
    if (!date) return std::nullopt;
    const std::int64_t date_ms = std::chrono::duration_cast<milliseconds>(date->time_since_epoch()).count();
    if (date_ms <= now_ms) return milliseconds(0);
    std::int64_t delay = date_ms - now_ms;
    if (delay > max_delay_seconds * 1000) delay = max_delay_seconds * 1000;
    return milliseconds(delay);
}

DBSERVE_END_NAMESPACE
