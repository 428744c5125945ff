// The libcurl transport for dbserve-query (see transports.hpp).
#include "transports.hpp"

#include <dbserve/curl/transport.hpp>

#include <memory>

namespace dbserve_query {

send_function make_curl_send(const dbserve::transport_options& options) {
    auto transport = std::make_shared<dbserve::curl::blocking_transport>(options);
    return [transport](const dbserve::http_request& request, const dbserve::send_options& send_options) {
        return transport->send(request, send_options);
    };
}

// One curl_multi on one loop thread: libcurl drives every transfer of a multi handle from
// a single thread, and one thread keeps up with many connections.
async_network make_curl_async(const dbserve::transport_options& options) {
    auto transport = std::make_shared<dbserve::curl::async_transport>(options);
    transport->start_background_thread();
    async_network network;
    network.send = [transport](dbserve::http_request request, dbserve::send_options send_options,
                               dbserve::completion_handler handler) {
        transport->async_send(std::move(request), std::move(send_options), std::move(handler));
    };
    network.stop = [transport] { transport->stop_background_thread(); };
    return network;
}

}  // namespace dbserve_query
