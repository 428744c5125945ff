// Load mode (--repeat N, --duration S, --concurrency C, --rate R): one client, its queries
// started asynchronously (the client's callback API on the transport's event loop: one
// thread drives all of them), never more than C in flight. Without --rate the load is
// closed: each finished query starts the next, so C are always in flight, and a latency is
// measured from its send. With --rate R it is open: query i is due at start + i/R whether
// or not the server keeps up, and its latency is measured from that due time, so a slow
// server shows as latency rather than as lower throughput; when C are in flight the next
// waits (its latency still counting) and a warning goes to stderr. The run ends when N
// have started or S seconds have passed, or when interrupted (Ctrl-C: the queries in
// flight finish and the summary is still printed). A progress bar goes to stderr when it
// is a terminal. The result is a load_report; the caller prints it.
//
// --duration is a promise: no query may run past it. start_query is given the time left (or
// --max-time when that is shorter) for a caller that bounds each query itself; dbserve-query
// bounds the run through its transport instead (cli_transport::cut_sends_at). A query in
// flight when time is up times out (or, not sent any more, is cancelled); it is counted as
// unfinished, not as a failure (a healthy run always ends with some in flight), unless no
// query finished at all. A query still running a grace period after that (a dependency
// that ignores the deadline) is left behind and counted as unfinished too; the caller must
// then end the process without unwinding (load_outcome::abandoned), since it still uses
// the client.
#pragma once

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "load_report.hpp"

#include <dbserve/protocol/error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace dbserve_query {

struct load_outcome {
    load_report report;
    int exit = exit_success;  // the exit code of the first failure, if any
    std::string first_failure;
    bool interrupted = false;  // ended early by SIGINT or SIGTERM
    std::size_t abandoned = 0;  // workers still inside a query after the grace period
};

// How long after --duration workers get to return before they are left behind.
inline constexpr std::chrono::seconds load_grace_period{2};

namespace detail {

// Set from a signal handler: a lock-free atomic is safe to store to there.
inline std::atomic<bool>& load_interrupted() {
    static std::atomic<bool> interrupted{false};
    return interrupted;
}
extern "C" inline void on_load_interrupt(int) { load_interrupted().store(true); }

inline void draw_progress(std::FILE* out, double fraction, const std::string& label) {
    constexpr int width = 30;
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    const int filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '.');
    std::fprintf(out, "\r[%s] %s\033[K", bar.c_str(), label.c_str());
    std::fflush(out);
}

// The deadline of a query starting at `now`: the time left until `end` (at least 1 ms),
// or `max_time` when that is shorter; zero when neither bounds it.
inline std::chrono::milliseconds query_deadline_at(std::chrono::steady_clock::time_point now,
                                                   std::optional<std::chrono::steady_clock::time_point> end,
                                                   std::chrono::milliseconds max_time) {
    std::chrono::milliseconds deadline = max_time;
    if (end) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*end - now);
        if (left < std::chrono::milliseconds(1)) left = std::chrono::milliseconds(1);
        if (deadline.count() == 0 || left < deadline) deadline = left;
    }
    return deadline;
}

// Draws the progress bar every 200 ms until s->done.
template <class State>
std::thread start_progress_painter(std::shared_ptr<State> s, const cli_options& o,
                                   std::chrono::steady_clock::time_point started, bool by_count, long total) {
    return std::thread([s, started, by_count, total, &o] {
        std::unique_lock<std::mutex> lock(s->mutex);
        while (!s->done) {
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            const long n = s->finished.load();
            std::string label = std::to_string(n) + (by_count ? "/" + std::to_string(total) : std::string()) +
                                " queries, " + std::to_string(s->failed.load()) + " failed";
            double fraction = by_count ? static_cast<double>(n) / static_cast<double>(total) : 0.0;
            if (o.duration_s) {
                char seconds[64];
                std::snprintf(seconds, sizeof seconds, ", %.1f/%.0f s", elapsed, *o.duration_s);
                label += seconds;
                if (!by_count) fraction = elapsed / *o.duration_s;
            }
            draw_progress(stderr, fraction, label);
            s->changed.wait_for(lock, std::chrono::milliseconds(200));
        }
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    });
}

}  // namespace detail

// When --duration ends a run that started at `started` (none without --duration).
inline std::optional<std::chrono::steady_clock::time_point> load_end(const cli_options& o,
                                                                    std::chrono::steady_clock::time_point started) {
    if (!o.duration_s) return std::nullopt;
    return started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(*o.duration_s));
}

// start_query(std::chrono::milliseconds deadline, done) starts one query that must end
// within `deadline` (zero: no bound beyond the client's own) and calls
// done(dbserve::result<T>) (any T) exactly once, on any thread, when it ends.
// `started` lets the caller know the run's end beforehand (load_end(o, started)).
template <class StartQuery>
load_outcome run_load(const cli_options& o, StartQuery start_query, bool progress,
                      std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now()) {
    using clock = std::chrono::steady_clock;
    const bool by_count = o.repeat.has_value();
    const long total = by_count ? *o.repeat : 0;
    const std::optional<clock::time_point> end = load_end(o, started);
    const std::chrono::milliseconds max_time =
        o.max_time_s ? detail::to_milliseconds(*o.max_time_s) : std::chrono::milliseconds(0);
    const bool open_loop = o.rate.has_value();

    std::signal(SIGINT, detail::on_load_interrupt);
    std::signal(SIGTERM, detail::on_load_interrupt);

    // Shared with the completion handlers, which may outlive this call (see above).
    struct shared_state {
        std::mutex mutex;
        std::condition_variable changed;
        load_outcome outcome;
        long in_flight = 0;  // started, handler not yet called
        long issued = 0;
        bool done = false;  // no more queries start; the painter stops
        std::string first_unfinished;
        std::atomic<long> finished{0};
        std::atomic<long> failed{0};
        // Starts a query due at the given time; cleared when the run ends (it refers to s).
        std::function<void(clock::time_point)> launch;
    };
    auto s = std::make_shared<shared_state>();

    // Whether another query may start now (under s->mutex).
    auto may_start = [s, by_count, total, end] {
        if (s->done || detail::load_interrupted().load()) return false;
        if (by_count && s->issued >= total) return false;
        return !(end && clock::now() >= *end);
    };

    // Records one query that was due at `due`; in the closed loop the same slot starts the
    // next one at once (in_flight unchanged, so the run never looks idle in between).
    auto finish = [s, end, open_loop, may_start](clock::time_point due, const auto& result) {
        const auto finished_at = clock::now();
        const double ms = std::chrono::duration<double, std::milli>(finished_at - due).count();
        bool again = false;
        {
            std::lock_guard<std::mutex> lock(s->mutex);
            if (result) {
                s->outcome.report.record_success(ms);
            } else if (end && finished_at >= *end &&
                       (result.error().code == dbserve::errc::timeout || result.error().code == dbserve::errc::cancelled)) {
                // Cut by the end of the run, not by the endpoint.
                s->outcome.report.record_unfinished();
                if (s->first_unfinished.empty()) s->first_unfinished = result.error().to_string();
            } else {
                const dbserve::error& e = result.error();
                std::string kind(dbserve::to_string(e.code));
                if (e.http_status != 0) kind += " (HTTP " + std::to_string(e.http_status) + ")";
                s->outcome.report.record_failure(kind, ms);
                s->failed.fetch_add(1);
                if (s->outcome.exit == exit_success) {
                    s->outcome.exit = exit_code_for(e);
                    s->outcome.first_failure = e.to_string();
                }
            }
            s->finished.fetch_add(1);
            again = !open_loop && may_start();
            if (again) ++s->issued;
            else --s->in_flight;
        }
        if (!again) {
            s->changed.notify_all();
            return;
        }
        // The slot held keeps the run (and launch) alive. A query can end inside its own
        // start (a client refusing at once, e.g. in a token backoff): the next one then
        // starts from the loop below, not from deeper in the stack.
        thread_local bool launching = false;
        thread_local long deferred = 0;
        if (launching) {
            ++deferred;
            return;
        }
        launching = true;
        s->launch(clock::now());
        for (; deferred > 0; --deferred) s->launch(clock::now());
        launching = false;
    };
    s->launch = [start_query, end, max_time, finish](clock::time_point due) {
        start_query(detail::query_deadline_at(clock::now(), end, max_time),
                    [finish, due](auto result) { finish(due, result); });
    };

    std::thread painter;
    if (progress) painter = detail::start_progress_painter(s, o, started, by_count, total);

    const auto poll = std::chrono::milliseconds(100);  // how soon an interrupt is noticed
    if (!open_loop) {
        for (long i = 0; i < o.concurrency; ++i) {
            {
                std::lock_guard<std::mutex> lock(s->mutex);
                if (!may_start()) break;
                ++s->issued;
                ++s->in_flight;
            }
            s->launch(clock::now());
        }
    } else {
        const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / *o.rate));
        bool warned = false;
        for (long i = 0;; ++i) {
            const auto due = started + interval * i;
            while (clock::now() < due && !detail::load_interrupted().load())
                std::this_thread::sleep_until(std::min(due, clock::now() + poll));
            std::unique_lock<std::mutex> lock(s->mutex);
            if (s->in_flight >= o.concurrency && !warned) {
                warned = true;
                std::fprintf(stderr,
                             "load mode: %ld queries in flight (--concurrency): the client cannot keep up with "
                             "--rate %g; the queries that wait count it in their latency\n",
                             s->in_flight, *o.rate);
            }
            while (s->in_flight >= o.concurrency && may_start()) s->changed.wait_for(lock, poll);
            if (!may_start()) break;
            ++s->issued;
            ++s->in_flight;
            lock.unlock();
            s->launch(due);
        }
    }

    load_outcome outcome;
    {
        std::unique_lock<std::mutex> lock(s->mutex);
        while (s->in_flight != 0 && !(end && clock::now() >= *end + load_grace_period)) {
            if (end) s->changed.wait_until(lock, std::min(*end + load_grace_period, clock::now() + poll));
            else s->changed.wait_for(lock, poll);
        }
        s->done = true;
        if (s->in_flight != 0) {
            // A query not finished this long after the end is past its deadline.
            s->outcome.abandoned = static_cast<std::size_t>(s->in_flight);
            for (long i = 0; i < s->in_flight; ++i) s->outcome.report.record_unfinished();
            if (s->outcome.exit == exit_success) {
                s->outcome.exit = exit_network;
                s->outcome.first_failure = "a query was still running " + std::to_string(load_grace_period.count()) +
                                           " s after --duration ended, past its deadline";
            }
        }
        if (s->outcome.report.queries == 0 && s->outcome.report.unfinished != 0 && s->outcome.exit == exit_success) {
            // Nothing finished within the run: that is a failure, whatever cut it.
            s->outcome.exit = exit_network;
            s->outcome.first_failure = "no query finished before --duration ended; the first: " + s->first_unfinished;
        }
        outcome = s->outcome;
        if (s->in_flight == 0) s->launch = nullptr;  // else left behind with the process (see above)
    }
    s->changed.notify_all();
    if (painter.joinable()) painter.join();
    outcome.report.elapsed_s = std::chrono::duration<double>(clock::now() - started).count();
    outcome.interrupted = detail::load_interrupted().load();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    return outcome;
}

}  // namespace dbserve_query
