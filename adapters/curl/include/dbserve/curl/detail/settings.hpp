// transport_options turned into what libcurl wants, once per transport: the --resolve
// list, the proxy choice, and a configuration error when the options cannot work.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/curl/detail/handles.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/client/transport_options.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace curl {
namespace detail {

// The option's name as libcurl spells it, for error messages.
inline std::string option_name(CURLoption option) {
    const curl_easyoption* known = curl_easy_option_by_id(option);
    return known && known->name ? std::string("CURLOPT_") + known->name : "option " + std::to_string(option);
}

inline std::string libcurl_version() {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    return info && info->version ? info->version : "unknown";
}

// Why the installed libcurl cannot do what the adapter relies on, in words that say what
// to change. `reason`: libcurl's text for `native_code` (a CURLcode or a CURLMcode).
inline dbserve::error refused_option(const std::string& name, const char* reason, int native_code) {
    std::string message = "the installed libcurl " + libcurl_version() + " refused " + name + " (" + reason + "); ";
    if (name == "CURLOPT_HTTP_VERSION")
        message += "it was built without HTTP/2: set transport_options::enable_http2 = false or install a libcurl "
                   "with HTTP/2";
    else
        message += "dbserve::curl needs libcurl 7.80 or newer with HTTP and TLS support";
    dbserve::error e(errc::configuration, std::move(message));
    e.native_code = native_code;
    return e;
}

// Sets options on one easy handle and keeps the first one libcurl refused: an option the
// adapter relies on that this libcurl does not support fails the request loudly instead
// of silently changing what is sent.
class option_setter {
public:
    explicit option_setter(CURL* easy) noexcept : easy_(easy) {}

    template <class Value>
    option_setter& operator()(CURLoption option, Value value) noexcept {
        if (refused_ != CURLE_OK) return *this;
        const CURLcode code = curl_easy_setopt(easy_, option, value);
        if (code != CURLE_OK) {
            refused_ = code;
            option_ = option;
        }
        return *this;
    }

    bool ok() const noexcept { return refused_ == CURLE_OK; }
    dbserve::error error() const {
        return refused_option(option_name(option_), curl_easy_strerror(refused_), static_cast<int>(refused_));
    }

private:
    CURL* easy_;
    CURLcode refused_ = CURLE_OK;
    CURLoption option_ = CURLOPT_URL;
};

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
            if (auto ok = check_resolve_override(entry); !ok) {
                configuration_error = std::move(ok).error();
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
        if (!configuration_error) try_options();
    }

    // Applies the transport-wide options to an easy handle that was just reset.
    void apply(option_setter& set, CURLSH* share) const noexcept {
        set(CURLOPT_NOSIGNAL, 1L)(CURLOPT_PROTOCOLS_STR, "http,https")(CURLOPT_USERAGENT, options.user_agent.c_str());
        set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
        // libcurl refuses a negative size: "no practical cap" stays within curl_off_t.
        constexpr auto largest = static_cast<std::uint64_t>(std::numeric_limits<curl_off_t>::max());
        set(CURLOPT_MAXFILESIZE_LARGE,
            static_cast<curl_off_t>(std::min<std::uint64_t>(options.max_response_bytes, largest)));
        // A blocking handle serves one host at a time (a multi handle ignores this).
        set(CURLOPT_MAXCONNECTS, 1L);
        if (options.max_connection_idle.count() <= 0)
            set(CURLOPT_FORBID_REUSE, 1L);
        else
            set(CURLOPT_MAXAGE_CONN, static_cast<long>(options.max_connection_idle.count()));
        set(CURLOPT_HTTP_VERSION, options.enable_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
        set(CURLOPT_TCP_KEEPALIVE, 1L);
        if (share) set(CURLOPT_SHARE, share);
        if (resolve) set(CURLOPT_RESOLVE, resolve.get());
        apply_tls(set);
        apply_proxy(set);
    }

private:
    // Every option once on a scratch handle, so a libcurl that lacks one is reported when
    // the transport is made rather than as a surprise on some later request.
    void try_options() {
        easy_handle scratch(curl_easy_init());
        if (!scratch) {
            configuration_error = dbserve::error(errc::configuration, "curl_easy_init failed");
            return;
        }
        option_setter set(scratch.get());
        apply(set, nullptr);
        set(CURLOPT_PREREQFUNCTION, static_cast<curl_prereq_callback>(nullptr));
        if (!set.ok()) configuration_error = set.error();
    }

    void apply_tls(option_setter& set) const noexcept {
        const tls_options& tls = options.tls;
        if (tls.insecure_disable_verification_for_testing_only) {
            set(CURLOPT_SSL_VERIFYPEER, 0L)(CURLOPT_SSL_VERIFYHOST, 0L);
            return;
        }
        set(CURLOPT_SSL_VERIFYPEER, 1L)(CURLOPT_SSL_VERIFYHOST, 2L);
        if (tls.ca_file.empty() && tls.ca_directory.empty() && tls.ca_pem.empty()) return;  // system store
        // An explicit trust setting replaces the system store entirely: clear libcurl's
        // built-in defaults so a certificate is never accepted because of them.
        set(CURLOPT_CAINFO, tls.ca_file.empty() ? nullptr : tls.ca_file.c_str());
        set(CURLOPT_CAPATH, tls.ca_directory.empty() ? nullptr : tls.ca_directory.c_str());
        if (!tls.ca_pem.empty()) {
            curl_blob blob{const_cast<char*>(tls.ca_pem.data()), tls.ca_pem.size(), CURL_BLOB_NOCOPY};
            set(CURLOPT_CAINFO_BLOB, &blob);
        }
    }

    void apply_proxy(option_setter& set) const noexcept {
        const proxy_options& proxy = options.proxy;
        // With no CURLOPT_PROXY, libcurl reads https_proxy / HTTPS_PROXY / all_proxy and
        // no_proxy / NO_PROXY itself; an empty string turns every proxy off.
        if (!proxy.url.empty())
            set(CURLOPT_PROXY, proxy.url.c_str());
        else if (!proxy.from_environment)
            set(CURLOPT_PROXY, "");
        if (!proxy.no_proxy.empty() || !proxy.from_environment) set(CURLOPT_NOPROXY, proxy.no_proxy.c_str());
        // The proxy's CONNECT reply is not the server's response.
        set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
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
