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

}  // namespace dbserve_query
