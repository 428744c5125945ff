// credentials: what a SecretSource loads (workspace host, OAuth client id and secret, a
// ready token, or where a federated sign-in finds its identity provider's JWT), and the
// check that they can query a route optimized endpoint.
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

    // OAuth token federation (auth_type env-oidc, file-oidc, github-oidc): no secret held,
    // an identity provider's JWT is exchanged for a workspace token. `client_id` names the
    // service principal of a service principal federation policy (empty: account-wide).
    secret_string oidc_token;            // env-oidc: DATABRICKS_OIDC_TOKEN (or $DATABRICKS_OIDC_TOKEN_ENV)
    std::string oidc_token_filepath;     // file-oidc: DATABRICKS_OIDC_TOKEN_FILEPATH, read at each exchange
    std::string actions_id_token_request_url;      // github-oidc: ACTIONS_ID_TOKEN_REQUEST_URL
    secret_string actions_id_token_request_token;  // github-oidc: ACTIONS_ID_TOKEN_REQUEST_TOKEN
    std::string token_audience;          // DATABRICKS_TOKEN_AUDIENCE
    std::string account_id;              // DATABRICKS_ACCOUNT_ID: the default audience
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
inline constexpr std::string_view auth_type_env_oidc = "env-oidc";        // JWT from the environment
inline constexpr std::string_view auth_type_file_oidc = "file-oidc";      // JWT from a file
inline constexpr std::string_view auth_type_github_oidc = "github-oidc";  // JWT from GitHub Actions

// Databricks personal access tokens start with "dapi".
inline bool is_personal_access_token(std::string_view token) noexcept {
    return token.size() >= 4 && token.substr(0, 4) == "dapi";
}

// How the configured credentials authenticate to a route optimized endpoint.
enum class credential_method {
    client_credentials,  // OAuth M2M: client_id + client_secret at the workspace token endpoint
    token,               // `token` is used as the bearer token as it is
    token_federation,    // an identity provider's JWT exchanged for a workspace token
};

// Where a federated sign-in gets its identity provider's JWT (the subject token).
enum class subject_token_source {
    none,            // not a federated sign-in
    environment,     // env-oidc: credentials::oidc_token, as loaded
    file,            // file-oidc: credentials::oidc_token_filepath, read at each exchange
    github_actions,  // github-oidc: a GET to ACTIONS_ID_TOKEN_REQUEST_URL at each exchange
};

inline subject_token_source subject_token_source_of(const credentials& c) noexcept {
    if (c.auth_type == auth_type_env_oidc) return subject_token_source::environment;
    if (c.auth_type == auth_type_file_oidc) return subject_token_source::file;
    if (c.auth_type == auth_type_github_oidc) return subject_token_source::github_actions;
    return subject_token_source::none;
}

// Fills every empty field of `into` from `fallback`: field-by-field precedence, `into`
// winning. Used to layer code values over the environment over the profile file.
inline void fill_missing(credentials& into, const credentials& fallback) {
    if (into.host.empty()) into.host = fallback.host;
    if (into.client_id.empty()) into.client_id = fallback.client_id;
    if (into.client_secret.empty()) into.client_secret = fallback.client_secret;
    if (into.token.empty()) into.token = fallback.token;
    if (into.workspace_id.empty()) into.workspace_id = fallback.workspace_id;
    if (into.auth_type.empty()) into.auth_type = fallback.auth_type;
    if (into.oidc_token.empty()) into.oidc_token = fallback.oidc_token;
    if (into.oidc_token_filepath.empty()) into.oidc_token_filepath = fallback.oidc_token_filepath;
    if (into.actions_id_token_request_url.empty())
        into.actions_id_token_request_url = fallback.actions_id_token_request_url;
    if (into.actions_id_token_request_token.empty())
        into.actions_id_token_request_token = fallback.actions_id_token_request_token;
    if (into.token_audience.empty()) into.token_audience = fallback.token_audience;
    if (into.account_id.empty()) into.account_id = fallback.account_id;
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
    if (!c.oidc_token.empty()) out += " oidc_token=(redacted)";
    if (!c.oidc_token_filepath.empty()) out += " oidc_token_filepath=" + c.oidc_token_filepath;
    if (!c.actions_id_token_request_url.empty()) out += " actions_id_token_request_url=(set)";
    if (!c.actions_id_token_request_token.empty()) out += " actions_id_token_request_token=(redacted)";
    if (!c.token_audience.empty()) out += " token_audience=" + c.token_audience;
    if (!c.account_id.empty()) out += " account_id=" + c.account_id;
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

// A federated sign-in names where its JWT comes from; say which variable is missing.
inline result<credential_method> federation_method(const credentials& c) {
    switch (subject_token_source_of(c)) {
        case subject_token_source::environment:
            if (c.oidc_token.empty())
                return unexpected(errc::configuration,
                                  "auth_type is env-oidc but no identity provider token is set: set "
                                  "DATABRICKS_OIDC_TOKEN to the JWT, or DATABRICKS_OIDC_TOKEN_ENV to the name of the "
                                  "variable that holds it");
            break;
        case subject_token_source::file:
            if (c.oidc_token_filepath.empty())
                return unexpected(errc::configuration,
                                  "auth_type is file-oidc but no token file is set: set "
                                  "DATABRICKS_OIDC_TOKEN_FILEPATH (or oidc_token_filepath) to the file holding the "
                                  "identity provider's JWT");
            break;
        case subject_token_source::github_actions:
            if (c.actions_id_token_request_url.empty() || c.actions_id_token_request_token.empty())
                return unexpected(errc::configuration,
                                  "auth_type is github-oidc but ACTIONS_ID_TOKEN_REQUEST_URL and "
                                  "ACTIONS_ID_TOKEN_REQUEST_TOKEN are not both set: run in a GitHub Actions job "
                                  "with `permissions: id-token: write`");
            break;
        case subject_token_source::none: break;
    }
    return credential_method::token_federation;
}

}  // namespace detail

// Decides how `c` authenticates to a route optimized endpoint, or says what is wrong:
// - auth_type "oauth-m2m": the client id and secret (the token field is ignored);
// - auth_type "pat" or "oauth-token": the token field, which must not be a PAT;
// - auth_type "env-oidc", "file-oidc" or "github-oidc": token federation, which needs the
//   JWT's source (the client id, when set, names the service principal's policy);
// - no auth_type: whichever is configured (federation is only used when named); a token together with client credentials is
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
        if (subject_token_source_of(c) != subject_token_source::none) return detail::federation_method(c);
        return unexpected(errc::configuration,
                          "auth_type '" + c.auth_type +
                              "' (set in code, by DATABRICKS_AUTH_TYPE or by auth_type in the profile) is not "
                              "supported for route optimized endpoints: use oauth-m2m (a service principal's "
                              "client id and secret), oauth-token (a ready OAuth token), or env-oidc, file-oidc or "
                              "github-oidc (OAuth token federation), or remove it to let the configured values "
                              "decide");
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
