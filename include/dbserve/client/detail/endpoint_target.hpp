// endpoint_target: one endpoint of a workspace as its queries see it, checked and prepared
// once when the handle is made: the configured URL taken apart (or the name to discover),
// the token path it uses, the invocation headers, its entry in the data-plane token cache
// and its statistics. Immutable once made, apart from the counters.
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/detail/atomic_statistics.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/client/token_cache.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct endpoint_target {
    endpoint_config config;
    // The discovery cache's key: the name, and the served model when one is asked for (the
    // discovered URL differs per served model).
    std::string discovery_key;
    // The error every query of this endpoint fails with (a malformed URL or name...).
    std::optional<dbserve::error> config_error;
    // Set when configured by URL: no discovery.
    std::shared_ptr<const resolved_endpoint> configured_endpoint;
    token_path path = token_path::client_credentials;  // automatic resolved
    // invocation_headers() of the configured endpoint, [streaming], built once: copying
    // them is cheaper than building them per query. Empty without one.
    header_list configured_invocation_headers[2];
    // The configured endpoint's entry in the data-plane token cache: no key lookup per query.
    token_cache::slot configured_token_slot;
    mutable atomic_statistics stats;
};

// The discovery cache key of an endpoint name and served model.
inline std::string discovery_key_for(const std::string& name, const std::string& served_model) {
    if (served_model.empty()) return name;
    return name + "\nserved-model\n" + served_model;
}

// Checks an endpoint's configuration and resolves its token path; the caller adds the
// headers and token slot (they need the workspace).
inline void prepare_endpoint_target(endpoint_target& t, token_path auth) {
    const endpoint_config& config = t.config;
    if (config.url.empty() && config.endpoint_name.empty()) {
        t.config_error = dbserve::error(errc::configuration,
                                        "no endpoint is configured: set the route optimized invocations URL "
                                        "(client_config::url, endpoint_config::url) or the endpoint name to "
                                        "discover it (client_config::endpoint_name, endpoint_config::endpoint_name)");
        return;
    }
    if (!config.url.empty()) {
        auto endpoint = resolve_configured_endpoint(config.url, config.endpoint_id, config.served_model, config.action);
        if (!endpoint) {
            t.config_error = std::move(endpoint).error();
            return;
        }
        t.configured_endpoint = std::make_shared<const resolved_endpoint>(std::move(*endpoint));
    } else {
        auto valid = validate_endpoint_name(config.endpoint_name);
        if (!valid) {
            t.config_error = std::move(valid).error();
            return;
        }
    }
    switch (auth) {
        case token_path::automatic:
            t.path = t.configured_endpoint ? token_path::client_credentials : token_path::token_exchange;
            break;
        case token_path::token_exchange:
            if (t.config.endpoint_name.empty() && t.configured_endpoint)
                t.config.endpoint_name = t.configured_endpoint->name;
            // The exchange needs the discovered authorization_details: discover by name.
            t.configured_endpoint.reset();
            t.path = token_path::token_exchange;
            break;
        case token_path::client_credentials:
            t.path = token_path::client_credentials;
            break;
        case token_path::supplied:
            if (!config.supply_token) {
                t.config_error = dbserve::error(errc::configuration,
                                                "token_path::supplied needs a token supplier for the endpoint "
                                                "(client_config::supply_token, endpoint_config::supply_token): a "
                                                "function returning the token and its expiry");
                return;
            }
            t.path = token_path::supplied;
            break;
    }
    t.discovery_key = discovery_key_for(t.config.endpoint_name, t.config.served_model);
}

}  // namespace detail
DBSERVE_END_NAMESPACE
