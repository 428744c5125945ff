#include <dbserve/client/retry.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <optional>

using namespace dbserve;
using std::chrono::milliseconds;

namespace {

dbserve::error http_failure(errc code, int status) {
    dbserve::error e(code, "failure");
    e.http_status = status;
    return e;
}

dbserve::error transport_failure(errc code, bool may_have_been_processed) {
    dbserve::error e(code, "transport failure");
    e.request_may_have_been_processed = may_have_been_processed;
    return e;
}

// The first retry with jitter 1 waits the full initial backoff.
std::optional<milliseconds> first_retry(const dbserve::error& e, http_method m = http_method::post,
                                        const retry_policy& p = retry_policy{}) {
    return retry_delay(p, e, m, 1, milliseconds{0}, 1.0);
}

}  // namespace

TEST_CASE("the default policy matches the documented budgets") {
    retry_policy p;
    CHECK(p.max_attempts == 4);
    CHECK(p.max_elapsed == milliseconds{300'000});
    CHECK(p.initial_backoff == milliseconds{500});
    CHECK(p.max_backoff == milliseconds{10'000});
    CHECK(p.max_retry_after == milliseconds{60'000});
    CHECK_FALSE(p.retry_post_when_outcome_unknown);
    CHECK(retry_policy::no_retries().max_attempts == 1);
}

TEST_CASE("429 is retried, even for POST, after the backoff") {
    auto d = first_retry(http_failure(errc::throttled, 429));
    REQUIRE(d);
    CHECK(*d == milliseconds{500});
}

TEST_CASE("503 is retried, even for POST") {
    auto d = first_retry(http_failure(errc::unavailable, 503));
    REQUIRE(d);
    CHECK(*d == milliseconds{500});
}

TEST_CASE("a 429 or 503 status is retried whatever category a layer gave it") {
    CHECK(first_retry(http_failure(errc::service, 503)));
    CHECK(first_retry(http_failure(errc::bad_request, 429)));
}

TEST_CASE("Retry-After is honoured as given, without jitter") {
    auto e = http_failure(errc::throttled, 429);
    e.retry_after = milliseconds{7'000};
    CHECK(retry_delay(retry_policy{}, e, http_method::post, 1, milliseconds{0}, 0.0) == milliseconds{7'000});
    CHECK(retry_delay(retry_policy{}, e, http_method::post, 1, milliseconds{0}, 1.0) == milliseconds{7'000});
    // Larger than max_backoff is fine: the server chose it.
    e.retry_after = milliseconds{30'000};
    CHECK(first_retry(e) == milliseconds{30'000});
}

TEST_CASE("Retry-After zero retries at once") {
    auto e = http_failure(errc::unavailable, 503);
    e.retry_after = milliseconds{0};
    CHECK(first_retry(e) == milliseconds{0});
}

TEST_CASE("Retry-After is capped by max_retry_after") {
    auto e = http_failure(errc::throttled, 429);
    e.retry_after = milliseconds{3'600'000};
    CHECK(first_retry(e) == milliseconds{60'000});
    retry_policy p;
    p.max_retry_after = milliseconds{2'000};
    CHECK(first_retry(e, http_method::post, p) == milliseconds{2'000});
}

TEST_CASE("a name resolution failure is retried") {
    CHECK(first_retry(transport_failure(errc::name_resolution, false)) == milliseconds{500});
}

TEST_CASE("a connection refused or reset before the request was sent is retried, even for POST") {
    CHECK(first_retry(transport_failure(errc::connection, false), http_method::post) == milliseconds{500});
    CHECK(first_retry(transport_failure(errc::connection, false), http_method::get) == milliseconds{500});
}

TEST_CASE("a connection failure after a POST may have been processed is not retried") {
    CHECK_FALSE(first_retry(transport_failure(errc::connection, true), http_method::post));
}

TEST_CASE("a connection failure after a GET may have been processed is retried") {
    CHECK(first_retry(transport_failure(errc::connection, true), http_method::get));
}

TEST_CASE("TLS failures are not retried") {
    CHECK_FALSE(first_retry(transport_failure(errc::tls, false), http_method::get));
    CHECK_FALSE(first_retry(transport_failure(errc::tls, false), http_method::post));
}

TEST_CASE("a timeout before the request was sent is retried, even for POST") {
    CHECK(first_retry(transport_failure(errc::timeout, false), http_method::post));
}

TEST_CASE("a timeout on a GET is retried even if the request may have been processed") {
    CHECK(first_retry(transport_failure(errc::timeout, true), http_method::get));
}

TEST_CASE("a timeout on a POST that may have been processed is not retried by default") {
    CHECK_FALSE(first_retry(transport_failure(errc::timeout, true), http_method::post));
}

TEST_CASE("a 408 request timeout is retried, even for POST: the server did not process it") {
    CHECK(first_retry(http_failure(errc::timeout, 408), http_method::post));
}

TEST_CASE("a 504 reported as a timeout is not retried for POST: the server had the request") {
    CHECK_FALSE(first_retry(http_failure(errc::timeout, 504), http_method::post));
    CHECK(first_retry(http_failure(errc::timeout, 504), http_method::get));
    retry_policy p;
    p.retry_post_when_outcome_unknown = true;
    CHECK(first_retry(http_failure(errc::timeout, 504), http_method::post, p));
}

TEST_CASE("retry_post_when_outcome_unknown retries a POST whose outcome is unknown") {
    retry_policy p;
    p.retry_post_when_outcome_unknown = true;
    CHECK(first_retry(transport_failure(errc::timeout, true), http_method::post, p));
    CHECK(first_retry(transport_failure(errc::connection, true), http_method::post, p));
}

TEST_CASE("a 503 whose POST may have been processed is not retried by default") {
    auto e = http_failure(errc::unavailable, 503);
    e.request_may_have_been_processed = true;
    CHECK_FALSE(first_retry(e, http_method::post));
    CHECK(first_retry(e, http_method::get));
}

TEST_CASE("400 is not retried") { CHECK_FALSE(first_retry(http_failure(errc::bad_request, 400), http_method::get)); }
TEST_CASE("401 is not retried") {
    CHECK_FALSE(first_retry(http_failure(errc::authentication, 401), http_method::get));
}
TEST_CASE("403 is not retried") { CHECK_FALSE(first_retry(http_failure(errc::permission, 403), http_method::get)); }
TEST_CASE("404 is not retried") { CHECK_FALSE(first_retry(http_failure(errc::not_found, 404), http_method::get)); }

TEST_CASE("501 is not retried (the Java SDK retries it; we do not)") {
    CHECK_FALSE(first_retry(http_failure(errc::service, 501), http_method::get));
}

TEST_CASE("500, 502 and 504 are not retried") {
    CHECK_FALSE(first_retry(http_failure(errc::service, 500), http_method::get));
    CHECK_FALSE(first_retry(http_failure(errc::service, 502), http_method::get));
    CHECK_FALSE(first_retry(http_failure(errc::service, 504), http_method::get));
}

TEST_CASE("bad responses, oversized responses, cancellation and configuration errors are not retried") {
    for (errc code : {errc::bad_response, errc::response_too_large, errc::cancelled, errc::configuration,
                      errc::invalid_argument}) {
        CAPTURE(to_string(code));
        CHECK_FALSE(first_retry(transport_failure(code, false), http_method::get));
    }
}

TEST_CASE("the backoff doubles with each attempt") {
    const auto e = http_failure(errc::unavailable, 503);
    retry_policy p;
    p.max_attempts = 100;
    CHECK(retry_delay(p, e, http_method::get, 1, milliseconds{0}, 1.0) == milliseconds{500});
    CHECK(retry_delay(p, e, http_method::get, 2, milliseconds{0}, 1.0) == milliseconds{1'000});
    CHECK(retry_delay(p, e, http_method::get, 3, milliseconds{0}, 1.0) == milliseconds{2'000});
    CHECK(retry_delay(p, e, http_method::get, 4, milliseconds{0}, 1.0) == milliseconds{4'000});
    CHECK(retry_delay(p, e, http_method::get, 5, milliseconds{0}, 1.0) == milliseconds{8'000});
}

TEST_CASE("the backoff is capped at max_backoff, even for huge attempt counts") {
    const auto e = http_failure(errc::unavailable, 503);
    retry_policy p;
    p.max_attempts = std::numeric_limits<int>::max();
    CHECK(retry_delay(p, e, http_method::get, 6, milliseconds{0}, 1.0) == milliseconds{10'000});
    CHECK(retry_delay(p, e, http_method::get, 64, milliseconds{0}, 1.0) == milliseconds{10'000});
    CHECK(retry_delay(p, e, http_method::get, 1'000'000, milliseconds{0}, 1.0) == milliseconds{10'000});
}

TEST_CASE("equal jitter: the delay lies between half the backoff and the full backoff") {
    retry_policy p;
    CHECK(backoff_delay(p, 1, 0.0) == milliseconds{250});
    CHECK(backoff_delay(p, 1, 0.5) == milliseconds{375});
    CHECK(backoff_delay(p, 1, 1.0) == milliseconds{500});
    CHECK(backoff_delay(p, 3, 0.0) == milliseconds{1'000});
    CHECK(backoff_delay(p, 3, 1.0) == milliseconds{2'000});
    CHECK(backoff_delay(p, 10, 0.0) == milliseconds{5'000});
    CHECK(backoff_delay(p, 10, 1.0) == milliseconds{10'000});
    const auto e = http_failure(errc::throttled, 429);
    CHECK(retry_delay(p, e, http_method::post, 2, milliseconds{0}, 0.25) == milliseconds{625});
}

TEST_CASE("out-of-range jitter is clamped to [0, 1]") {
    retry_policy p;
    CHECK(backoff_delay(p, 1, -3.0) == milliseconds{250});
    CHECK(backoff_delay(p, 1, 7.0) == milliseconds{500});
    CHECK(backoff_delay(p, 1, std::numeric_limits<double>::quiet_NaN()) == milliseconds{250});
}

TEST_CASE("no retry once max_attempts attempts have been made") {
    const auto e = http_failure(errc::unavailable, 503);
    retry_policy p;  // 4 attempts in all
    CHECK(retry_delay(p, e, http_method::get, 3, milliseconds{0}, 1.0));
    CHECK_FALSE(retry_delay(p, e, http_method::get, 4, milliseconds{0}, 1.0));
    CHECK_FALSE(retry_delay(p, e, http_method::get, 5, milliseconds{0}, 1.0));
    CHECK_FALSE(retry_delay(retry_policy::no_retries(), e, http_method::get, 1, milliseconds{0}, 1.0));
}

TEST_CASE("no retry when the delay would end past max_elapsed") {
    const auto e = http_failure(errc::unavailable, 503);
    retry_policy p;
    // 500 ms of backoff from 299.5 s ends exactly at the budget: allowed.
    CHECK(retry_delay(p, e, http_method::get, 1, milliseconds{299'500}, 1.0) == milliseconds{500});
    CHECK_FALSE(retry_delay(p, e, http_method::get, 1, milliseconds{299'501}, 1.0));
    CHECK_FALSE(retry_delay(p, e, http_method::get, 1, milliseconds{400'000}, 0.0));
}

TEST_CASE("a Retry-After that would end past max_elapsed is not waited for") {
    auto e = http_failure(errc::throttled, 429);
    e.retry_after = milliseconds{50'000};
    retry_policy p;
    CHECK(retry_delay(p, e, http_method::get, 1, milliseconds{250'000}, 1.0) == milliseconds{50'000});
    CHECK_FALSE(retry_delay(p, e, http_method::get, 1, milliseconds{250'001}, 1.0));
}

TEST_CASE("an attempt count below 1 counts as the first attempt") {
    const auto e = http_failure(errc::unavailable, 503);
    CHECK(retry_delay(retry_policy{}, e, http_method::get, 0, milliseconds{0}, 1.0) == milliseconds{500});
    CHECK(retry_delay(retry_policy{}, e, http_method::get, -5, milliseconds{0}, 1.0) == milliseconds{500});
}

TEST_CASE("is_retryable ignores the budgets") {
    retry_policy p = retry_policy::no_retries();
    CHECK(is_retryable(p, http_failure(errc::throttled, 429), http_method::post));
    CHECK_FALSE(is_retryable(p, http_failure(errc::permission, 403), http_method::get));
}
