// Where a request goes: the core's parsed URL in Asio's terms, the proxy chosen for it
// (options or the usual environment variables, NO_PROXY honoured), and the address a
// resolve override maps it to. Pure functions without Boost, so they cost nothing to
// compile and test.
#pragma once

#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport_options.hpp>
#include <dbserve/protocol/url.hpp>

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

// The core's reading of the request URL (dbserve::parse_url), in the terms Asio needs:
// the host to resolve, the port to connect to, the origin-form target and the name TLS
// sends as SNI. The URL is never parsed anywhere else, so the token check, the
// connection and the Host header can never disagree about the host.
struct request_target {
    bool tls = true;
    std::string host;  // bare, lower case: an IPv6 literal has no brackets
    std::uint16_t port = 443;
    std::string path;         // origin-form: starts with '/', keeps the query
    std::string host_header;  // "host", "host:port" or "[v6]:port", as parsed_url::authority()

    std::string host_and_port() const { return dbserve::detail::urls::bracketed(host) + ':' + std::to_string(port); }
    // RFC 6066: SNI carries host names only, never an address.
    bool sends_server_name() const noexcept { return !dbserve::detail::urls::is_ip_literal(host); }
};

inline request_target to_request_target(parsed_url url) {
    request_target out;
    out.tls = url.scheme == "https";
    out.port = url.port;
    out.host_header = url.authority();
    out.host = std::move(url.host);
    out.path = std::move(url.path);
    return out;
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
    using dbserve::detail::iequals;
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
        if (iequals(host, entry)) return true;
        if (host.size() > entry.size() && iequals(host.substr(host.size() - entry.size()), entry) &&
            host[host.size() - entry.size() - 1] == '.')
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
    using dbserve::detail::urls::hex_value;
    using dbserve::detail::urls::is_hex;
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// "http://[user:password@]host[:port][/]" (the scheme may be left out, as curl allows).
// The host and port are read by the core's URL parser; only the user-info, which that
// parser refuses in any URL a request goes to, is taken off here.
inline result<proxy_target> parse_proxy_url(std::string_view url) {
    std::string_view rest = url;
    const auto scheme_end = url.find("://");
    if (scheme_end != std::string_view::npos) {
        const std::string_view scheme = url.substr(0, scheme_end);
        if (!dbserve::detail::iequals(scheme, "http"))
            return unexpected(errc::configuration,
                              "proxy scheme " + dbserve::detail::urls::quote(scheme, 20) +
                                  " is not supported: use an http:// proxy (HTTP CONNECT), or set "
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
    auto parsed = dbserve::parse_url("http://" + std::string(rest));
    if (!parsed)
        return unexpected(errc::configuration,
                          "the proxy URL has a malformed host or port (expected http://host:port): " +
                              std::move(parsed).error().message);
    out.host = std::move(parsed->host);
    // Without a port of its own a proxy listens on 1080, as curl assumes.
    const auto close = rest.find(']');
    const bool has_port = rest.find(':', close == std::string_view::npos ? 0 : close) != std::string_view::npos;
    if (has_port) out.port = parsed->port;
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
