#include <dbserve/client/policy_checks.hpp>

#include <dbserve/client/clock.hpp>
#include <dbserve/client/secret_sources.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>

using namespace dbserve;

namespace {

using wall_tp = std::chrono::system_clock::time_point;
using mono_tp = std::chrono::steady_clock::time_point;

// ---- clocks
struct complete_clock {
    wall_tp wall_now() const { return {}; }
    mono_tp monotonic_now() const { return {}; }
    void sleep_until(mono_tp) const {}
    void async_wait_until(mono_tp, std::function<void()>) const {}
};
struct clock_without_wall_now {
    mono_tp monotonic_now() const { return {}; }
    void sleep_until(mono_tp) const {}
    void async_wait_until(mono_tp, std::function<void()>) const {}
};
struct clock_without_monotonic_now {
    wall_tp wall_now() const { return {}; }
    void sleep_until(mono_tp) const {}
    void async_wait_until(mono_tp, std::function<void()>) const {}
};
struct clock_without_sleep_until {
    wall_tp wall_now() const { return {}; }
    mono_tp monotonic_now() const { return {}; }
    void async_wait_until(mono_tp, std::function<void()>) const {}
};
struct clock_without_async_wait_until {
    wall_tp wall_now() const { return {}; }
    mono_tp monotonic_now() const { return {}; }
    void sleep_until(mono_tp) const {}
};
// Members that are not const cannot be called on the const clock the client holds.
struct clock_with_non_const_members {
    wall_tp wall_now() { return {}; }
    mono_tp monotonic_now() { return {}; }
    void sleep_until(mono_tp) {}
    void async_wait_until(mono_tp, std::function<void()>) {}
};
// The monotonic reading must be steady_clock time, not wall time.
struct clock_with_wall_time_as_monotonic {
    wall_tp wall_now() const { return {}; }
    wall_tp monotonic_now() const { return {}; }
    void sleep_until(mono_tp) const {}
    void async_wait_until(mono_tp, std::function<void()>) const {}
};
// Convertible types, by-reference parameters and templates are fine.
struct clock_with_other_shapes {
    std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds> wall_now() const { return {}; }
    mono_tp monotonic_now() const noexcept { return {}; }
    void sleep_until(const mono_tp&) const {}
    template <class F>
    void async_wait_until(mono_tp, F&&) const {}
};

// ---- secret sources
struct complete_source {
    result<credentials> load() const { return credentials{}; }
};
struct source_with_non_const_load {
    result<credentials> load() { return credentials{}; }
};
struct source_returning_credentials_directly {
    credentials load() const { return {}; }  // not a result: errors could not be reported
};
struct source_returning_something_else {
    int load() const { return 0; }
};
struct not_a_source {};

// ---- transports
struct sync_only_transport {
    result<http_response> send(const http_request&, const send_options&) { return http_response{}; }
};
struct async_only_transport {
    void async_send(http_request, send_options, completion_handler) {}
};
struct both_transport {
    result<http_response> send(const http_request&, const send_options&) { return http_response{}; }
    void async_send(http_request, send_options, completion_handler) {}
};
struct transport_send_without_options {
    result<http_response> send(const http_request&) { return http_response{}; }
};
struct transport_send_returning_response_only {
    http_response send(const http_request&, const send_options&) { return {}; }  // cannot fail
};
struct transport_send_returning_const_result {
    const result<http_response> send(const http_request&, const send_options&) const { return http_response{}; }
};
struct transport_send_returning_void {
    void send(const http_request&, const send_options&) {}
};
struct transport_async_send_with_wrong_handler {
    void async_send(http_request, send_options, std::function<void(int, int)>) {}
};
struct transport_async_send_by_const_ref {
    void async_send(const http_request&, const send_options&, const completion_handler&) {}
};

}  // namespace

TEST_CASE("is_clock accepts the library's clocks and a complete user clock") {
    CHECK(is_clock_v<system_clock_policy>);
    CHECK(is_clock_v<manual_clock>);
    CHECK(is_clock_v<complete_clock>);
    CHECK(is_clock_v<clock_with_other_shapes>);
    CHECK(check_clock<complete_clock>());
    CHECK(check_clock<manual_clock>());
}

TEST_CASE("is_clock refuses a clock missing any member") {
    CHECK_FALSE(is_clock_v<clock_without_wall_now>);
    CHECK_FALSE(is_clock_v<clock_without_monotonic_now>);
    CHECK_FALSE(is_clock_v<clock_without_sleep_until>);
    CHECK_FALSE(is_clock_v<clock_without_async_wait_until>);
    CHECK_FALSE(is_clock_v<clock_with_non_const_members>);
    CHECK_FALSE(is_clock_v<clock_with_wall_time_as_monotonic>);
    CHECK_FALSE(is_clock_v<int>);
}

TEST_CASE("the per-member clock traits single out what is missing") {
    CHECK_FALSE(detail::has_wall_now<clock_without_wall_now>::value);
    CHECK(detail::has_monotonic_now<clock_without_wall_now>::value);
    CHECK(detail::has_sleep_until<clock_without_wall_now>::value);
    CHECK(detail::has_async_wait_until<clock_without_wall_now>::value);
    CHECK_FALSE(detail::has_monotonic_now<clock_with_wall_time_as_monotonic>::value);
    CHECK(detail::has_wall_now<clock_with_wall_time_as_monotonic>::value);
}

TEST_CASE("is_secret_source accepts every library source and a const load returning result<credentials>") {
    CHECK(is_secret_source_v<environment_secret_source>);
    CHECK(is_secret_source_v<profile_file_secret_source>);
    CHECK(is_secret_source_v<static_secret_source>);
    CHECK(is_secret_source_v<callback_secret_source>);
    CHECK(is_secret_source_v<default_secret_source>);
    CHECK(is_secret_source_v<layered_secret_source<static_secret_source, environment_secret_source>>);
    CHECK(is_secret_source_v<complete_source>);
    CHECK(check_secret_source<default_secret_source>());
}

TEST_CASE("is_secret_source refuses a missing, non-const or wrongly typed load") {
    CHECK_FALSE(is_secret_source_v<source_with_non_const_load>);
    CHECK_FALSE(is_secret_source_v<source_returning_credentials_directly>);
    CHECK_FALSE(is_secret_source_v<source_returning_something_else>);
    CHECK_FALSE(is_secret_source_v<not_a_source>);
}

TEST_CASE("transports are sync, async, or both") {
    CHECK(is_sync_transport_v<sync_only_transport>);
    CHECK_FALSE(is_async_transport_v<sync_only_transport>);
    CHECK(is_async_transport_v<async_only_transport>);
    CHECK_FALSE(is_sync_transport_v<async_only_transport>);
    CHECK(is_sync_transport_v<both_transport>);
    CHECK(is_async_transport_v<both_transport>);
    CHECK(check_sync_transport<both_transport>());
    CHECK(check_async_transport<both_transport>());
}

TEST_CASE("a transport's send must take the request and the options and return result<http_response>") {
    CHECK_FALSE(is_sync_transport_v<transport_send_without_options>);
    CHECK_FALSE(is_sync_transport_v<transport_send_returning_void>);
    CHECK_FALSE(is_sync_transport_v<transport_send_returning_response_only>);
    CHECK(is_sync_transport_v<transport_send_returning_const_result>);
}

TEST_CASE("a transport's async_send must accept a completion_handler") {
    CHECK_FALSE(is_async_transport_v<transport_async_send_with_wrong_handler>);
    CHECK(is_async_transport_v<transport_async_send_by_const_ref>);
}

TEST_CASE("the checks are usable in constant expressions") {
    constexpr bool clock_ok = check_clock<complete_clock>();
    constexpr bool source_ok = check_secret_source<complete_source>();
    constexpr bool sync_ok = check_sync_transport<sync_only_transport>();
    constexpr bool async_ok = check_async_transport<async_only_transport>();
    static_assert(clock_ok && source_ok && sync_ok && async_ok);
    CHECK(clock_ok);
}

#if DBSERVE_HAS_CONCEPTS

// The concepts state the same requirements as the traits, type by type.
template <class T>
constexpr bool clock_agrees = clock_policy<T> == is_clock_v<T>;
template <class T>
constexpr bool source_agrees = secret_source<T> == is_secret_source_v<T>;
template <class T>
constexpr bool transport_agrees =
    (sync_transport<T> == is_sync_transport_v<T>) && (async_transport<T> == is_async_transport_v<T>);

TEST_CASE("the C++20 concepts accept the library's policies") {
    static_assert(clock_policy<system_clock_policy>);
    static_assert(clock_policy<manual_clock>);
    static_assert(secret_source<default_secret_source>);
    static_assert(secret_source<callback_secret_source>);
    static_assert(sync_transport<both_transport>);
    static_assert(async_transport<both_transport>);
    CHECK(clock_policy<complete_clock>);
}

TEST_CASE("the C++20 concepts and the C++17 traits agree on every test type") {
    static_assert(clock_agrees<complete_clock>);
    static_assert(clock_agrees<clock_without_wall_now>);
    static_assert(clock_agrees<clock_without_monotonic_now>);
    static_assert(clock_agrees<clock_without_sleep_until>);
    static_assert(clock_agrees<clock_without_async_wait_until>);
    static_assert(clock_agrees<clock_with_non_const_members>);
    static_assert(clock_agrees<clock_with_wall_time_as_monotonic>);
    static_assert(clock_agrees<clock_with_other_shapes>);
    static_assert(clock_agrees<int>);
    static_assert(source_agrees<complete_source>);
    static_assert(source_agrees<source_with_non_const_load>);
    static_assert(source_agrees<source_returning_credentials_directly>);
    static_assert(source_agrees<source_returning_something_else>);
    static_assert(source_agrees<not_a_source>);
    static_assert(transport_agrees<sync_only_transport>);
    static_assert(transport_agrees<async_only_transport>);
    static_assert(transport_agrees<both_transport>);
    static_assert(transport_agrees<transport_send_without_options>);
    static_assert(transport_agrees<transport_send_returning_response_only>);
    static_assert(transport_agrees<transport_send_returning_void>);
    static_assert(transport_agrees<transport_send_returning_const_result>);
    static_assert(transport_agrees<transport_async_send_with_wrong_handler>);
    static_assert(transport_agrees<transport_async_send_by_const_ref>);
    CHECK(true);
}

// A concept can constrain a user's own template directly.
template <clock_policy Clock>
constexpr bool accepts_clock(const Clock&) {
    return true;
}

TEST_CASE("a concept constrains a template parameter") {
    CHECK(accepts_clock(manual_clock{}));
}

#endif
