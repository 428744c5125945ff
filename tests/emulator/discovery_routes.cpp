// The serving-endpoints API of the control plane: GET /api/2.0/serving-endpoints[/<name>],
// answered to a workspace token or a personal access token.
#include "workspace.hpp"
#include "workspace_support.hpp"

namespace emulator {

using namespace detail;

namespace {

// Creation times either side of 2025-09-22, the day from which new route optimized
// endpoints stopped answering on the workspace path.
constexpr std::int64_t legacy_created_ms = 1735689600000;  // 2025-01-01
constexpr std::int64_t recent_created_ms = 1760000000000;  // 2025-10-09

}  // namespace

json workspace::endpoint_json(const endpoint& e) const {
    const std::int64_t created = e.legacy_invocations ? legacy_created_ms : recent_created_ms;
    json served = json::array();
    for (const auto& m : e.served_models) {
        json entity{{"name", m}};
        if (e.kind == model_kind::custom || e.kind == model_kind::feature) {
            entity["entity_name"] = "main.default." + e.name;
            entity["entity_version"] = std::to_string(&m - e.served_models.data() + 1);
        } else {
            entity["foundation_model"] = json{{"name", m}};
        }
        entity["state"] = json{{"deployment", e.ready ? "DEPLOYMENT_READY" : "DEPLOYMENT_CREATING"}};
        served.push_back(entity);
    }
    json out{{"name", e.name},
             {"id", e.id},
             {"creator", "emulator@example.com"},
             {"creation_timestamp", created + e.generation * 1000},
             {"last_updated_timestamp", created + e.generation * 1000},
             {"state", json{{"ready", e.ready ? "READY" : "NOT_READY"},
                            {"config_update", e.ready ? "NOT_UPDATING" : "IN_PROGRESS"}}},
             {"config", json{{"served_entities", served},
                             {"traffic_config",
                              json{{"routes", json::array({json{{"served_model_name", e.served_models.front()},
                                                                {"traffic_percentage", 100}}})}}},
                             {"config_version", e.generation + 1}}},
             {"permission_level", "CAN_MANAGE"},
             {"route_optimized", e.route_optimized}};
    switch (e.kind) {
        case model_kind::chat: out["task"] = "llm/v1/chat"; break;
        case model_kind::completions: out["task"] = "llm/v1/completions"; break;
        case model_kind::embeddings: out["task"] = "llm/v1/embeddings"; break;
        default: break;
    }
    if (e.route_optimized) {
        out["endpoint_url"] = invocations_url(e);
        out["data_plane_info"] =
            json{{"query_info", json{{"endpoint_url", invocations_url(e)},
                                     {"authorization_details", authorization_details_for(e)}}}};
    }
    return out;
}

http_reply workspace::discovery(const http_request& request, const classified& where) {
    if (request.method != "GET") return service_error(405, "BAD_REQUEST", "Use GET on this API.");
    bool present = false;
    std::string token = bearer_token(request, present);
    if (!present) return service_error(401, "UNAUTHENTICATED", no_credential);
    if (starts_with(token, "dapi")) {
        if (token != pat_) return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
    } else {
        auto it = tokens_.find(token);
        if (it == tokens_.end() || it->second.expires <= now())
            return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
        if (!it->second.grants.empty())
            return service_error(403, "PERMISSION_DENIED",
                                 "This token is scoped to serving endpoints (authorization_details) and cannot call "
                                 "workspace APIs; use a workspace token with scope all-apis.");
        if (it->second.scope.find("all-apis") == std::string::npos)
            return service_error(403, "PERMISSION_DENIED", "The token's scope does not include all-apis.");
    }
    if (where.endpoint_name.empty()) return service_error(404, "RESOURCE_DOES_NOT_EXIST", "Endpoint name is empty.");
    const endpoint* e = find_endpoint(where.endpoint_name);
    if (!e)
        return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                             "Endpoint with name '" + where.endpoint_name + "' does not exist.");
    return json_reply(200, endpoint_json(*e));
}

http_reply workspace::discovery_list(const http_request& request) {
    classified where;
    where.endpoint_name = endpoints_.front().name;
    http_reply check = discovery(request, where);
    if (check.status != 200) return check;
    json list = json::array();
    for (const auto& e : endpoints_) list.push_back(endpoint_json(e));
    return json_reply(200, json{{"endpoints", list}});
}

}  // namespace emulator
