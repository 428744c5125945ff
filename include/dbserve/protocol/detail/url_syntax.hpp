// The pieces of URL syntax the URL parser and builders in url.hpp are made of: character
// classes, IPv4 and IPv6 literals, host names, path segments, endpoint and workspace
// names, and the wording of the messages that refuse them.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
namespace urls {

constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_hex(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr int hex_value(char c) noexcept {
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
}
constexpr bool is_unreserved(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
constexpr bool is_space_or_control(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
}

// Says what a character is in words, so a message never carries a raw control byte.
inline std::string describe_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string hex = "0x";
    hex += digits[u >> 4];
    hex += digits[u & 15];
    if (c == ' ') return "a space";
    if (c == '\t') return "a tab";
    if (c == '\r' || c == '\n') return "a line break";
    if (u < 0x20 || u == 0x7f) return "control character " + hex;
    if (u >= 0x80) return "non-ASCII byte " + hex;
    return std::string("'") + c + "'";
}

// A value shown inside a message: control and non-ASCII bytes escaped, length capped.
inline std::string quote(std::string_view s, std::size_t max = 200) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out = "'";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == max) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(s[i]);
        if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += digits[u >> 4];
            out += digits[u & 15];
        } else {
            out += s[i];
        }
    }
    out += '\'';
    return out;
}

inline std::string position(std::size_t index) { return "position " + std::to_string(index + 1); }

// Dotted decimal, exactly four parts, no leading zeros (they mean octal to some resolvers).
inline bool parse_ipv4(std::string_view s, std::array<std::uint8_t, 4>& out) noexcept {
    std::size_t part = 0, i = 0;
    while (true) {
        if (i >= s.size() || !is_digit(s[i])) return false;
        unsigned value = 0;
        std::size_t start = i;
        while (i < s.size() && is_digit(s[i])) {
            value = value * 10 + static_cast<unsigned>(s[i] - '0');
            if (i - start >= 3 || value > 255) return false;
            ++i;
        }
        if (i - start > 1 && s[start] == '0') return false;
        out[part++] = static_cast<std::uint8_t>(value);
        if (part == 4) return i == s.size();
        if (i >= s.size() || s[i] != '.') return false;
        ++i;
    }
}

// RFC 4291 text form, with an optional trailing dotted IPv4. No zone ids.
inline bool parse_ipv6(std::string_view s, std::array<std::uint8_t, 16>& out) noexcept {
    std::array<std::uint16_t, 8> words{};
    int count = 0;
    int compress = -1;
    std::size_t i = 0;
    if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
        compress = 0;
        i = 2;
    } else if (!s.empty() && s[0] == ':') {
        return false;
    }
    while (i < s.size()) {
        if (count == 8) return false;
        std::size_t j = i;
        unsigned value = 0;
        while (j < s.size() && is_hex(s[j])) {
            if (j - i == 4) return false;
            value = value * 16 + static_cast<unsigned>(hex_value(s[j]));
            ++j;
        }
        if (j < s.size() && s[j] == '.') {
            std::array<std::uint8_t, 4> v4{};
            if (count > 6 || !parse_ipv4(s.substr(i), v4)) return false;
            words[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>((v4[0] << 8) | v4[1]);
            words[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>((v4[2] << 8) | v4[3]);
            i = s.size();
            break;
        }
        if (j == i) return false;
        words[static_cast<std::size_t>(count++)] = static_cast<std::uint16_t>(value);
        i = j;
        if (i == s.size()) break;
        if (s[i] != ':') return false;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (compress >= 0) return false;
            compress = count;
            ++i;
        } else if (i == s.size()) {
            return false;
        }
    }
    if (compress < 0) {
        if (count != 8) return false;
    } else {
        if (count > 7) return false;
        const int tail = count - compress;
        for (int k = 0; k < tail; ++k)
            words[static_cast<std::size_t>(7 - k)] = words[static_cast<std::size_t>(count - 1 - k)];
        for (int k = compress; k < 8 - tail; ++k) words[static_cast<std::size_t>(k)] = 0;
    }
    for (std::size_t k = 0; k < 8; ++k) {
        out[2 * k] = static_cast<std::uint8_t>(words[k] >> 8);
        out[2 * k + 1] = static_cast<std::uint8_t>(words[k] & 0xff);
    }
    return true;
}

inline bool is_ip_literal(std::string_view host) noexcept {
    std::array<std::uint8_t, 4> v4{};
    std::array<std::uint8_t, 16> v6{};
    return parse_ipv4(host, v4) || parse_ipv6(host, v6);
}

// Checks a registered name (DNS host name) and lower-cases it into `out`.
inline result<void> check_host_name(std::string_view host, std::string& out) {
    if (host.empty()) return unexpected(errc::invalid_argument, "the URL has no host");
    if (host.size() > 253)
        return unexpected(errc::invalid_argument, "the host name is longer than 253 characters");
    out.clear();
    out.reserve(host.size());
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= host.size(); ++i) {
        if (i == host.size() || host[i] == '.') {
            const std::size_t length = i - label_start;
            if (length == 0)
                return unexpected(errc::invalid_argument,
                                  "the host name " + quote(host) +
                                      " has an empty label (a leading, trailing or doubled '.')");
            if (length > 63)
                return unexpected(errc::invalid_argument,
                                  "the host name " + quote(host) + " has a label longer than 63 characters");
            label_start = i + 1;
            if (i < host.size()) out += '.';
            continue;
        }
        const char c = host[i];
        if (static_cast<unsigned char>(c) >= 0x80)
            return unexpected(errc::invalid_argument,
                              "the host name has " + describe_char(c) + " at " + position(i) +
                                  "; write an internationalised name in its xn-- (punycode) form");
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_'))
            return unexpected(errc::invalid_argument, "the host name " + quote(host) + " has " + describe_char(c) +
                                                          " at " + position(i) +
                                                          "; only letters, digits, '-', '_' and '.' are allowed");
        out += ascii_lower(c);
    }
    return {};
}

inline bool is_path_char(char c) noexcept {
    if (is_unreserved(c)) return true;
    switch (c) {
        // sub-delims, ':', '@', '/', '?' and '%' (checked separately)
        case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+':
        case ',': case ';': case '=': case ':': case '@': case '/': case '?': case '%':
            return true;
        default:
            return false;
    }
}

inline std::uint16_t default_port(std::string_view scheme) noexcept { return scheme == "http" ? 80 : 443; }

inline std::string bracketed(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// Shared by the endpoint-name and served-model checks.
inline result<void> check_name(std::string_view what, std::string_view name) {
    if (name.empty())
        return unexpected(errc::invalid_argument,
                          "the " + std::string(what) + " is empty; it needs 1 to 63 letters, digits, '-' or '_'");
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_'))
            return unexpected(errc::invalid_argument,
                              "the " + std::string(what) + " " + quote(name) + " has " + describe_char(c) + " at " +
                                  position(i) + "; only letters, digits, '-' and '_' are allowed");
    }
    if (name.size() > 63)
        return unexpected(errc::invalid_argument, "the " + std::string(what) + " " + quote(name) + " is " +
                                                      std::to_string(name.size()) +
                                                      " characters long; at most 63 are allowed");
    return {};
}

inline result<void> check_workspace_id(std::string_view id) {
    if (id.empty()) return unexpected(errc::invalid_argument, "the workspace id is empty; it is a number");
    if (id.size() > 19)
        return unexpected(errc::invalid_argument, "the workspace id " + quote(id) + " is too long for a number");
    for (std::size_t i = 0; i < id.size(); ++i)
        if (!is_digit(id[i]))
            return unexpected(errc::invalid_argument, "the workspace id " + quote(id) + " has " +
                                                          describe_char(id[i]) + " at " + position(i) +
                                                          "; a workspace id is a number");
    return {};
}

inline error with_prefix(error e, std::string_view prefix) {
    e.message.insert(0, std::string(prefix));
    return e;
}

inline std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t start = 1;  // skip the leading '/'
    while (true) {
        const std::size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) {
            out.push_back(path.substr(start));
            return out;
        }
        out.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
}

constexpr std::string_view route_optimized_shape =
    "https://<endpoint-id>.<...>/<workspace-id>/serving-endpoints/<endpoint-name>"
    "[/served-models/<served-model>]/invocations";

}  // namespace urls
}  // namespace detail

DBSERVE_END_NAMESPACE
