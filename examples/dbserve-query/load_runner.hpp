// Load mode (--repeat N, --duration S, --concurrency C): one client shared by C worker
// threads, each running blocking queries back to back until N queries have started or S
// seconds have passed, or until interrupted (Ctrl-C: the queries in flight finish and the
// summary is still printed). A progress bar goes to stderr when it is a terminal. The
// result is a load_report; the caller prints it.
//
// --duration is a promise: each query gets the time left as its deadline (or --max-time
// when that is shorter), so a query in flight when time is up times out; it is counted as
// unfinished, not as a failure (a healthy run always ends with some in flight), unless no
// query finished at all. A worker still busy a grace period after that (a dependency that
// ignores the deadline) is left behind and counted as unfinished too; the caller must then
// end the process without unwinding (load_outcome::abandoned), since the worker still uses
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

}  // namespace detail

// run_query(std::chrono::milliseconds deadline) -> dbserve::result<T> (any T): one query
// that must end within `deadline` (zero: no bound beyond the client's own).
template <class RunQuery>
load_outcome run_load(const cli_options& o, RunQuery run_query, bool progress) {
    using clock = std::chrono::steady_clock;
    const auto started = clock::now();
    const bool by_count = o.repeat.has_value();
    const long total = by_count ? *o.repeat : 0;
    std::optional<clock::time_point> end;
    if (o.duration_s)
        end = started + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(*o.duration_s));
    const std::chrono::milliseconds max_time =
        o.max_time_s ? detail::to_milliseconds(*o.max_time_s) : std::chrono::milliseconds(0);

    std::signal(SIGINT, detail::on_load_interrupt);
    std::signal(SIGTERM, detail::on_load_interrupt);

    // Shared with the workers, which may outlive this call (see above).
    struct shared_state {
        std::mutex mutex;
        std::condition_variable changed;
        load_outcome outcome;
        long running = 0;  // workers not yet returned: past the grace period, each is inside a query
        bool done = false;  // for the progress painter
        std::string first_unfinished;
        std::atomic<long> issued{0};
        std::atomic<long> finished{0};
        std::atomic<long> failed{0};
    };
    auto s = std::make_shared<shared_state>();
    s->running = o.concurrency;

    auto worker = [s, run_query, by_count, total, end, max_time] {
        for (;;) {
            if (by_count && s->issued.fetch_add(1) >= total) break;
            const auto begin = clock::now();
            if ((end && begin >= *end) || detail::load_interrupted().load()) break;
            auto result = run_query(detail::query_deadline_at(begin, end, max_time));
            const auto finished_at = clock::now();
            const double ms = std::chrono::duration<double, std::milli>(finished_at - begin).count();
            std::lock_guard<std::mutex> lock(s->mutex);
            if (result) {
                s->outcome.report.record_success(ms);
            } else if (end && finished_at >= *end && result.error().code == dbserve::errc::timeout) {
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
        }
        std::lock_guard<std::mutex> lock(s->mutex);
        --s->running;
        s->changed.notify_all();
    };
    for (long i = 0; i < o.concurrency; ++i) std::thread(worker).detach();

    std::thread painter;
    if (progress) {
        painter = std::thread([s, started, by_count, total, &o] {
            std::unique_lock<std::mutex> lock(s->mutex);
            while (!s->done) {
                const double elapsed = std::chrono::duration<double>(clock::now() - started).count();
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
                detail::draw_progress(stderr, fraction, label);
                s->changed.wait_for(lock, std::chrono::milliseconds(200));
            }
            std::fputs("\r\033[K", stderr);
            std::fflush(stderr);
        });
    }

    load_outcome outcome;
    {
        std::unique_lock<std::mutex> lock(s->mutex);
        const auto all_returned = [&] { return s->running == 0; };
        if (end) s->changed.wait_until(lock, *end + load_grace_period, all_returned);
        else s->changed.wait(lock, all_returned);
        if (!all_returned()) {
            // A worker that has not returned this long after the end is inside a query.
            s->outcome.abandoned = static_cast<std::size_t>(s->running);
            for (long i = 0; i < s->running; ++i) s->outcome.report.record_unfinished();
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
        s->done = true;
        outcome = s->outcome;
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
