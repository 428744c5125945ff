// Where a request goes: the URL taken apart, the proxy chosen for it (options or the
// usual environment variables, NO_PROXY honoured), and the address a resolve override
// maps it to. Pure functions without Boost, so they cost nothing to compile and test.
#pragma once

#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport_options.hpp>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace beast {
namespace detail {

struct request_target {
    bool tls = true;
    std::string host;  // bare: no brackets around an IPv6 literal
    std::uint16_t port = 443;
    std::string path;  // origin-form: starts with '/', keeps the query

    bool default_port() const noexcept { return port == (tls ? 443 : 80); }
    // host as it appears in a URL authority: [v6] when it holds a ':'.
    std::string authority_host() const {
        return host.find(':') != std::string::npos ? '[' + host + ']' : host;
    }
    std::string host_header() const {
        return default_port() ? authority_host() : authority_host() + ':' + std::to_string(port);
    }
    std::string host_and_port() const { return authority_host() + ':' + std::to_string(port); }
};

inline std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = dbserve::detail::ascii_lower(c);
    return out;
}

inline std::optional<std::uint16_t> parse_port(std::string_view text) noexcept {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// Splits "host", "host:port", "[v6]" or "[v6]:port"; false when malformed.
inline bool split_authority(std::string_view authority, std::string& host, std::uint16_t& port) {
    std::string_view host_part = authority;
    std::string_view port_part;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return false;
        host_part = authority.substr(1, close - 1);
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port_part = rest.substr(1);
            if (port_part.empty()) return false;
        }
    } else {
        const auto colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            host_part = authority.substr(0, colon);
            port_part = authority.substr(colon + 1);
            if (host_part.find(':') != std::string_view::npos) return false;
            if (port_part.empty()) return false;
        }
    }
    if (host_part.empty()) return false;
    for (char c : host_part)
        if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '?' || c == '#' || c == '@' ||
            c == '\\' || static_cast<unsigned char>(c) >= 0x7f)
            return false;
    if (!port_part.empty()) {
        auto p = parse_port(port_part);
        if (!p) return false;
        port = *p;
    }
    host = lower_ascii(host_part);
    return true;
}

inline result<request_target> parse_request_target(std::string_view url) {
    request_target out;
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
        return unexpected(errc::invalid_argument,
                          "the request URL '" + std::string(url) + "' is not absolute: it needs https://");
    const std::string scheme = lower_ascii(url.substr(0, scheme_end));
    if (scheme == "https") {
        out.tls = true;
        out.port = 443;
    } else if (scheme == "http") {
        out.tls = false;
        out.port = 80;
    } else {
        return unexpected(errc::invalid_argument,
                          "the request URL scheme '" + scheme + "' is not supported: use https://");
    }
    std::string_view rest = url.substr(scheme_end + 3);
    const auto path_start = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, path_start);
    std::string_view path = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
    if (authority.find('@') != std::string_view::npos)
        return unexpected(errc::invalid_argument,
                          "the request URL carries user information before the host; remove it");
    if (!split_authority(authority, out.host, out.port))
        return unexpected(errc::invalid_argument, "the request URL '" + std::string(url) + "' has a malformed host or port");
    const auto fragment = path.find('#');
    if (fragment != std::string_view::npos) path = path.substr(0, fragment);
    for (char c : path)
        if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) == 0x7f)
            return unexpected(errc::invalid_argument,
                              "the request URL path holds a space or a control character; percent-encode it");
    if (path.empty()) out.path = "/";
    else if (path.front() == '?') out.path = "/" + std::string(path);
    else out.path = std::string(path);
    return out;
}

// localhost, 127.0.0.0/8 and ::1: the only hosts plain HTTP may carry a token to.
inline bool is_loopback_name(std::string_view host) noexcept {
    if (dbserve::detail::iequals(host, "localhost")) return true;
    if (host == "::1" || host == "[::1]" || host == "0:0:0:0:0:0:0:1") return true;
    if (host.size() < 4 || host.substr(0, 4) != "127.") return false;
    int dots = 0;
    for (char c : host) {
        if (c == '.') ++dots;
        else if (c < '0' || c > '9') return false;
    }
    return dots == 3;
}

// The address a resolve override gives host:port, or nullptr.
inline const resolve_override* find_override(const std::vector<resolve_override>& list, std::string_view host,
                                             std::uint16_t port) noexcept {
    for (const auto& entry : list)
        if (entry.port == port && dbserve::detail::iequals(entry.host, host)) return &entry;
    return nullptr;
}

// NO_PROXY semantics as curl has them: "*" matches everything; otherwise each
// comma-separated entry matches that host and its subdomains (a leading dot is optional).
inline bool no_proxy_matches(std::string_view list, std::string_view host) {
    const std::string h = lower_ascii(host);
    std::size_t pos = 0;
    while (pos <= list.size()) {
        auto comma = list.find(',', pos);
        if (comma == std::string_view::npos) comma = list.size();
        std::string_view entry = list.substr(pos, comma - pos);
        pos = comma + 1;
        while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.remove_prefix(1);
        while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
        if (entry == "*") return true;
        if (!entry.empty() && entry.front() == '[') {
            const auto close = entry.find(']');
            if (close != std::string_view::npos) entry = entry.substr(1, close - 1);
        } else if (entry.find(':') != std::string_view::npos && entry.find(':') == entry.rfind(':')) {
            entry = entry.substr(0, entry.find(':'));  // "host:port": the port is not compared
        }
        while (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
        if (entry.empty()) continue;
        const std::string e = lower_ascii(entry);
        if (h == e) return true;
        if (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 &&
            h[h.size() - e.size() - 1] == '.')
            return true;
    }
    return false;
}

struct proxy_target {
    std::string host;
    std::uint16_t port = 1080;
    std::string authorization;  // "Basic ..." when the proxy URL carried user:password
};

// Proxy-Authorization is HTTP Basic, encoded as the core encodes client credentials.
using dbserve::detail::base64_encode;

inline std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// "http://[user:password@]host[:port][/]" (the scheme may be left out, as curl allows).
inline result<proxy_target> parse_proxy_url(std::string_view url) {
    std::string_view rest = url;
    const auto scheme_end = url.find("://");
    if (scheme_end != std::string_view::npos) {
        const std::string scheme = lower_ascii(url.substr(0, scheme_end));
        if (scheme != "http")
            return unexpected(errc::configuration,
                              "proxy scheme '" + scheme +
                                  "' is not supported: use an http:// proxy (HTTP CONNECT), or set "
                                  "proxy_options::from_environment = false to ignore HTTPS_PROXY / ALL_PROXY");
        rest = url.substr(scheme_end + 3);
    }
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos) rest = rest.substr(0, slash);
    proxy_target out;
    const auto at = rest.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view user_info = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = user_info.find(':');
        const std::string user = percent_decode(user_info.substr(0, colon));
        const std::string password =
            colon == std::string_view::npos ? std::string() : percent_decode(user_info.substr(colon + 1));
        out.authorization = "Basic " + base64_encode(user + ':' + password);
    }
    if (!split_authority(rest, out.host, out.port))
        return unexpected(errc::configuration, "the proxy URL has a malformed host or port (expected http://host:port)");
    return out;
}

using getenv_function = std::function<const char*(const char*)>;

inline const char* first_env(const getenv_function& getenv_fn, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        const char* v = getenv_fn(name);
        if (v && *v) return v;
    }
    return nullptr;
}

// The proxy an https request to `target` goes through, if any. Plain http is only used
// for loopback and never proxied.
inline result<std::optional<proxy_target>> select_proxy(const proxy_options& options, const request_target& target,
                                                        const getenv_function& getenv_fn) {
    if (!target.tls) return std::optional<proxy_target>();
    std::string url = options.url;
    std::string no_proxy = options.no_proxy;
    if (options.from_environment) {
        if (url.empty())
            if (const char* v = first_env(getenv_fn, {"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"})) url = v;
        if (no_proxy.empty())
            if (const char* v = first_env(getenv_fn, {"NO_PROXY", "no_proxy"})) no_proxy = v;
    }
    if (url.empty() || no_proxy_matches(no_proxy, target.host)) return std::optional<proxy_target>();
    auto parsed = parse_proxy_url(url);
    if (!parsed) return std::move(parsed).error();
    return std::optional<proxy_target>(std::move(*parsed));
}

inline result<std::optional<proxy_target>> select_proxy(const proxy_options& options, const request_target& target) {
    return select_proxy(options, target, [](const char* name) { return std::getenv(name); });
}

}  // namespace detail
}  // namespace beast
DBSERVE_END_NAMESPACE
