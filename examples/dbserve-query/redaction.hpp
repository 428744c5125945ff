// What -v and --dry-run may show of a request or response: header values, form fields and
// JSON members that carry a secret or a token are replaced by "<redacted>". The rule is an
// allow list where it can be (form fields), a deny list where it must be (headers, JSON).
// Credentials quoted elsewhere in a server's text are credential_scrubber's job.
#pragma once

#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/token_response.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbserve_query {

inline constexpr std::string_view redacted = "<redacted>";

// "Bearer abc" -> "Bearer <redacted>"; cookies and anything token-like entirely.
inline std::string redact_header_value(std::string_view name, std::string_view value) {
    using dbserve::detail::iequals;
    if (iequals(name, "authorization") || iequals(name, "proxy-authorization")) {
        const auto space = value.find(' ');
        if (space == std::string_view::npos) return std::string(redacted);
        return std::string(value.substr(0, space + 1)) + std::string(redacted);
    }
    if (iequals(name, "cookie") || iequals(name, "set-cookie")) return std::string(redacted);
    std::string lower;
    for (char c : name) lower += dbserve::detail::ascii_lower(c);
    if (lower.find("token") != std::string::npos || lower.find("secret") != std::string::npos ||
        lower.find("api-key") != std::string::npos)
        return std::string(redacted);
    return std::string(value);
}

// The token request fields shown as they are; any other field may carry a credential.
inline bool is_harmless_form_field(std::string_view name) {
    return name == "grant_type" || name == "scope" || name == "authorization_details" || name == "client_id" ||
           name == "subject_token_type";  // a fixed URN (token federation); subject_token is the secret
}

// Calls visit(name, value) for each non-empty field of a form body, in order; `value` is
// empty when the field has no '='.
template <class Visit>
void for_each_form_field(std::string_view body, Visit&& visit) {
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t end = body.find('&', start);
        if (end == std::string_view::npos) end = body.size();
        const std::string_view field = body.substr(start, end - start);
        if (!field.empty()) {
            const auto eq = field.find('=');
            if (eq == std::string_view::npos) visit(field, std::optional<std::string_view>());
            else visit(field.substr(0, eq), std::optional<std::string_view>(field.substr(eq + 1)));
        }
        start = end + 1;
    }
}

// A form body (token requests): only fields known to be harmless keep their value.
inline std::string redact_form_body(std::string_view body) {
    std::string out;
    for_each_form_field(body, [&out](std::string_view name, std::optional<std::string_view> value) {
        if (!out.empty()) out += '&';
        out.append(name.data(), name.size());
        if (!value) return;
        out += '=';
        if (is_harmless_form_field(name)) out.append(value->data(), value->size());
        else out += redacted;
    });
    return out;
}

// application/x-www-form-urlencoded text decoded: '+' is a space, %XX a byte.
inline std::string form_decode(std::string_view text) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
            out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// A form body made readable for a person: decoded, control bytes shown as '?'.
inline std::string form_decode_for_display(std::string_view text) {
    std::string out = form_decode(text);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
    return out;
}

// Every string held under a key naming a token, secret, password or assertion, at any
// depth (not the "*_type" keys): the library's own rule, so the CLI hides what it hides.
using dbserve::detail::tokens::credential_strings;

// Replaces every string under a credential member, at any depth, with "<redacted>" (counts
// such as "completion_tokens" are numbers and stay).
inline void redact_json(nlohmann::json& doc) {
    for (std::string* text : credential_strings(doc)) *text = std::string(redacted);
}

// A JSON body with every credential member redacted. Text that is not JSON comes back
// unchanged when `keep_non_json`, else as a byte count; JSON nested deeper than any service
// sends (dbserve's max_json_depth) is never shown: printing it would mean recursing as deep.
inline std::string redact_json_body(std::string_view body, bool keep_non_json) {
    bool too_deep = false;
    auto doc = dbserve::detail::parse_bounded_json(body, &too_deep);
    if (too_deep)
        return "(" + std::to_string(body.size()) + " bytes of JSON nested more than " +
               std::to_string(dbserve::detail::max_json_depth) + " levels deep, not shown)";
    if (doc.is_discarded()) {
        if (keep_non_json) return std::string(body);
        return "(" + std::to_string(body.size()) + " bytes, not JSON, not shown)";
    }
    redact_json(doc);
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Requests to a token endpoint carry credentials in the body and answer with a token.
inline bool is_token_request(const dbserve::http_request& request) {
    std::string_view url = request.url;
    const auto query = url.find('?');
    if (query != std::string_view::npos) url = url.substr(0, query);
    constexpr std::string_view path = "/oidc/v1/token";
    return url.size() >= path.size() && url.substr(url.size() - path.size()) == path;
}

}  // namespace dbserve_query
