// Under C++20 the clock_policy concept names the requirement that is not met.
// standards: 20
// expect: clock_policy
// expect: wall_now()
#include <dbserve/client/policy_checks.hpp>

struct clock_without_wall_now {
    std::chrono::steady_clock::time_point monotonic_now() const { return {}; }
    void sleep_until(std::chrono::steady_clock::time_point) const {}
    void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const {}
};

static_assert(dbserve::clock_policy<clock_without_wall_now>);
