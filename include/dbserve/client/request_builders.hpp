// The requests a query sends, built from plain values: the control-plane and data-plane
// token requests (client credentials, token exchange), the serving-endpoints lookup, and
// the invocation with its headers and the edits the client makes to the caller's body.
// Pure functions: no cache, no clock, no state machine (that is query_operation's room).
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/url.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

// The GET /api/2.0/serving-endpoints/{name} request (control-plane bearer token).
inline result<http_request> make_discovery_request(std::string_view workspace_host, std::string_view endpoint_name,
                                                   std::string_view control_plane_token) {
    auto url = serving_endpoint_url(workspace_host, endpoint_name);
    if (!url) return std::move(url).error();
    http_request request;
    request.method = http_method::get;
    request.url = std::move(*url);
    std::string authorization;
    authorization.reserve(7 + control_plane_token.size());
    authorization += "Bearer ";
    authorization.append(control_plane_token.data(), control_plane_token.size());
    request.headers.add_unchecked("Authorization", std::move(authorization));
    request.headers.add_unchecked("Accept", "application/json");
    return request;
}

namespace detail {

// A form POST to the token endpoint, asking for JSON; `authorization` (an HTTP Basic
// value) when the grant authenticates the client. The caller adds the form fields.
inline http_request token_endpoint_request(std::string_view token_url, std::string authorization = {}) {
    http_request request;
    request.method = http_method::post;
    request.url = std::string(token_url);
    if (!authorization.empty()) request.headers.add_unchecked("Authorization", std::move(authorization));
    request.headers.add_unchecked("Content-Type", "application/x-www-form-urlencoded");
    request.headers.add_unchecked("Accept", "application/json");
    return request;
}

// Client credentials (HTTP Basic) for a token: a control-plane token without
// authorization_details, a data-plane token scoped by them.
inline http_request client_credentials_token_request(std::string_view token_url, std::string_view client_id,
                                                     std::string_view client_secret,
                                                     std::string_view authorization_details = {}) {
    http_request request = token_endpoint_request(token_url, basic_authorization(client_id, client_secret));
    append_form_field(request.body, "grant_type", "client_credentials");
    append_form_field(request.body, "scope", "all-apis");
    if (!authorization_details.empty()) append_form_field(request.body, "authorization_details", authorization_details);
    return request;
}

// The SDKs' exchange: no client authentication; the control-plane token is the assertion.
inline http_request token_exchange_token_request(std::string_view token_url, std::string_view control_plane_token,
                                                 std::string_view authorization_details) {
    http_request request = token_endpoint_request(token_url);
    append_form_field(request.body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    append_form_field(request.body, "assertion", control_plane_token);
    append_form_field(request.body, "authorization_details", authorization_details);
    return request;
}

// The headers every invocation sends before its Authorization, with room for that one
// and the trace context:
// Content-Type, Accept and X-Databricks-Workspace-Id when known.
inline header_list invocation_headers(std::string_view workspace_id, bool streaming) {
    header_list headers;
    headers.reserve(6);
    headers.add_unchecked("Content-Type", "application/json");
    headers.add_unchecked("Accept", streaming ? "text/event-stream" : "application/json");
    if (!workspace_id.empty()) headers.add_unchecked("X-Databricks-Workspace-Id", std::string(workspace_id));
    return headers;
}

inline std::size_t first_significant(std::string_view body) noexcept {
    std::size_t i = 0;
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) ++i;
    return i;
}

// Inserts a member right after the opening brace of a JSON object body.
inline result<void> insert_member(std::string& body, std::string_view member, std::string_view what) {
    const std::size_t open = first_significant(body);
    if (open >= body.size() || body[open] != '{')
        return unexpected(errc::invalid_argument,
                          std::string(what) + " can only be added to a JSON object body (it starts with '{')");
    std::size_t after = first_significant(std::string_view(body).substr(open + 1)) + open + 1;
    const bool empty_object = after < body.size() && body[after] == '}';
    std::string insertion(member);
    if (!empty_object) insertion += ',';
    body.insert(open + 1, insertion);
    return {};
}

inline result<void> add_client_request_id(std::string& body, std::string_view id) {
    for (char c : id)
        if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\')
            return unexpected(errc::invalid_argument,
                              "client_request_id may not contain quotes, backslashes or control characters");
    std::string member = "\"client_request_id\":\"";
    member.append(id.data(), id.size());
    member += '"';
    return insert_member(body, member, "client_request_id");
}

// A streamed query's body says "stream": true; a body that says otherwise is refused.
inline result<void> add_stream_flag(std::string& body) {
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_discarded() && doc.is_object()) {
        auto it = doc.find("stream");
        if (it != doc.end()) {
            if (it->is_boolean() && it->get<bool>()) return {};
            return unexpected(errc::invalid_argument,
                              "the body of a streamed query sets \"stream\" to something other than true; "
                              "remove it (the client adds \"stream\": true)");
        }
    }
    return insert_member(body, "\"stream\":true", "\"stream\": true");
}

// The start of a query's invocation, in `request` (reused: it may hold an earlier
// request): a POST to `url`, no headers yet.
inline void start_invocation_request(http_request& request, const std::string& url) {
    if (!request.url.empty()) request = http_request{};
    request.method = http_method::post;
    request.url = url;
}

// The body of an invocation: the caller's, with its client_request_id and, for a stream,
// "stream": true added. Inlined: every query builds one.
DBSERVE_DETAIL_INLINE result<void> set_invocation_body(http_request& request, std::string&& body,
                                                       std::string_view client_request_id, bool streaming) {
    request.body = std::move(body);
    if (!client_request_id.empty()) {
        auto valid = add_client_request_id(request.body, client_request_id);
        if (!valid) return valid;
    }
    if (streaming) return add_stream_flag(request.body);
    return {};
}

// The invocation of a query, in `request`: POST `body` to `url` with `headers` (from
// invocation_headers()) and the body edits of set_invocation_body(). No Authorization.
inline result<void> build_invocation_request(http_request& request, const std::string& url, header_list&& headers,
                                             std::string&& body, std::string_view client_request_id, bool streaming) {
    start_invocation_request(request, url);
    request.headers = std::move(headers);
    return set_invocation_body(request, std::move(body), client_request_id, streaming);
}

// The same with headers built once and kept (a configured endpoint's): copied, with room
// for the Authorization and the trace context (traceparent, tracestate).
inline result<void> build_invocation_request(http_request& request, const std::string& url,
                                             const header_list& kept_headers, std::string&& body,
                                             std::string_view client_request_id, bool streaming) {
    start_invocation_request(request, url);
    request.headers.reserve(kept_headers.size() + 3);
    request.headers.append(kept_headers);
    return set_invocation_body(request, std::move(body), client_request_id, streaming);
}

// An invocation sent again to an endpoint discovered again at another URL.
inline void retarget_invocation_request(http_request& request, const std::string& url, std::string_view workspace_id) {
    request.url = url;
    request.headers.remove("X-Databricks-Workspace-Id");
    if (!workspace_id.empty()) request.headers.add_unchecked("X-Databricks-Workspace-Id", std::string(workspace_id));
}

// The bearer token of an invocation; `replace`: the request carries an older one.
inline void set_invocation_bearer(http_request& request, std::string&& authorization, bool replace) {
    if (replace) request.headers.remove("Authorization");
    request.headers.add_unchecked("Authorization", std::move(authorization));
}

}  // namespace detail
DBSERVE_END_NAMESPACE
