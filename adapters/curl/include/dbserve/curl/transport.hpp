// The libcurl adapter: blocking_transport (easy interface) and async_transport
// (curl_multi), both configured by dbserve::transport_options.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/curl/async_transport.hpp>
#include <dbserve/curl/blocking_transport.hpp>
