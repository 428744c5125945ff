// The Clock policy: where the library reads time and how it waits.
//
// A Clock has
//     std::chrono::system_clock::time_point wall_now() const;      // token expiry
//     std::chrono::steady_clock::time_point monotonic_now() const;  // backoff, deadlines
//     void sleep_until(std::chrono::steady_clock::time_point) const;  // blocking client
//     void async_wait_until(std::chrono::steady_clock::time_point,
//                           std::function<void()>) const;           // asynchronous client
// and every member is safe to call from any thread.
//
// system_clock_policy reads the real clocks; manual_clock is for tests and simulations:
// time moves only when the test says so, and nothing ever sleeps.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

namespace detail {

// One background thread shared by every system_clock_policy: it runs each callback
// handed to async_wait_until once its deadline has passed. It starts on the first wait
// (a program that never waits asynchronously never gets the thread) and is stopped and
// joined at exit, at the point where a function-local static created at that first wait
// would be destroyed; waits still pending then are dropped without being called, and
// waits scheduled later (from another static's destructor) are dropped at once. Callbacks
// run on the timer thread, one at a time, outside the lock, so a callback may schedule
// another wait; a long callback delays later ones, so callbacks should hand real work
// elsewhere. Callbacks must not throw.
class timer_thread {
public:
    using time_point = std::chrono::steady_clock::time_point;

    static timer_thread& instance() {
        // The object itself is never destroyed, so a call that comes after the stop (a
        // late static destructor) finds a valid, stopped timer instead of a dead one.
        union storage {
            timer_thread value;
            storage() : value() {}
            ~storage() {}
        };
        static storage timers;
        // Constructed right after `timers`, so destroyed at the same point of exit.
        struct stopper {
            ~stopper() { timers.value.stop(); }
        };
        static stopper stop_at_exit;
        (void)stop_at_exit;
        return timers.value;
    }

    void schedule(time_point deadline, std::function<void()> callback) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) return;  // exit is under way; `callback` is dropped on return
            if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
            // multimap keeps equal deadlines in the order they were scheduled.
            waits_.emplace(deadline, std::move(callback));
        }
        wake_.notify_one();
    }

    std::size_t pending() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return waits_.size();
    }

    timer_thread(const timer_thread&) = delete;
    timer_thread& operator=(const timer_thread&) = delete;

private:
    timer_thread() = default;
    ~timer_thread() = default;

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (worker_.joinable()) {
            // exit() called from a callback runs this on the timer thread itself.
            if (worker_.get_id() == std::this_thread::get_id()) worker_.detach();
            else worker_.join();
        }
        std::multimap<time_point, std::function<void()>> dropped;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            dropped.swap(waits_);
        }
        // `dropped` (and whatever the callbacks captured) is destroyed outside the lock.
    }

    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
            if (waits_.empty()) {
                wake_.wait(lock);
                continue;
            }
            const auto first = waits_.begin();
            if (std::chrono::steady_clock::now() < first->first) {
                // Woken early by a new, earlier wait, by stop, or spuriously: re-check.
                wake_.wait_until(lock, first->first);
                continue;
            }
            std::function<void()> callback = std::move(first->second);
            waits_.erase(first);
            lock.unlock();
            if (callback) callback();
            callback = nullptr;  // release captures before taking the lock again
            lock.lock();
        }
    }

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::multimap<time_point, std::function<void()>> waits_;
    std::thread worker_;
    bool stopping_ = false;
};

}  // namespace detail

// The real clocks. Stateless: copies are free and all share the one timer thread.
struct system_clock_policy {
    using wall_clock = std::chrono::system_clock;
    using monotonic_clock = std::chrono::steady_clock;

    wall_clock::time_point wall_now() const { return wall_clock::now(); }
    monotonic_clock::time_point monotonic_now() const { return monotonic_clock::now(); }

    // Blocks the calling thread: only the blocking client calls this.
    void sleep_until(monotonic_clock::time_point deadline) const {
        std::this_thread::sleep_until(deadline);
    }

    // Calls `callback` on the shared timer thread once `deadline` has passed (at once,
    // on that thread, if it already has). See detail::timer_thread for the rules.
    void async_wait_until(monotonic_clock::time_point deadline, std::function<void()> callback) const {
        detail::timer_thread::instance().schedule(deadline, std::move(callback));
    }
};

// A clock that moves only when told to. Copies share one state, so a test keeps a copy,
// hands another to the client, and steps time forward with advance().
//
// - Wall and monotonic time move together; set_wall() moves only the wall clock (to
//   simulate a clock jump) since monotonic time never goes back.
// - async_wait_until() registers a callback; advance() fires every wait whose deadline it
//   passes, in deadline order (equal deadlines in the order registered). While a wait
//   fires, monotonic_now() reads its deadline, so a callback that schedules a follow-up
//   wait within the same advance() sees it fire too, exactly as real time would.
//   Callbacks run on the thread calling advance(), outside the internal lock.
// - sleep_until() does not sleep: it records the duration and advances to the deadline.
class manual_clock {
public:
    using wall_clock = std::chrono::system_clock;
    using monotonic_clock = std::chrono::steady_clock;

    // 2026-01-01T00:00:00Z: a fixed, readable starting point for tests.
    static constexpr std::int64_t default_wall_start_seconds = 1'767'225'600;

    manual_clock()
        : manual_clock(wall_clock::time_point(std::chrono::seconds(default_wall_start_seconds))) {}
    explicit manual_clock(wall_clock::time_point wall_start) : state_(std::make_shared<state>()) {
        state_->wall_base = wall_start;
    }

    wall_clock::time_point wall_now() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return wall_locked();
    }
    monotonic_clock::time_point monotonic_now() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->now;
    }

    // Records how long the caller asked to sleep, then advances to the deadline.
    void sleep_until(monotonic_clock::time_point deadline) const {
        std::chrono::nanoseconds step{0};
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            const auto from = state_->target > state_->now ? state_->target : state_->now;
            if (deadline > from) step = deadline - from;
            state_->sleeps.push_back(deadline > state_->now ? deadline - state_->now
                                                            : std::chrono::nanoseconds{0});
        }
        advance(step);
    }

    void async_wait_until(monotonic_clock::time_point deadline, std::function<void()> callback) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->waits.emplace(deadline, std::move(callback));
    }

    // Moves both clocks forward by `d` (negative values count as zero), firing every
    // async wait that comes due on the way.
    void advance(std::chrono::nanoseconds d) const {
        std::unique_lock<std::mutex> lock(state_->mutex);
        if (d > std::chrono::nanoseconds{0}) {
            // Several threads may advance at once: each adds its step to one shared target.
            if (state_->target < state_->now) state_->target = state_->now;
            state_->target += d;
        }
        for (;;) {
            const auto first = state_->waits.begin();
            if (first == state_->waits.end() || first->first > state_->target) break;
            if (first->first > state_->now) state_->now = first->first;
            std::function<void()> callback = std::move(first->second);
            state_->waits.erase(first);
            lock.unlock();
            if (callback) callback();
            callback = nullptr;
            lock.lock();
        }
        if (state_->target > state_->now) state_->now = state_->target;
    }

    // Sets the wall clock reading; the monotonic clock is unchanged.
    void set_wall(wall_clock::time_point t) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->wall_base = t;
        state_->wall_base_mono = state_->now;
    }

    // Every duration passed to sleep_until (as deadline minus the time of the call).
    std::vector<std::chrono::nanoseconds> sleeps() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->sleeps;
    }

    std::size_t pending_waits() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->waits.size();
    }

private:
    struct state {
        std::mutex mutex;
        // Monotonic time starts an hour past the epoch so no reading equals a
        // default-constructed time_point.
        monotonic_clock::time_point now{std::chrono::hours(1)};
        monotonic_clock::time_point target{std::chrono::hours(1)};
        wall_clock::time_point wall_base;
        monotonic_clock::time_point wall_base_mono{std::chrono::hours(1)};
        std::multimap<monotonic_clock::time_point, std::function<void()>> waits;
        std::vector<std::chrono::nanoseconds> sleeps;
    };

    wall_clock::time_point wall_locked() const {
        return state_->wall_base +
               std::chrono::duration_cast<wall_clock::duration>(state_->now - state_->wall_base_mono);
    }

    std::shared_ptr<state> state_;
};

DBSERVE_END_NAMESPACE
