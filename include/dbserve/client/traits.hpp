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
// Checks a Traits' policies once, wherever they are used (workspace, endpoint, client).
template <class Traits>
constexpr bool check_traits() {
    // Each check reports its own problem once and yields true, so these add no error of
    // their own (nor does a concept under C++20).
    static_assert(check_client_clock<typename Traits::clock>());
    static_assert(check_secret_source<typename Traits::secret_source>());
    static_assert(check_transport<typename Traits::transport>());
    return true;
}

inline std::string dump_body(const nlohmann::json& body) {
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace detail

DBSERVE_END_NAMESPACE
