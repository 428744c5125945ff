// Events: what a query does, reported as it happens to a sink the caller plugs into
// client_config::events (a workspace setting: workspace_config::events, one sink for every
// endpoint of the workspace), for metrics and tracing without reading logs. A sink is called on
// the thread that drives the query (the blocking caller, the poll loop, or the transport's
// or timer's thread for an asynchronous query), must not throw, and should be quick. An
// event's views are valid only during the call. No event carries a secret or token: errors
// are those the query would return, with every credential blanked. Without a sink nothing
// is measured or built.
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

enum class event_kind {
    token_fetched,         // a data-plane token arrived: path, lifetime, latency
    token_refresh_failed,  // a token fetch failed: failure, old_token_served
    discovered,            // the endpoint was looked up: reason, latency
    retry_scheduled,       // a request is repeated after `wait`: status or failure, attempt
    query_finished,        // the query's end: status or failure, attempts, latency, bytes, served model
    stream_first_byte,     // the first bytes of a streamed body: latency since the query began
    stream_first_token,    // the first chunk with content: latency since the query began
    stream_chunk,          // each chunk: since_previous (chunk or, for the first, the query's start)
    stream_end,            // the stream ended: finish_reason, usage, chunks
};

constexpr std::string_view to_string(event_kind kind) noexcept {
    switch (kind) {
        case event_kind::token_fetched: return "token_fetched";
        case event_kind::token_refresh_failed: return "token_refresh_failed";
        case event_kind::discovered: return "discovered";
        case event_kind::retry_scheduled: return "retry_scheduled";
        case event_kind::query_finished: return "query_finished";
        case event_kind::stream_first_byte: return "stream_first_byte";
        case event_kind::stream_first_token: return "stream_first_token";
        case event_kind::stream_chunk: return "stream_chunk";
        case event_kind::stream_end: return "stream_end";
    }
    return "unknown";
}

// One event. Fields not named for its kind keep their defaults.
struct query_event {
    event_kind kind = event_kind::query_finished;
    std::string_view endpoint;  // the name of the endpoint the query went to (or of its configured URL)
    std::string_view trace_id;  // 32 hex digits; empty when the query sends no traceparent

    // token_fetched
    token_path path = token_path::client_credentials;
    std::chrono::nanoseconds lifetime{0};
    // token_fetched, discovered, query_finished (since the query began), stream_first_*:
    // time from the request (or query) start to this event
    std::chrono::nanoseconds latency{0};
    // token_refresh_failed, retry_scheduled, query_finished (when it failed); scrubbed
    const dbserve::error* failure = nullptr;
    // token_refresh_failed: a still valid cached token keeps being used
    bool old_token_served = false;
    // discovered: "first lookup", "not found (HTTP 404)", "host not resolvable"
    std::string_view reason;
    // retry_scheduled: the status that caused it (0: no response, see failure), the wait,
    // and the attempt that failed (1 = the first)
    int status = 0;  // also query_finished: the final HTTP status (0: none)
    std::chrono::nanoseconds wait{0};
    int attempt = 0;
    // query_finished
    int attempts = 0;  // invocations sent
    std::size_t request_bytes = 0;
    std::size_t response_bytes = 0;
    std::string_view served_model;
    // stream_chunk: time since the previous chunk (the first: since the query began)
    std::chrono::nanoseconds since_previous{0};
    // stream_end
    std::string_view finish_reason;
    std::optional<token_usage> usage;
    std::size_t chunks = 0;
};

DBSERVE_END_NAMESPACE
