// The policies a workspace or client is composed of (Transport, Clock, SecretSource) and
// how they are named: derive from default_traits and override what differs, or list them
// with traits_for<>.
//   struct my_traits : dbserve::default_traits { using transport = my_transport; };
#pragma once

#include <dbserve/client/clock.hpp>
#include <dbserve/client/policy_checks.hpp>
#include <dbserve/client/secret_sources.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <type_traits>

DBSERVE_BEGIN_NAMESPACE

// The null Transport: a client that is only driven by poll (start_query) needs none.
struct no_transport {};

// The defaults every policy falls back to. A user's traits derive from it and override
// what differs.
struct default_traits {
    using transport = no_transport;
    using clock = system_clock_policy;
    using secret_source = default_secret_source;
};

// Traits from explicit policy types, for those who prefer template arguments.
template <class Transport, class Clock = system_clock_policy, class SecretSource = default_secret_source>
struct traits_for {
    using transport = Transport;
    using clock = Clock;
    using secret_source = SecretSource;
};

namespace detail {
template <class T>
constexpr bool check_transport() {
    if constexpr (std::is_same_v<T, no_transport> || is_sync_transport_v<T> || is_async_transport_v<T>) {
        return true;
    } else {
        static_assert(is_sync_transport_v<T> || is_async_transport_v<T>,
                      "dbserve: the Transport policy needs `dbserve::result<dbserve::http_response> "
                      "send(const dbserve::http_request&, const dbserve::send_options&)` (blocking) or "
                      "`void async_send(dbserve::http_request, dbserve::send_options, "
                      "dbserve::completion_handler)` (asynchronous), or use dbserve::no_transport to drive "
                      "queries with start_query()");
        return false;
    }
}

// Checks a Traits' policies once, wherever they are used (workspace, endpoint, client).
template <class Traits>
constexpr bool check_traits() {
    static_assert(check_clock<typename Traits::clock>(), "dbserve: Traits::clock is not a Clock policy");
    static_assert(check_secret_source<typename Traits::secret_source>(),
                  "dbserve: Traits::secret_source is not a SecretSource");
    static_assert(check_transport<typename Traits::transport>(), "dbserve: Traits::transport is not a Transport");
#if DBSERVE_HAS_CONCEPTS
    static_assert(clock_policy<typename Traits::clock> && secret_source<typename Traits::secret_source>);
#endif
    return true;
}

inline std::string dump_body(const nlohmann::json& body) {
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace detail

DBSERVE_END_NAMESPACE
