// A member that exists but is not const is told apart from a missing one.
// expect: the Clock's `wall_now()` exists but is not const
// expect: `std::chrono::system_clock::time_point wall_now() const`
#include <dbserve/client/policy_checks.hpp>

struct clock_with_non_const_wall_now {
    std::chrono::system_clock::time_point wall_now() { return {}; }
    std::chrono::steady_clock::time_point monotonic_now() const { return {}; }
    void sleep_until(std::chrono::steady_clock::time_point) const {}
    void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const {}
};

static_assert(dbserve::check_clock<clock_with_non_const_wall_now>());
