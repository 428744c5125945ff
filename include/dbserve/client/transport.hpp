// The Transport policy: how the library's HTTP requests reach the network.
//
// A synchronous transport has
//     dbserve::result<dbserve::http_response> send(const dbserve::http_request&,
//                                                 const dbserve::send_options&);
// An asynchronous transport has
//     void async_send(dbserve::http_request, dbserve::send_options,
//                     dbserve::completion_handler);
// and calls the handler exactly once (from any thread the transport owns).
//
// Errors: a transport maps its failures onto errc::name_resolution, connection, tls,
// timeout, cancelled or response_too_large, keeps its own code and text in
// error::native_code / native_message, and sets error::request_may_have_been_processed
// when the request bytes may have reached the server.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <functional>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

// Receives a response body piece by piece as it arrives (streaming). The response
// argument carries the status and headers; its body is empty.
using body_chunk_handler = std::function<void(const http_response& head, std::string_view chunk)>;

struct send_options {
    // The whole request must finish within this time; zero means the transport's default.
    std::chrono::milliseconds timeout{0};
    // When set, the body is handed over in pieces as it arrives instead of being
    // collected into http_response::body.
    body_chunk_handler on_body_chunk;
    // Inactivity limit for a streamed response (on_body_chunk set): when no byte arrives
    // for this long (from the request's start until the first byte, then between bytes),
    // the request ends with errc::timeout, request_may_have_been_processed set. Bytes that
    // keep coming never trip it; `timeout` still bounds the whole request. Zero: none.
    // libcurl enforces it with a progress callback, Beast with a timer per read.
    std::chrono::milliseconds idle_timeout{0};
};

using completion_handler = std::function<void(result<http_response>)>;

DBSERVE_END_NAMESPACE
