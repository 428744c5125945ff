// An empty type gets one error per missing member, and nothing else.
// standards: 17 20
// errors: 4
// expect: `std::chrono::system_clock::time_point wall_now() const`
// expect: `std::chrono::steady_clock::time_point monotonic_now() const`
// expect: `void sleep_until(std::chrono::steady_clock::time_point) const`
// expect: `void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const`
#include <dbserve/client/policy_checks.hpp>

struct not_a_clock {};

static_assert(dbserve::check_clock<not_a_clock>());
