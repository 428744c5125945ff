// token_cache: OAuth tokens per key, with the fresh / stale / expired lifecycle and the
// single-flight rule (at most one token request per key at a time).
//
// Pure bookkeeping: it never sends a request, reads a clock or locks. Callers pass the
// monotonic time and hold their own lock around every call; the query operation does the
// I/O a decision asks for and reports back with complete(), fail() or abandon().
//
// Lifecycle of a token received at R that lives TTL (expires at E = R + TTL):
//   fresh   until E - stale_window', where stale_window' = max(min(TTL/2, stale_window), margin')
//   stale   until E - margin', where margin' = min(expiry_margin, TTL/2)
//   expired afterwards.
// Capping the margin at TTL/2 means every token is usable for at least half its life, so
// a short-lived token can never make the cache refresh in a loop.
//
// Refusals block new fetches for a while, so a service that refuses every token cannot
// draw a storm of token requests: after a fetch fails with no valid token to fall back
// on, or after the second 401 in a row on a token younger than young_token_window (the
// first may be a token revoked right after it was issued), callers of that key fail at
// once with that error for refusal_backoff, doubled on each repeat up to
// max_refusal_backoff. One fetch per period goes through; a fetched token (after a fetch
// failure) or an accepted one (after 401s) ends it.
#pragma once

#include <dbserve/client/detail/single_flight.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/secret.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
// "1500 ms", or "2 s" for whole seconds: durations in error messages.
inline std::string describe_duration(std::chrono::milliseconds d) {
    if (d.count() != 0 && d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}
}  // namespace detail

struct token_lifecycle {
    // A token turns stale (refreshed in the background, still served) this long before it
    // expires, or half its lifetime before when that is shorter: the last 20 minutes of a
    // one-hour token.
    std::chrono::seconds stale_window{20 * 60};
    // A token counts as expired this long before its real expiry (Azure refuses tokens
    // with 30 s or less left); capped at half the token's lifetime.
    std::chrono::seconds expiry_margin{40};
    // After a failed refresh of a still-valid token, the next refresh waits this long.
    std::chrono::milliseconds refresh_backoff{60'000};
    // A 401 on a token received less than this long ago says a new token will not help.
    std::chrono::milliseconds young_token_window{30'000};
    // How long new fetches of a key stay blocked after a refusal, doubled per repeat.
    std::chrono::milliseconds refusal_backoff{1'000};
    std::chrono::milliseconds max_refusal_backoff{60'000};
};

enum class token_state { missing, fresh, stale, expired };

constexpr std::string_view to_string(token_state s) noexcept {
    switch (s) {
        case token_state::missing: return "missing";
        case token_state::fresh: return "fresh";
        case token_state::stale: return "stale";
        case token_state::expired: return "expired";
    }
    return "unknown";
}

struct cached_token {
    using time_point = std::chrono::steady_clock::time_point;
    secret_string access_token;
    // "Bearer " + access_token: the Authorization header value, built once per token.
    secret_string authorization;
    time_point received_at{};
    time_point stale_at{};
    time_point expired_at{};
    time_point expires_at{};
    // Distinguishes one token from the next under the same key, so a 401 drops only the
    // token that got it.
    std::uint64_t serial = 0;

    token_state state_at(time_point now) const noexcept {
        if (now >= expired_at) return token_state::expired;
        if (now >= stale_at) return token_state::stale;
        return token_state::fresh;
    }
};

// "Bearer " + token, the Authorization header value; the scratch copy is zeroed.
inline secret_string bearer_authorization(std::string_view token) {
    std::string value;
    value.reserve(7 + token.size());
    value.append("Bearer ").append(token.data(), token.size());
    secret_string out(value);
    detail::secure_zero(&value[0], value.size());
    return out;
}

// Fills in the lifecycle times of a token received at `received` that lives `ttl`.
inline void set_token_times(cached_token& token, const token_lifecycle& lifecycle,
                            std::chrono::steady_clock::time_point received, std::chrono::nanoseconds ttl) {
    using std::chrono::nanoseconds;
    if (ttl < nanoseconds{0}) ttl = nanoseconds{0};
    const nanoseconds half = ttl / 2;
    const nanoseconds margin = std::min<nanoseconds>(std::max<nanoseconds>(lifecycle.expiry_margin, nanoseconds{0}), half);
    nanoseconds stale = std::min<nanoseconds>(std::max<nanoseconds>(lifecycle.stale_window, nanoseconds{0}), half);
    stale = std::max(stale, margin);
    token.received_at = received;
    token.expires_at = received + ttl;
    token.expired_at = token.expires_at - margin;
    token.stale_at = token.expires_at - stale;
}

class token_cache {
    struct entry;

public:
    using time_point = std::chrono::steady_clock::time_point;

    // One key's entry, for a caller that asks about the same key on every query: acquiring
    // through it skips the key lookup. Valid as long as the cache (entries are never erased).
    class slot {
    public:
        slot() = default;
        explicit operator bool() const noexcept { return entry_ != nullptr; }

    private:
        friend class token_cache;
        explicit slot(entry* e) noexcept : entry_(e) {}
        entry* entry_ = nullptr;
    };

    enum class decision {
        use,              // serve `token`
        use_and_refresh,  // serve `token`, and this caller refreshes it in the background (`ticket` = claim)
        fetch,            // no usable token: this caller fetches one (`ticket` = claim), others wait
        wait,             // another caller is fetching: ask again after it reports (`ticket` = wait ticket)
        fail,             // the fetch this caller waited for failed, or fetches are blocked: `failure`
    };

    struct acquisition {
        decision what = decision::wait;
        const cached_token* token = nullptr;
        std::uint64_t ticket = 0;
        const dbserve::error* failure = nullptr;
        // The key has had 401s on young tokens: report the token's acceptance (accepted()).
        bool on_probation = false;
    };

    explicit token_cache(token_lifecycle lifecycle = {}) : lifecycle_(lifecycle) {}

    const token_lifecycle& lifecycle() const noexcept { return lifecycle_; }

    // Decides what one caller does for `key` at `now`. `waited` is the ticket of an
    // earlier `wait` decision of the same caller (0 if none): when the fetch it waited for
    // failed and no usable token exists, the caller gets that failure instead of starting
    // another fetch, so one failure fails every caller that was waiting for it.
    acquisition acquire(std::string_view key, time_point now, std::uint64_t waited = 0) {
        return acquire(entry_for(key), now, waited);
    }
    acquisition acquire(slot s, time_point now, std::uint64_t waited = 0) { return acquire(*s.entry_, now, waited); }

    slot slot_for(std::string_view key) { return slot(&entry_for(key)); }

    // Stores the token a claim fetched. Returns the stored token.
    const cached_token& complete(std::string_view key, std::uint64_t claim, secret_string access_token,
                                 std::chrono::nanoseconds ttl, time_point received) {
        entry& e = entry_for(key);
        if (e.claim == claim) e.claim = 0;
        cached_token t;
        t.authorization = bearer_authorization(access_token.reveal());
        t.access_token = std::move(access_token);
        t.serial = ++serials_;
        set_token_times(t, lifecycle_, received, ttl);
        e.token = std::move(t);
        e.failure.reset();
        e.next_background_try = time_point{};
        e.fetch_backoff = std::chrono::milliseconds{0};
        ++e.generation;
        return *e.token;
    }

    // Records a failed fetch. While the cached token is still valid it keeps being served
    // and the next refresh waits refresh_backoff; otherwise the callers waiting for this
    // fetch get `failure`, and new fetches are blocked for the refusal backoff (callers
    // get `failure` at once meanwhile). Returns true when the failure is for waiting callers.
    bool fail(std::string_view key, std::uint64_t claim, const dbserve::error& failure, time_point now) {
        entry& e = entry_for(key);
        if (e.claim == claim) e.claim = 0;
        if (e.token && e.token->state_at(now) != token_state::expired) {
            e.next_background_try = now + lifecycle_.refresh_backoff;
            return false;
        }
        ++e.generation;
        e.failure = failure;
        e.failure_generation = e.generation;
        e.fetch_backoff = grown(e.fetch_backoff);
        dbserve::error blocked = failure;
        blocked.message += "; no new token is requested for the next " + detail::describe_duration(e.fetch_backoff) +
                           " (a refused token request is not repeated at once)";
        block(e, blocked, e.fetch_backoff, now);
        return true;
    }

    // A 401 on the token with this serial: drops it unless it was replaced meanwhile.
    // When it was younger than young_token_window and it is the second such 401 in a row,
    // new fetches are blocked; make_failure(blocked_for) builds the error callers get
    // meanwhile. Returns how long fetches are blocked (zero: fetch again at once).
    template <class MakeFailure>
    std::chrono::milliseconds refused(std::string_view key, std::uint64_t serial, time_point now,
                                      MakeFailure&& make_failure) {
        auto it = entries_.find(key);
        if (it == entries_.end() || !it->second.token || it->second.token->serial != serial)
            return std::chrono::milliseconds{0};
        entry& e = it->second;
        const bool young = now - e.token->received_at < lifecycle_.young_token_window;
        e.token.reset();
        if (!young) return std::chrono::milliseconds{0};
        if (++e.young_refusals < 2) return std::chrono::milliseconds{0};
        e.refusal_step = grown(e.refusal_step);
        block(e, make_failure(e.refusal_step), e.refusal_step, now);
        return e.refusal_step;
    }

    // The data plane accepted a token of this key: 401s on young tokens start counting anew.
    void accepted(std::string_view key) {
        auto it = entries_.find(key);
        if (it == entries_.end()) return;
        it->second.young_refusals = 0;
        it->second.refusal_step = std::chrono::milliseconds{0};
    }

    // Gives up a claim without a result (the operation holding it was dropped): a waiting
    // caller may claim the fetch next.
    void abandon(std::string_view key, std::uint64_t claim) {
        auto it = entries_.find(key);
        if (it == entries_.end() || it->second.claim != claim) return;
        it->second.claim = 0;
        ++it->second.generation;
    }

    // Drops the token with this serial (the one that got a 401), unless it was replaced
    // meanwhile. Returns true when it was dropped.
    bool invalidate(std::string_view key, std::uint64_t serial) {
        auto it = entries_.find(key);
        if (it == entries_.end() || !it->second.token || it->second.token->serial != serial) return false;
        it->second.token.reset();
        return true;
    }

    // Stores a token directly (a token supplied from outside, tests).
    const cached_token& put(std::string_view key, secret_string access_token, std::chrono::nanoseconds ttl,
                            time_point received) {
        return complete(key, 0, std::move(access_token), ttl, received);
    }

    const cached_token* find(std::string_view key) const {
        auto it = entries_.find(key);
        return it == entries_.end() || !it->second.token ? nullptr : &*it->second.token;
    }
    token_state state(std::string_view key, time_point now) const {
        const auto* t = find(key);
        return t ? t->state_at(now) : token_state::missing;
    }
    bool refreshing(std::string_view key) const {
        auto it = entries_.find(key);
        return it != entries_.end() && it->second.claim != 0;
    }
    // The earliest time a failed background refresh may be tried again.
    time_point next_background_try(std::string_view key) const {
        auto it = entries_.find(key);
        return it == entries_.end() ? time_point{} : it->second.next_background_try;
    }
    // Until when new fetches of `key` are blocked (a past time when they are not).
    time_point blocked_until(std::string_view key) const {
        auto it = entries_.find(key);
        return it == entries_.end() ? time_point{} : it->second.blocked_until;
    }
    // Forgets every token, claim and failure. The entries stay: slots point at them.
    void clear() {
        for (auto& kv : entries_) kv.second = entry{};
    }

private:
    struct entry {
        std::optional<cached_token> token;
        std::uint64_t claim = 0;  // the fetch in flight, 0 when none
        time_point next_background_try{};
        std::uint64_t generation = 0;  // bumped whenever a fetch ends
        std::optional<dbserve::error> failure;
        std::uint64_t failure_generation = 0;
        // Refusal backoff: no new fetch before blocked_until; callers get `refusal` at once.
        time_point blocked_until{};
        std::optional<dbserve::error> refusal;
        std::chrono::milliseconds fetch_backoff{0};  // the last period after a failed fetch
        std::chrono::milliseconds refusal_step{0};   // the last period after young-token 401s
        int young_refusals = 0;                      // 401s on young tokens since one was accepted
    };

    std::chrono::milliseconds grown(std::chrono::milliseconds last) const {
        const std::chrono::milliseconds cap = std::max(lifecycle_.max_refusal_backoff, std::chrono::milliseconds{0});
        if (last.count() <= 0) return std::min(std::max(lifecycle_.refusal_backoff, std::chrono::milliseconds{0}), cap);
        return last >= cap / 2 ? cap : last * 2;
    }

    static void block(entry& e, const dbserve::error& failure, std::chrono::milliseconds period, time_point now) {
        if (period.count() <= 0) return;
        e.blocked_until = now + period;
        e.refusal = failure;
    }

    acquisition acquire(entry& e, time_point now, std::uint64_t waited) {
        acquisition out;
        out.on_probation = e.young_refusals != 0;
        if (e.token) {
            const token_state s = e.token->state_at(now);
            if (s == token_state::fresh) {
                out.what = decision::use;
                out.token = &*e.token;
                return out;
            }
            if (s == token_state::stale) {
                out.token = &*e.token;
                if (e.claim == 0 && now >= e.next_background_try) {
                    e.claim = ++claims_;
                    out.what = decision::use_and_refresh;
                    out.ticket = e.claim;
                } else {
                    out.what = decision::use;
                }
                return out;
            }
        }
        // A waiter whose fetch failed gets that failure (below); any other caller, a
        // waiter whose fetched token was refused meanwhile included, gets the refusal.
        const bool awaited_fetch_failed = waited != 0 && e.failure && e.failure_generation > waited - 1;
        if (!awaited_fetch_failed && e.claim == 0 && e.refusal && now < e.blocked_until) {
            out.what = decision::fail;
            out.failure = &*e.refusal;
            return out;
        }
        return detail::fail_wait_or_claim(e, waited, claims_, out);
    }

    entry& entry_for(std::string_view key) {
        auto it = entries_.find(key);
        if (it != entries_.end()) return it->second;
        return entries_.emplace(std::string(key), entry{}).first->second;
    }

    token_lifecycle lifecycle_;
    std::map<std::string, entry, std::less<>> entries_;
    std::uint64_t claims_ = 0;
    std::uint64_t serials_ = 0;
};

DBSERVE_END_NAMESPACE
