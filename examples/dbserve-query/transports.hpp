// The network transports dbserve-query can use, each built in its own translation unit so
// the heavy adapter headers (libcurl, Boost.Beast) are compiled once and apart. Which ones
// exist is decided by the build: DBSERVE_QUERY_HAS_CURL, DBSERVE_QUERY_HAS_BEAST.
#pragma once

#include "cli_options.hpp"
#include "send_function.hpp"

#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport_options.hpp>

#include <functional>

namespace dbserve_query {

// Load mode's transport: requests started from any thread, run on an event-loop thread
// the transport owns. stop() ends and joins them; call it once no
// request is in flight, before the client goes (the sender keeps the loop alive).
struct async_network {
    async_send_function send;
    std::function<void()> stop;
};

#if DBSERVE_QUERY_HAS_CURL
send_function make_curl_send(const dbserve::transport_options& options);
async_network make_curl_async(const dbserve::transport_options& options);
#endif
#if DBSERVE_QUERY_HAS_BEAST
send_function make_beast_send(const dbserve::transport_options& options);
async_network make_beast_async(const dbserve::transport_options& options);
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

inline dbserve::result<async_network> make_network_async(transport_choice choice,
                                                         const dbserve::transport_options& options) {
#if DBSERVE_QUERY_HAS_CURL
    if (choice == transport_choice::curl) return make_curl_async(options);
#endif
#if DBSERVE_QUERY_HAS_BEAST
    if (choice == transport_choice::beast) return make_beast_async(options);
#endif
    auto unavailable = make_network_send(choice, options);  // says why, in one place
    return dbserve::unexpected(unavailable ? dbserve::error{} : std::move(unavailable).error());
}

}  // namespace dbserve_query
