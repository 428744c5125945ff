// How the token endpoint's answer is read (the public reader is token_response.hpp):
// the OAuth error codes and what each means for the caller, the credentials a body can
// hold and how they are kept out of every message, and the token's lifetime.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/detail/peer_text.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/retry_after.hpp>
#include <dbserve/protocol/secret.hpp>
#include <dbserve/protocol/service_error.hpp>

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
    if (looks_like_html(response)) return suspicious(html_title(response.body));
    return suspicious(response.body);
}

inline dbserve::error token_error(const http_response& response, const nlohmann::json& parsed,
                                  std::optional<std::chrono::system_clock::time_point> now) {
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
    dbserve::error e(errc::bad_response, "the token endpoint's answer (" + status_text(response) +
                                             ") is not a usable token: " + std::move(what));
    e.http_status = response.status;
    e.request_id = request_id_from(response, nullptr);
    return e;
}

// The longest access token accepted: "Bearer " and the token must fit one header field
// of every bundled transport (Boost.Beast's limit is 65,533 bytes). Databricks tokens are
// a few KB.
inline constexpr std::size_t max_access_token_bytes = 60u * 1024u;

// A short, printable rendering of a non-secret value for a message.
inline std::string quote(std::string_view text) {
    return "'" + clean_text(text, 40) + "'";
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

}  // namespace tokens
}  // namespace detail

DBSERVE_END_NAMESPACE
