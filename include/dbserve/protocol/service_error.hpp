// Turning an HTTP error response into a dbserve::error: the category a caller acts on,
// the service's error code and message, Retry-After and the request id. Databricks
// answers {"error_code","message","details"}; proxies, gateways and login pages answer
// other things, and every one of them still has to give a useful, short message.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/retry_after.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

// 400, 409, 413, 415 and other 4xx -> bad_request; 401 -> authentication;
// 403 -> permission; 404, 410 -> not_found; 408 -> timeout; 429 -> throttled;
// 503 -> unavailable; other 5xx -> service; anything else (a 200 that is really an
// error, a redirect) -> bad_response.
errc error_category_for_status(int http_status) noexcept;

// A login page or an HTML error page: Content-Type text/html (or XHTML), or a body that
// starts like an HTML document.
bool looks_like_html(const http_response& response) noexcept;

// Reads {"error_code","message","details"}, {"error": "..."}, {"error": {...}},
// {"errorCode","errorSummary"}, "CODE: message" text, an HTML page, or an empty body
// (the status reason). Sets http_status, service_code, retry_after (the Retry-After
// header, against `now`) and request_id (x-request-id / x-databricks-request-id, else a
// RequestInfo in details). REQUEST_LIMIT_EXCEEDED and RESOURCE_EXHAUSTED are throttled
// whatever the status. The message is at most about 1 KiB, without control characters.
dbserve::error parse_service_error(const http_response& response, std::chrono::system_clock::time_point now);

namespace detail {
namespace service_errors {

constexpr std::size_t max_message_bytes = 1024;
constexpr std::size_t max_request_id_bytes = 200;

// On http.hpp's detail::iequals, so headers, codes and HTML markers compare one way.
inline bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

inline std::string_view trim(std::string_view s) noexcept {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

// A peer's text made safe for a message or a log line: line breaks and tabs become
// spaces (runs collapse), other terminal controls (C0, DEL, C1) and bytes that are not UTF-8
// are escaped (detail::escape_terminal_controls), and the result stops at `max` bytes on a
// UTF-8 character boundary, marked with "...".
inline std::string clean_text(std::string_view text, std::size_t max = max_message_bytes) {
    text = trim(text);
    std::string out;
    out.reserve(text.size() < max ? text.size() : max + 3);
    bool truncated = false;
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '\r' || c == '\n' || c == '\t' || c == '\f' || c == '\v' || c == ' ') {
            ++i;
            if (!out.empty() && out.back() != ' ') {
                if (out.size() >= max) {
                    truncated = true;
                    break;
                }
                out += ' ';
            }
            continue;
        }
        const text_unit unit = text_unit_at(text, i);
        const std::string_view character = text.substr(i, unit.length);
        i += unit.length;
        // Whole characters (or whole escapes) only, so a cut never splits one.
        std::string escaped;
        if (unit.control) append_escaped(escaped, character);
        const std::string_view piece = unit.control ? std::string_view(escaped) : character;
        if (out.size() + piece.size() > max) {
            truncated = true;
            break;
        }
        out.append(piece.data(), piece.size());
    }
    if (truncated) {
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += "...";
    }
    return out;
}

inline std::string_view standard_reason_phrase(int status) noexcept {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return {};
    }
}

// "HTTP 503 Service Unavailable" (the peer's reason phrase when it sent one).
inline std::string status_text(const http_response& response) {
    std::string out = "HTTP " + std::to_string(response.status);
    std::string reason = clean_text(response.reason, 100);
    if (reason.empty()) reason = std::string(standard_reason_phrase(response.status));
    if (!reason.empty()) out += " " + reason;
    return out;
}

inline errc category_for_code(std::string_view code, errc fallback) noexcept {
    if (iequals(code, "REQUEST_LIMIT_EXCEEDED") || iequals(code, "RESOURCE_EXHAUSTED")) return errc::throttled;
    // Otherwise the status decides; the code only helps when the status says nothing
    // (an error body in a 200, which happens behind some gateways).
    if (fallback != errc::bad_response) return fallback;
    if (iequals(code, "UNAUTHENTICATED")) return errc::authentication;
    if (iequals(code, "PERMISSION_DENIED")) return errc::permission;
    if (iequals(code, "NOT_FOUND") || iequals(code, "RESOURCE_DOES_NOT_EXIST") || iequals(code, "ENDPOINT_NOT_FOUND"))
        return errc::not_found;
    if (iequals(code, "BAD_REQUEST") || iequals(code, "INVALID_PARAMETER_VALUE") || iequals(code, "INVALID_REQUEST") ||
        iequals(code, "MALFORMED_REQUEST") || iequals(code, "INVALID_STATE") || iequals(code, "RESOURCE_CONFLICT") ||
        iequals(code, "RESOURCE_ALREADY_EXISTS"))
        return errc::bad_request;
    if (iequals(code, "TEMPORARILY_UNAVAILABLE")) return errc::unavailable;
    if (iequals(code, "INTERNAL_ERROR") || iequals(code, "DEADLINE_EXCEEDED")) return errc::service;
    return fallback;
}

// A bare word that reads like an error code ("REQUEST_LIMIT_EXCEEDED", "invalid_client").
inline bool looks_like_code(std::string_view s) noexcept {
    if (s.size() < 2 || s.size() > 100) return false;
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    return true;
}

inline std::string string_field(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) return {};
    if (it->is_string()) return it->get_ref<const std::string&>();
    if (it->is_number_integer() || it->is_number_unsigned())
        return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return {};
}

inline std::string compact(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The text of the first <title> element, if any, within the first 64 KiB.
inline std::string html_title(std::string_view body) {
    body = body.substr(0, 64 * 1024);
    std::size_t open = std::string_view::npos;
    for (std::size_t i = 0; i + 6 <= body.size(); ++i)
        if (body[i] == '<' && istarts_with(body.substr(i), "<title")) {
            const char after = i + 6 < body.size() ? body[i + 6] : '\0';
            if (after == '>' || after == ' ' || after == '\t' || after == '\n' || after == '\r') {
                open = i;
                break;
            }
        }
    if (open == std::string_view::npos) return {};
    const std::size_t start = body.find('>', open);
    if (start == std::string_view::npos) return {};
    std::size_t end = start + 1;
    while (end < body.size() && !(body[end] == '<' && istarts_with(body.substr(end), "</title"))) ++end;
    return clean_text(body.substr(start + 1, end - start - 1), 120);
}

inline std::string request_id_from(const http_response& response, const nlohmann::json* body) {
    for (const char* name : {"x-request-id", "x-databricks-request-id"}) {
        const std::string* value = response.headers.find(name);
        if (value != nullptr) {
            std::string id = clean_text(*value, max_request_id_bytes);
            if (!id.empty()) return id;
        }
    }
    // Databricks also puts it into details as a google.rpc.RequestInfo.
    if (body != nullptr && body->is_object()) {
        const auto details = body->find("details");
        if (details != body->end() && details->is_array())
            for (const auto& item : *details)
                if (item.is_object()) {
                    std::string id = clean_text(string_field(item, "request_id"), max_request_id_bytes);
                    if (!id.empty()) return id;
                }
    }
    return {};
}

// Fills code and message from a JSON error body; false if the shape is not known.
inline bool read_json_error(const nlohmann::json& body, std::string& code, std::string& message) {
    if (body.is_string()) {
        message = body.get_ref<const std::string&>();
        return true;
    }
    if (!body.is_object()) return false;
    code = string_field(body, "error_code");
    message = string_field(body, "message");
    if (!code.empty() || !message.empty()) {
        if (message.empty()) message = string_field(body, "error");
        return true;
    }
    const auto error = body.find("error");
    if (error != body.end()) {
        if (error->is_string()) {
            const std::string& text = error->get_ref<const std::string&>();
            std::string description = string_field(body, "error_description");
            if (!description.empty() || looks_like_code(text)) {
                code = text;
                message = description;
            } else {
                message = text;
            }
            return true;
        }
        if (error->is_object()) {
            code = string_field(*error, "code");
            if (code.empty()) code = string_field(*error, "error_code");
            if (code.empty()) code = string_field(*error, "type");
            message = string_field(*error, "message");
            return !code.empty() || !message.empty();
        }
    }
    code = string_field(body, "errorCode");
    message = string_field(body, "errorSummary");
    if (!code.empty() || !message.empty()) return true;
    message = string_field(body, "detail");
    return !message.empty();
}

}  // namespace service_errors
}  // namespace detail

inline errc error_category_for_status(int http_status) noexcept {
    switch (http_status) {
        case 401: return errc::authentication;
        case 403: return errc::permission;
        case 404:
        case 410: return errc::not_found;
        case 408: return errc::timeout;
        case 429: return errc::throttled;
        case 503: return errc::unavailable;
        default: break;
    }
    if (http_status >= 400 && http_status < 500) return errc::bad_request;
    if (http_status >= 500 && http_status < 600) return errc::service;
    return errc::bad_response;
}

inline bool looks_like_html(const http_response& response) noexcept {
    using namespace detail::service_errors;
    std::string_view type = response.headers.get("content-type");
    type = trim(type.substr(0, type.find(';')));
    if (detail::iequals(type, "text/html") || detail::iequals(type, "application/xhtml+xml")) return true;
    std::string_view body = response.body;
    if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
    body = trim(body.substr(0, 4096));
    if (istarts_with(body, "<!doctype html") || istarts_with(body, "<html") || istarts_with(body, "<head") ||
        istarts_with(body, "<body"))
        return true;
    if (istarts_with(body, "<?xml") || istarts_with(body, "<!--"))
        for (std::size_t i = 0; i + 5 <= body.size(); ++i)
            if (body[i] == '<' && istarts_with(body.substr(i), "<html")) return true;
    return false;
}

inline dbserve::error parse_service_error(const http_response& response, std::chrono::system_clock::time_point now) {
    using namespace detail::service_errors;
    dbserve::error e;
    e.http_status = response.status;
    const errc by_status = error_category_for_status(response.status);
    e.code = by_status;
    if (const std::string* retry_after = response.headers.find("retry-after"))
        e.retry_after = parse_retry_after(*retry_after, now);

    const std::string_view body = trim(response.body);
    if (body.empty()) {
        e.request_id = request_id_from(response, nullptr);
        e.message = status_text(response) + " with an empty body";
        return e;
    }
    bool too_deep = false;
    const auto parsed = detail::parse_lenient_json(body, &too_deep);
    if (too_deep) {
        e.request_id = request_id_from(response, nullptr);
        e.message = status_text(response) + " with a JSON body nested more than " +
                    std::to_string(detail::max_json_depth) + " levels deep (not shown)";
        return e;
    }
    if (!parsed.is_discarded()) {
        e.request_id = request_id_from(response, &parsed);
        std::string code, message;
        if (read_json_error(parsed, code, message)) {
            e.service_code = clean_text(code, 100);
            e.message = clean_text(message);
            if (e.message.empty())
                e.message = status_text(response) + (e.service_code.empty() ? "" : " (" + e.service_code + ")") +
                            " without a message";
        } else {
            e.message = status_text(response) + ": " + clean_text(compact(parsed));
        }
        e.code = category_for_code(e.service_code, by_status);
        return e;
    }
    if (looks_like_html(response)) {
        e.request_id = request_id_from(response, nullptr);
        const std::string title = html_title(response.body);
        e.message = status_text(response) + " came back as an HTML page";
        if (!title.empty()) e.message += " ('" + title + "')";
        e.message +=
            " instead of JSON; a login page usually means a Private Link, firewall or proxy redirected the "
            "request: check the host name and the network path to it";
        return e;
    }
    e.request_id = request_id_from(response, nullptr);
    // Plain text, often "ERROR_CODE: message".
    const std::size_t colon = body.find(": ");
    bool has_code = false;
    if (colon != std::string_view::npos && colon >= 2 && colon <= 100) {
        has_code = true;
        for (char c : body.substr(0, colon))
            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) has_code = false;
        has_code = has_code && body[0] >= 'A' && body[0] <= 'Z';
    }
    if (has_code) {
        e.service_code = std::string(body.substr(0, colon));
        e.message = clean_text(body.substr(colon + 2));
        e.code = category_for_code(e.service_code, by_status);
    } else {
        e.message = clean_text(body);
    }
    if (e.message.empty()) e.message = status_text(response) + " without a readable message";
    return e;
}

DBSERVE_END_NAMESPACE
