// What a query keeps to be seen from outside: its trace context (the traceparent and
// tracestate every request carries) and the times its events report, and the
// stream's inactivity deadline. Without an event sink no clock is read for events; without
// a trace nothing is added to a request.
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/events.hpp>
#include <dbserve/client/trace_context.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct query_observation {
    using mono_time = std::chrono::steady_clock::time_point;

    // Where the query's trace context comes from: none (no trace headers), the caller's
    // query_options::trace (it stays there), or a traceparent generated into `generated`.
    // Nothing here owns memory, so a query without a trace neither builds nor frees any.
    enum class trace_source : unsigned char { none, caller, generated };
    trace_source source = trace_source::none;
    char generated[55];  // written only when source == generated

    // Request start times of the main [0] and background [1] lane (token, discovery), only
    // kept with an event sink.
    mono_time request_sent[2]{};
    // A streamed response: whether bytes and content arrived, when the last chunk and the
    // last byte did, and the bytes so far.
    bool first_byte_seen = false;
    bool first_token_seen = false;
    mono_time last_chunk_at{};
    mono_time last_byte_at{};
    std::size_t stream_bytes = 0;
    std::chrono::milliseconds stream_idle_timeout{0};

    // The query's trace: the caller's (checked), else a new one when the client generates
    // them. An error: the caller's headers are malformed, and nothing is sent.
    std::optional<dbserve::error> begin(const trace_options& options, const std::optional<trace_context>& caller) {
        if (caller) {
            if (caller->traceparent.empty()) {
                if (caller->tracestate.empty()) return std::nullopt;  // an empty context: none
                return dbserve::error(errc::invalid_argument,
                                      "query_options::trace.tracestate is set without a traceparent; W3C Trace "
                                      "Context sends tracestate only with the traceparent it belongs to");
            }
            if (auto ok = check_traceparent(caller->traceparent); !ok) return std::move(ok).error();
            if (auto ok = check_tracestate(caller->tracestate); !ok) return std::move(ok).error();
            source = trace_source::caller;
            return std::nullopt;
        }
        if (options.generate) {
            write_traceparent(generated, options.sampled);
            source = trace_source::generated;
        }
        return std::nullopt;
    }

    bool traced() const noexcept { return source != trace_source::none; }

    // The traceparent sent; `caller` is the query's query_options::trace.
    std::string_view traceparent(const std::optional<trace_context>& caller) const noexcept {
        if (source == trace_source::generated) return std::string_view(generated, sizeof generated);
        if (source == trace_source::caller) return caller->traceparent;
        return std::string_view();
    }
    std::string_view trace_id(const std::optional<trace_context>& caller) const noexcept {
        return trace_id_of(traceparent(caller));
    }

    void add_headers(http_request& request, const std::optional<trace_context>& caller) const {
        if (traced()) add_trace_headers(request, caller);
    }
    DBSERVE_DETAIL_OUT_OF_LINE void add_trace_headers(http_request& request,
                                                      const std::optional<trace_context>& caller) const {
        request.headers.add_unchecked("traceparent", std::string(traceparent(caller)));
        if (source == trace_source::caller && !caller->tracestate.empty())
            request.headers.add_unchecked("tracestate", caller->tracestate);
    }

    // The trace context for the query's result. A generated traceparent is taken from the
    // finished request that carried it, so the result costs no second copy. The caller's is
    // moved, unless a background token refresh still runs: its requests and events use it.
    DBSERVE_DETAIL_OUT_OF_LINE trace_context take_for_result(std::optional<trace_context>& caller,
                                                             http_request& sent, bool still_used) {
        if (source == trace_source::caller) return still_used ? *caller : std::move(*caller);
        std::string value = sent.headers.take_last("traceparent");
        if (value.size() != sizeof generated) value.assign(generated, sizeof generated);
        return trace_context{std::move(value), std::string()};
    }

    // A streamed response got bytes at `now`.
    void bytes_arrived(mono_time now, std::size_t count) {
        last_byte_at = now;
        stream_bytes += count;
    }

    // When the stream stalls for good, if it has an inactivity timeout and is under way.
    std::optional<mono_time> stall_deadline(mono_time request_start) const {
        if (stream_idle_timeout.count() <= 0) return std::nullopt;
        return (first_byte_seen ? last_byte_at : request_start) + stream_idle_timeout;
    }

    void new_attempt() {
        first_byte_seen = false;
        first_token_seen = false;
        stream_bytes = 0;
    }
};

}  // namespace detail
DBSERVE_END_NAMESPACE
