// Options every bundled transport understands (libcurl, Boost.Beast): TLS trust,
// timeouts, connection reuse, address overrides, proxies, size caps. Plain data, so a
// program can build them once and hand them to whichever adapter it picks.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
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

DBSERVE_END_NAMESPACE
