// Control: a poll client needs only the Clock's readings, and they may be any monotonic
// time base: an engine's own time_point, or a plain duration; blocking and asynchronous
// clients over such a clock compile when it has the waits in that same type.
// standards: 17 20
#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

struct engine_time {
    using rep = long long;
    using period = std::micro;
    using duration = std::chrono::microseconds;
    using time_point = std::chrono::time_point<engine_time>;
    static constexpr bool is_steady = true;
};

struct readings_only_clock {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    engine_time::time_point monotonic_now() const { return {}; }
};

struct duration_clock {
    std::chrono::system_clock::time_point wall_now() const { return {}; }
    std::chrono::milliseconds monotonic_now() const { return {}; }
    void sleep_until(std::chrono::milliseconds) const {}
    void async_wait_until(std::chrono::milliseconds, std::function<void()>) const {}
};

int main() {
    dbserve::basic_client<dbserve::traits_for<dbserve::no_transport, readings_only_clock>> poll(
        dbserve::client_config{});
    auto op = poll.start_query(std::string("{}"));
    (void)op;
    dbserve::basic_client<dbserve::traits_for<dbserve::testing::fake_transport, duration_clock>> blocking(
        dbserve::client_config{});
    (void)blocking.query(std::string("{}"));
    dbserve::basic_client<dbserve::traits_for<dbserve::testing::fake_async_transport, duration_clock>> async(
        dbserve::client_config{});
    async.async_query(std::string("{}"), [](dbserve::result<dbserve::query_response>) {});
}
