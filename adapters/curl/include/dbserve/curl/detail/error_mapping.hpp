// CURLcode -> dbserve::error: the library's category, a message that says what to do,
// libcurl's own code and text kept, and whether the request may have reached the server.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE
namespace curl {
namespace detail {

struct failure_context {
    std::string_view host;
    std::chrono::milliseconds timeout{0};
    std::chrono::milliseconds connect_timeout{0};
    std::size_t max_response_bytes = 0;
    bool response_too_large = false;  // the write callback refused a body over the cap
    // libcurl was about to send the request again after the connection died, and some
    // of it had already gone out: stopped, the outcome is unknown.
    bool resend_refused = false;
    // Some of the request went out: a reply libcurl cannot read is the server's fault,
    // not the URL's (libcurl reports both as CURLE_UNSUPPORTED_PROTOCOL).
    bool request_sent = false;
    // A connection was ready for the request (made or reused): a timeout after that is
    // not a connection that could not be set up, even when libcurl reports no connect
    // time (a reused connection has none).
    bool connection_ready = false;
    const char* error_buffer = "";
};

// The X509_V_ERR_* values OpenSSL reports through CURLINFO_SSL_VERIFYRESULT. Spelled out
// here so the adapter does not need OpenSSL's headers.
enum : long {
    x509_unable_to_get_issuer_cert = 2,
    x509_cert_not_yet_valid = 9,
    x509_cert_has_expired = 10,
    x509_depth_zero_self_signed_cert = 18,
    x509_self_signed_cert_in_chain = 19,
    x509_unable_to_get_issuer_cert_locally = 20,
    x509_unable_to_verify_leaf_signature = 21,
    x509_cert_revoked = 23,
    x509_hostname_mismatch = 62,
};

inline bool tls_backend_is_openssl_like() noexcept {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    if (!info || !info->ssl_version) return false;
    const char* v = info->ssl_version;
    return std::strstr(v, "OpenSSL") || std::strstr(v, "LibreSSL") || std::strstr(v, "BoringSSL") ||
           std::strstr(v, "quictls");
}

// Names the certificate problem in words a user can act on.
inline std::string describe_certificate_failure(CURL* easy, std::string_view native) {
    long verify = 0;
    if (easy) curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &verify);
    if (tls_backend_is_openssl_like()) {
        switch (verify) {
            case x509_unable_to_get_issuer_cert:
            case x509_unable_to_get_issuer_cert_locally:
            case x509_unable_to_verify_leaf_signature:
                return "certificate is signed by an unknown CA; trust the CA that signed it with "
                       "tls_options::ca_file, ca_directory or ca_pem";
            case x509_depth_zero_self_signed_cert:
            case x509_self_signed_cert_in_chain:
                return "self-signed certificate; the server's certificate is not issued by a trusted CA";
            case x509_cert_has_expired:
                return "certificate expired; the server must renew its certificate (or check this machine's clock)";
            case x509_cert_not_yet_valid:
                return "certificate is not valid yet; check this machine's clock";
            case x509_cert_revoked:
                return "certificate revoked";
            case x509_hostname_mismatch:
                return "host name mismatch; the certificate is not issued for this host name";
            default: break;
        }
    }
    // libcurl checks the name itself after a successful chain verification.
    if (native.find("subject name") != std::string_view::npos ||
        native.find("does not match") != std::string_view::npos)
        return "host name mismatch; the certificate is not issued for this host name";
    return "certificate verification failed";
}

inline dbserve::error map_error(CURLcode code, CURL* easy, const failure_context& c) {
    const std::string native = (c.error_buffer && c.error_buffer[0]) ? c.error_buffer : curl_easy_strerror(code);
    const std::string host(c.host);
    dbserve::error e;
    // A refused resend ends in CURLE_ABORTED_BY_CALLBACK; what happened was a connection
    // that closed without a response.
    switch (c.resend_refused ? CURLE_GOT_NOTHING : code) {
        case CURLE_COULDNT_RESOLVE_HOST:
            e = dbserve::error(errc::name_resolution,
                               "could not resolve host '" + host +
                                   "'; check the host name and DNS, or add a resolve override");
            break;
        case CURLE_COULDNT_RESOLVE_PROXY:
            e = dbserve::error(errc::name_resolution, "could not resolve the proxy host; check proxy_options::url and HTTPS_PROXY");
            break;
        case CURLE_OPERATION_TIMEDOUT: {
            curl_off_t connected = c.connection_ready || c.request_sent ? 1 : 0;
            if (connected == 0 && easy) curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &connected);
            if (connected == 0 && easy) curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected);
            e = connected == 0
                    ? dbserve::error(errc::timeout, "no connection to " + host + " could be set up in time (connect timeout " +
                                                        std::to_string(c.connect_timeout.count()) + " ms, request timeout " +
                                                        std::to_string(c.timeout.count()) + " ms)")
                    : dbserve::error(errc::timeout, "no complete response from " + host + " within " +
                                                        std::to_string(c.timeout.count()) + " ms");
            break;
        }
        case CURLE_PEER_FAILED_VERIFICATION:
            e = dbserve::error(errc::tls, "TLS verification of " + host + " failed: " + describe_certificate_failure(easy, native));
            break;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
            e = dbserve::error(errc::tls, "TLS with " + host + " failed: " + native);
            break;
        case CURLE_SSL_CACERT_BADFILE:
            e = dbserve::error(errc::tls, "the trusted CA certificates could not be loaded; check tls_options::ca_file, "
                                          "ca_directory and ca_pem: " + native);
            break;
        case CURLE_FILESIZE_EXCEEDED:
            e = dbserve::error(errc::response_too_large,
                               "the response from " + host + " is larger than max_response_bytes (" +
                                   std::to_string(c.max_response_bytes) + " bytes); raise transport_options::max_response_bytes if it is expected");
            break;
        case CURLE_WRITE_ERROR:
            if (c.response_too_large) {
                e = dbserve::error(errc::response_too_large,
                                   "the response from " + host + " grew past max_response_bytes (" +
                                       std::to_string(c.max_response_bytes) + " bytes); raise transport_options::max_response_bytes if it is expected");
            } else {
                e = dbserve::error(errc::cancelled, "the body callback stopped the response from " + host);
            }
            break;
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
            e = dbserve::error(errc::connection,
                               "the connection to " + host + " closed before a response arrived" +
                                   (c.resend_refused ? "; the request had been sent, so it may have been processed and "
                                                       "was not sent again"
                                                     : ": " + native));
            break;
        case CURLE_ABORTED_BY_CALLBACK:
            e = dbserve::error(errc::cancelled, "the request to " + host + " was cancelled");
            break;
        case CURLE_UNSUPPORTED_PROTOCOL:
            if (c.request_sent) {  // HTTP/0.9, an unknown HTTP version or a status that is no number
                e = dbserve::error(errc::bad_response, "the reply from " + host + " is not valid HTTP: " + native);
                break;
            }
            [[fallthrough]];
        case CURLE_URL_MALFORMAT:
            e = dbserve::error(errc::invalid_argument, "the request URL cannot be used: " + native);
            break;
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_TOO_MANY_REDIRECTS:
            e = dbserve::error(errc::bad_response, "the reply from " + host + " is not valid HTTP: " + native);
            break;
        case CURLE_COULDNT_CONNECT:
            e = dbserve::error(errc::connection, "could not connect to " + host + ": " + native);
            break;
        case CURLE_OUT_OF_MEMORY:
            // libcurl before 8.6 reports a response header past its cap (100 KiB per
            // header, 300 KiB in all) as out of memory; once the request went out, that
            // is what it is.
            if (c.request_sent) {
                e = dbserve::error(errc::response_too_large,
                                   "the response header from " + host +
                                       " is too large (libcurl accepts at most 100 KiB per header line)");
                break;
            }
            e = dbserve::error(errc::connection, "out of memory while talking to " + host);
            break;
#if LIBCURL_VERSION_NUM >= 0x080600
        case CURLE_TOO_LARGE:
            e = dbserve::error(errc::response_too_large, "the response header from " + host + " is too large: " + native);
            break;
#endif
        default:  // reset, closed early (GOT_NOTHING, PARTIAL_FILE, RECV/SEND_ERROR), HTTP/2 and proxy failures
            e = dbserve::error(errc::connection, "the connection to " + host + " failed: " + native);
            break;
    }
    e.native_code = static_cast<int>(code);
    e.native_message = c.resend_refused ? "libcurl was about to send the request again on a new connection" : native;
    return e;
}

}  // namespace detail
}  // namespace curl
DBSERVE_END_NAMESPACE
