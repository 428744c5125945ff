// Options every bundled transport understands (libcurl, Boost.Beast): TLS trust,
// timeouts, connection reuse, address overrides, proxies, size caps. Plain data, so a
// program can build them once and hand them to whichever adapter it picks.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

struct tls_options {
    // Trust: the system store unless one of these is set (they may be combined).
    std::string ca_file;       // PEM file of trusted CAs
    std::string ca_directory;  // a directory prepared with `openssl rehash`
    std::string ca_pem;        // PEM text of trusted CAs, held in memory
    // Verification is always on. Turning it off needs this loudly named flag, and every
    // transport prints a warning to stderr the first time it is used.
    bool insecure_disable_verification_for_testing_only = false;
};

// Like curl's --resolve: connect to `address` whenever `host`:`port` is asked for, while
// SNI and certificate checks still use `host`.
struct resolve_override {
    std::string host;
    std::uint16_t port = 443;
    std::string address;
};

struct proxy_options {
    // An http:// proxy URL; empty means none unless from_environment finds one.
    std::string url;
    // Comma-separated host suffixes (or "*") that bypass the proxy, as NO_PROXY.
    std::string no_proxy;
    // Read HTTPS_PROXY / https_proxy / ALL_PROXY and NO_PROXY / no_proxy when url is empty.
    bool from_environment = true;
};

struct transport_options {
    tls_options tls;
    std::chrono::milliseconds connect_timeout{10'000};
    // Default whole-request deadline when send_options::timeout is zero.
    std::chrono::milliseconds request_timeout{300'000};
    std::vector<resolve_override> resolve;
    proxy_options proxy;
    std::size_t max_response_bytes = 64u * 1024u * 1024u;
    // At most this many connections to one host (host and port) at a time, in use or
    // idle; a request that finds them all busy waits for one.
    std::size_t max_connections_per_host = 8;
    // A pooled connection idle longer than this is closed instead of reused. Load
    // balancers drop idle connections silently (AWS ALB after 60 s by default, Azure's
    // after 4 minutes), and a POST written to such a connection ends with its outcome
    // unknown. Keep it below the shortest idle timeout on the way; zero never reuses a
    // connection.
    std::chrono::seconds max_connection_idle{50};
    bool enable_http2 = true;
    std::string user_agent = "dbserve/0.1";
};

namespace detail {

// A dotted quad, each part 0-255 in plain decimal: no "0x7f.1" or "127.1" shorthand and no
// leading zeros, which some resolvers read as octal and others as decimal.
inline bool is_ipv4_literal(std::string_view text) noexcept {
    int parts = 0;
    std::size_t i = 0;
    while (true) {
        const std::size_t start = i;
        unsigned value = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3)
            value = value * 10 + static_cast<unsigned>(text[i++] - '0');
        const std::size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return false;
        if (++parts == 4) return i == text.size();
        if (i >= text.size() || text[i] != '.') return false;
        ++i;
    }
}

// An IPv6 address (RFC 4291 text form, an IPv4 tail allowed), without brackets or zone.
inline bool is_ipv6_literal(std::string_view text) noexcept {
    if (text.size() < 2) return false;
    int groups = 0;
    bool compressed = false;
    std::size_t i = 0;
    if (text.compare(0, 2, "::") == 0) {
        compressed = true;
        i = 2;
        if (i == text.size()) return true;
    }
    while (i < text.size()) {
        const std::size_t start = i;
        while (i < text.size() && i - start < 5 &&
               ((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f') ||
                (text[i] >= 'A' && text[i] <= 'F')))
            ++i;
        if (i < text.size() && text[i] == '.') {  // the IPv4 tail ends the address
            if (!is_ipv4_literal(text.substr(start))) return false;
            groups += 2;
            i = text.size();
            break;
        }
        if (i == start || i - start > 4) return false;
        ++groups;
        if (i == text.size()) break;
        if (text[i] != ':') return false;
        ++i;
        if (i < text.size() && text[i] == ':') {
            if (compressed) return false;
            compressed = true;
            ++i;
        } else if (i == text.size()) {
            return false;  // a trailing single ':'
        }
    }
    return compressed ? groups < 8 : groups == 8;
}

}  // namespace detail

// Checks one resolve override before anything is sent: a host, a port, and an address
// that is an IP literal (IPv4 dotted quad, or IPv6 with or without brackets). A name, a
// list of addresses or anything else would be read differently by each transport (one
// resolves it, another skips it), so every transport refuses it the same way.
inline result<void> check_resolve_override(const resolve_override& entry) {
    auto fail = [&entry](const std::string& why) {
        std::string shown;
        for (char c : entry.address) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                static const char hex[] = "0123456789abcdef";
                shown += "\\x";
                shown += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
                shown += hex[static_cast<unsigned char>(c) & 0xf];
            } else {
                shown += c;
            }
        }
        return unexpected(errc::configuration, "resolve override for '" + entry.host + ":" +
                                                   std::to_string(entry.port) + "': " + why + " (got '" + shown +
                                                   "'); give an IPv4 address such as 127.0.0.1 or an IPv6 address "
                                                   "such as [::1]");
    };
    if (entry.host.empty() || entry.port == 0 || entry.address.empty())
        return fail("it needs a host, a port and an address");
    std::string_view address = entry.address;
    if (address.front() == '[' || address.back() == ']') {
        if (address.size() < 2 || address.front() != '[' || address.back() != ']')
            return fail("the IPv6 address has an unmatched bracket");
        address = address.substr(1, address.size() - 2);
        if (!detail::is_ipv6_literal(address)) return fail("the address in brackets is not an IPv6 address");
        return {};
    }
    if (detail::is_ipv4_literal(address) || detail::is_ipv6_literal(address)) return {};
    if (address.find(',') != std::string_view::npos) return fail("only one address is allowed");
    return fail("the address is not an IP address");
}

inline result<void> check_resolve_overrides(const std::vector<resolve_override>& list) {
    for (const auto& entry : list)
        if (auto ok = check_resolve_override(entry); !ok) return ok;
    return {};
}

DBSERVE_END_NAMESPACE
