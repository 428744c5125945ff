// How an HTTP error body is read: the error codes the service and OAuth servers send
// and the JSON shapes that carry a code and a message. The public reader is in
// service_error.hpp.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/peer_text.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/error.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
namespace service_errors {

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

DBSERVE_END_NAMESPACE
