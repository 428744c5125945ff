// Clients over the Boost.Beast transports, for the common case of the default Clock and
// SecretSource:
//     dbserve::beast::client        blocking:     client.query(body)
//     dbserve::beast::async_client  asynchronous: client.async_query(body, handler)
// Both take the transport after the config (or through dbserve::policies):
//     dbserve::beast::client client(config, dbserve::beast::blocking_transport(options));
// Another Clock or SecretSource: dbserve::basic_client<dbserve::traits_for<
//     dbserve::beast::blocking_transport, my_clock, my_secrets>>.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/client.hpp>
#include <dbserve/beast/transport.hpp>

DBSERVE_BEGIN_NAMESPACE

namespace beast {

using client = basic_client<traits_for<blocking_transport>>;
using async_client = basic_client<traits_for<async_transport>>;

}  // namespace beast

DBSERVE_END_NAMESPACE
