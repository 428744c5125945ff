// The one call every transport of dbserve-query offers: send a request, block for the
// response. Apart from cli_transport.hpp so the adapters' translation units (heavy to
// compile) do not depend on the logging and scrubbing around them.
#pragma once

#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>

#include <functional>

namespace dbserve_query {

using send_function =
    std::function<dbserve::result<dbserve::http_response>(const dbserve::http_request&, const dbserve::send_options&)>;

// Load mode's call: start a request on the transport's event loop; the handler runs once,
// on a loop thread.
using async_send_function =
    std::function<void(dbserve::http_request, dbserve::send_options, dbserve::completion_handler)>;

}  // namespace dbserve_query
