// credentials: what a SecretSource loads (workspace host, OAuth client id and secret, or
// a ready token), and the check that they can query a route optimized endpoint.
// Secrets are held in secret_string; no message built here ever contains one.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>

#include <chrono>
#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

struct credentials {
    std::string host;            // workspace URL, as configured (normalize later)
    std::string client_id;
    secret_string client_secret;
    secret_string token;         // DATABRICKS_TOKEN: a PAT (dapi...) or an OAuth token
    std::string workspace_id;
    std::string auth_type;       // optional explicit choice, e.g. "oauth-m2m", "pat"
};

// A token obtained outside the library (the Serving UI's "Fetch OAuth Token", a broker),
// with the moment it stops being valid.
struct supplied_token {
    secret_string access_token;
    std::chrono::system_clock::time_point expires_at;
};

// The auth_type values this library understands.
inline constexpr std::string_view auth_type_oauth_m2m = "oauth-m2m";  // client id + secret
inline constexpr std::string_view auth_type_pat = "pat";              // the `token` field
inline constexpr std::string_view auth_type_oauth_token = "oauth-token";  // the `token` field

// Databricks personal access tokens start with "dapi".
inline bool is_personal_access_token(std::string_view token) noexcept {
    return token.size() >= 4 && token.substr(0, 4) == "dapi";
}

// How the configured credentials authenticate to a route optimized endpoint.
enum class credential_method {
    client_credentials,  // OAuth M2M: client_id + client_secret at the workspace token endpoint
    token,               // `token` is used as the bearer token as it is
};

// Fills every empty field of `into` from `fallback`: field-by-field precedence, `into`
// winning. Used to layer code values over the environment over the profile file.
inline void fill_missing(credentials& into, const credentials& fallback) {
    if (into.host.empty()) into.host = fallback.host;
    if (into.client_id.empty()) into.client_id = fallback.client_id;
    if (into.client_secret.empty()) into.client_secret = fallback.client_secret;
    if (into.token.empty()) into.token = fallback.token;
    if (into.workspace_id.empty()) into.workspace_id = fallback.workspace_id;
    if (into.auth_type.empty()) into.auth_type = fallback.auth_type;
}

// A one-line description safe for logs: which fields are set, never a secret's value.
inline std::string describe(const credentials& c) {
    std::string out = "host=";
    out += c.host.empty() ? "(unset)" : c.host;
    out += " client_id=";
    out += c.client_id.empty() ? "(unset)" : c.client_id;
    out += " client_secret=";
    out += c.client_secret.empty() ? "(unset)" : "(redacted)";
    out += " token=";
    if (c.token.empty()) out += "(unset)";
    else out += is_personal_access_token(c.token.reveal()) ? "(redacted personal access token)" : "(redacted)";
    out += " workspace_id=";
    out += c.workspace_id.empty() ? "(unset)" : c.workspace_id;
    out += " auth_type=";
    out += c.auth_type.empty() ? "(unset)" : c.auth_type;
    return out;
}

namespace detail {

inline constexpr const char* oauth_help =
    "Route optimized endpoints accept only OAuth tokens. Use a service principal: create one "
    "(workspace Settings > Identity and access > Service principals), generate an OAuth secret "
    "for it on its Secrets tab, grant it Can Query on the endpoint, and set DATABRICKS_CLIENT_ID "
    "and DATABRICKS_CLIENT_SECRET (or client_id and client_secret in ~/.databrickscfg, or in "
    "code). Or supply an OAuth token obtained elsewhere: the endpoint's Serving UI (Use > "
    "Fetch OAuth Token, valid one hour) or a token broker that mints endpoint-scoped tokens.";

inline dbserve::error pat_refused() {
    return dbserve::error(errc::configuration,
                          std::string("a personal access token (dapi...) cannot query a route optimized "
                                      "endpoint. ") + oauth_help);
}

inline result<credential_method> client_credentials_method(const credentials& c, std::string_view why) {
    if (c.client_id.empty() && c.client_secret.empty())
        return unexpected(errc::configuration,
                          std::string(why) + "no OAuth client id and secret are configured. " + oauth_help);
    if (c.client_id.empty())
        return unexpected(errc::configuration,
                          std::string(why) + "an OAuth client secret is configured without a client id: set "
                          "DATABRICKS_CLIENT_ID (or client_id) to the service principal's application id");
    if (c.client_secret.empty())
        return unexpected(errc::configuration,
                          std::string(why) + "OAuth client id '" + c.client_id +
                              "' is configured without a client secret: set DATABRICKS_CLIENT_SECRET (or "
                              "client_secret) to an OAuth secret of that service principal");
    return credential_method::client_credentials;
}

}  // namespace detail

// Decides how `c` authenticates to a route optimized endpoint, or says what is wrong:
// - auth_type "oauth-m2m": the client id and secret (the token field is ignored);
// - auth_type "pat" or "oauth-token": the token field, which must not be a PAT;
// - no auth_type: whichever is configured; a token together with client credentials is
//   ambiguous and refused (as the Databricks SDKs do), naming auth_type as the way out;
// - a personal access token is refused with directions to OAuth.
inline result<credential_method> select_credential_method(const credentials& c) {
    const bool has_client = !c.client_id.empty() || !c.client_secret.empty();
    const bool has_token = !c.token.empty();
    if (!c.auth_type.empty()) {
        if (c.auth_type == auth_type_oauth_m2m)
            return detail::client_credentials_method(c, "auth_type is oauth-m2m but ");
        if (c.auth_type == auth_type_pat || c.auth_type == auth_type_oauth_token) {
            if (!has_token)
                return unexpected(errc::configuration,
                                  "auth_type is " + c.auth_type +
                                      " but no token is configured: set DATABRICKS_TOKEN (or token) to an "
                                      "OAuth token, or use auth_type oauth-m2m with a client id and secret");
            if (is_personal_access_token(c.token.reveal())) return detail::pat_refused();
            return credential_method::token;
        }
        return unexpected(errc::configuration,
                          "auth_type '" + c.auth_type +
                              "' (set in code, by DATABRICKS_AUTH_TYPE or by auth_type in the profile) is not "
                              "supported for route optimized endpoints: use oauth-m2m (a service principal's "
                              "client id and secret) or oauth-token (a ready OAuth token), or remove it to let "
                              "the configured values decide");
    }
    if (has_token && has_client) {
        if (is_personal_access_token(c.token.reveal()))
            return unexpected(errc::configuration,
                              "both a personal access token (DATABRICKS_TOKEN or token) and OAuth client "
                              "credentials (client id/secret) are configured. Route optimized endpoints need "
                              "OAuth: remove the personal access token, or set auth_type (DATABRICKS_AUTH_TYPE) "
                              "to oauth-m2m to use the client credentials");
        return unexpected(errc::configuration,
                          "both a token (DATABRICKS_TOKEN or token) and OAuth client credentials (client "
                          "id/secret) are configured: remove one, or set auth_type (DATABRICKS_AUTH_TYPE) to "
                          "oauth-m2m (use the client credentials) or oauth-token (use the token)");
    }
    if (has_token) {
        if (is_personal_access_token(c.token.reveal())) return detail::pat_refused();
        return credential_method::token;
    }
    return detail::client_credentials_method(c, "no credentials for the route optimized endpoint: ");
}

// The check a client runs before its first request to a route optimized endpoint.
inline result<void> check_credentials_for_route_optimized(const credentials& c) {
    auto method = select_credential_method(c);
    if (!method) return std::move(method).error();
    return {};
}

DBSERVE_END_NAMESPACE
