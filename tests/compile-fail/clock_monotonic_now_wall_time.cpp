// A monotonic_now() that reads wall time is told apart from a missing one: system_clock
// time can jump, so it is not a monotonic reading.
// expect: the Clock's `monotonic_now()` exists but is not const or returns wall time
#include <dbserve/client/policy_checks.hpp>

struct clock_with_wall_time_as_monotonic {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    std::chrono::system_clock::time_point monotonic_now() const { return {}; }
};

static_assert(dbserve::check_client_clock<clock_with_wall_time_as_monotonic>());
