// async_query() asks the Clock for async_wait_until(), and only it: one error, naming what
// the asynchronous queries need.
// standards: 17 20
// expect: the Clock policy needs `void async_wait_until(std::chrono::steady_clock::time_point, std::function<void()>) const` (taking what monotonic_now() returns) for asynchronous queries
#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

struct readings_only_clock {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    std::chrono::steady_clock::time_point monotonic_now() const { return {}; }
};

int main() {
    using traits = dbserve::traits_for<dbserve::testing::fake_async_transport, readings_only_clock>;
    dbserve::basic_client<traits> client(dbserve::client_config{});
    client.async_query(std::string("{}"), [](dbserve::result<dbserve::query_response>) {});
}
