// Where a route optimized endpoint lives: its invocations URL, id, workspace and the
// authorization_details its tokens are scoped to. Either taken apart from a configured URL
// or read from the serving-endpoints API (discovery), plus the per-name discovery cache.
// No I/O: the discovery request is built in client/request_builders.hpp and sent by the
// query operation.
#pragma once

#include <dbserve/client/detail/single_flight.hpp>
#include <dbserve/protocol/authorization_details.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/service_error.hpp>
#include <dbserve/protocol/url.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

struct resolved_endpoint {
    std::string url;           // the full .../invocations URL queries are POSTed to
    std::string name;          // endpoint name
    std::string id;            // endpoint id (first host label), goes into authorization_details
    std::string workspace_id;  // sent as X-Databricks-Workspace-Id when known
    std::string served_model;  // empty: the endpoint routes
    // The JSON array the data-plane token is scoped to: built from the id for a configured
    // URL, or the discovered string kept byte for byte.
    std::string authorization_details;
    bool discovered = false;
    // (url, authorization_details): the data-plane token cache key.
    std::string token_key;
};

namespace detail {

inline std::string token_key_for(std::string_view url, std::string_view authorization_details) {
    std::string key;
    key.reserve(url.size() + 1 + authorization_details.size());
    key.append(url.data(), url.size());
    key += '\n';
    key.append(authorization_details.data(), authorization_details.size());
    return key;
}

// A bearer token goes over plain http only to loopback (an emulator, a local proxy).
inline result<void> check_bearer_url(std::string_view url, std::string_view what) {
    auto parsed = parse_url(url);
    if (!parsed) return std::move(parsed).error();
    if (parsed->scheme == "http" && !is_loopback_host(parsed->host))
        return unexpected(errc::configuration,
                          std::string(what) + " " + std::string(url) +
                              " uses plain http: a bearer token or client secret would travel unencrypted. "
                              "Use https (plain http is accepted only for localhost/127.0.0.1/::1)");
    return {};
}

inline std::string json_string_member(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) return {};
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Puts /served-models/<model> into an invocations URL that has none.
inline result<route_optimized_url> with_served_model(route_optimized_url parsed, std::string_view served_model) {
    if (served_model.empty() || parsed.served_model == served_model) return parsed;
    if (!parsed.served_model.empty())
        return unexpected(errc::invalid_argument,
                          "the endpoint URL names served model '" + parsed.served_model +
                              "' but the configuration asks for '" + std::string(served_model) +
                              "'; give one of them");
    auto origin = parse_url(parsed.url);
    if (!origin) return std::move(origin).error();
    auto url = build_route_optimized_url(origin->origin(), parsed.workspace_id, parsed.endpoint_name, served_model);
    if (!url) return std::move(url).error();
    parsed.url = std::move(*url);
    parsed.served_model = std::string(served_model);
    return parsed;
}

}  // namespace detail

// A configured route optimized URL, taken apart. `endpoint_id` overrides the first host
// label; `served_model` selects one served model when the URL names none.
inline result<resolved_endpoint> resolve_configured_endpoint(std::string_view url, std::string_view endpoint_id = {},
                                                             std::string_view served_model = {},
                                                             endpoint_action action = endpoint_action::query_inference_endpoint) {
    auto checked = detail::check_bearer_url(url, "the endpoint URL");
    if (!checked) return std::move(checked).error();
    auto parsed = parse_route_optimized_url(url);
    if (!parsed) return std::move(parsed).error();
    auto with_model = detail::with_served_model(std::move(*parsed), served_model);
    if (!with_model) return std::move(with_model).error();
    resolved_endpoint out;
    out.url = std::move(with_model->url);
    out.name = std::move(with_model->endpoint_name);
    out.id = endpoint_id.empty() ? std::move(with_model->endpoint_id) : std::string(endpoint_id);
    out.workspace_id = std::move(with_model->workspace_id);
    out.served_model = std::move(with_model->served_model);
    out.authorization_details = authorization_details::for_serving_endpoint(out.id, action).json();
    out.token_key = detail::token_key_for(out.url, out.authorization_details);
    return out;
}

// Reads data_plane_info.query_info from a serving-endpoints response. Errors name the
// endpoint: not found, not ready, not route optimized (no data_plane_info).
inline result<resolved_endpoint> parse_discovery_response(const http_response& response, std::string_view endpoint_name,
                                                          std::string_view workspace_host,
                                                          std::chrono::system_clock::time_point now,
                                                          std::string_view served_model = {}) {
    const std::string name(endpoint_name);
    if (response.status < 200 || response.status > 299) {
        dbserve::error e = parse_service_error(response, now);
        if (response.status == 404) {
            e.code = errc::not_found;
            e.message = "serving endpoint '" + name + "' was not found in workspace " + std::string(workspace_host) +
                        " (check the name and that this service principal can see it): " + e.message;
        } else {
            e.message = "could not look up serving endpoint '" + name + "' in workspace " +
                        std::string(workspace_host) + ": " + e.message;
        }
        return e;
    }
    if (looks_like_html(response))
        return unexpected(errc::bad_response, "looking up serving endpoint '" + name +
                                                  "' returned an HTML page instead of JSON (a login page or a "
                                                  "proxy's error page); check the workspace host");
    bool too_deep = false;
    auto doc = detail::parse_lenient_json(response.body, &too_deep);
    if (too_deep) return detail::too_deep_error("the serving-endpoints response for '" + name + "'");
    if (doc.is_discarded() || !doc.is_object())
        return unexpected(errc::bad_response, "the serving-endpoints response for '" + name + "' is not a JSON object");

    auto state = doc.find("state");
    if (state != doc.end() && state->is_object()) {
        const std::string ready = detail::json_string_member(*state, "ready");
        if (!ready.empty() && ready != "READY") {
            const std::string update = detail::json_string_member(*state, "config_update");
            return unexpected(errc::unavailable,
                              "serving endpoint '" + name + "' is not ready (state.ready = " + ready +
                                  (update.empty() ? std::string() : ", state.config_update = " + update) +
                                  "); wait until it is READY and try again");
        }
    }

    const nlohmann::json* query_info = nullptr;
    auto data_plane = doc.find("data_plane_info");
    if (data_plane != doc.end() && data_plane->is_object()) {
        auto qi = data_plane->find("query_info");
        if (qi != data_plane->end() && qi->is_object()) query_info = &*qi;
    }
    const std::string url = query_info ? detail::json_string_member(*query_info, "endpoint_url") : std::string();
    if (url.empty()) {
        auto ro = doc.find("route_optimized");
        const bool route_optimized = ro != doc.end() && ro->is_boolean() && ro->get<bool>();
        if (!route_optimized)
            return unexpected(errc::configuration,
                              "serving endpoint '" + name +
                                  "' is not route optimized (the serving-endpoints API gives no "
                                  "data_plane_info): enable route optimization on it, or query it through "
                                  "the workspace's /serving-endpoints/" + name + "/invocations instead");
        return unexpected(errc::bad_response, "serving endpoint '" + name +
                                                  "' is route optimized but the serving-endpoints API gave no "
                                                  "data_plane_info.query_info.endpoint_url");
    }

    resolved_endpoint out;
    out.discovered = true;
    out.name = name;
    auto parsed = parse_route_optimized_url(url);
    if (parsed) {
        auto with_model = detail::with_served_model(std::move(*parsed), served_model);
        if (!with_model) return std::move(with_model).error();
        out.url = std::move(with_model->url);
        out.id = std::move(with_model->endpoint_id);
        out.workspace_id = std::move(with_model->workspace_id);
        out.served_model = std::move(with_model->served_model);
    } else {
        if (!served_model.empty())
            return unexpected(errc::bad_response, "the discovered URL of serving endpoint '" + name +
                                                      "' does not have the route optimized shape, so served model '" +
                                                      std::string(served_model) + "' cannot be selected: " + url);
        out.url = url;
    }
    const std::string endpoint_id = detail::json_string_member(doc, "id");
    if (out.id.empty()) out.id = endpoint_id;
    auto checked = detail::check_bearer_url(out.url, "the discovered endpoint URL");
    if (!checked) return std::move(checked).error();

    auto details = query_info->find("authorization_details");
    if (details != query_info->end() && details->is_string()) {
        out.authorization_details = details->get<std::string>();  // byte for byte
    } else if (details != query_info->end() && details->is_array()) {
        out.authorization_details = details->dump();
    } else {
        if (out.id.empty())
            return unexpected(errc::bad_response, "the serving-endpoints response for '" + name +
                                                      "' has neither authorization_details nor an endpoint id");
        out.authorization_details = authorization_details::for_serving_endpoint(out.id).json();
    }
    out.token_key = detail::token_key_for(out.url, out.authorization_details);
    return out;
}

// Whether a discovered endpoint URL may receive a data-plane token: its host must be on
// the serving domain of the workspace's cloud (any of the three when the workspace host
// names none, as a private link name does), loopback when the workspace is on loopback
// too (a local emulator), or allowed by the user (a host name, or a ".suffix").
inline result<void> check_discovered_endpoint_host(std::string_view endpoint_url, std::string_view workspace_host,
                                                   const std::vector<std::string>& allowed_hosts) {
    auto endpoint = parse_url(endpoint_url);
    if (!endpoint) return std::move(endpoint).error();
    const std::string& host = endpoint->host;
    for (const std::string& allowed : allowed_hosts) {
        if (allowed.empty()) continue;
        if (allowed.front() == '.' ? detail::iends_with(host, allowed) : detail::iequals(host, allowed)) return {};
    }
    auto workspace = parse_url(workspace_host);  // host names come back in lower case
    const std::string workspace_name = workspace ? workspace->host : std::string();
    if (is_loopback_host(host) && is_loopback_host(workspace_name)) return {};
    const cloud expected = workspace_cloud_of(workspace_name);
    const cloud serving = serving_cloud_of(host);
    if (serving != cloud::unknown && (expected == cloud::unknown || serving == expected)) return {};
    const std::string domains = expected == cloud::unknown ? std::string("*.serving.azuredatabricks.net, "
                                                                         "*.serving.cloud.databricks.com or "
                                                                         "*.serving.gcp.databricks.com")
                                                           : "*" + std::string(serving_domain(expected));
    return unexpected(errc::configuration,
                      "the serving-endpoints API gave endpoint URL " + std::string(endpoint_url) + ", whose host " +
                          host + " is not on the serving domain of workspace " + std::string(workspace_host) +
                          " (" + domains + "); no token was sent to it. If that host is right (a private link "
                          "or proxy name), add it to client_config::allowed_endpoint_hosts");
}

// Discovery results per endpoint name, with the same single-flight rule as token_cache:
// one discovery per name at a time; callers waiting for it share its failure. Not locked:
// the owner holds its lock around every call.
class endpoint_cache {
public:
    enum class decision { use, fetch, wait, fail };
    struct acquisition {
        decision what = decision::wait;
        std::shared_ptr<const resolved_endpoint> endpoint;
        std::uint64_t ticket = 0;  // claim for fetch, wait ticket for wait
        const dbserve::error* failure = nullptr;
    };

    acquisition acquire(std::string_view name, std::uint64_t waited = 0) {
        entry& e = entry_for(name);
        acquisition out;
        if (e.endpoint) {
            out.what = decision::use;
            out.endpoint = e.endpoint;
            return out;
        }
        return detail::fail_wait_or_claim(e, waited, claims_, out);
    }

    std::shared_ptr<const resolved_endpoint> complete(std::string_view name, std::uint64_t claim,
                                                      resolved_endpoint endpoint) {
        entry& e = entry_for(name);
        if (e.claim == claim) e.claim = 0;
        e.endpoint = std::make_shared<const resolved_endpoint>(std::move(endpoint));
        e.failure.reset();
        ++e.generation;
        return e.endpoint;
    }

    void fail(std::string_view name, std::uint64_t claim, const dbserve::error& failure) {
        entry& e = entry_for(name);
        if (e.claim == claim) e.claim = 0;
        ++e.generation;
        e.failure = failure;
        e.failure_generation = e.generation;
    }

    void abandon(std::string_view name, std::uint64_t claim) {
        auto it = entries_.find(name);
        if (it == entries_.end() || it->second.claim != claim) return;
        it->second.claim = 0;
        ++it->second.generation;
    }

    // Forgets the discovery result `seen` (after a 404 or a name-resolution failure from
    // its data plane), unless it was replaced meanwhile. Returns true when it was dropped.
    bool invalidate(std::string_view name, const resolved_endpoint* seen) {
        auto it = entries_.find(name);
        if (it == entries_.end() || !it->second.endpoint || it->second.endpoint.get() != seen) return false;
        it->second.endpoint.reset();
        return true;
    }

    std::shared_ptr<const resolved_endpoint> find(std::string_view name) const {
        auto it = entries_.find(name);
        return it == entries_.end() ? nullptr : it->second.endpoint;
    }

private:
    struct entry {
        std::shared_ptr<const resolved_endpoint> endpoint;
        std::uint64_t claim = 0;
        std::uint64_t generation = 0;
        std::optional<dbserve::error> failure;
        std::uint64_t failure_generation = 0;
    };
    entry& entry_for(std::string_view name) {
        auto it = entries_.find(name);
        if (it != entries_.end()) return it->second;
        return entries_.emplace(std::string(name), entry{}).first->second;
    }
    std::map<std::string, entry, std::less<>> entries_;
    std::uint64_t claims_ = 0;
};

DBSERVE_END_NAMESPACE
