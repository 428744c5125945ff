#include <dbserve/client/token_cache.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;
using decision = token_cache::decision;

namespace {
const time_point t0{std::chrono::hours(1)};
const std::string key = "https://x/invocations\n[]";
}  // namespace

TEST_CASE("a one-hour token is fresh for 40 minutes, stale until 40 s before expiry, then expired") {
    cached_token t;
    set_token_times(t, token_lifecycle{}, t0, 3600s);
    CHECK(t.state_at(t0) == token_state::fresh);
    CHECK(t.state_at(t0 + 40min - 1ms) == token_state::fresh);
    CHECK(t.state_at(t0 + 40min) == token_state::stale);
    CHECK(t.state_at(t0 + 60min - 41s) == token_state::stale);
    CHECK(t.state_at(t0 + 60min - 40s) == token_state::expired);
}

TEST_CASE("a ten-minute token turns stale after half its life") {
    cached_token t;
    set_token_times(t, token_lifecycle{}, t0, 600s);
    CHECK(t.state_at(t0 + 5min - 1ms) == token_state::fresh);
    CHECK(t.state_at(t0 + 5min) == token_state::stale);
    CHECK(t.state_at(t0 + 10min - 40s) == token_state::expired);
}

TEST_CASE("a short-lived token is usable for half its life, so it never refreshes in a loop") {
    cached_token t;
    set_token_times(t, token_lifecycle{}, t0, 30s);  // shorter than the 40 s margin
    CHECK(t.state_at(t0 + 14s) == token_state::fresh);
    CHECK(t.state_at(t0 + 15s) == token_state::expired);
    set_token_times(t, token_lifecycle{}, t0, 0s);
    CHECK(t.state_at(t0) == token_state::expired);
}

TEST_CASE("the stale window, expiry margin and backoff are configurable") {
    token_lifecycle l;
    l.stale_window = 5min;
    l.expiry_margin = 2min;
    l.refresh_backoff = 10s;
    cached_token t;
    set_token_times(t, l, t0, 3600s);
    CHECK(t.state_at(t0 + 55min - 1ms) == token_state::fresh);
    CHECK(t.state_at(t0 + 55min) == token_state::stale);
    CHECK(t.state_at(t0 + 58min) == token_state::expired);

    token_cache cache(l);
    auto first = cache.acquire(key, t0);
    cache.complete(key, first.ticket, secret_string("a"), 3600s, t0);
    auto refresh = cache.acquire(key, t0 + 56min);
    REQUIRE(refresh.what == decision::use_and_refresh);
    cache.fail(key, refresh.ticket, dbserve::error(errc::unavailable, "down"), t0 + 56min);
    CHECK(cache.acquire(key, t0 + 56min + 9s).what == decision::use);
    CHECK(cache.acquire(key, t0 + 56min + 10s).what == decision::use_and_refresh);
}

TEST_CASE("on an empty cache one caller fetches and the others wait") {
    token_cache cache;
    auto a = cache.acquire(key, t0);
    CHECK(a.what == decision::fetch);
    auto b = cache.acquire(key, t0);
    CHECK(b.what == decision::wait);
    auto c = cache.acquire(key, t0);
    CHECK(c.what == decision::wait);
    cache.complete(key, a.ticket, secret_string("tok"), 3600s, t0);
    auto b2 = cache.acquire(key, t0, b.ticket);
    REQUIRE(b2.what == decision::use);
    CHECK(b2.token->access_token.reveal() == "tok");
}

TEST_CASE("a stale token is served while one refresh runs") {
    token_cache cache;
    auto a = cache.acquire(key, t0);
    cache.complete(key, a.ticket, secret_string("old"), 3600s, t0);
    auto r = cache.acquire(key, t0 + 45min);
    REQUIRE(r.what == decision::use_and_refresh);
    CHECK(r.token->access_token.reveal() == "old");
    for (int i = 0; i < 100; ++i) {
        auto other = cache.acquire(key, t0 + 45min);
        CHECK(other.what == decision::use);
    }
    cache.complete(key, r.ticket, secret_string("new"), 3600s, t0 + 45min);
    CHECK(cache.acquire(key, t0 + 45min).token->access_token.reveal() == "new");
    CHECK(cache.state(key, t0 + 45min) == token_state::fresh);
}

TEST_CASE("a failed refresh while stale keeps the token and backs off one minute") {
    token_cache cache;
    auto a = cache.acquire(key, t0);
    cache.complete(key, a.ticket, secret_string("old"), 3600s, t0);
    auto r = cache.acquire(key, t0 + 45min);
    REQUIRE(r.what == decision::use_and_refresh);
    CHECK_FALSE(cache.fail(key, r.ticket, dbserve::error(errc::unavailable, "down"), t0 + 45min));
    CHECK(cache.acquire(key, t0 + 45min + 59s).what == decision::use);
    CHECK(cache.acquire(key, t0 + 46min).what == decision::use_and_refresh);
}

TEST_CASE("a failed fetch of an expired token fails exactly the callers that waited for it") {
    token_cache cache;
    auto a = cache.acquire(key, t0);
    auto b = cache.acquire(key, t0);
    REQUIRE(b.what == decision::wait);
    CHECK(cache.fail(key, a.ticket, dbserve::error(errc::connection, "refused"), t0));
    auto b2 = cache.acquire(key, t0, b.ticket);
    REQUIRE(b2.what == decision::fail);
    CHECK(b2.failure->code == errc::connection);
    // A newcomer fails at once during the refusal backoff (1 s by default), with the
    // failure and when the next request may go out; afterwards it fetches again.
    auto c = cache.acquire(key, t0 + 999ms);
    REQUIRE(c.what == decision::fail);
    CHECK(c.failure->code == errc::connection);
    CHECK(c.failure->message.find("no new token is requested for the next 1 s") != std::string::npos);
    CHECK(cache.acquire(key, t0 + 1s).what == decision::fetch);
}

TEST_CASE("a token endpoint that keeps refusing gets one request per backoff period, doubling to the cap") {
    token_lifecycle lifecycle;
    lifecycle.refusal_backoff = 1s;
    lifecycle.max_refusal_backoff = 5s;
    token_cache cache(lifecycle);
    const dbserve::error refused(errc::authentication, "invalid_client");
    auto t = t0;
    std::vector<std::chrono::milliseconds> periods;
    for (int round = 0; round < 5; ++round) {
        auto claim = cache.acquire(key, t);
        REQUIRE(claim.what == decision::fetch);
        cache.fail(key, claim.ticket, refused, t);
        periods.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(cache.blocked_until(key) - t));
        // Every caller until the period ends fails at once, without a claim.
        CHECK(cache.acquire(key, cache.blocked_until(key) - 1ms).what == decision::fail);
        CHECK_FALSE(cache.refreshing(key));
        t = cache.blocked_until(key);
    }
    CHECK(periods == std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 5s, 5s});
    // A fetched token ends it: the next failure starts again at one second.
    auto claim = cache.acquire(key, t);
    cache.complete(key, claim.ticket, secret_string("tok"), 1h, t);
    cache.clear();
    claim = cache.acquire(key, t);
    cache.fail(key, claim.ticket, refused, t);
    CHECK(cache.blocked_until(key) - t == 1s);
}

TEST_CASE("the second 401 in a row on a young token blocks fetches; an accepted token ends it") {
    token_cache cache;  // young: under 30 s; backoff 1 s doubling to 60 s
    auto make = [](std::chrono::milliseconds blocked) {
        return dbserve::error(errc::authentication, "blocked for " + std::to_string(blocked.count()));
    };
    auto fetch = [&](std::chrono::steady_clock::time_point at) {
        auto claim = cache.acquire(key, at);
        REQUIRE(claim.what == decision::fetch);
        return cache.complete(key, claim.ticket, secret_string("tok"), 1h, at).serial;
    };
    // An old token's 401 (revoked): dropped, fetched again at once, nothing blocked.
    auto s1 = fetch(t0);
    CHECK(cache.refused(key, s1, t0 + 31s, make) == 0ms);
    // The first 401 on a young token may be a revocation: a new token is fetched at once.
    auto s2 = fetch(t0 + 31s);
    CHECK(cache.refused(key, s2, t0 + 32s, make) == 0ms);
    // The second in a row: blocked, and callers fail with the error made for it.
    auto s3 = fetch(t0 + 32s);
    CHECK(cache.refused(key, s3, t0 + 32s, make) == 1s);
    auto blocked = cache.acquire(key, t0 + 32s);
    REQUIRE(blocked.what == decision::fail);
    CHECK(blocked.failure->message == "blocked for 1000");
    CHECK(blocked.on_probation);
    // A 401 on a token already replaced counts nothing.
    CHECK(cache.refused(key, s3, t0 + 33s, make) == 0ms);
    auto s4 = fetch(t0 + 33s);
    CHECK(cache.refused(key, s4, t0 + 33s, make) == 2s);
    // Accepted: the count starts over.
    auto s5 = fetch(t0 + 35s);
    cache.accepted(key);
    CHECK(cache.refused(key, s5, t0 + 35s, make) == 0ms);
    CHECK(cache.acquire(key, t0 + 35s).on_probation);  // one young refusal since
}

TEST_CASE("an abandoned fetch lets a waiting caller claim the next one") {
    token_cache cache;
    auto a = cache.acquire(key, t0);
    auto b = cache.acquire(key, t0);
    cache.abandon(key, a.ticket);
    CHECK(cache.acquire(key, t0, b.ticket).what == decision::fetch);
}

TEST_CASE("invalidate drops only the token that got the 401") {
    token_cache cache;
    auto a = cache.acquire(key, t0);
    const auto& first = cache.complete(key, a.ticket, secret_string("one"), 3600s, t0);
    const auto first_serial = first.serial;
    CHECK(cache.invalidate(key, first_serial));
    auto b = cache.acquire(key, t0);
    REQUIRE(b.what == decision::fetch);
    cache.complete(key, b.ticket, secret_string("two"), 3600s, t0);
    CHECK_FALSE(cache.invalidate(key, first_serial));
    CHECK(cache.find(key)->access_token.reveal() == "two");
}

TEST_CASE("tokens under different keys are independent") {
    token_cache cache;
    auto a = cache.acquire("k1", t0);
    auto b = cache.acquire("k2", t0);
    CHECK(a.what == decision::fetch);
    CHECK(b.what == decision::fetch);
}

TEST_CASE("acquiring through a slot decides exactly as through its key, also after clear()") {
    token_cache cache;
    auto slot = cache.slot_for(key);
    REQUIRE(static_cast<bool>(slot));
    CHECK(cache.state(key, t0) == token_state::missing);
    auto first = cache.acquire(slot, t0);
    CHECK(first.what == decision::fetch);
    CHECK(cache.acquire(key, t0).what == decision::wait);
    cache.complete(key, first.ticket, secret_string("tok"), 3600s, t0);
    auto served = cache.acquire(slot, t0 + 1min);
    REQUIRE(served.what == decision::use);
    CHECK(served.token->access_token.reveal() == "tok");
    CHECK(served.token->authorization.reveal() == "Bearer tok");
    auto stale = cache.acquire(slot, t0 + 45min);
    CHECK(stale.what == decision::use_and_refresh);
    CHECK(cache.acquire(key, t0 + 45min).what == decision::use);
    cache.clear();
    CHECK(cache.state(key, t0) == token_state::missing);
    CHECK(!cache.refreshing(key));
    CHECK(cache.acquire(slot, t0).what == decision::fetch);
    CHECK(cache.refreshing(key));
}

TEST_CASE("a caller that waited for a token refused meanwhile does not start a fetch during the backoff") {
    token_cache cache;
    auto make = [](std::chrono::milliseconds) { return dbserve::error(errc::authentication, "blocked"); };
    auto first = cache.acquire(key, t0);
    auto s1 = cache.complete(key, first.ticket, secret_string("t1"), 1h, t0).serial;
    CHECK(cache.refused(key, s1, t0, make) == 0ms);
    auto fetching = cache.acquire(key, t0);
    REQUIRE(fetching.what == decision::fetch);
    auto waiting = cache.acquire(key, t0);
    REQUIRE(waiting.what == decision::wait);
    auto s2 = cache.complete(key, fetching.ticket, secret_string("t2"), 1h, t0).serial;
    // Another caller used t2 and got the second 401 before the waiter looked again.
    CHECK(cache.refused(key, s2, t0, make) == 1s);
    auto late = cache.acquire(key, t0, waiting.ticket);
    REQUIRE(late.what == decision::fail);
    CHECK(late.failure->message == "blocked");
    CHECK_FALSE(cache.refreshing(key));
}
