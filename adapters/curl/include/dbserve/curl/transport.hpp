// The libcurl adapter, configured by dbserve::transport_options:
//   blocking_transport  send(request, options): reused easy handles (keep-alive, TLS
//                       sessions), thread safe, cheap to copy (copies share the pool).
//   async_transport     async_send / start + cancel on curl_multi, driven by run_once /
//                       poll, by event hooks (epoll, libuv, asio), or by its own thread.
// Both refuse a bearer token over plain http:// to anything but loopback, map failures onto
// dbserve::errc (TLS failures named: unknown CA, host name mismatch, expired, self-signed)
// and keep libcurl's code and error-buffer text in error::native_code / native_message.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/curl/async_transport.hpp>
#include <dbserve/curl/blocking_transport.hpp>
