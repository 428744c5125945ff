// One look at a single-flight cache, the same for the three a query uses (the endpoint
// cache, the control-plane and the data-plane token caches): the value is there, this
// caller fetches it, or it waits for another caller's fetch, or that fetch failed.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/token_cache.hpp>

#include <cstdint>
#include <type_traits>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

enum class cache_turn {
    use,              // the value is there
    use_and_refresh,  // a stale token is there; the acquisition's ticket claims its refresh
    fetch,            // nothing usable: this caller holds the claim and fetches
    wait,             // another caller fetches: look again once it reports
    fail,             // the awaited fetch failed, or fetches are blocked: the acquisition's failure
};

// What an acquisition (token_cache::acquisition or endpoint_cache::acquisition) tells its
// caller, with the tickets filed: `waiting`, the ticket to present on the next look (0
// once the wait is over); `claim`, the fetch this caller now holds.
template <class Acquisition>
cache_turn take_turn(const Acquisition& got, std::uint64_t& waiting, std::uint64_t& claim) noexcept {
    using decision = decltype(got.what);
    if (got.what == decision::wait) {
        waiting = got.ticket;
        return cache_turn::wait;
    }
    if (got.what == decision::fail) return cache_turn::fail;
    waiting = 0;
    if (got.what == decision::fetch) {
        claim = got.ticket;
        return cache_turn::fetch;
    }
    if constexpr (std::is_same<decision, token_cache::decision>::value) {
        if (got.what == decision::use_and_refresh) return cache_turn::use_and_refresh;
    }
    return cache_turn::use;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
