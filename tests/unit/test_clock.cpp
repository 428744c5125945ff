#include <dbserve/client/clock.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

namespace {

// Waits (with a deadline, so a broken timer fails the test instead of hanging it) until
// `count` reaches `expected`.
struct countdown {
    std::mutex mutex;
    std::condition_variable changed;
    int count = 0;

    void increment() {
        std::lock_guard<std::mutex> lock(mutex);
        ++count;
        changed.notify_all();
    }
    bool wait_for(int expected) {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, 30s, [&] { return count >= expected; });
    }
};

// Constructed before main, so destroyed after the timer thread has stopped: its wait comes
// too late and must be dropped quietly (no crash, no hang at exit).
struct schedules_a_wait_at_exit {
    ~schedules_a_wait_at_exit() {
        system_clock_policy clock;
        clock.async_wait_until(clock.monotonic_now(), [] {});
    }
} late_waiter;

}  // namespace

// ---------------------------------------------------------------- system_clock_policy

TEST_CASE("system_clock_policy reads the real wall and monotonic clocks") {
    system_clock_policy clock;
    const auto wall_before = std::chrono::system_clock::now();
    const auto wall = clock.wall_now();
    const auto wall_after = std::chrono::system_clock::now();
    CHECK(wall_before <= wall);
    CHECK(wall <= wall_after);

    const auto mono_before = std::chrono::steady_clock::now();
    const auto mono = clock.monotonic_now();
    const auto mono_after = std::chrono::steady_clock::now();
    CHECK(mono_before <= mono);
    CHECK(mono <= mono_after);
}

TEST_CASE("system_clock_policy::sleep_until returns at once for a deadline in the past") {
    // A deadline an hour ago: a sleep that took the distance the wrong way round, or waited
    // for a wake-up that never comes, would still be asleep when the guard gives up.
    system_clock_policy clock;
    const auto deadline = clock.monotonic_now() - 1h;
    auto returned = std::make_shared<countdown>();  // outlives a detached sleeper
    std::thread sleeper([clock, deadline, returned] {
        clock.sleep_until(deadline);
        returned->increment();
    });
    const bool in_time = returned->wait_for(1);
    if (!in_time) sleeper.detach();  // still asleep: fail, without waiting an hour for it
    else sleeper.join();
    CHECK(in_time);
}

TEST_CASE("system_clock_policy fires an async wait whose deadline has passed, on another thread") {
    system_clock_policy clock;
    countdown done;
    std::thread::id fired_on;
    clock.async_wait_until(clock.monotonic_now() - 1s, [&] {
        fired_on = std::this_thread::get_id();
        done.increment();
    });
    REQUIRE(done.wait_for(1));
    const bool fired_on_this_thread = fired_on == std::this_thread::get_id();
    CHECK_FALSE(fired_on_this_thread);
}

TEST_CASE("system_clock_policy fires async waits in deadline order") {
    system_clock_policy clock;
    // Hold the timer thread in a first callback until every other wait is registered, so
    // the order depends on the deadlines only, never on scheduling luck.
    std::mutex gate_mutex;
    std::condition_variable gate_changed;
    bool gate_open = false;
    countdown done;
    std::vector<int> order;
    std::mutex order_mutex;
    const auto base = clock.monotonic_now() - 1h;

    clock.async_wait_until(base, [&] {
        std::unique_lock<std::mutex> lock(gate_mutex);
        gate_changed.wait_for(lock, 30s, [&] { return gate_open; });
        done.increment();
    });
    for (int i : {3, 1, 4, 2, 5}) {
        clock.async_wait_until(base + std::chrono::milliseconds(i), [&, i] {
            {
                std::lock_guard<std::mutex> lock(order_mutex);
                order.push_back(i);
            }
            done.increment();
        });
    }
    {
        std::lock_guard<std::mutex> lock(gate_mutex);
        gate_open = true;
    }
    gate_changed.notify_all();
    REQUIRE(done.wait_for(6));
    std::lock_guard<std::mutex> lock(order_mutex);
    CHECK(order == std::vector<int>{1, 2, 3, 4, 5});
}

TEST_CASE("a system_clock_policy callback may schedule another wait") {
    system_clock_policy clock;
    countdown done;
    clock.async_wait_until(clock.monotonic_now(), [&] {
        done.increment();
        clock.async_wait_until(clock.monotonic_now(), [&] { done.increment(); });
    });
    CHECK(done.wait_for(2));
}

TEST_CASE("system_clock_policy is safe to use from many threads at once") {
    system_clock_policy clock;
    countdown done;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 25; ++i) clock.async_wait_until(clock.monotonic_now(), [&] { done.increment(); });
        });
    for (auto& t : threads) t.join();
    CHECK(done.wait_for(100));
}

TEST_CASE("a wait still pending at exit does not keep the process alive") {
    // The timer thread is joined during static destruction and drops this wait; if it did
    // not, this test program would never exit.
    system_clock_policy clock;
    auto captured = std::make_shared<int>(42);
    clock.async_wait_until(clock.monotonic_now() + 24h, [captured] { CHECK(false); });
    CHECK(captured.use_count() == 2);
}

// ---------------------------------------------------------------- manual_clock

TEST_CASE("manual_clock starts at a fixed wall time and a non-default monotonic time") {
    manual_clock clock;
    CHECK(clock.wall_now() == std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600)));
    CHECK(clock.monotonic_now() != std::chrono::steady_clock::time_point());
    const auto start = std::chrono::system_clock::time_point(std::chrono::seconds(1'000));
    CHECK(manual_clock(start).wall_now() == start);
}

TEST_CASE("manual_clock does not move by itself") {
    manual_clock clock;
    const auto wall = clock.wall_now();
    const auto mono = clock.monotonic_now();
    CHECK(clock.wall_now() == wall);
    CHECK(clock.monotonic_now() == mono);
}

TEST_CASE("advance moves the wall and monotonic clocks together") {
    manual_clock clock;
    const auto wall = clock.wall_now();
    const auto mono = clock.monotonic_now();
    clock.advance(90s);
    CHECK(clock.wall_now() - wall == 90s);
    CHECK(clock.monotonic_now() - mono == 90s);
    clock.advance(1ns);
    CHECK(clock.monotonic_now() - mono == 90s + 1ns);
}

TEST_CASE("advance by a negative duration does nothing") {
    manual_clock clock;
    const auto mono = clock.monotonic_now();
    clock.advance(-5s);
    CHECK(clock.monotonic_now() == mono);
}

TEST_CASE("set_wall moves only the wall clock") {
    manual_clock clock;
    const auto mono = clock.monotonic_now();
    const auto jump = std::chrono::system_clock::time_point(std::chrono::seconds(2'000'000'000));
    clock.set_wall(jump);
    CHECK(clock.wall_now() == jump);
    CHECK(clock.monotonic_now() == mono);
    clock.advance(10s);
    CHECK(clock.wall_now() == jump + 10s);
    // A jump backwards (an NTP correction) is allowed for wall time.
    clock.set_wall(jump - 1h);
    CHECK(clock.wall_now() == jump - 1h);
    CHECK(clock.monotonic_now() == mono + 10s);
}

TEST_CASE("copies of a manual_clock share one time") {
    manual_clock clock;
    manual_clock copy = clock;
    const auto mono = clock.monotonic_now();
    copy.advance(5s);
    CHECK(clock.monotonic_now() == mono + 5s);
    int fired = 0;
    clock.async_wait_until(mono + 6s, [&] { ++fired; });
    CHECK(copy.pending_waits() == 1);
    copy.advance(1s);
    CHECK(fired == 1);
}

TEST_CASE("an async wait does not fire before advance reaches its deadline") {
    manual_clock clock;
    int fired = 0;
    clock.async_wait_until(clock.monotonic_now() + 10s, [&] { ++fired; });
    CHECK(clock.pending_waits() == 1);
    clock.advance(9s);
    CHECK(fired == 0);
    clock.advance(1s);  // exactly at the deadline
    CHECK(fired == 1);
    CHECK(clock.pending_waits() == 0);
    clock.advance(1h);
    CHECK(fired == 1);  // once only
}

TEST_CASE("a wait whose deadline has passed fires on the next advance, even by zero") {
    manual_clock clock;
    int fired = 0;
    clock.async_wait_until(clock.monotonic_now() - 1s, [&] { ++fired; });
    CHECK(fired == 0);  // async_wait_until never calls back inline
    clock.advance(0s);
    CHECK(fired == 1);
}

TEST_CASE("async waits fire in deadline order when advance passes them") {
    manual_clock clock;
    const auto now = clock.monotonic_now();
    std::vector<int> order;
    for (int i : {3, 1, 4, 2}) clock.async_wait_until(now + std::chrono::seconds(i), [&, i] { order.push_back(i); });
    clock.advance(10s);
    CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("waits with equal deadlines fire in the order they were registered") {
    manual_clock clock;
    const auto deadline = clock.monotonic_now() + 1s;
    std::vector<int> order;
    for (int i = 0; i < 5; ++i) clock.async_wait_until(deadline, [&, i] { order.push_back(i); });
    clock.advance(1s);
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("while a wait fires, the clock reads its deadline") {
    manual_clock clock;
    const auto start = clock.monotonic_now();
    const auto wall_start = clock.wall_now();
    std::vector<std::chrono::steady_clock::duration> seen;
    std::vector<std::chrono::system_clock::duration> seen_wall;
    for (auto d : {2s, 5s}) {
        clock.async_wait_until(start + d, [&] {
            seen.push_back(clock.monotonic_now() - start);
            seen_wall.push_back(clock.wall_now() - wall_start);
        });
    }
    clock.advance(1min);
    CHECK(seen == std::vector<std::chrono::steady_clock::duration>{2s, 5s});
    CHECK(seen_wall == std::vector<std::chrono::system_clock::duration>{2s, 5s});
    CHECK(clock.monotonic_now() - start == 1min);
}

TEST_CASE("a wait scheduled by a callback fires in the same advance when it comes due") {
    manual_clock clock;
    const auto start = clock.monotonic_now();
    std::vector<std::chrono::steady_clock::duration> fired_at;
    // A retry loop: each callback schedules the next try 3 s later.
    std::function<void()> retry = [&] {
        fired_at.push_back(clock.monotonic_now() - start);
        clock.async_wait_until(clock.monotonic_now() + 3s, retry);
    };
    clock.async_wait_until(start + 3s, retry);
    clock.advance(10s);
    CHECK(fired_at == std::vector<std::chrono::steady_clock::duration>{3s, 6s, 9s});
    CHECK(clock.pending_waits() == 1);  // the one due at 12 s
    clock.advance(2s);
    CHECK(fired_at.size() == 4);
}

TEST_CASE("callbacks run outside the clock's lock") {
    // Each of these calls takes the internal lock: a callback holding it would deadlock.
    manual_clock clock;
    bool ran = false;
    clock.async_wait_until(clock.monotonic_now(), [&] {
        (void)clock.wall_now();
        (void)clock.monotonic_now();
        (void)clock.pending_waits();
        (void)clock.sleeps();
        clock.set_wall(clock.wall_now());
        clock.async_wait_until(clock.monotonic_now() + 1h, [] {});
        clock.advance(0s);
        ran = true;
    });
    clock.advance(0s);
    CHECK(ran);
    CHECK(clock.pending_waits() == 1);
}

TEST_CASE("manual_clock::sleep_until does not sleep: it records the duration and advances") {
    manual_clock clock;
    const auto start = clock.monotonic_now();
    clock.sleep_until(start + 250ms);
    CHECK(clock.monotonic_now() == start + 250ms);
    clock.sleep_until(start + 1250ms);
    CHECK(clock.monotonic_now() == start + 1250ms);
    CHECK(clock.sleeps() == std::vector<nanoseconds>{250ms, 1s});
}

TEST_CASE("sleep_until a deadline in the past records zero and leaves the clock alone") {
    manual_clock clock;
    const auto start = clock.monotonic_now();
    clock.sleep_until(start - 5s);
    CHECK(clock.monotonic_now() == start);
    CHECK(clock.sleeps() == std::vector<nanoseconds>{0ns});
}

TEST_CASE("sleep_until fires the async waits it passes") {
    manual_clock clock;
    const auto start = clock.monotonic_now();
    std::vector<int> order;
    clock.async_wait_until(start + 1s, [&] { order.push_back(1); });
    clock.async_wait_until(start + 3s, [&] { order.push_back(3); });
    clock.sleep_until(start + 2s);
    CHECK(order == std::vector<int>{1});
    CHECK(clock.pending_waits() == 1);
}

TEST_CASE("manual_clock is safe to advance from several threads") {
    manual_clock clock;
    const auto start = clock.monotonic_now();
    std::atomic<int> fired{0};
    for (int i = 1; i <= 400; ++i) clock.async_wait_until(start + std::chrono::milliseconds(i), [&] { ++fired; });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                clock.advance(1ms);
                clock.async_wait_until(clock.monotonic_now() + 1h, [] {});
            }
        });
    for (auto& t : threads) t.join();
    CHECK(fired == 400);  // each wait fired exactly once
    CHECK(clock.monotonic_now() == start + 400ms);  // every step counted
    CHECK(clock.pending_waits() == 400);
}
