// OAuth token federation: the token-exchange grant of /oidc/v1/token (an identity
// provider's JWT for a workspace token, checked against the federation policies), the
// policies' JSON shape, and the GitHub Actions ID-token stand-in.
//
// The error shapes are our reading of the service (README "Token federation"): a JWT that
// no policy accepts is 400 invalid_grant naming the check that failed (signature, issuer,
// audience, subject, expiry) and never the token; an unknown client_id is 401 invalid_client;
// a malformed request is 400 invalid_request.
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <stdexcept>

namespace emulator {

using namespace detail;

namespace {

http_reply oauth_refusal(int status, std::string_view error, std::string_view description) {
    http_reply r = json_reply(status, json{{"error", std::string(error)}, {"error_description", std::string(description)}});
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

}  // namespace

federation_policy workspace::parse_federation_policy(const json& spec) const {
    if (!spec.is_object()) throw std::invalid_argument("a federation policy must be a JSON object");
    for (const auto& item : spec.items())
        if (item.key() != "principal" && item.key() != "account_wide" && item.key() != "issuer" &&
            item.key() != "audiences" && item.key() != "subject" && item.key() != "jwks")
            throw std::invalid_argument("unknown federation policy field '" + item.key() + "'");
    federation_policy p;
    p.principal = spec.value("principal", std::string("sp-main"));
    bool known = false;
    for (const auto& who : principals_) known = known || who.name == p.principal;
    if (!known) throw std::invalid_argument("the federation policy names unknown principal '" + p.principal + "'");
    if (spec.contains("account_wide")) {
        if (!spec["account_wide"].is_boolean()) throw std::invalid_argument("'account_wide' must be a boolean");
        p.account_wide = spec["account_wide"].get<bool>();
    }
    auto need_string = [&](const char* name) {
        auto it = spec.find(name);
        if (it == spec.end() || !it->is_string() || it->get<std::string>().empty())
            throw std::invalid_argument(std::string("the federation policy needs a non-empty '") + name + "'");
        return it->get<std::string>();
    };
    p.issuer = need_string("issuer");
    p.subject = need_string("subject");
    auto audiences = spec.find("audiences");
    if (audiences == spec.end() || !audiences->is_array() || audiences->empty())
        throw std::invalid_argument("the federation policy needs 'audiences', a non-empty array of strings");
    for (const auto& a : *audiences) {
        if (!a.is_string() || a.get<std::string>().empty())
            throw std::invalid_argument("'audiences' must hold non-empty strings");
        p.audiences.push_back(a.get<std::string>());
    }
    if (!spec.contains("jwks")) throw std::invalid_argument("the federation policy needs 'jwks', the issuer's keys");
    p.keys = std::make_shared<const jwk_set>(spec["jwks"]);
    return p;
}

json workspace::federation_policy_json(const federation_policy& p) const {
    return json{{"id", p.id},          {"principal", p.principal}, {"account_wide", p.account_wide},
                {"issuer", p.issuer},  {"audiences", p.audiences}, {"subject", p.subject},
                {"keys", p.keys ? p.keys->size() : 0}};
}

http_reply workspace::federated_token(std::map<std::string, std::string>& form) {
    if (!form.count("subject_token") || form["subject_token"].empty())
        return oauth_refusal(400, "invalid_request", "Missing required parameter: subject_token.");
    if (form.count("subject_token_type") == 0 || form["subject_token_type"] != jwt_token_type)
        return oauth_refusal(400, "invalid_request",
                             "subject_token_type must be urn:ietf:params:oauth:token-type:jwt.");
    const std::string scope = form.count("scope") ? form["scope"] : "all-apis";
    if (scope != "all-apis") return oauth_refusal(400, "invalid_scope", "Invalid scope: " + scope + ".");
    // A service principal policy is chosen by the client_id; without one, account-wide ones.
    const principal* named = nullptr;
    const bool by_client = form.count("client_id") != 0;
    if (by_client) {
        for (const auto& p : principals_)
            if (p.client_id == form["client_id"]) named = &p;
        if (!named) {
            bump("federation", "refused");
            return oauth_refusal(401, "invalid_client", "No service principal has this client_id.");
        }
    }
    std::string reason;
    for (const auto& policy : federation_policies_) {
        if (by_client ? (policy.account_wide || policy.principal != named->name) : !policy.account_wide) continue;
        std::string refusal = federation_refusal(policy, form["subject_token"], now());
        if (refusal.empty()) {
            bump("federation", "accepted");
            return issue_token(principal_named(policy.principal), scope, {});
        }
        // The policy for the token's own issuer says most; otherwise the first one's reason.
        if (reason.empty() || refusal.find("issuer") == std::string::npos) reason = refusal;
    }
    bump("federation", "refused");
    if (reason.empty())
        reason = by_client ? "the service principal has no federation policy"
                           : "no account-wide federation policy exists; name the service principal with client_id";
    return oauth_refusal(400, "invalid_grant", "Token federation failed: " + reason + ".");
}

http_reply workspace::github_id_token(const http_request& request) {
    if (request.method != "GET") return json_reply(405, json{{"message", "Method not allowed"}});
    bool present = false;
    const std::string bearer = bearer_token(request, present);
    if (!present || bearer != github_request_token_) {
        bump("identity_tokens", "refused");
        return json_reply(401, json{{"message", "Bad credentials"}});
    }
    std::string audience;
    const auto query = request.target.find('?');
    if (query != std::string::npos) {
        std::map<std::string, std::string> params;
        std::string error;
        if (!parse_form(std::string_view(request.target).substr(query + 1), params, error))
            return json_reply(400, json{{"message", "Bad query string: " + error}});
        if (params.count("audience")) audience = params["audience"];
    }
    if (audience.empty()) audience = "https://github.com/dbserve";
    const auto issued = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
    const json claims{{"iss", "https://token.actions.githubusercontent.com"},
                      {"aud", audience},
                      {"sub", github_subject_},
                      {"repository", "dbserve/dbserve"},
                      {"ref", "refs/heads/main"},
                      {"iat", issued},
                      {"nbf", issued - 5},
                      {"exp", issued + 300},
                      {"jti", hex64(fnv1a(std::to_string(++sequence_), 1469598103934665603ull))}};
    bump("identity_tokens", "issued");
    return json_reply(200, json{{"count", 1}, {"value", github_signer_->sign(claims)}});
}

}  // namespace emulator
