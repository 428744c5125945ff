// A Clock without async_wait_until() is refused with the exact signature it needs.
// expect: the Clock policy needs `void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const`
#include <dbserve/client/policy_checks.hpp>

struct clock_without_async_wait_until {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    std::chrono::steady_clock::time_point monotonic_now() const { return {}; }
    void sleep_until(std::chrono::steady_clock::time_point) const {}
};

static_assert(dbserve::check_clock<clock_without_async_wait_until>());
