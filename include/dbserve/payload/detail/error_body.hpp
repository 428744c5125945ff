// Recognising an error object inside a body that was expected to hold data: a 200 carrying
// {"error_code", "message"}, an OpenAI-style {"error": {...}} chunk in a stream, an HTML page.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/error.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

// Maps a Databricks error_code to the category a caller acts on.
inline errc errc_for_service_code(std::string_view code) noexcept {
    if (code == "REQUEST_LIMIT_EXCEEDED" || code == "RESOURCE_EXHAUSTED") return errc::throttled;
    if (code == "TEMPORARILY_UNAVAILABLE") return errc::unavailable;
    if (code == "UNAUTHENTICATED") return errc::authentication;
    if (code == "PERMISSION_DENIED") return errc::permission;
    if (code == "NOT_FOUND" || code == "RESOURCE_DOES_NOT_EXIST" || code == "ENDPOINT_NOT_FOUND")
        return errc::not_found;
    if (code == "INVALID_PARAMETER_VALUE" || code == "BAD_REQUEST" || code == "INVALID_REQUEST" ||
        code == "MALFORMED_REQUEST" || code == "INVALID_STATE")
        return errc::bad_request;
    if (code == "DEADLINE_EXCEEDED") return errc::timeout;
    return errc::service;
}

// If `body` is an error object ({"error_code","message"}, {"error": "..."} or
// {"error": {"message", "code"|"type"}}), fills `out` and returns true.
inline bool read_json_error_object(const nlohmann::json& body, dbserve::error& out) {
    if (!body.is_object()) return false;
    std::string code, message;
    auto take_string = [](const nlohmann::json& j, const char* key, std::string& into) {
        auto it = j.find(key);
        if (it != j.end() && it->is_string()) into = it->template get<std::string>();
    };
    take_string(body, "error_code", code);
    auto err = body.find("error");
    if (err == body.end() && code.empty()) return false;
    take_string(body, "message", message);
    if (err != body.end()) {
        if (err->is_string()) {
            if (message.empty()) message = err->get<std::string>();
        } else if (err->is_object()) {
            take_string(*err, "message", message);
            if (code.empty()) take_string(*err, "code", code);
            if (code.empty()) take_string(*err, "type", code);
        } else if (code.empty()) {
            return false;
        }
    }
    if (message.empty()) message = "the service returned an error without a message";
    out = dbserve::error(errc_for_service_code(code), std::move(message));
    out.service_code = std::move(code);
    escape_terminal_controls(out);  // the server's own words
    return true;
}

// True when the text starts (after whitespace and a byte order mark) with '<': an HTML page
// such as the login page a Private Link or SSO redirect serves with status 200.
inline bool starts_like_html(std::string_view text) noexcept {
    std::size_t i = 0;
    if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        ++i;
    return i < text.size() && text[i] == '<';
}

inline dbserve::error html_instead_of_json_error() {
    return dbserve::error(
        errc::bad_response,
        "the response is an HTML page, not JSON; a login page means the request was redirected "
        "(Private Link or SSO): query the endpoint's route optimized URL with an OAuth token");
}

}  // namespace detail
DBSERVE_END_NAMESPACE
