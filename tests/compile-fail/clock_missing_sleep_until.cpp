// A Clock without sleep_until() is refused with the exact signature it needs.
// expect: the Clock policy needs `void sleep_until(std::chrono::steady_clock::time_point) const`
#include <dbserve/client/policy_checks.hpp>

struct clock_without_sleep_until {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    std::chrono::steady_clock::time_point monotonic_now() const { return {}; }
    void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const {}
};

static_assert(dbserve::check_clock<clock_without_sleep_until>());
