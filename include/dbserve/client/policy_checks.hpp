// What a Clock, a SecretSource and a Transport must provide, checked at compile time.
//
// - Detection traits (C++17): is_clock<T>, is_secret_source<T>, is_sync_transport<T>,
//   is_async_transport<T> (and their _v forms), true when T has every member.
// - check_clock<T>(), check_secret_source<T>(), check_sync_transport<T>(),
//   check_async_transport<T>(), check_transport<T>(): one static_assert per problem, each
//   naming the exact signature expected and telling "missing" apart from "exists but is not
//   const / takes other arguments / returns another type" (the type is then named in the
//   instantiation note below the error). They always return true, so
//   `static_assert(check_clock<T>())` adds no error of its own.
// - What a client asks of its Clock depends on how it is driven: every client reads
//   wall_now() and monotonic_now() (check_client_clock); blocking queries also sleep_until()
//   (check_blocking_clock), asynchronous ones async_wait_until() (check_async_clock). A
//   poll-only client needs neither.
// - The monotonic reading may be any std::chrono::time_point (an engine's own clock type)
//   or a plain std::chrono::duration since some fixed start, but not system_clock time;
//   sleep_until and async_wait_until take that same type.
// - C++20 concepts with the same requirements (DBSERVE_HAS_CONCEPTS): clock_policy,
//   secret_source, sync_transport, async_transport.
// load() and send() must return exactly the result type named (result<T> converts from too
// much to be a safe target: in C++20 even from a lone field of an aggregate T); the wall
// reading need only convert to system_clock::time_point. Members called on a const object
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

template <class T>
struct dependent_false : std::false_type {};

// A monotonic reading: any time_point but wall time, or a duration since a fixed start.
template <class R>
struct is_monotonic_reading : std::false_type {};
template <class Rep, class Period>
struct is_monotonic_reading<std::chrono::duration<Rep, Period>> : std::true_type {};
template <class Clock, class Duration>
struct is_monotonic_reading<std::chrono::time_point<Clock, Duration>>
    : std::bool_constant<!std::is_same_v<Clock, std::chrono::system_clock>> {};

// One trait per member, so each can be asserted on its own; the *_named traits see a
// member that exists but cannot be called as required (not const, other parameters).
template <class T, class = void>
struct has_wall_now : std::false_type {};
template <class T>
struct has_wall_now<T, std::void_t<decltype(std::declval<const T&>().wall_now())>>
    : std::is_convertible<decltype(std::declval<const T&>().wall_now()), wall_time_point> {};
template <class T, class = void>
struct has_mutable_wall_now : std::false_type {};
template <class T>
struct has_mutable_wall_now<T, std::void_t<decltype(std::declval<T&>().wall_now())>> : std::true_type {};

template <class T, class = void>
struct has_monotonic_now : std::false_type {};
template <class T>
struct has_monotonic_now<T, std::void_t<decltype(std::declval<const T&>().monotonic_now())>>
    : is_monotonic_reading<std::decay_t<decltype(std::declval<const T&>().monotonic_now())>> {};
template <class T, class = void>
struct has_mutable_monotonic_now : std::false_type {};
template <class T>
struct has_mutable_monotonic_now<T, std::void_t<decltype(std::declval<T&>().monotonic_now())>> : std::true_type {};

// The type the clock's monotonic_now() returns (steady_clock time when it has none, so
// the other members can still be checked on their own).
template <class T, class = void>
struct monotonic_reading {
    using type = monotonic_time_point;
};
template <class T>
struct monotonic_reading<T, std::enable_if_t<has_monotonic_now<T>::value>> {
    using type = std::decay_t<decltype(std::declval<const T&>().monotonic_now())>;
};
template <class T>
using monotonic_reading_t = typename monotonic_reading<T>::type;

template <class T, class = void>
struct has_sleep_until : std::false_type {};
template <class T>
struct has_sleep_until<
    T, std::void_t<decltype(std::declval<const T&>().sleep_until(std::declval<const monotonic_reading_t<T>&>()))>>
    : std::true_type {};
template <class T, class = void>
struct has_mutable_sleep_until : std::false_type {};
template <class T>
struct has_mutable_sleep_until<
    T, std::void_t<decltype(std::declval<T&>().sleep_until(std::declval<const monotonic_reading_t<T>&>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_async_wait_until : std::false_type {};
template <class T>
struct has_async_wait_until<T, std::void_t<decltype(std::declval<const T&>().async_wait_until(
                                   std::declval<const monotonic_reading_t<T>&>(),
                                   std::declval<std::function<void()>>()))>> : std::true_type {};
template <class T, class = void>
struct has_mutable_async_wait_until : std::false_type {};
template <class T>
struct has_mutable_async_wait_until<T, std::void_t<decltype(std::declval<T&>().async_wait_until(
                                           std::declval<const monotonic_reading_t<T>&>(),
                                           std::declval<std::function<void()>>()))>> : std::true_type {};

template <class T, class = void>
struct load_result {};
template <class T>
struct load_result<T, std::void_t<decltype(std::declval<const T&>().load())>> {
    using type = std::decay_t<decltype(std::declval<const T&>().load())>;
};
template <class T, class = void>
struct has_load_call : std::false_type {};
template <class T>
struct has_load_call<T, std::void_t<typename load_result<T>::type>> : std::true_type {};
template <class T, class = void>
struct has_load : std::false_type {};
template <class T>
struct has_load<T, std::void_t<typename load_result<T>::type>>
    : std::is_same<typename load_result<T>::type, result<credentials>> {};
template <class T, class = void>
struct has_mutable_load : std::false_type {};
template <class T>
struct has_mutable_load<T, std::void_t<decltype(std::declval<T&>().load())>> : std::true_type {};

template <class T, class = void>
struct send_result {};
template <class T>
struct send_result<T, std::void_t<decltype(std::declval<T&>().send(std::declval<const http_request&>(),
                                                                   std::declval<const send_options&>()))>> {
    using type = std::decay_t<decltype(std::declval<T&>().send(std::declval<const http_request&>(),
                                                               std::declval<const send_options&>()))>;
};
template <class T, class = void>
struct has_send_call : std::false_type {};
template <class T>
struct has_send_call<T, std::void_t<typename send_result<T>::type>> : std::true_type {};
template <class T, class = void>
struct has_send : std::false_type {};
template <class T>
struct has_send<T, std::void_t<typename send_result<T>::type>>
    : std::is_same<typename send_result<T>::type, result<http_response>> {};

// A member called `send` (one function, not overloaded nor a template) whatever it takes.
template <class T, class = void>
struct has_send_named : std::false_type {};
template <class T>
struct has_send_named<T, std::void_t<decltype(&T::send)>> : std::true_type {};

template <class T, class = void>
struct has_async_send : std::false_type {};
template <class T>
struct has_async_send<T, std::void_t<decltype(std::declval<T&>().async_send(
                             std::declval<http_request>(), std::declval<send_options>(),
                             std::declval<completion_handler>()))>> : std::true_type {};
template <class T, class = void>
struct has_async_send_named : std::false_type {};
template <class T>
struct has_async_send_named<T, std::void_t<decltype(&T::async_send)>> : std::true_type {};

// Instantiated only for a wrong return type, so the compiler's note names the type:
// "In instantiation of ... [with Returned = ...]".
template <class Returned>
constexpr bool send_returns_another_type() {
    static_assert(dependent_false<Returned>::value,
                  "dbserve: the Transport's `send(const dbserve::http_request&, const dbserve::send_options&)` "
                  "exists but returns `Returned` (named below), not `dbserve::result<dbserve::http_response>`");
    return true;
}
template <class Returned>
constexpr bool load_returns_another_type() {
    static_assert(dependent_false<Returned>::value,
                  "dbserve: the SecretSource's `load() const` exists but returns `Returned` (named below), not "
                  "`dbserve::result<dbserve::credentials>`");
    return true;
}

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

// wall_now() and monotonic_now(): what every client reads.
template <class T>
constexpr bool check_client_clock() {
    if constexpr (!detail::has_wall_now<T>::value && detail::has_mutable_wall_now<T>::value)
        static_assert(detail::has_wall_now<T>::value,
                      "dbserve: the Clock's `wall_now()` exists but is not const (or does not return a "
                      "std::chrono::system_clock::time_point); declare `std::chrono::system_clock::time_point "
                      "wall_now() const`");
    else
        static_assert(detail::has_wall_now<T>::value,
                      "dbserve: the Clock policy needs `std::chrono::system_clock::time_point wall_now() const`");
    if constexpr (!detail::has_monotonic_now<T>::value && detail::has_mutable_monotonic_now<T>::value)
        static_assert(detail::has_monotonic_now<T>::value,
                      "dbserve: the Clock's `monotonic_now()` exists but is not const or returns wall time; "
                      "declare `std::chrono::steady_clock::time_point monotonic_now() const` (or any other "
                      "monotonic std::chrono::time_point or duration)");
    else
        static_assert(detail::has_monotonic_now<T>::value,
                      "dbserve: the Clock policy needs `std::chrono::steady_clock::time_point monotonic_now() const` "
                      "(or any other monotonic std::chrono::time_point or duration)");
    return true;
}

// sleep_until(): what blocking queries wait with.
template <class T>
constexpr bool check_blocking_clock() {
    if constexpr (!detail::has_sleep_until<T>::value && detail::has_mutable_sleep_until<T>::value)
        static_assert(detail::has_sleep_until<T>::value,
                      "dbserve: the Clock's `sleep_until()` exists but is not const; declare `void "
                      "sleep_until(std::chrono::steady_clock::time_point) const` (taking what monotonic_now() returns)");
    else
        static_assert(detail::has_sleep_until<T>::value,
                      "dbserve: the Clock policy needs `void sleep_until(std::chrono::steady_clock::time_point) const` "
                      "(taking what monotonic_now() returns) for blocking queries");
    return true;
}

// async_wait_until(): what asynchronous queries wait with.
template <class T>
constexpr bool check_async_clock() {
    if constexpr (!detail::has_async_wait_until<T>::value && detail::has_mutable_async_wait_until<T>::value)
        static_assert(detail::has_async_wait_until<T>::value,
                      "dbserve: the Clock's `async_wait_until()` exists but is not const; declare `void "
                      "async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const` (taking "
                      "what monotonic_now() returns)");
    else
        static_assert(detail::has_async_wait_until<T>::value,
                      "dbserve: the Clock policy needs `void async_wait_until(std::chrono::steady_clock::time_point, "
                      "std::function<void()>) const` (taking what monotonic_now() returns) for asynchronous queries");
    return true;
}

// Every member: a clock that serves all three ways of driving a query.
template <class T>
constexpr bool check_clock() {
    check_client_clock<T>();
    check_blocking_clock<T>();
    check_async_clock<T>();
    return true;
}

template <class T>
constexpr bool check_secret_source() {
    if constexpr (detail::has_load_call<T>::value && !detail::has_load<T>::value)
        detail::load_returns_another_type<typename detail::load_result<T>::type>();
    else if constexpr (!detail::has_load<T>::value && detail::has_mutable_load<T>::value)
        static_assert(detail::has_load<T>::value,
                      "dbserve: the SecretSource's `load()` exists but is not const; declare "
                      "`dbserve::result<dbserve::credentials> load() const`");
    else
        static_assert(detail::has_load<T>::value,
                      "dbserve: the SecretSource policy needs `dbserve::result<dbserve::credentials> load() const`");
    return true;
}

template <class T>
constexpr bool check_sync_transport() {
    if constexpr (detail::has_send_call<T>::value && !detail::has_send<T>::value)
        detail::send_returns_another_type<typename detail::send_result<T>::type>();
    else if constexpr (!detail::has_send_call<T>::value && detail::has_send_named<T>::value)
        static_assert(detail::has_send_call<T>::value,
                      "dbserve: the Transport's `send` exists but cannot be called with `(const dbserve::http_request&, "
                      "const dbserve::send_options&)`; declare `dbserve::result<dbserve::http_response> "
                      "send(const dbserve::http_request&, const dbserve::send_options&)`");
    else
        static_assert(detail::has_send<T>::value,
                      "dbserve: a synchronous Transport needs `dbserve::result<dbserve::http_response> "
                      "send(const dbserve::http_request&, const dbserve::send_options&)`");
    return true;
}

template <class T>
constexpr bool check_async_transport() {
    if constexpr (!detail::has_async_send<T>::value && detail::has_async_send_named<T>::value)
        static_assert(detail::has_async_send<T>::value,
                      "dbserve: the Transport's `async_send` exists but cannot be called with `(dbserve::http_request, "
                      "dbserve::send_options, dbserve::completion_handler)`; declare `void "
                      "async_send(dbserve::http_request, dbserve::send_options, dbserve::completion_handler)`");
    else
        static_assert(detail::has_async_send<T>::value,
                      "dbserve: an asynchronous Transport needs `void async_send(dbserve::http_request, "
                      "dbserve::send_options, dbserve::completion_handler)`");
    return true;
}

// What basic_client asks of its Transport type: no_transport, send, or async_send. A type
// with neither gets one message: the specific one when it has a member of either name.
template <class T>
constexpr bool check_transport() {
    if constexpr (std::is_same_v<T, no_transport> || is_sync_transport_v<T> || is_async_transport_v<T>) {
        return true;
    } else if constexpr (detail::has_send_call<T>::value || detail::has_send_named<T>::value) {
        return check_sync_transport<T>();
    } else if constexpr (detail::has_async_send_named<T>::value) {
        return check_async_transport<T>();
    } else {
        static_assert(detail::dependent_false<T>::value,
                      "dbserve: the Transport policy needs `dbserve::result<dbserve::http_response> "
                      "send(const dbserve::http_request&, const dbserve::send_options&)` (blocking) or "
                      "`void async_send(dbserve::http_request, dbserve::send_options, "
                      "dbserve::completion_handler)` (asynchronous), or use dbserve::no_transport to drive "
                      "queries with start_query()");
        return true;
    }
}

#if DBSERVE_HAS_CONCEPTS

namespace detail {
template <class T, class U>
concept decays_to = std::same_as<std::decay_t<T>, U>;

template <class T>
concept monotonic_reading_type = is_monotonic_reading<std::decay_t<T>>::value;
}  // namespace detail

// A Clock every way of driving a query can use.
template <class T>
concept clock_policy = requires(const T& clock, const detail::monotonic_reading_t<T>& deadline,
                                std::function<void()> callback) {
    { clock.wall_now() } -> std::convertible_to<detail::wall_time_point>;
    { clock.monotonic_now() } -> detail::monotonic_reading_type;
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
