// The single-flight rule the token cache and the endpoint cache share: when a caller has
// no usable value, at most one caller fetches it while the others wait for that fetch.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <cstdint>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

// For an entry with nothing usable: tell a waiter whose wait ended in failure that it
// failed, make a caller wait while another holds the claim, or hand this caller the claim.
// Entry has claim, generation, failure (optional<error>) and failure_generation;
// Acquisition has what (an enum with fail, wait and fetch), ticket and failure.
template <class Entry, class Acquisition>
Acquisition& fail_wait_or_claim(Entry& e, std::uint64_t waited, std::uint64_t& claims, Acquisition& out) {
    using decision = decltype(out.what);
    if (waited != 0 && e.failure && e.failure_generation > waited - 1) {
        out.what = decision::fail;
        out.failure = &*e.failure;
        return out;
    }
    if (e.claim != 0) {
        out.what = decision::wait;
        // Tickets are generation + 1 so that 0 can mean "not waiting".
        out.ticket = e.generation + 1;
        return out;
    }
    e.claim = ++claims;
    out.what = decision::fetch;
    out.ticket = e.claim;
    return out;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
