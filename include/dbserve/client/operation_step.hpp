// operation_step: what a query_operation asks its driver to do next (send a request, wait
// until a time, run the credential step, hand over a streamed chunk, take the result) or
// that it has nothing to do until a response arrives; see query_operation.hpp for how a
// driver answers each kind.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>

#include <chrono>
#include <cstdint>

DBSERVE_BEGIN_NAMESPACE

struct operation_step {
    enum kind_type { idle, send, wait_until, chunk, done, load_credentials };
    kind_type kind = idle;

    // send
    std::uint64_t request_id = 0;
    const http_request* request = nullptr;  // owned by the operation, valid until on_response
    std::chrono::milliseconds timeout{0};   // the deadline for this request (send_options::timeout)
    std::chrono::milliseconds idle_timeout{0};  // streaming: send_options::idle_timeout
    // wait_until: when to call next() again; idle: the query's total deadline or a streamed
    // response's inactivity deadline (stream_idle_timeout), the earlier, if any
    std::chrono::steady_clock::time_point deadline{};
    // idle: the client's version when this operation began to wait for another one
    std::uint64_t observed_version = 0;
    // chunk: owned by the operation, valid until the next call on it
    const chat_chunk* stream_chunk = nullptr;
    // done: the result, owned by the operation (move it out); null on later calls
    result<query_response>* outcome = nullptr;
    bool streaming = false;  // send: deliver the body through on_body_chunk
    // idle: waiting for another operation of the client (token fetch, discovery)
    bool waiting_for_others = false;

    explicit operator bool() const noexcept { return kind != idle; }

    // send_options for a transport (without a chunk handler).
    send_options options() const {
        send_options o;
        o.timeout = timeout;
        o.idle_timeout = idle_timeout;
        return o;
    }
};

DBSERVE_END_NAMESPACE
