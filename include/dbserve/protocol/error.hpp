// dbserve::error: what went wrong, in terms a caller can act on.
// Every failure in the library is one of these; none carries a secret or a token.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

DBSERVE_BEGIN_NAMESPACE

// The category of a failure: what the caller can do about it.
enum class errc {
    invalid_argument = 1,  // a value given by the caller is malformed (URL, payload, name)
    configuration,         // missing or contradictory configuration (no credentials, a PAT)
    name_resolution,       // the host name did not resolve
    connection,            // connect refused, reset, closed early
    tls,                   // TLS handshake or certificate verification failed
    timeout,               // a deadline passed
    cancelled,             // the caller cancelled the operation
    authentication,        // 401, or the token endpoint refused the client
    permission,            // 403: authenticated but not allowed
    not_found,             // 404
    bad_request,           // 400, 409, 413, 415: the service refused the request
    throttled,             // 429
    unavailable,           // 503
    service,               // other 5xx
    bad_response,          // a reply that cannot be understood (not JSON, a login page...)
    response_too_large,    // a reply over the configured size cap
};

// A stable, lower-case name for the category ("throttled", "tls", ...).
constexpr std::string_view to_string(errc code) noexcept {
    switch (code) {
        case errc::invalid_argument: return "invalid_argument";
        case errc::configuration: return "configuration";
        case errc::name_resolution: return "name_resolution";
        case errc::connection: return "connection";
        case errc::tls: return "tls";
        case errc::timeout: return "timeout";
        case errc::cancelled: return "cancelled";
        case errc::authentication: return "authentication";
        case errc::permission: return "permission";
        case errc::not_found: return "not_found";
        case errc::bad_request: return "bad_request";
        case errc::throttled: return "throttled";
        case errc::unavailable: return "unavailable";
        case errc::service: return "service";
        case errc::bad_response: return "bad_response";
        case errc::response_too_large: return "response_too_large";
    }
    return "unknown";
}

struct error {
    errc code = errc::invalid_argument;
    std::string message;       // human readable; says what was wrong and how to fix it
    int http_status = 0;       // 0 when no HTTP response was received
    std::string service_code;  // the service's error_code / OAuth "error", when given
    std::optional<std::chrono::milliseconds> retry_after;  // from a Retry-After header
    std::string request_id;    // the service's request id, when given
    // True when the request may have reached the server (a read timeout, a reset after
    // the body was sent): its outcome is unknown and a POST is not safely repeatable.
    bool request_may_have_been_processed = false;
    int native_code = 0;        // the transport's own code (CURLcode, asio error value)
    std::string native_message; // the transport's own message

    error() = default;
    error(errc c, std::string msg) : code(c), message(std::move(msg)) {}

    // "throttled (HTTP 429, REQUEST_LIMIT_EXCEEDED): message [request id ...]"
    std::string to_string() const {
        std::string out(dbserve::to_string(code));
        if (http_status != 0 || !service_code.empty()) {
            out += " (";
            if (http_status != 0) {
                out += "HTTP ";
                out += std::to_string(http_status);
                if (!service_code.empty()) out += ", ";
            }
            out += service_code;
            out += ')';
        }
        out += ": ";
        out += message;
        if (!request_id.empty()) {
            out += " [request id ";
            out += request_id;
            out += ']';
        }
        return out;
    }
};

inline std::string to_string(const error& e) { return e.to_string(); }

// std::error_code interop: dbserve::errc values belong to dbserve_category().
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "dbserve"; }
    std::string message(int value) const override {
        return std::string(dbserve::to_string(static_cast<errc>(value)));
    }
};

inline const std::error_category& dbserve_category() noexcept {
    static const error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc code) noexcept {
    return {static_cast<int>(code), dbserve_category()};
}

DBSERVE_END_NAMESPACE

template <>
struct std::is_error_code_enum<dbserve::errc> : std::true_type {};
