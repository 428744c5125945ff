// The Boost.Beast adapter (HTTP/1.1 over Asio, OpenSSL), configured by
// dbserve::transport_options:
//   async_transport     async_send on the caller's executor (an io_context, a strand, a
//                       thread pool), with a completion handler and a request_handle to
//                       cancel, or any Asio completion token (use_awaitable, use_future...).
//   blocking_transport  send(request, options) on a private io_context, thread safe.
// Both refuse a bearer token over plain http:// to anything but loopback (the core's URL
// parser and loopback rule decide, as for every adapter). HTTP/1.1 only
// (transport_options::enable_http2 is ignored). Proxies: http:// proxies through CONNECT,
// for https:// requests (plain http goes to loopback only, never proxied).
//
// These headers pull in Beast, Asio and OpenSSL; include them in as few translation units
// as you can.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/beast/async_transport.hpp>
#include <dbserve/beast/blocking_transport.hpp>
