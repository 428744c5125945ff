// The network transports dbserve-query can use, each built in its own translation unit so
// the heavy adapter headers (libcurl, Boost.Beast) are compiled once and apart. Which ones
// exist is decided by the build: DBSERVE_QUERY_HAS_CURL, DBSERVE_QUERY_HAS_BEAST.
#pragma once

#include "cli_options.hpp"
#include "send_function.hpp"

#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport_options.hpp>

namespace dbserve_query {

#if DBSERVE_QUERY_HAS_CURL
send_function make_curl_send(const dbserve::transport_options& options);
#endif
#if DBSERVE_QUERY_HAS_BEAST
send_function make_beast_send(const dbserve::transport_options& options);
#endif

inline dbserve::result<send_function> make_network_send(transport_choice choice,
                                                        const dbserve::transport_options& options) {
    switch (choice) {
        case transport_choice::curl:
#if DBSERVE_QUERY_HAS_CURL
            return make_curl_send(options);
#else
            break;
#endif
        case transport_choice::beast:
#if DBSERVE_QUERY_HAS_BEAST
            return make_beast_send(options);
#else
            break;
#endif
    }
    return dbserve::unexpected(dbserve::errc::configuration,
                               std::string("--transport ") + (choice == transport_choice::curl ? "curl" : "beast") +
                                   " is not available in this build; use --transport " +
                                   (choice == transport_choice::curl ? "beast" : "curl") +
                                   " or rebuild with -DDBSERVE_" + (choice == transport_choice::curl ? "CURL" : "BEAST") +
                                   "=ON");
}

}  // namespace dbserve_query
