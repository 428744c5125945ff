// Load mode (--repeat N, --duration S, --concurrency C): one client shared by C worker
// threads, each running blocking queries back to back until N queries have started or S
// seconds have passed, or until interrupted (Ctrl-C: the queries in flight finish and the
// summary is still printed). A progress bar goes to stderr when it is a terminal. The
// result is a load_report; the caller prints it.
#pragma once

#include "cli_options.hpp"
#include "exit_codes.hpp"
#include "load_report.hpp"

#include <dbserve/error.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dbserve_query {

struct load_outcome {
    load_report report;
    int exit = exit_success;  // the exit code of the first failure, if any
    std::string first_failure;
    bool interrupted = false;  // ended early by SIGINT or SIGTERM
};

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

}  // namespace detail

// run_query() -> dbserve::result<T> (any T): one query.
template <class RunQuery>
load_outcome run_load(const cli_options& o, RunQuery&& run_query, bool progress) {
    using clock = std::chrono::steady_clock;
    const auto started = clock::now();
    const bool by_count = o.repeat.has_value();
    const long total = by_count ? *o.repeat : 0;
    const auto deadline = o.duration_s ? started + std::chrono::duration_cast<clock::duration>(
                                                       std::chrono::duration<double>(*o.duration_s))
                                       : clock::time_point::max();

    std::signal(SIGINT, detail::on_load_interrupt);
    std::signal(SIGTERM, detail::on_load_interrupt);
    std::atomic<long> issued{0};
    std::atomic<long> finished{0};
    std::atomic<long> failed{0};
    std::mutex mutex;
    load_outcome outcome;

    auto worker = [&] {
        load_report local;
        for (;;) {
            if (by_count) {
                if (issued.fetch_add(1) >= total) break;
            }
            if (clock::now() >= deadline || detail::load_interrupted().load()) break;
            const auto begin = clock::now();
            auto result = run_query();
            const double ms = std::chrono::duration<double, std::milli>(clock::now() - begin).count();
            if (result) {
                local.record_success(ms);
            } else {
                const dbserve::error& e = result.error();
                std::string kind(dbserve::to_string(e.code));
                if (e.http_status != 0) kind += " (HTTP " + std::to_string(e.http_status) + ")";
                local.record_failure(kind, ms);
                failed.fetch_add(1);
                std::lock_guard<std::mutex> lock(mutex);
                if (outcome.exit == exit_success) {
                    outcome.exit = exit_code_for(e);
                    outcome.first_failure = e.to_string();
                }
            }
            finished.fetch_add(1);
        }
        std::lock_guard<std::mutex> lock(mutex);
        outcome.report.merge(local);
    };

    std::vector<std::thread> workers;
    for (long i = 0; i < o.concurrency; ++i) workers.emplace_back(worker);

    std::mutex done_mutex;
    std::condition_variable done_changed;
    bool done = false;
    std::thread painter;
    if (progress) {
        painter = std::thread([&] {
            std::unique_lock<std::mutex> lock(done_mutex);
            while (!done) {
                const double elapsed = std::chrono::duration<double>(clock::now() - started).count();
                const long n = finished.load();
                std::string label = std::to_string(n) + (by_count ? "/" + std::to_string(total) : std::string()) +
                                    " queries, " + std::to_string(failed.load()) + " failed";
                double fraction = by_count ? static_cast<double>(n) / static_cast<double>(total) : 0.0;
                if (o.duration_s) {
                    char seconds[64];
                    std::snprintf(seconds, sizeof seconds, ", %.1f/%.0f s", elapsed, *o.duration_s);
                    label += seconds;
                    if (!by_count) fraction = elapsed / *o.duration_s;
                }
                detail::draw_progress(stderr, fraction, label);
                done_changed.wait_for(lock, std::chrono::milliseconds(200));
            }
            std::fputs("\r\033[K", stderr);
            std::fflush(stderr);
        });
    }
    for (auto& w : workers) w.join();
    {
        std::lock_guard<std::mutex> lock(done_mutex);
        done = true;
    }
    done_changed.notify_all();
    if (painter.joinable()) painter.join();
    outcome.report.elapsed_s = std::chrono::duration<double>(clock::now() - started).count();
    outcome.interrupted = detail::load_interrupted().load();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    return outcome;
}

}  // namespace dbserve_query
