// query() asks the Clock for sleep_until(), and only it: one error, naming what blocking
// queries need.
// standards: 17 20
// expect: the Clock policy needs `void sleep_until(std::chrono::steady_clock::time_point) const` (taking what monotonic_now() returns) for blocking queries
#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

struct readings_only_clock {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    std::chrono::steady_clock::time_point monotonic_now() const { return {}; }
};

int main() {
    using traits = dbserve::traits_for<dbserve::testing::fake_transport, readings_only_clock>;
    dbserve::basic_client<traits> client(dbserve::client_config{});
    (void)client.query(std::string("{}"));
}
