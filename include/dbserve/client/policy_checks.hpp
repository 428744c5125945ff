// What a Clock, a SecretSource and a Transport must provide, checked at compile time.
//
// - Detection traits (C++17): is_clock<T>, is_secret_source<T>, is_sync_transport<T>,
//   is_async_transport<T> (and their _v forms), true when T has every member.
// - check_clock<T>(), check_secret_source<T>(), check_sync_transport<T>(),
//   check_async_transport<T>(): one static_assert per missing member, each naming the
//   exact signature expected, so a user's policy type gets a list of what to add instead of
//   an instantiation backtrace. They always return true, so `static_assert(check_clock<T>())`
//   adds no error of its own beside the one naming the missing member.
// - C++20 concepts with the same requirements (DBSERVE_HAS_CONCEPTS): clock_policy,
//   secret_source, sync_transport, async_transport.
// load() and send() must return exactly the result type named (result<T> converts from too
// much to be a safe target: in C++20 even from a lone field of an aggregate T); the clock
// readings need only convert to their time_point. Members called on a const object
// (const T&) must be const.
#pragma once

#include <dbserve/client/credentials.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <functional>
#include <type_traits>
#include <utility>

#if DBSERVE_HAS_CONCEPTS
#include <concepts>
#endif

DBSERVE_BEGIN_NAMESPACE

namespace detail {

using wall_time_point = std::chrono::system_clock::time_point;
using monotonic_time_point = std::chrono::steady_clock::time_point;

// One trait per member, so each can be asserted on its own.
template <class T, class = void>
struct has_wall_now : std::false_type {};
template <class T>
struct has_wall_now<T, std::void_t<decltype(std::declval<const T&>().wall_now())>>
    : std::is_convertible<decltype(std::declval<const T&>().wall_now()), wall_time_point> {};

template <class T, class = void>
struct has_monotonic_now : std::false_type {};
template <class T>
struct has_monotonic_now<T, std::void_t<decltype(std::declval<const T&>().monotonic_now())>>
    : std::is_convertible<decltype(std::declval<const T&>().monotonic_now()), monotonic_time_point> {};

template <class T, class = void>
struct has_sleep_until : std::false_type {};
template <class T>
struct has_sleep_until<
    T, std::void_t<decltype(std::declval<const T&>().sleep_until(std::declval<monotonic_time_point&>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_async_wait_until : std::false_type {};
template <class T>
struct has_async_wait_until<T, std::void_t<decltype(std::declval<const T&>().async_wait_until(
                                   std::declval<monotonic_time_point&>(), std::declval<std::function<void()>>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_load : std::false_type {};
template <class T>
struct has_load<T, std::void_t<decltype(std::declval<const T&>().load())>>
    : std::is_same<std::decay_t<decltype(std::declval<const T&>().load())>, result<credentials>> {};

template <class T, class = void>
struct has_send : std::false_type {};
template <class T>
struct has_send<T, std::void_t<decltype(std::declval<T&>().send(std::declval<const http_request&>(),
                                                                 std::declval<const send_options&>()))>>
    : std::is_same<std::decay_t<decltype(std::declval<T&>().send(std::declval<const http_request&>(),
                                                                 std::declval<const send_options&>()))>,
                   result<http_response>> {};

template <class T, class = void>
struct has_async_send : std::false_type {};
template <class T>
struct has_async_send<T, std::void_t<decltype(std::declval<T&>().async_send(
                             std::declval<http_request>(), std::declval<send_options>(),
                             std::declval<completion_handler>()))>> : std::true_type {};

}  // namespace detail

template <class T>
struct is_clock
    : std::bool_constant<detail::has_wall_now<T>::value && detail::has_monotonic_now<T>::value &&
                         detail::has_sleep_until<T>::value && detail::has_async_wait_until<T>::value> {};
template <class T>
struct is_secret_source : std::bool_constant<detail::has_load<T>::value> {};
template <class T>
struct is_sync_transport : std::bool_constant<detail::has_send<T>::value> {};
template <class T>
struct is_async_transport : std::bool_constant<detail::has_async_send<T>::value> {};

template <class T>
inline constexpr bool is_clock_v = is_clock<T>::value;
template <class T>
inline constexpr bool is_secret_source_v = is_secret_source<T>::value;
template <class T>
inline constexpr bool is_sync_transport_v = is_sync_transport<T>::value;
template <class T>
inline constexpr bool is_async_transport_v = is_async_transport<T>::value;

template <class T>
constexpr bool check_clock() {
    static_assert(detail::has_wall_now<T>::value,
                  "dbserve: the Clock policy needs `std::chrono::system_clock::time_point wall_now() const`");
    static_assert(detail::has_monotonic_now<T>::value,
                  "dbserve: the Clock policy needs `std::chrono::steady_clock::time_point monotonic_now() const`");
    static_assert(detail::has_sleep_until<T>::value,
                  "dbserve: the Clock policy needs `void sleep_until(std::chrono::steady_clock::time_point) const`");
    static_assert(detail::has_async_wait_until<T>::value,
                  "dbserve: the Clock policy needs `void async_wait_until(std::chrono::steady_clock::time_point, "
                  "std::function<void()>) const`");
    return true;
}

template <class T>
constexpr bool check_secret_source() {
    static_assert(detail::has_load<T>::value,
                  "dbserve: the SecretSource policy needs `dbserve::result<dbserve::credentials> load() const`");
    return true;
}

template <class T>
constexpr bool check_sync_transport() {
    static_assert(detail::has_send<T>::value,
                  "dbserve: a synchronous Transport needs `dbserve::result<dbserve::http_response> "
                  "send(const dbserve::http_request&, const dbserve::send_options&)`");
    return true;
}

template <class T>
constexpr bool check_async_transport() {
    static_assert(detail::has_async_send<T>::value,
                  "dbserve: an asynchronous Transport needs `void async_send(dbserve::http_request, "
                  "dbserve::send_options, dbserve::completion_handler)`");
    return true;
}

#if DBSERVE_HAS_CONCEPTS

namespace detail {
template <class T, class U>
concept decays_to = std::same_as<std::decay_t<T>, U>;
}  // namespace detail

template <class T>
concept clock_policy = requires(const T& clock, detail::monotonic_time_point deadline,
                                std::function<void()> callback) {
    { clock.wall_now() } -> std::convertible_to<detail::wall_time_point>;
    { clock.monotonic_now() } -> std::convertible_to<detail::monotonic_time_point>;
    clock.sleep_until(deadline);
    clock.async_wait_until(deadline, std::move(callback));
};

template <class T>
concept secret_source = requires(const T& source) {
    { source.load() } -> detail::decays_to<result<credentials>>;
};

template <class T>
concept sync_transport = requires(T& transport, const http_request& request, const send_options& options) {
    { transport.send(request, options) } -> detail::decays_to<result<http_response>>;
};

template <class T>
concept async_transport = requires(T& transport, http_request request, send_options options,
                                   completion_handler handler) {
    transport.async_send(std::move(request), std::move(options), std::move(handler));
};

#endif

DBSERVE_END_NAMESPACE
