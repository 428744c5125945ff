// A peer's answer made fit to show: its text cleaned of controls and cut to a size, its
// status line, an HTML page's title, a JSON value in one line and its request id. Shared
// by the readers of error bodies and token responses.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/http.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

namespace detail {

constexpr std::size_t max_message_bytes = 1024;    // of a peer's text in a message
constexpr std::size_t max_request_id_bytes = 200;  // of a request id

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

}  // namespace detail

DBSERVE_END_NAMESPACE
