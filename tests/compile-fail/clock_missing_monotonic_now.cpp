// A Clock without monotonic_now() is refused with the exact signature it needs.
// expect: the Clock policy needs `std::chrono::steady_clock::time_point monotonic_now() const`
#include <dbserve/client/policy_checks.hpp>

struct clock_without_monotonic_now {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    void sleep_until(std::chrono::steady_clock::time_point) const {}
    void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const {}
};

static_assert(dbserve::check_clock<clock_without_monotonic_now>());
