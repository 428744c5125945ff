// The library keeps monotonic time as std::chrono::steady_clock::time_point; a Clock may
// read any other monotonic time point or a duration (see policy_checks.hpp). These calls
// translate at the boundary, so an engine's time base never has to pose as steady_clock.
// A translated reading keeps its count since the type's epoch; a deadline handed back is
// rounded up, so a wait never ends before the library's deadline.
#pragma once

#include <dbserve/client/policy_checks.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <chrono>
#include <functional>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

namespace detail {

template <class Reading>
struct monotonic_translation;

template <>
struct monotonic_translation<std::chrono::steady_clock::time_point> {
    static monotonic_time_point to_library(monotonic_time_point t) noexcept { return t; }
    static monotonic_time_point to_clock(monotonic_time_point t) noexcept { return t; }
};

template <class Clock, class Duration>
struct monotonic_translation<std::chrono::time_point<Clock, Duration>> {
    using reading = std::chrono::time_point<Clock, Duration>;
    static monotonic_time_point to_library(reading t) noexcept {
        return monotonic_time_point(
            std::chrono::duration_cast<monotonic_time_point::duration>(t.time_since_epoch()));
    }
    static reading to_clock(monotonic_time_point t) noexcept {
        return reading(std::chrono::ceil<Duration>(t.time_since_epoch()));
    }
};

template <class Rep, class Period>
struct monotonic_translation<std::chrono::duration<Rep, Period>> {
    using reading = std::chrono::duration<Rep, Period>;
    static monotonic_time_point to_library(reading d) noexcept {
        return monotonic_time_point(std::chrono::duration_cast<monotonic_time_point::duration>(d));
    }
    static reading to_clock(monotonic_time_point t) noexcept {
        return std::chrono::ceil<reading>(t.time_since_epoch());
    }
};

template <class Clock>
using clock_translation = monotonic_translation<monotonic_reading_t<Clock>>;

template <class Clock>
monotonic_time_point clock_monotonic_now(const Clock& clock) {
    return clock_translation<Clock>::to_library(clock.monotonic_now());
}

template <class Clock>
void clock_sleep_until(const Clock& clock, monotonic_time_point deadline) {
    clock.sleep_until(clock_translation<Clock>::to_clock(deadline));
}

template <class Clock>
void clock_async_wait_until(const Clock& clock, monotonic_time_point deadline, std::function<void()> callback) {
    clock.async_wait_until(clock_translation<Clock>::to_clock(deadline), std::move(callback));
}

}  // namespace detail

DBSERVE_END_NAMESPACE
