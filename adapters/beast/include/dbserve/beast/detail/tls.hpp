// The TLS side of the Beast adapter: one ssl::context per transport built from
// tls_options, and the certificate failures told apart by their X509_V_ERR code.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/client/transport_options.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

DBSERVE_BEGIN_NAMESPACE
namespace beast {
namespace detail {

inline void warn_insecure_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        std::fputs("dbserve: WARNING: TLS certificate verification is DISABLED "
                   "(tls_options::insecure_disable_verification_for_testing_only). "
                   "Anyone on the network path can read and change this traffic, tokens included. "
                   "Never use this outside a test.\n",
                   stderr);
    });
}

// The context every connection of one transport shares, or why it could not be built.
struct tls_context {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::optional<dbserve::error> configuration_error;
    bool verify = true;
};

inline tls_context make_tls_context(const tls_options& options) {
    namespace ssl = boost::asio::ssl;
    tls_context out;
    out.context = std::make_unique<ssl::context>(ssl::context::tls_client);
    ssl::context& ctx = *out.context;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (options.insecure_disable_verification_for_testing_only) {
        warn_insecure_once();
        out.verify = false;
        ctx.set_verify_mode(ssl::verify_none);
        return out;
    }
    ctx.set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    auto fail = [&](std::string what) {
        dbserve::error e(errc::configuration, std::move(what) + ": " + ec.message());
        e.native_code = ec.value();
        e.native_message = ec.message();
        out.configuration_error = std::move(e);
        return std::move(out);
    };
    const bool custom = !options.ca_file.empty() || !options.ca_directory.empty() || !options.ca_pem.empty();
    if (!options.ca_file.empty()) {
        ctx.load_verify_file(options.ca_file, ec);
        if (ec) return fail("tls_options::ca_file '" + options.ca_file + "' could not be loaded as PEM certificates");
    }
    if (!options.ca_directory.empty()) {
        ctx.add_verify_path(options.ca_directory, ec);
        if (ec) return fail("tls_options::ca_directory '" + options.ca_directory + "' could not be used");
    }
    if (!options.ca_pem.empty()) {
        ctx.add_certificate_authority(boost::asio::buffer(options.ca_pem), ec);
        if (ec) return fail("tls_options::ca_pem holds no valid PEM certificate");
    }
    // Only without an explicit CA: the default paths follow SSL_CERT_FILE / SSL_CERT_DIR,
    // which must not widen a trust the caller narrowed on purpose.
    if (!custom) {
        ctx.set_default_verify_paths(ec);
        if (ec) return fail("the system certificate store could not be loaded");
    }
    return out;
}

// What the verify callback saw: the first X509_V_ERR code and whether the host name
// check (rather than the chain) failed.
struct verify_outcome {
    int x509_error = 0;
    bool name_mismatch = false;
};

inline bool is_name_mismatch(int code) noexcept { return code == X509_V_ERR_HOSTNAME_MISMATCH; }

// A TLS verification failure as a dbserve::error with a message per kind of failure.
inline dbserve::error certificate_error(const verify_outcome& outcome, const std::string& host) {
    const int code = outcome.name_mismatch && outcome.x509_error == 0 ? X509_V_ERR_HOSTNAME_MISMATCH : outcome.x509_error;
    std::string message;
    switch (code) {
        case X509_V_ERR_HOSTNAME_MISMATCH:
            message = "TLS host name mismatch: the certificate presented by '" + host +
                      "' is issued for other names; connect with a name the certificate lists";
            break;
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            message = "TLS: '" + host +
                      "' presented a self-signed certificate (or one chaining to an untrusted self-signed root); "
                      "trust it explicitly with tls_options::ca_file or ca_pem if it is yours";
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            message = "TLS: the certificate of '" + host +
                      "' is not trusted: the certificate is signed by an unknown CA; add that CA with "
                      "tls_options::ca_file, ca_directory or ca_pem";
            break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
            message = "TLS certificate expired: the certificate of '" + host + "' is past its end date; the server must renew it";
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            message = "TLS certificate of '" + host + "' is not yet valid; check the server's and this machine's clocks";
            break;
        default:
            message = "TLS certificate of '" + host + "' failed verification: " +
                      X509_verify_cert_error_string(static_cast<long>(code));
            break;
    }
    dbserve::error e(errc::tls, std::move(message));
    e.native_code = code;
    e.native_message = std::string("X509_V_ERR ") + std::to_string(code) + ": " +
                       X509_verify_cert_error_string(static_cast<long>(code));
    return e;
}

}  // namespace detail
}  // namespace beast
DBSERVE_END_NAMESPACE
