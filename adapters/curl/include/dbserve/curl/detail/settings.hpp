// transport_options turned into what libcurl wants, once per transport: the --resolve
// list, the proxy choice, and a configuration error when the options cannot work.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/curl/detail/handles.hpp>
#include <dbserve/error.hpp>
#include <dbserve/transport_options.hpp>

#include <curl/curl.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>

DBSERVE_BEGIN_NAMESPACE
namespace curl {
namespace detail {

struct settings {
    transport_options options;
    slist_handle resolve;
    // Set when the options are unusable; every request then fails with it.
    std::optional<dbserve::error> configuration_error;

    explicit settings(transport_options given) : options(std::move(given)) {
        if (!global_init()) {
            configuration_error = dbserve::error(errc::configuration, "curl_global_init failed");
            return;
        }
        for (const auto& entry : options.resolve) {
            if (entry.host.empty() || entry.address.empty() || entry.port == 0) {
                configuration_error = dbserve::error(
                    errc::configuration,
                    "a resolve override needs a host, a port and an address (got host '" + entry.host +
                        "', address '" + entry.address + "')");
                return;
            }
            // An IPv6 address goes in brackets, as in curl's --resolve.
            const bool ipv6 = entry.address.find(':') != std::string::npos && entry.address.front() != '[';
            const std::string line = entry.host + ':' + std::to_string(entry.port) + ':' +
                                     (ipv6 ? '[' + entry.address + ']' : entry.address);
            if (!append(resolve, line.c_str())) {
                configuration_error = dbserve::error(errc::configuration, "out of memory building the resolve list");
                return;
            }
        }
        // libcurl reads a zero timeout as "none": a silent peer would hold a request forever.
        if (options.request_timeout.count() <= 0 || options.connect_timeout.count() <= 0)
            configuration_error = dbserve::error(
                errc::configuration,
                "transport_options::request_timeout and connect_timeout must be positive; every request needs a deadline");
        if (options.max_response_bytes == 0)
            configuration_error = dbserve::error(
                errc::configuration, "transport_options::max_response_bytes is 0: no response could be received");
        if (options.tls.insecure_disable_verification_for_testing_only) warn_insecure_once();
    }

    // Applies the transport-wide options to an easy handle that was just reset.
    void apply(CURL* easy, CURLSH* share) const noexcept {
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_USERAGENT, options.user_agent.c_str());
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
        curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_response_bytes));
        curl_easy_setopt(easy, CURLOPT_MAXCONNECTS, static_cast<long>(options.max_connections_per_host));
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                         options.enable_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
        if (share) curl_easy_setopt(easy, CURLOPT_SHARE, share);
        if (resolve) curl_easy_setopt(easy, CURLOPT_RESOLVE, resolve.get());
        apply_tls(easy);
        apply_proxy(easy);
    }

private:
    void apply_tls(CURL* easy) const noexcept {
        const tls_options& tls = options.tls;
        if (tls.insecure_disable_verification_for_testing_only) {
            curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
            return;
        }
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
        if (tls.ca_file.empty() && tls.ca_directory.empty() && tls.ca_pem.empty()) return;  // system store
        // An explicit trust setting replaces the system store entirely: clear libcurl's
        // built-in defaults so a certificate is never accepted because of them.
        curl_easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.empty() ? nullptr : tls.ca_file.c_str());
        curl_easy_setopt(easy, CURLOPT_CAPATH, tls.ca_directory.empty() ? nullptr : tls.ca_directory.c_str());
        if (!tls.ca_pem.empty()) {
            curl_blob blob{const_cast<char*>(tls.ca_pem.data()), tls.ca_pem.size(), CURL_BLOB_NOCOPY};
            curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
        }
    }

    void apply_proxy(CURL* easy) const noexcept {
        const proxy_options& proxy = options.proxy;
        // With no CURLOPT_PROXY, libcurl reads https_proxy / HTTPS_PROXY / all_proxy and
        // no_proxy / NO_PROXY itself; an empty string turns every proxy off.
        if (!proxy.url.empty())
            curl_easy_setopt(easy, CURLOPT_PROXY, proxy.url.c_str());
        else if (!proxy.from_environment)
            curl_easy_setopt(easy, CURLOPT_PROXY, "");
        if (!proxy.no_proxy.empty() || !proxy.from_environment)
            curl_easy_setopt(easy, CURLOPT_NOPROXY, proxy.no_proxy.c_str());
        // The proxy's CONNECT reply is not the server's response.
        curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    }

    static void warn_insecure_once() noexcept {
        static std::atomic<bool> warned{false};
        if (!warned.exchange(true))
            std::fputs(
                "dbserve: WARNING: TLS certificate verification is DISABLED "
                "(tls_options::insecure_disable_verification_for_testing_only). Any server can "
                "impersonate the service and read tokens and data. Never use this outside tests.\n",
                stderr);
    }
};

}  // namespace detail
}  // namespace curl
DBSERVE_END_NAMESPACE
