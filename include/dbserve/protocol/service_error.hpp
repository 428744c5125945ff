// Turning an HTTP error response into a dbserve::error: the category a caller acts on,
// the service's error code and message, Retry-After and the request id. Databricks
// answers {"error_code","message","details"}; proxies, gateways and login pages answer
// other things, and every one of them still has to give a useful, short message.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/detail/peer_text.hpp>
#include <dbserve/protocol/detail/service_errors.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/detail/text.hpp>
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
    using namespace detail;
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
    using namespace detail;
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
