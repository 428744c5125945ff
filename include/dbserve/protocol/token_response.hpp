// Reading the token endpoint's answer (RFC 6749 section 5): a bearer token and its
// lifetime, or an error in either of the shapes real servers send. Never crashes on a
// malformed body and never puts the access token into a message.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/detail/peer_text.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/detail/token_reading.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>
#include <dbserve/protocol/service_error.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

struct token_response {
    secret_string access_token;
    std::string token_type;  // as sent ("Bearer", "bearer")
    // Positive; a lifetime over a year is read as one year so expiry arithmetic cannot
    // overflow. Expiry is the local receive time plus this, never the server's clock.
    std::chrono::seconds expires_in{0};
    std::string scope;
    std::string authorization_details;  // raw JSON text if present
    bool has_refresh_token = false;
};

// A 2xx with a JSON object holding a non-empty access_token, token_type bearer (any
// case) and a positive expires_in (a number, or a string of digits). Anything else is an
// error: authentication (401, invalid_client, invalid_grant), permission (403,
// invalid_authorization_details, access_denied, unauthorized_client), bad_request
// (invalid_request, unsupported_grant_type, invalid_scope...), throttled, unavailable or
// service (429, 503, 5xx), bad_response (a 2xx that is not a usable token). service_code
// is the OAuth "error" / "errorCode"; the message carries error_description /
// errorSummary. Retry-After is read in its delta-seconds form only; pass `now` to the
// overload below to read HTTP dates too.
result<token_response> parse_token_response(const http_response& response);
result<token_response> parse_token_response(const http_response& response, std::chrono::system_clock::time_point now);

namespace detail {
namespace tokens {

// The token or the error in a parsed body; `parsed` is left unchanged.
inline result<token_response> read(const http_response& response, const nlohmann::json& parsed,
                                   std::optional<std::chrono::system_clock::time_point> now) {
    const bool is_object = parsed.is_object();
    const bool success = response.status >= 200 && response.status < 300;
    // "error": null (some brokers send it beside a token) is not an error.
    auto present = [&](const char* key) {
        const auto it = parsed.find(key);
        return it != parsed.end() && !it->is_null();
    };
    if (!success || (is_object && (present("error") || present("errorCode"))))
        return token_error(response, parsed, now);
    // From here on the body may hold a token: no message quotes the body.
    if (detail::trim(response.body).empty())
        return bad_token(response, "the body is empty; expected a JSON object with access_token");
    if (!is_object) {
        if (looks_like_html(response))
            return bad_token(response,
                             "it is an HTML page; a login page usually means a Private Link, firewall or proxy "
                             "redirected the request: check the workspace host");
        return bad_token(response, parsed.is_discarded()
                                       ? "the body is not JSON (" + std::to_string(response.body.size()) + " bytes)"
                                       : std::string("the body is a JSON ") + parsed.type_name() +
                                             ", not an object");
    }
    token_response out;
    const auto token = parsed.find("access_token");
    if (token == parsed.end() || token->is_null()) return bad_token(response, "it has no access_token");
    if (!token->is_string()) return bad_token(response, std::string("access_token is ") + token->type_name() +
                                                            ", not a string");
    const std::string& token_text = token->get_ref<const std::string&>();
    if (token_text.empty()) return bad_token(response, "access_token is empty");
    if (token_text.size() > max_access_token_bytes) {
        // It would go out in every request's Authorization header, which no HTTP stack
        // sends at that size (Beast refuses a field over 64 KiB, libcurl fails "out of
        // memory"): the answer is too large to use, said once, here.
        auto e = bad_token(response, "access_token is " + std::to_string(token_text.size()) +
                                         " bytes, more than the " + std::to_string(max_access_token_bytes) +
                                         " bytes an Authorization header can carry");
        e.code = errc::response_too_large;
        e.message = "token response too large: " + e.message;
        return e;
    }
    out.access_token.assign(token_text);
    const auto type = parsed.find("token_type");
    if (type == parsed.end() || type->is_null())
        return bad_token(response, "it has no token_type (expected Bearer)");
    if (!type->is_string())
        return bad_token(response, std::string("token_type is ") + type->type_name() + ", not a string");
    out.token_type = type->get_ref<const std::string&>();
    if (!detail::iequals(out.token_type, "bearer"))
        return bad_token(response, "token_type is " + quote(out.token_type) + "; only Bearer tokens are supported");
    const auto expires = parsed.find("expires_in");
    if (expires == parsed.end() || expires->is_null())
        return bad_token(response, "it has no expires_in, so the token's lifetime is unknown");
    auto lifetime = read_expires_in(*expires);
    if (!lifetime) return bad_token(response, lifetime.error().message);
    out.expires_in = *lifetime;
    const auto scope = parsed.find("scope");
    if (scope != parsed.end() && scope->is_string()) out.scope = scope->get_ref<const std::string&>();
    const auto details = parsed.find("authorization_details");
    if (details != parsed.end()) {
        if (details->is_string()) out.authorization_details = details->get_ref<const std::string&>();
        else if (details->is_object() || details->is_array())
            out.authorization_details = detail::compact(*details);
    }
    const auto refresh = parsed.find("refresh_token");
    out.has_refresh_token =
        refresh != parsed.end() && refresh->is_string() && !refresh->get_ref<const std::string&>().empty();
    return out;
}

inline result<token_response> parse(const http_response& response,
                                    std::optional<std::chrono::system_clock::time_point> now) {
    const std::string_view body = detail::trim(response.body);
    nlohmann::json parsed =
        body.empty() ? nlohmann::json(nlohmann::json::value_t::discarded) : parse_bounded_json(body);
    // Every credential in the body is wiped when this returns, and none is shown in an error.
    const credential_guard credentials(parsed);
    auto out = read(response, parsed, now);
    if (!out) credentials.redact(out.error());
    return out;
}

}  // namespace tokens
}  // namespace detail

inline result<token_response> parse_token_response(const http_response& response) {
    return detail::tokens::parse(response, std::nullopt);
}

inline result<token_response> parse_token_response(const http_response& response,
                                                   std::chrono::system_clock::time_point now) {
    return detail::tokens::parse(response, now);
}

DBSERVE_END_NAMESPACE
