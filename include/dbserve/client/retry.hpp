// Retry decisions: whether a failed request is tried again, and after how long. Pure
// functions: the caller passes the attempt count, the time spent so far and a random
// number, so every rule can be tested without clocks or randomness.
//
// Retried:
// - 429 (throttled) and 503 (unavailable): after the server's Retry-After when it sent one
//   (capped at max_retry_after), else after the backoff;
// - failures before the request was sent: the host name did not resolve, the connection
//   was refused or reset before the request went out;
// - timeouts and connection failures after the request may have reached the server
//   (request_may_have_been_processed, or a 5xx status reported as a timeout), only for
//   GET, or for POST when retry_post_when_outcome_unknown is set (a model invocation may
//   have run; repeating it may repeat its effects and its cost). A 408 (request timeout)
//   is retried like a failure before sending: the server says it did not process it.
// Not retried: TLS failures (a certificate problem does not heal by retrying), 400, 401,
// 403, 404 and every other 4xx but 408 and 429 (the client handles 401 itself), 500, 501
// (the Java SDK retries 501; it means "not implemented", which no retry fixes), 502, 504
// (unless reported as a timeout of a GET), bad or oversized responses, cancellation,
// configuration and argument errors.
//
// Backoff: initial_backoff * 2^(attempt-1), capped at max_backoff, with "equal jitter":
// the delay is half the backoff plus a random share of the other half, so it lies in
// [backoff/2, backoff]. Equal rather than full jitter so that a retry never follows at
// once on an overloaded service, while clients that failed together still spread out.
// Retry-After is honoured as given, without jitter: the server chose the time.
// Bounds: at most max_attempts attempts in all; no retry whose delay would end past
// max_elapsed since the first attempt started.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>

#include <chrono>
#include <cstdint>
#include <optional>

DBSERVE_BEGIN_NAMESPACE

struct retry_policy {
    int max_attempts = 4;                             // attempts in all, the first included
    std::chrono::milliseconds max_elapsed{300'000};   // since the first attempt started
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{10'000};
    std::chrono::milliseconds max_retry_after{60'000};  // longest Retry-After honoured
    bool retry_post_when_outcome_unknown = false;

    // A policy that never retries.
    static retry_policy no_retries() {
        retry_policy p;
        p.max_attempts = 1;
        return p;
    }
};

// Whether the failure is of a kind worth retrying with this method (the attempt and time
// budgets are not considered).
inline bool is_retryable(const retry_policy& policy, const dbserve::error& failure, http_method method) noexcept {
    // A request that may have been processed is repeated only when that is known to be
    // safe: GET has no effects; a POST only when the caller accepts running it twice.
    const bool repeat_is_safe = method == http_method::get || policy.retry_post_when_outcome_unknown;
    if (failure.request_may_have_been_processed && !repeat_is_safe) return false;
    switch (failure.code) {
        case errc::throttled:
        case errc::unavailable:
            return true;
        case errc::name_resolution:
        case errc::connection:
        case errc::timeout:
            // The outcome-unknown case was decided above. A 5xx reported in one of these
            // categories (a gateway's 504) came from a server that had the request, even if
            // the flag was not set; a 408 says the server did not process it.
            return failure.http_status < 500 || repeat_is_safe;
        case errc::service:
        case errc::bad_request:
        case errc::not_found:
        case errc::permission:
        case errc::authentication:
            // Some layers report 429/503 with another category; the status decides.
            return failure.http_status == 429 || failure.http_status == 503;
        case errc::invalid_argument:
        case errc::configuration:
        case errc::tls:
        case errc::cancelled:
        case errc::bad_response:
        case errc::response_too_large:
            return false;
    }
    return false;
}

// The backoff before retry number `attempt` (attempt = attempts already made, from 1),
// with equal jitter: jitter_0_to_1 = 0 gives half the backoff, 1 the full backoff.
inline std::chrono::milliseconds backoff_delay(const retry_policy& policy, int attempt,
                                               double jitter_0_to_1) noexcept {
    if (attempt < 1) attempt = 1;
    const std::int64_t cap = policy.max_backoff.count() > 0 ? policy.max_backoff.count() : 0;
    std::int64_t backoff = policy.initial_backoff.count() > 0 ? policy.initial_backoff.count() : 0;
    // Double step by step so a large attempt count cannot overflow.
    for (int i = 1; i < attempt && backoff < cap; ++i) backoff *= 2;
    if (backoff > cap) backoff = cap;
    double jitter = jitter_0_to_1;
    if (!(jitter >= 0.0)) jitter = 0.0;  // also catches NaN
    if (jitter > 1.0) jitter = 1.0;
    const std::int64_t half = backoff / 2;
    return std::chrono::milliseconds(half + static_cast<std::int64_t>(static_cast<double>(backoff - half) * jitter));
}

// How long to wait before the next attempt, or nullopt: do not retry.
// attempt = number of attempts already made (1 after the first failure); elapsed = time
// since the first attempt started; jitter_0_to_1 = a uniformly random number in [0, 1].
inline std::optional<std::chrono::milliseconds> retry_delay(const retry_policy& policy,
                                                            const dbserve::error& failure, http_method method,
                                                            int attempt, std::chrono::milliseconds elapsed,
                                                            double jitter_0_to_1) {
    if (attempt < 1) attempt = 1;
    if (attempt >= policy.max_attempts) return std::nullopt;
    if (!is_retryable(policy, failure, method)) return std::nullopt;
    std::chrono::milliseconds delay{0};
    if (failure.retry_after) {
        delay = *failure.retry_after;
        if (delay < std::chrono::milliseconds{0}) delay = std::chrono::milliseconds{0};
        if (delay > policy.max_retry_after) delay = policy.max_retry_after;
    } else {
        delay = backoff_delay(policy, attempt, jitter_0_to_1);
    }
    if (elapsed + delay > policy.max_elapsed) return std::nullopt;
    return delay;
}

DBSERVE_END_NAMESPACE
