// URLs: the workspace host, the token and discovery URLs, and the route optimized
// invocations URL (build it, take it apart). Pure string work: no I/O, no allocation
// beyond the strings returned. The parser is deliberately strict (RFC 3986 characters
// only, no user-info, no fragment, no backslash) so that no two HTTP stacks can
// disagree about which host a URL names.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/detail/url_syntax.hpp>
#include <dbserve/protocol/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

struct parsed_url {
    std::string scheme;  // "https" or "http", lower case
    // Lower case. An IPv6 literal is kept without its brackets ("::1"), ready for a
    // resolver; origin() and authority() put the brackets back.
    std::string host;
    std::uint16_t port = 443;
    std::string path;  // starts with '/', includes "?query" if any
    // "https://host" or "https://host:port" (the port only when not the scheme's default)
    std::string origin() const;
    // "host" or "host:port" as a Host header carries it ("[::1]:8443" for IPv6).
    std::string authority() const;
};

// An absolute http:// or https:// URL. Refuses user-info, fragments, backslashes,
// whitespace, control and non-ASCII characters, malformed percent escapes and ports.
result<parsed_url> parse_url(std::string_view url);

// localhost (also "localhost."), 127.0.0.0/8, ::1 (also written "[::1]", "[0::1]" or as
// ::ffff:127.x.y.z). A name is compared whole: "localhost.example.com" is not loopback.
bool is_loopback_host(std::string_view host) noexcept;

// Whether a request to this URL may carry a credential (an Authorization header): over
// https:// anywhere, over plain http:// to a loopback host only. Every transport asks this.
bool may_carry_credentials(const parsed_url& url) noexcept;

// "adb-1.2.azuredatabricks.net/" -> "https://adb-1.2.azuredatabricks.net": adds https://
// when there is no scheme, drops a trailing '/' and the default port, lower-cases the
// host. Refuses user-info, fragments, queries, paths other than "/", whitespace and
// control characters.
result<std::string> normalize_workspace_host(std::string_view configured);

// Databricks endpoint names: letters, digits, '-' and '_', 1 to 63 characters. The
// error names the offending character and its position.
result<void> validate_endpoint_name(std::string_view name);

// Percent-encodes everything but RFC 3986 unreserved characters; "." and ".." come out
// as "%2E" and "%2E%2E" so a segment can never climb the path.
std::string percent_encode_path_segment(std::string_view segment);

// normalized_host + "/oidc/v1/token"
std::string token_url(std::string_view normalized_host);

// normalized_host + "/api/2.0/serving-endpoints/" + name; refuses an invalid name.
result<std::string> serving_endpoint_url(std::string_view normalized_host, std::string_view endpoint_name);

enum class cloud { azure, aws, gcp, unknown };

constexpr std::string_view to_string(cloud c) noexcept {
    switch (c) {
        case cloud::azure: return "azure";
        case cloud::aws: return "aws";
        case cloud::gcp: return "gcp";
        case cloud::unknown: return "unknown";
    }
    return "unknown";
}

// Where a cloud's route optimized endpoints have their hosts, and where its workspaces do
// (empty for cloud::unknown).
constexpr std::string_view serving_domain(cloud c) noexcept {
    switch (c) {
        case cloud::azure: return ".serving.azuredatabricks.net";
        case cloud::aws: return ".serving.cloud.databricks.com";
        case cloud::gcp: return ".serving.gcp.databricks.com";
        case cloud::unknown: break;
    }
    return {};
}
constexpr std::string_view workspace_domain(cloud c) noexcept {
    switch (c) {
        case cloud::azure: return ".azuredatabricks.net";
        case cloud::aws: return ".cloud.databricks.com";
        case cloud::gcp: return ".gcp.databricks.com";
        case cloud::unknown: break;
    }
    return {};
}

// The cloud whose serving domain (or workspace domain) a lower-case host name is under.
constexpr cloud serving_cloud_of(std::string_view host) noexcept {
    for (cloud c : {cloud::azure, cloud::aws, cloud::gcp}) {
        const std::string_view domain = serving_domain(c);
        if (host.size() > domain.size() && host.substr(host.size() - domain.size()) == domain) return c;
    }
    return cloud::unknown;
}
constexpr cloud workspace_cloud_of(std::string_view host) noexcept {
    for (cloud c : {cloud::azure, cloud::aws, cloud::gcp}) {
        const std::string_view domain = workspace_domain(c);
        if (host.size() > domain.size() && host.substr(host.size() - domain.size()) == domain) return c;
    }
    return cloud::unknown;
}

struct route_optimized_url {
    std::string url;  // full invocations URL, normalised (lower-case host, no default port)
    std::string host;
    std::uint16_t port = 443;
    std::string endpoint_id;  // first label of the host: what authorization_details names
    std::string workspace_id;
    std::string endpoint_name;
    std::string served_model;  // empty = none
    cloud provider = cloud::unknown;
};

// https://<id>.<shard>.serving.azuredatabricks.net/<ws>/serving-endpoints/<name>[/served-models/<m>]/invocations
// and the AWS (<id>.serving.cloud.databricks.com) and GCP (<id>.serving.gcp.databricks.com)
// forms; any other https host with that path shape is accepted with provider unknown
// (emulators, private links). http:// is accepted for loopback hosts only.
result<route_optimized_url> parse_route_optimized_url(std::string_view url);

// data_plane_host: "https://id.shard.serving.azuredatabricks.net" (scheme optional).
result<std::string> build_route_optimized_url(std::string_view data_plane_host, std::string_view workspace_id,
                                              std::string_view endpoint_name,
                                              std::string_view served_model = {});

inline std::string parsed_url::authority() const {
    std::string out = detail::urls::bracketed(host);
    if (port != detail::urls::default_port(scheme)) {
        out += ':';
        out += std::to_string(port);
    }
    return out;
}

inline std::string parsed_url::origin() const { return scheme + "://" + authority(); }

namespace detail {
namespace urls {

// Where "://" ends a valid scheme (a letter, then letters, digits, '+', '-', '.'), else npos.
inline std::size_t scheme_end(std::string_view text) noexcept {
    const std::size_t end = text.find("://");
    if (end == std::string_view::npos || end == 0 || !is_alpha(text[0])) return std::string_view::npos;
    for (std::size_t i = 1; i < end; ++i)
        if (!(is_alpha(text[i]) || is_digit(text[i]) || text[i] == '+' || text[i] == '-' || text[i] == '.'))
            return std::string_view::npos;
    return end;
}

// parse_url, reporting positions as if the first `added` characters (a scheme the
// caller supplied) were not there.
inline result<parsed_url> parse_absolute(std::string_view url, std::size_t added) {
    auto fail = [](std::string reason) { return unexpected(errc::invalid_argument, "invalid URL: " + reason); };
    auto at = [added](std::size_t index) { return position(index >= added ? index - added : index); };
    if (url.empty()) return fail("it is empty; expected https://host/path");
    for (std::size_t i = 0; i < url.size(); ++i)
        if (is_space_or_control(url[i]))
            return fail("it contains " + describe_char(url[i]) + " at " + at(i) + "; remove it");
    const std::size_t scheme_length = scheme_end(url);
    if (scheme_length == std::string_view::npos)
        return fail("it is not absolute; it must start with https://");
    parsed_url out;
    const std::string_view scheme = url.substr(0, scheme_length);
    if (iequals(scheme, "https")) out.scheme = "https";
    else if (iequals(scheme, "http")) out.scheme = "http";
    else return fail("the scheme " + quote(scheme) + " is not supported; use https://");
    out.port = default_port(out.scheme);

    const std::size_t authority_start = scheme_length + 3;
    std::size_t authority_end = url.find_first_of("/?#", authority_start);
    if (authority_end == std::string_view::npos) authority_end = url.size();
    const std::string_view authority = url.substr(authority_start, authority_end - authority_start);
    if (authority.find('@') != std::string_view::npos)
        return fail("it contains user-info ('user@' before the host); credentials never go in a URL, remove it");
    const std::size_t hash = url.find('#');
    if (hash != std::string_view::npos)
        return fail("it has a fragment ('#' at " + at(hash) + "); fragments are never sent, remove it");

    std::string_view host_text;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority[0] == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return fail("the IPv6 address has no closing ']'");
        host_text = authority.substr(1, close - 1);
        std::array<std::uint8_t, 16> bytes{};
        if (!parse_ipv6(host_text, bytes))
            return fail(quote("[" + std::string(host_text) + "]") +
                        " is not a valid IPv6 address (zone ids are not supported)");
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') return fail("unexpected " + describe_char(rest[0]) + " after the IPv6 address");
            has_port = true;
            port_text = rest.substr(1);
        }
        out.host.reserve(host_text.size());
        for (char c : host_text) out.host += ascii_lower(c);
    } else {
        const std::size_t colon = authority.find(':');
        host_text = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        auto ok = check_host_name(host_text, out.host);
        if (!ok) return fail(std::move(ok).error().message);
    }
    if (has_port) {
        if (port_text.empty()) return fail("the port after ':' is empty");
        unsigned long value = 0;
        for (char c : port_text) {
            if (!is_digit(c)) return fail("the port " + quote(port_text) + " is not a number");
            value = value * 10 + static_cast<unsigned long>(c - '0');
            if (value > 65535) return fail("the port " + quote(port_text) + " is over 65535");
        }
        if (value == 0) return fail("the port is 0");
        out.port = static_cast<std::uint16_t>(value);
    }

    const std::string_view path = url.substr(authority_end);
    for (std::size_t i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (!is_path_char(c))
            return fail("the path has " + describe_char(c) + " at " + at(authority_end + i) +
                        "; percent-encode it");
        if (c == '%' && (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])))
            return fail("the '%' at " + at(authority_end + i) + " is not followed by two hex digits");
    }
    if (path.empty() || path[0] == '?') out.path = "/";
    out.path += path;
    return out;
}

}  // namespace urls
}  // namespace detail

inline result<parsed_url> parse_url(std::string_view url) { return detail::urls::parse_absolute(url, 0); }

inline bool is_loopback_host(std::string_view host) noexcept {
    using namespace detail::urls;
    if (detail::iequals(host, "localhost") || detail::iequals(host, "localhost.")) return true;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::array<std::uint8_t, 4> v4{};
    if (parse_ipv4(host, v4)) return v4[0] == 127;
    std::array<std::uint8_t, 16> v6{};
    if (!parse_ipv6(host, v6)) return false;
    bool zero_prefix = true;
    for (std::size_t i = 0; i < 10; ++i) zero_prefix = zero_prefix && v6[i] == 0;
    if (!zero_prefix) return false;
    if (v6[10] == 0xff && v6[11] == 0xff) return v6[12] == 127;  // ::ffff:127.x.y.z
    return v6[10] == 0 && v6[11] == 0 && v6[12] == 0 && v6[13] == 0 && v6[14] == 0 && v6[15] == 1;
}

inline bool may_carry_credentials(const parsed_url& url) noexcept {
    return url.scheme == "https" || is_loopback_host(url.host);
}

inline result<std::string> normalize_workspace_host(std::string_view configured) {
    using namespace detail::urls;
    if (configured.empty())
        return unexpected(errc::configuration,
                          "no workspace host is configured; set DATABRICKS_HOST (e.g. "
                          "https://adb-1234567890123456.7.azuredatabricks.net)");
    // User-info may hold a password: never echo such a value.
    const bool has_user_info = configured.find('@') != std::string_view::npos;
    const std::string shown = has_user_info ? std::string("(not shown: it contains '@')") : quote(configured);
    const std::string prefix = "invalid workspace host " + shown + ": ";
    for (std::size_t i = 0; i < configured.size(); ++i)
        if (is_space_or_control(configured[i]))
            return unexpected(errc::invalid_argument,
                              prefix + "it contains " + describe_char(configured[i]) + " at " + position(i) +
                                  "; remove it");
    std::string with_scheme;
    if (scheme_end(configured) == std::string_view::npos) {
        const std::size_t colon = configured.find(':');
        if (colon != std::string_view::npos && (detail::iequals(configured.substr(0, colon), "https") ||
                                                detail::iequals(configured.substr(0, colon), "http")))
            return unexpected(errc::invalid_argument, prefix + "the scheme must be followed by '://'");
        with_scheme = "https://";
    }
    const std::size_t added = with_scheme.size();
    with_scheme += configured;
    auto parsed = parse_absolute(with_scheme, added);
    if (!parsed) {
        auto e = std::move(parsed).error();
        const std::string_view reason = std::string_view(e.message).substr(std::string_view("invalid URL: ").size());
        e.message = prefix + std::string(reason);
        return e;
    }
    if (parsed->path.find('?') != std::string::npos)
        return unexpected(errc::invalid_argument,
                          prefix + "it has a query ('?...'); give only the scheme and host name (the workspace id "
                                   "goes in DATABRICKS_WORKSPACE_ID)");
    if (parsed->path != "/")
        return unexpected(errc::invalid_argument,
                          prefix + "it has the path " + quote(parsed->path) +
                              "; give only the scheme and host name, e.g. https://" + bracketed(parsed->host));
    return parsed->origin();
}

inline result<void> validate_endpoint_name(std::string_view name) {
    return detail::urls::check_name("endpoint name", name);
}

inline std::string percent_encode_path_segment(std::string_view segment) {
    static constexpr char digits[] = "0123456789ABCDEF";
    if (segment == ".") return "%2E";
    if (segment == "..") return "%2E%2E";
    std::string out;
    out.reserve(segment.size());
    for (char c : segment) {
        if (detail::urls::is_unreserved(c)) {
            out += c;
        } else {
            const auto u = static_cast<unsigned char>(c);
            out += '%';
            out += digits[u >> 4];
            out += digits[u & 15];
        }
    }
    return out;
}

inline std::string token_url(std::string_view normalized_host) {
    while (!normalized_host.empty() && normalized_host.back() == '/') normalized_host.remove_suffix(1);
    std::string out(normalized_host);
    out += "/oidc/v1/token";
    return out;
}

inline result<std::string> serving_endpoint_url(std::string_view normalized_host, std::string_view endpoint_name) {
    auto ok = validate_endpoint_name(endpoint_name);
    if (!ok) return std::move(ok).error();
    while (!normalized_host.empty() && normalized_host.back() == '/') normalized_host.remove_suffix(1);
    std::string out(normalized_host);
    out += "/api/2.0/serving-endpoints/";
    out += percent_encode_path_segment(endpoint_name);
    return out;
}

inline result<route_optimized_url> parse_route_optimized_url(std::string_view url) {
    using namespace detail::urls;
    auto parsed = parse_url(url);
    if (!parsed) return with_prefix(std::move(parsed).error(), "route optimized endpoint URL: ");
    auto fail = [](std::string reason) {
        return unexpected(errc::invalid_argument, "invalid route optimized endpoint URL: " + reason);
    };
    if (parsed->scheme != "https" && !is_loopback_host(parsed->host))
        return fail("it must use https:// (plain http is accepted for loopback hosts only)");
    if (is_ip_literal(parsed->host))
        return fail("the host " + quote(parsed->host) +
                    " is an IP address, but the endpoint id is the first label of the host name; use the host "
                    "name (map it to an address with a resolve override if needed)");
    const std::string& path = parsed->path;
    if (path.find('?') != std::string::npos)
        return fail("it has a query ('?...'); expected " + std::string(route_optimized_shape));
    const auto segments = split_path(path);
    if (segments.size() == 3 && segments[0] == "serving-endpoints" && segments[2] == "invocations")
        return fail("this is the endpoint's URL on the workspace host, not its route optimized URL; a route "
                    "optimized endpoint is queried only on its dedicated host: use the endpoint_url reported by "
                    "GET /api/2.0/serving-endpoints/" + std::string(segments[1]));
    const bool plain = segments.size() == 4;
    const bool served = segments.size() == 6 && segments[3] == "served-models";
    if (!(plain || served) || segments[1] != "serving-endpoints" || segments.back() != "invocations")
        return fail("the path " + quote(path) + " does not have the expected shape " +
                    std::string(route_optimized_shape));
    route_optimized_url out;
    if (auto ok = check_workspace_id(segments[0]); !ok) return fail(ok.error().message);
    if (auto ok = validate_endpoint_name(segments[2]); !ok) return fail(ok.error().message);
    if (served) {
        if (auto ok = check_name("served model name", segments[4]); !ok) return fail(ok.error().message);
        out.served_model = std::string(segments[4]);
    }
    out.workspace_id = std::string(segments[0]);
    out.endpoint_name = std::string(segments[2]);
    const std::string& host = parsed->host;
    out.endpoint_id = host.substr(0, host.find('.'));
    out.provider = serving_cloud_of(host);
    out.url = parsed->origin() + path;
    out.host = host;
    out.port = parsed->port;
    return out;
}

inline result<std::string> build_route_optimized_url(std::string_view data_plane_host, std::string_view workspace_id,
                                                     std::string_view endpoint_name, std::string_view served_model) {
    using namespace detail::urls;
    auto fail = [](std::string reason) {
        return unexpected(errc::invalid_argument, "cannot build the route optimized endpoint URL: " + reason);
    };
    auto host = normalize_workspace_host(data_plane_host);
    if (!host) {
        auto e = std::move(host).error();
        constexpr std::string_view from = "invalid workspace host";
        if (e.message.compare(0, from.size(), from) == 0) e.message.replace(0, from.size(), "invalid data plane host");
        if (e.code == errc::configuration) e.message = "the data plane host is empty";
        return fail(e.message);
    }
    if (auto ok = check_workspace_id(workspace_id); !ok) return fail(ok.error().message);
    if (auto ok = validate_endpoint_name(endpoint_name); !ok) return fail(ok.error().message);
    if (!served_model.empty())
        if (auto ok = check_name("served model name", served_model); !ok) return fail(ok.error().message);
    std::string url = std::move(*host);
    url += '/';
    url += workspace_id;
    url += "/serving-endpoints/";
    url += endpoint_name;
    if (!served_model.empty()) {
        url += "/served-models/";
        url += served_model;
    }
    url += "/invocations";
    // Same rules as parsing (https unless loopback, a host name rather than an address).
    auto check = parse_route_optimized_url(url);
    if (!check) return fail(check.error().message.substr(check.error().message.find(": ") + 2));
    return url;
}

DBSERVE_END_NAMESPACE
