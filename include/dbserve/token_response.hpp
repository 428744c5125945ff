// Reading the token endpoint's answer (RFC 6749 section 5): a bearer token and its
// lifetime, or an error in either of the shapes real servers send. Never crashes on a
// malformed body and never puts the access token into a message.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/detail/lenient_json.hpp>
#include <dbserve/detail/shown_text.hpp>
#include <dbserve/error.hpp>
#include <dbserve/http.hpp>
#include <dbserve/result.hpp>
#include <dbserve/retry_after.hpp>
#include <dbserve/secret.hpp>
#include <dbserve/service_error.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
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

constexpr std::int64_t max_lifetime_seconds = 365LL * 24 * 3600;

inline bool code_is(std::string_view code, std::string_view name) noexcept {
    return detail::iequals(code, name);
}

// The category of an OAuth error code, or nullopt for a code this library does not know.
inline std::optional<errc> category_for_oauth_code(std::string_view code) noexcept {
    if (code_is(code, "invalid_client") || code_is(code, "invalid_grant") || code_is(code, "invalid_token") ||
        code_is(code, "unauthenticated"))
        return errc::authentication;
    if (code_is(code, "access_denied") || code_is(code, "invalid_authorization_details") ||
        code_is(code, "unauthorized_client") || code_is(code, "insufficient_scope") ||
        code_is(code, "permission_denied"))
        return errc::permission;
    if (code_is(code, "invalid_request") || code_is(code, "unsupported_grant_type") ||
        code_is(code, "invalid_scope") || code_is(code, "invalid_target") ||
        code_is(code, "unsupported_token_type") || code_is(code, "invalid_request_object"))
        return errc::bad_request;
    if (code_is(code, "slow_down") || code_is(code, "request_limit_exceeded") ||
        code_is(code, "resource_exhausted"))
        return errc::throttled;
    if (code_is(code, "temporarily_unavailable")) return errc::unavailable;
    if (code_is(code, "server_error")) return errc::service;
    return std::nullopt;
}

inline std::string_view hint_for(errc category) noexcept {
    switch (category) {
        case errc::authentication:
            return "; check the client id and secret (DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET) and the "
                   "workspace host";
        case errc::permission:
            return "; the service principal needs at least Query permission on the serving endpoint";
        default: return {};
    }
}

constexpr std::string_view credential_words[] = {"token", "secret", "password", "assertion"};

// A key whose value is a credential: access_token, refresh_token, id_token, client_secret
// and any other key naming a token, secret, password or assertion; not the "*_type" keys
// (token_type, issued_token_type), which only name a kind of token.
inline bool is_credential_key(std::string_view key) noexcept {
    if (key.size() >= 5 && detail::iequals(key.substr(key.size() - 5), "_type")) return false;
    for (std::string_view word : credential_words)
        if (detail::icontains(key, word)) return true;
    return false;
}

// Every string held under a credential key, at any depth. Keys are compared as parsed, so
// a key spelt with JSON escapes counts too. Iterative, as the body may nest deeply.
inline std::vector<std::string*> credential_strings(nlohmann::json& doc) {
    std::vector<std::string*> found;
    std::vector<std::pair<nlohmann::json*, bool>> pending{{&doc, false}};
    while (!pending.empty()) {
        const auto [node, under_credential] = pending.back();
        pending.pop_back();
        if (node->is_string()) {
            if (under_credential) found.push_back(&node->get_ref<std::string&>());
        } else if (node->is_object()) {
            for (auto it = node->begin(); it != node->end(); ++it)
                pending.emplace_back(&*it, under_credential || is_credential_key(it.key()));
        } else if (node->is_array()) {
            for (auto& item : *node) pending.emplace_back(&item, under_credential);
        }
    }
    return found;
}

// Holds the credentials of a parsed body: wipes them when the parse is over, and takes them
// out of any message built meanwhile (a server may echo one in error_description).
class credential_guard {
public:
    explicit credential_guard(nlohmann::json& doc) : strings_(credential_strings(doc)) {}
    ~credential_guard() {
        for (std::string* s : strings_)
            if (!s->empty()) secure_zero(&(*s)[0], s->size());
    }
    credential_guard(const credential_guard&) = delete;
    credential_guard& operator=(const credential_guard&) = delete;

    // Credentials under 8 bytes are left alone: blanking them would blank ordinary words,
    // and the body's own credential fields are never shown anyway.
    void redact(dbserve::error& e) const {
        std::vector<std::string_view> shown;
        for (const std::string* s : strings_)
            if (s->size() >= min_redacted_bytes) shown.emplace_back(*s);
        if (detail::redact_secrets(e, shown.begin(), shown.end(), min_redacted_bytes))
            e.message = "the token endpoint refused the request (HTTP " + std::to_string(e.http_status) +
                        "); its message is not shown because it quoted a credential";
    }

private:
    static constexpr std::size_t min_redacted_bytes = 8;

    std::vector<std::string*> strings_;
};

// Whether a body that is not a JSON object or array could show a credential through the
// generic error reader: it quotes plain text and JSON strings, and the title of an HTML
// page. Escapes ('\\', '%') could spell a credential word, so they count too.
inline bool may_show_credential(const http_response& response, const nlohmann::json& parsed) {
    auto suspicious = [](std::string_view text) {
        for (std::string_view word : credential_words)
            if (detail::icontains(text, word)) return true;
        return text.find_first_of("\\%") != std::string_view::npos;
    };
    if (parsed.is_string()) return suspicious(parsed.get_ref<const std::string&>());
    if (!parsed.is_discarded()) return false;  // a number, true, false or null
    if (looks_like_html(response)) return suspicious(service_errors::html_title(response.body));
    return suspicious(response.body);
}

inline dbserve::error token_error(const http_response& response, const nlohmann::json& parsed,
                                  std::optional<std::chrono::system_clock::time_point> now) {
    using namespace service_errors;
    std::string code, description;
    if (parsed.is_object()) {
        const auto error = parsed.find("error");
        if (error != parsed.end() && error->is_string()) {
            code = error->get_ref<const std::string&>();
            description = string_field(parsed, "error_description");
        } else if (parsed.contains("errorCode") || parsed.contains("errorSummary")) {
            code = string_field(parsed, "errorCode");
            description = string_field(parsed, "errorSummary");
        }
    }
    // Without an OAuth error the generic reader handles Databricks, HTML and text bodies.
    // It may quote the body, so it reads a copy with every credential blanked, or, for a
    // body that is not JSON, only the status when the text could hold a credential.
    const auto when = now ? *now : std::chrono::system_clock::time_point{};
    // The same status and headers with another body.
    auto with_body = [&](std::string body) {
        http_response shown;
        shown.status = response.status;
        shown.reason = response.reason;
        shown.headers = response.headers;
        shown.body = std::move(body);
        return shown;
    };
    dbserve::error e;
    if (parsed.is_object() || parsed.is_array()) {
        nlohmann::json cleaned = parsed;
        for (std::string* text : credential_strings(cleaned)) {
            if (!text->empty()) secure_zero(&(*text)[0], text->size());
            *text = "(redacted)";
        }
        e = parse_service_error(with_body(compact(cleaned)), when);
    } else if (!may_show_credential(response, parsed)) {
        e = parse_service_error(response, when);
    } else {
        e = parse_service_error(with_body({}), when);
        e.message = status_text(response) + " with a " + std::to_string(response.body.size()) +
                    "-byte body that is not shown because it may hold a credential";
    }
    if (!now && e.retry_after) {
        // Only the delta-seconds form can be read without knowing the time.
        const std::string_view value = response.headers.get("retry-after");
        const auto seconds = parse_retry_after(value, std::chrono::system_clock::time_point{});
        const bool is_date = !trim(value).empty() && !(trim(value).front() >= '0' && trim(value).front() <= '9');
        e.retry_after = is_date ? std::nullopt : seconds;
    }
    const int status = response.status;
    const errc by_status = error_category_for_status(status);
    if (!code.empty()) {
        e.service_code = clean_text(code, 100);
        const bool status_decides = status == 429 || status >= 500;
        const auto by_code = category_for_oauth_code(code);
        if (by_code == errc::throttled) e.code = errc::throttled;
        else if (status_decides) e.code = by_status;
        else if (by_code) e.code = *by_code;
        else if (by_status != errc::bad_response) e.code = by_status;
        else e.code = errc::authentication;  // an unknown OAuth error in a 2xx: the token was refused
        e.message = "the token endpoint refused the request (" + e.service_code;
        const std::string cleaned = clean_text(description);
        if (!cleaned.empty()) e.message += ": " + cleaned;
        e.message += ")";
    } else {
        if (status >= 300 && status < 400) {
            e.message = "the token endpoint redirected (" + status_text(response) +
                        "); a redirect usually means the workspace host is wrong or a proxy intercepts the request";
            // Without its query and fragment, which can carry a token (the implicit grant).
            std::string_view location = response.headers.get("location");
            location = location.substr(0, location.find_first_of("?#"));
            if (!location.empty()) e.message += " (Location: " + clean_text(location, 200) + ")";
            return e;
        }
        e.message = "the token endpoint refused the request: " + e.message;
    }
    e.message += std::string(hint_for(e.code));
    return e;
}

inline dbserve::error bad_token(const http_response& response, std::string what) {
    dbserve::error e(errc::bad_response, "the token endpoint's answer (" + service_errors::status_text(response) +
                                             ") is not a usable token: " + std::move(what));
    e.http_status = response.status;
    e.request_id = service_errors::request_id_from(response, nullptr);
    return e;
}

// The longest access token accepted: "Bearer " and the token must fit one header field
// of every bundled transport (Boost.Beast's limit is 65,533 bytes). Databricks tokens are
// a few KB.
inline constexpr std::size_t max_access_token_bytes = 60u * 1024u;

// A short, printable rendering of a non-secret value for a message.
inline std::string quote(std::string_view text) {
    return "'" + service_errors::clean_text(text, 40) + "'";
}

// expires_in as a number of seconds, or the reason it is unusable.
inline result<std::chrono::seconds> read_expires_in(const nlohmann::json& value) {
    auto fail = [](std::string reason) { return unexpected(errc::bad_response, std::move(reason)); };
    std::int64_t seconds = 0;
    if (value.is_number_unsigned()) {
        const auto v = value.get<std::uint64_t>();
        seconds = v > static_cast<std::uint64_t>(max_lifetime_seconds) ? max_lifetime_seconds
                                                                         : static_cast<std::int64_t>(v);
    } else if (value.is_number_integer()) {
        seconds = value.get<std::int64_t>();
    } else if (value.is_number_float()) {
        const double v = value.get<double>();
        if (!std::isfinite(v)) return fail("expires_in is not a finite number");
        seconds = v >= static_cast<double>(max_lifetime_seconds) ? max_lifetime_seconds
                  : v <= 0                                         ? 0
                                                                   : static_cast<std::int64_t>(v);
    } else if (value.is_string()) {
        const std::string& text = value.get_ref<const std::string&>();
        if (text.empty()) return fail("expires_in is an empty string; it must be a number of seconds");
        for (char c : text) {
            if (c < '0' || c > '9')
                return fail("expires_in is the string " + quote(text) +
                            ", not a number of seconds");
            if (seconds < max_lifetime_seconds) seconds = seconds * 10 + (c - '0');
        }
    } else {
        return fail(std::string("expires_in is ") + value.type_name() + ", not a number of seconds");
    }
    if (seconds <= 0)
        return fail("expires_in is " + std::to_string(seconds) + "; a token lifetime must be a positive number");
    if (seconds > max_lifetime_seconds) seconds = max_lifetime_seconds;
    return std::chrono::seconds(seconds);
}

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
    if (service_errors::trim(response.body).empty())
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
            out.authorization_details = service_errors::compact(*details);
    }
    const auto refresh = parsed.find("refresh_token");
    out.has_refresh_token =
        refresh != parsed.end() && refresh->is_string() && !refresh->get_ref<const std::string&>().empty();
    return out;
}

inline result<token_response> parse(const http_response& response,
                                    std::optional<std::chrono::system_clock::time_point> now) {
    const std::string_view body = service_errors::trim(response.body);
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
