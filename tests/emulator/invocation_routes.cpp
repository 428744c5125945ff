// Invocations: POST .../invocations on each endpoint's own data-plane host (route
// optimized, endpoint-scoped token), and on the old workspace path where it still works.
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <algorithm>
#include <cctype>

namespace emulator {

using namespace detail;

namespace {

bool jwt_shaped(std::string_view token) {
    if (std::count(token.begin(), token.end(), '.') != 2) return false;
    for (char c : token)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

}  // namespace

http_reply workspace::invoke(const http_request& request, const classified& where, bool legacy) {
    if (request.method != "POST") return service_error(405, "BAD_REQUEST", "Use POST to query a serving endpoint.");
    std::vector<std::string> segments;
    split_path(request.target.substr(0, request.target.find('?')), segments);
    std::string served_model;
    const std::size_t offset = legacy ? 0 : 1;
    if (segments.size() == offset + 5) served_model = segments[offset + 3];

    endpoint* e = nullptr;
    if (legacy) {
        e = find_endpoint(where.endpoint_name);
        if (!e)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "Endpoint with name '" + where.endpoint_name + "' does not exist.");
        if (e->route_optimized && !e->legacy_invocations)
            return service_error(400, "BAD_REQUEST",
                                 "Endpoint '" + e->name +
                                     "' is route optimized: query it at its dedicated URL " + invocations_url(*e) + ".");
    } else {
        const std::string id = request.host.substr(0, request.host.find('.'));
        e = find_endpoint_by_id(id);
        if (!e)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "No route optimized endpoint has id '" + id + "' (it may have been recreated).");
        if (segments[0] != options_.workspace_id)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "Workspace '" + segments[0] + "' is not served by this host.");
        if (where.endpoint_name != e->name)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "Endpoint '" + where.endpoint_name + "' is not served by this host.");
    }
    if (!served_model.empty() &&
        std::find(e->served_models.begin(), e->served_models.end(), served_model) == e->served_models.end())
        return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                             "Served model '" + served_model + "' does not exist in endpoint '" + e->name + "'.");

    bool present = false;
    std::string token = bearer_token(request, present);
    if (!present) return service_error(401, "UNAUTHENTICATED", no_credential);
    if (starts_with(token, "dapi")) {
        if (!legacy)
            return service_error(401, "UNAUTHENTICATED",
                                 "Personal access tokens are not supported for route optimized endpoints. "
                                 "Use an OAuth token.");
        if (token != pat_) return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
    } else {
        if (!jwt_shaped(token)) return service_error(401, "UNAUTHENTICATED", "Malformed access token.");
        auto it = tokens_.find(token);
        token_record external;
        const token_record* record = it == tokens_.end() ? nullptr : &it->second;
        if (!record && external_issuer_) {
            // A token from the trusted outside issuer: its signature and claims stand in
            // for this emulator's own table.
            external_token verified;
            std::string reason;
            if (!external_issuer_->verify(token, verified, reason)) {
                bump_external("refused");
                return service_error(401, "UNAUTHENTICATED", "Invalid access token (" + reason + ").");
            }
            bump_external("accepted");
            external.principal = verified.subject;
            external.expires = verified.expires;
            for (auto& g : verified.grants) external.grants.push_back(grant{std::move(g.endpoint_id), std::move(g.actions)});
            record = &external;
        }
        if (!record) return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
        const auto margin = legacy ? 0 : options_.reject_expiring_within_seconds;
        if (record->expires - std::chrono::seconds(margin) <= now())
            return service_error(401, "UNAUTHENTICATED", "The access token has expired.");
        const auto& grants = record->grants;
        bool allowed = legacy && grants.empty();
        for (const auto& g : grants)
            if (g.endpoint_id == e->id && (g.actions.count(query_action) || g.actions.count(manage_action))) allowed = true;
        if (!allowed) {
            if (grants.empty())
                return service_error(403, "PERMISSION_DENIED",
                                     "A workspace token cannot query a route optimized endpoint; get a token with "
                                     "authorization_details for endpoint '" + e->name + "'.");
            return service_error(403, "PERMISSION_DENIED",
                                 "The access token is not authorized to query endpoint '" + e->name + "'.");
        }
    }
    if (!e->ready)
        return service_error(503, "TEMPORARILY_UNAVAILABLE",
                             "Endpoint '" + e->name + "' is not ready: its configuration update is in progress.");

    const std::string* content_type = request.header("content-type");
    if (std::count_if(request.headers.begin(), request.headers.end(),
                      [](const auto& h) { return iequals(h.first, "content-type"); }) > 1)
        return service_error(400, "BAD_REQUEST", "The request has more than one Content-Type header.");
    model_call call;
    call.kind = e->kind;
    call.content_type = content_type ? std::string_view(*content_type) : std::string_view{};
    call.body = request.body;
    call.model_name = served_model.empty() ? e->served_models.front() : served_model;
    call.created = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
    call.sequence = ++sequence_;
    model_reply m = run_model(call);
    http_reply r;
    r.status = m.status;
    r.headers.emplace_back("Content-Type", m.content_type);
    if (m.status == 200) r.headers.emplace_back("served-model-name", served_model.empty() ? e->served_models.front() : served_model);
    if (m.streaming) {
        r.headers.emplace_back("Cache-Control", "no-cache");
        r.chunks = std::move(m.events);
        r.chunk_delay = std::chrono::milliseconds(options_.stream_chunk_delay_ms);
    } else {
        r.body = std::move(m.body);
    }
    return r;
}

}  // namespace emulator
