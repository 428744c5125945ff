// The counters behind client_statistics, bumped without a lock by the queries of one
// endpoint and read as a snapshot.
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <atomic>
#include <cstdint>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct atomic_statistics {
    std::atomic<std::uint64_t> token_requests{0};
    std::atomic<std::uint64_t> control_plane_token_requests{0};
    std::atomic<std::uint64_t> supplied_token_calls{0};
    std::atomic<std::uint64_t> discoveries{0};
    std::atomic<std::uint64_t> invocations{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::uint64_t> token_waits{0};
    std::atomic<std::uint64_t> queries_started{0};
    std::atomic<std::uint64_t> queries_succeeded{0};
    std::atomic<std::uint64_t> queries_failed{0};
    std::atomic<std::uint64_t> identity_token_requests{0};
    std::atomic<std::uint64_t> credential_loads{0};
    std::atomic<std::uint64_t> credential_reloads{0};

    static void bump(std::atomic<std::uint64_t>& counter) noexcept {
        counter.fetch_add(1, std::memory_order_relaxed);
    }
    client_statistics snapshot() const noexcept {
        client_statistics s;
        add_to(s);
        return s;
    }
    // Adds these counters to `sum` (a workspace's statistics are its endpoints' sums).
    void add_to(client_statistics& sum) const noexcept {
        sum.token_requests += token_requests.load(std::memory_order_relaxed);
        sum.control_plane_token_requests += control_plane_token_requests.load(std::memory_order_relaxed);
        sum.supplied_token_calls += supplied_token_calls.load(std::memory_order_relaxed);
        sum.discoveries += discoveries.load(std::memory_order_relaxed);
        sum.invocations += invocations.load(std::memory_order_relaxed);
        sum.retries += retries.load(std::memory_order_relaxed);
        sum.token_waits += token_waits.load(std::memory_order_relaxed);
        sum.queries_started += queries_started.load(std::memory_order_relaxed);
        sum.queries_succeeded += queries_succeeded.load(std::memory_order_relaxed);
        sum.queries_failed += queries_failed.load(std::memory_order_relaxed);
        sum.identity_token_requests += identity_token_requests.load(std::memory_order_relaxed);
        sum.credential_loads += credential_loads.load(std::memory_order_relaxed);
        sum.credential_reloads += credential_reloads.load(std::memory_order_relaxed);
    }
};

}  // namespace detail
DBSERVE_END_NAMESPACE
