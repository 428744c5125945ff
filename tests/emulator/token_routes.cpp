// The OAuth token endpoint (/oidc/v1/token): client credentials (Basic or in the body) and
// the token exchange (jwt-bearer) to endpoint-scoped tokens, and the authorization server
// metadata that names it. Token federation's grant is in federation_routes.cpp.
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <cctype>
#include <random>

namespace emulator {

using namespace detail;

namespace {

const char* const not_authorized = "User is not authorized to the requested authorizations";

std::string random_bytes(std::size_t n) {
    static thread_local std::mt19937_64 engine{std::random_device{}()};
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(engine() & 0xff);
    return out;
}

// RFC 6749 section 5.2 error, as the token endpoint sends it.
http_reply oauth_error(int status, std::string_view error, std::string_view description) {
    http_reply r = json_reply(status, json{{"error", std::string(error)}, {"error_description", std::string(description)}});
    r.headers.emplace_back("Cache-Control", "no-store");
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"oidc\"");
    return r;
}

}  // namespace

http_reply workspace::authorization_server_metadata() const {
    const std::string base = workspace_url();
    return json_reply(200, json{{"issuer", base + "/oidc"},
                                {"token_endpoint", base + "/oidc/v1/token"},
                                {"grant_types_supported", json::array({"client_credentials", jwt_bearer_grant, token_exchange_grant})},
                                {"token_endpoint_auth_methods_supported",
                                 json::array({"client_secret_basic", "client_secret_post"})},
                                {"scopes_supported", json::array({"all-apis"})},
                                {"authorization_details_types_supported",
                                 json::array({"workspace_permission", "unity_catalog_permission"})}});
}

const principal* workspace::authenticate_basic(const std::string& header_value) const {
    auto space = header_value.find(' ');
    if (space == std::string::npos || !iequals(header_value.substr(0, space), "basic")) return nullptr;
    std::string decoded;
    if (!base64_decode(header_value.substr(space + 1), decoded)) return nullptr;
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return nullptr;
    // RFC 6749 section 2.3.1: each part was form-urlencoded, so only the characters that
    // encoding leaves alone may appear raw; a raw ':' or '%' etc. fails to match.
    auto encoded_form = [](std::string_view part) {
        for (char c : part)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '*' ||
                  c == '~' || c == '+' || c == '%'))
                return false;
        return true;
    };
    std::string raw_id = decoded.substr(0, colon), raw_secret = decoded.substr(colon + 1);
    if (!encoded_form(raw_id) || !encoded_form(raw_secret)) return nullptr;
    std::string id, secret;
    if (!form_urldecode(raw_id, id) || !form_urldecode(raw_secret, secret)) return nullptr;
    for (const auto& p : principals_)
        if (p.client_id == id && p.client_secret == secret) return &p;
    return nullptr;
}

http_reply workspace::issue_token(const principal& who, const std::string& scope, std::vector<grant> grants) {
    const auto issued = now();
    const auto expires = issued + std::chrono::seconds(options_.token_lifetime_seconds);
    json details = json::array();
    for (const auto& g : grants)
        details.push_back(json{{"type", "workspace_permission"},
                               {"object_type", "serving-endpoints"},
                               {"object_path", "/serving-endpoints/" + g.endpoint_id},
                               {"actions", g.actions}});
    json header{{"alg", "RS256"}, {"kid", "emulator"}, {"typ", "at+jwt"}};
    json payload{{"iss", workspace_url() + "/oidc"},
                 {"sub", who.client_id},
                 {"client_id", who.client_id},
                 {"scope", scope},
                 {"iat", std::chrono::duration_cast<std::chrono::seconds>(issued.time_since_epoch()).count()},
                 {"exp", std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count()},
                 {"jti", hex64(fnv1a(std::to_string(++sequence_), 7809847782465536322ull))}};
    if (!grants.empty()) payload["authorization_details"] = details;
    std::string token = base64_encode(header.dump(), true) + "." + base64_encode(payload.dump(), true) + "." +
                        base64_encode(random_bytes(32), true);
    // Forget long-expired tokens now and then so a long benchmark does not grow without bound.
    if (tokens_.size() > 100000)
        for (auto it = tokens_.begin(); it != tokens_.end();)
            it = it->second.expires < issued ? tokens_.erase(it) : std::next(it);
    bump("tokens_issued", grants.empty() ? "control_plane" : "data_plane");
    tokens_[token] = token_record{who.name, scope, std::move(grants), expires};
    http_reply r = json_reply(200, json{{"access_token", token},
                                        {"token_type", options_.token_type},
                                        {"expires_in", options_.token_lifetime_seconds},
                                        {"scope", scope}});
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Pragma", "no-cache");
    return r;
}

http_reply workspace::token(const http_request& request) {
    if (request.method != "POST") {
        http_reply r = oauth_error(405, "invalid_request", "The token endpoint accepts POST only.");
        r.headers.emplace_back("Allow", "POST");
        return r;
    }
    const std::string* content_type = request.header("content-type");
    if (!content_type || lower(content_type->substr(0, content_type->find(';'))).find("application/x-www-form-urlencoded") ==
                             std::string::npos)
        return oauth_error(400, "invalid_request",
                           "The token request must have Content-Type application/x-www-form-urlencoded.");
    std::map<std::string, std::string> form;
    std::string error;
    if (!parse_form(request.body, form, error)) return oauth_error(400, "invalid_request", "Invalid request: " + error + ".");
    if (!form.count("grant_type") || form["grant_type"].empty())
        return oauth_error(400, "invalid_request", "Missing required parameter: grant_type.");
    const std::string grant_type = form["grant_type"];

    auto check_scope = [&](const std::string& scope, std::string& bad) {
        std::size_t start = 0;
        while (start <= scope.size()) {
            auto space = scope.find(' ', start);
            auto item = scope.substr(start, space == std::string::npos ? std::string::npos : space - start);
            if (!item.empty() && item != "all-apis" && item != "offline_access") {
                bad = item;
                return false;
            }
            if (space == std::string::npos) break;
            start = space + 1;
        }
        return true;
    };

    // RFC 9396 details against the endpoints that exist now and what the principal holds.
    auto check_details = [&](const std::string& text, const principal& who, std::vector<grant>& grants,
                             http_reply& refusal) {
        json parsed = json::parse(text, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_array() || parsed.empty()) {
            refusal = oauth_error(400, "invalid_authorization_details",
                                  "authorization_details must be a non-empty JSON array of objects.");
            return false;
        }
        for (const auto& item : parsed) {
            if (!item.is_object() || !item.contains("type") || !item["type"].is_string()) {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "Each authorization_details entry must be an object with a string 'type'.");
                return false;
            }
            const auto type = item["type"].get<std::string>();
            if (type == "unity_catalog_permission") continue;
            if (type != "workspace_permission") {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "Unsupported authorization_details type '" + type + "'.");
                return false;
            }
            if (item.value("object_type", json()) != "serving-endpoints") {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "workspace_permission needs object_type 'serving-endpoints'.");
                return false;
            }
            const auto path = item.value("object_path", json());
            const std::string prefix = "/serving-endpoints/";
            if (!path.is_string() || !starts_with(path.get<std::string>(), prefix)) {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "workspace_permission needs object_path '/serving-endpoints/<endpoint-id>'.");
                return false;
            }
            const std::string id = path.get<std::string>().substr(prefix.size());
            const endpoint* target = find_endpoint_by_id(id);
            if (!target) {
                const endpoint* by_name = find_endpoint(id);
                refusal = oauth_error(400, "invalid_authorization_details",
                                      by_name ? "object_path names the endpoint by its name; it takes the endpoint id."
                                              : "object_path '" + path.get<std::string>() +
                                                    "' names no route optimized serving endpoint.");
                return false;
            }
            const auto actions = item.value("actions", json());
            if (!actions.is_array() || actions.empty()) {
                refusal = oauth_error(400, "invalid_authorization_details", "workspace_permission needs a non-empty 'actions' array.");
                return false;
            }
            grant g{id, {}};
            for (const auto& action : actions) {
                if (!action.is_string() || (action != query_action && action != manage_action)) {
                    refusal = oauth_error(400, "invalid_authorization_details",
                                          "Unknown action " + action.dump() + " in authorization_details.");
                    return false;
                }
                g.actions.insert(action.get<std::string>());
            }
            std::set<std::string> held;
            for (const auto& [name, acts] : who.actions)
                if (name == "*" || name == target->name) held.insert(acts.begin(), acts.end());
            for (const auto& action : g.actions)
                if (!held.count(action)) {
                    refusal = oauth_error(400, "invalid_authorization_details", not_authorized);
                    return false;
                }
            grants.push_back(std::move(g));
        }
        return true;
    };

    if (grant_type == "client_credentials") {
        const std::string* authorization = request.header("authorization");
        const principal* who = nullptr;
        const bool in_body = form.count("client_secret") != 0;
        if (authorization && in_body)
            return oauth_error(400, "invalid_request", "Use exactly one client authentication method.");
        if (authorization) {
            who = authenticate_basic(*authorization);
            if (!who) return oauth_error(401, "invalid_client", "Client authentication failed.");
            if (form.count("client_id") && form["client_id"] != who->client_id)
                return oauth_error(400, "invalid_request", "client_id does not match the authenticated client.");
        } else if (in_body) {
            for (const auto& p : principals_)
                if (form.count("client_id") && p.client_id == form["client_id"] && p.client_secret == form["client_secret"])
                    who = &p;
            if (!who) return oauth_error(401, "invalid_client", "Client authentication failed.");
        } else {
            return oauth_error(401, "invalid_client", "Client authentication is required.");
        }
        std::string scope = form.count("scope") ? form["scope"] : "all-apis";
        std::string bad;
        if (!check_scope(scope, bad)) return oauth_error(400, "invalid_scope", "Invalid scope: " + bad + ".");
        std::vector<grant> grants;
        if (form.count("authorization_details")) {
            http_reply refusal;
            if (!check_details(form["authorization_details"], *who, grants, refusal)) return refusal;
        }
        return issue_token(*who, scope, std::move(grants));
    }
    if (grant_type == jwt_bearer_grant) {
        const std::string* authorization = request.header("authorization");
        if (authorization && starts_with(lower(*authorization), "basic ") && !authenticate_basic(*authorization))
            return oauth_error(401, "invalid_client", "Client authentication failed.");
        if (!form.count("assertion") || form["assertion"].empty())
            return oauth_error(400, "invalid_request", "Missing required parameter: assertion.");
        const std::string& assertion = form["assertion"];
        if (starts_with(assertion, "dapi"))
            return oauth_error(400, "invalid_grant", "A personal access token cannot be exchanged for an OAuth token.");
        auto it = tokens_.find(assertion);
        if (it == tokens_.end()) return oauth_error(400, "invalid_grant", "The assertion is not a valid token.");
        if (it->second.expires <= now()) return oauth_error(400, "invalid_grant", "The assertion has expired.");
        if (!it->second.grants.empty())
            return oauth_error(400, "invalid_grant", "The assertion must be a workspace token, not an endpoint-scoped one.");
        if (!form.count("authorization_details"))
            return oauth_error(400, "invalid_request", "Missing required parameter: authorization_details.");
        const principal& who = principal_named(it->second.principal);
        std::string scope = form.count("scope") ? form["scope"] : it->second.scope;
        std::string bad;
        if (!check_scope(scope, bad)) return oauth_error(400, "invalid_scope", "Invalid scope: " + bad + ".");
        std::vector<grant> grants;
        http_reply refusal;
        if (!check_details(form["authorization_details"], who, grants, refusal)) return refusal;
        return issue_token(who, scope, std::move(grants));
    }
    if (grant_type == token_exchange_grant) return federated_token(form);
    return oauth_error(400, "unsupported_grant_type", "Unsupported grant_type: " + grant_type + ".");
}

}  // namespace emulator
