// OAuth token federation (workload identity): the requests that turn an identity
// provider's JWT into a workspace token, and the GitHub Actions ID-token request that gets
// such a JWT. Pure functions over plain values; the operation sends them
// (query_operation.hpp), and subject_token_sources.hpp reads the JWT from the environment
// or a file. Protocol notes: tests/emulator/README.md, "Token federation".
#pragma once

#include <dbserve/client/credentials.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/client/request_builders.hpp>
#include <dbserve/client/subject_token_sources.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>
#include <dbserve/protocol/service_error.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

// The audience the identity provider's JWT is asked for (github-oidc) and must carry:
// DATABRICKS_TOKEN_AUDIENCE, else the account id, else the token endpoint URL (the Go
// SDK's order).
inline std::string federation_audience(const credentials& c, std::string_view token_url) {
    if (!c.token_audience.empty()) return c.token_audience;
    if (!c.account_id.empty()) return c.account_id;
    return std::string(token_url);
}

namespace detail {

// RFC 8693 token exchange: the JWT for a workspace token. `client_id` (the service
// principal's application id) selects a service principal federation policy; without it
// the account-wide policies apply. No client authentication: the JWT is the credential.
inline http_request federated_token_request(std::string_view token_url, std::string_view subject_token,
                                            std::string_view client_id) {
    http_request request = token_endpoint_request(token_url);
    append_form_field(request.body, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
    append_form_field(request.body, "subject_token", subject_token);
    append_form_field(request.body, "subject_token_type", "urn:ietf:params:oauth:token-type:jwt");
    append_form_field(request.body, "scope", "all-apis");
    if (!client_id.empty()) append_form_field(request.body, "client_id", client_id);
    return request;
}

// GitHub Actions' ID-token request: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>
// with the job's request token as the bearer. The URL already carries a query string
// (api-version=...), hence '&'; '?' when it has none. HTTPS only: the bearer is a secret.
inline result<http_request> github_id_token_request(std::string_view request_url, std::string_view request_token,
                                                    std::string_view audience) {
    auto checked = check_bearer_url(request_url, "ACTIONS_ID_TOKEN_REQUEST_URL");
    if (!checked) return std::move(checked).error();
    http_request request;
    request.method = http_method::get;
    request.url = std::string(request_url);
    request.url += request.url.find('?') == std::string::npos ? '?' : '&';
    request.url += "audience=";
    request.url += form_urlencode(audience);
    std::string authorization = "Bearer ";
    authorization.append(request_token.data(), request_token.size());
    request.headers.add_unchecked("Authorization", std::move(authorization));
    request.headers.add_unchecked("Accept", "application/json");
    return request;
}

// The JWT in GitHub's answer (`{"value": "<jwt>"}`); the response body is zeroed.
inline result<secret_string> read_github_id_token(result<http_response>& response,
                                                  std::chrono::system_clock::time_point now) {
    const std::string prefix = "could not get an ID token from GitHub Actions (ACTIONS_ID_TOKEN_REQUEST_URL): ";
    if (!response) {
        dbserve::error failure = std::move(response).error();
        failure.message = prefix + failure.message;
        return failure;
    }
    http_response& r = *response;
    if (r.status < 200 || r.status > 299) {
        dbserve::error failure = parse_service_error(r, now);
        if (r.status == 401 || r.status == 403) failure.code = errc::authentication;
        failure.message = prefix + failure.message +
                          (r.status == 401 || r.status == 403
                               ? ". Check that the job has `permissions: id-token: write`"
                               : "");
        return failure;
    }
    auto doc = parse_bounded_json(r.body);
    if (!r.body.empty()) secure_zero(&r.body[0], r.body.size());
    secret_string token;
    if (!doc.is_discarded() && doc.is_object()) {
        auto it = doc.find("value");
        if (it != doc.end() && it->is_string()) {
            std::string& text = it->get_ref<std::string&>();
            token.assign(text);
            if (!text.empty()) secure_zero(&text[0], text.size());
        }
    }
    if (token.empty())
        return unexpected(errc::bad_response, prefix + "the answer has no \"value\" with the token");
    auto valid = check_subject_token(token.reveal(), "from GitHub Actions");
    if (!valid) {
        dbserve::error failure = std::move(valid).error();
        failure.code = errc::bad_response;
        return failure;
    }
    return token;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
