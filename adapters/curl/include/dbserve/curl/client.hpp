// Clients over the libcurl transports, for the common case of the default Clock and
// SecretSource:
//     dbserve::curl::client        blocking:     client.query(body)
//     dbserve::curl::async_client  asynchronous: client.async_query(body, handler)
// Both take the transport after the config (or through dbserve::policies):
//     dbserve::curl::client client(config, dbserve::curl::blocking_transport(options));
// Another Clock or SecretSource: dbserve::basic_client<dbserve::traits_for<
//     dbserve::curl::blocking_transport, my_clock, my_secrets>>.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>

DBSERVE_BEGIN_NAMESPACE

namespace curl {

using client = basic_client<traits_for<blocking_transport>>;
using async_client = basic_client<traits_for<async_transport>>;

}  // namespace curl

DBSERVE_END_NAMESPACE
