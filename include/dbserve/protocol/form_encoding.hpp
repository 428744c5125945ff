// application/x-www-form-urlencoded bodies and HTTP Basic client authentication for
// the token endpoint (RFC 6749 section 2.3.1 and appendix B).
#pragma once

#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/secret.hpp>

#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
namespace forms {
inline void append_urlencoded(std::string& out, std::string_view value) {
    static constexpr char digits[] = "0123456789ABCDEF";
    for (char c : value) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' || c == '-' ||
            c == '.' || c == '_') {
            out += c;
        } else if (c == ' ') {
            out += '+';
        } else {
            const auto u = static_cast<unsigned char>(c);
            out += '%';
            out += digits[u >> 4];
            out += digits[u & 15];
        }
    }
}
}  // namespace forms
}  // namespace detail

// The WHATWG urlencoded serializer: letters, digits and "*-._" stay, a space becomes
// '+', every other byte (UTF-8 included) becomes %XX in upper-case hex.
inline std::string form_urlencode(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    detail::forms::append_urlencoded(out, value);
    return out;
}

// Appends "name=value" (both encoded), preceded by '&' when the body is not empty.
inline void append_form_field(std::string& body, std::string_view name, std::string_view value) {
    if (!body.empty()) body += '&';
    detail::forms::append_urlencoded(body, name);
    body += '=';
    detail::forms::append_urlencoded(body, value);
}

// "Basic " + base64(urlencode(id) ":" urlencode(secret)). RFC 6749 section 2.3.1 asks
// for the encoding before base64, and strict servers refuse raw credentials that hold
// ':' '%' '+' or non-ASCII characters. The result holds the secret: send it, never log it.
inline std::string basic_authorization(std::string_view client_id, std::string_view client_secret) {
    // Reserved up front so no reallocation leaves a copy of the secret behind.
    std::string joined;
    joined.reserve(3 * (client_id.size() + client_secret.size()) + 1);
    detail::forms::append_urlencoded(joined, client_id);
    joined += ':';
    detail::forms::append_urlencoded(joined, client_secret);
    std::string out = "Basic ";
    out += detail::base64_encode(joined);
    // The plain joined credentials must not linger in freed memory.
    detail::secure_zero(&joined[0], joined.size());
    return out;
}

DBSERVE_END_NAMESPACE
