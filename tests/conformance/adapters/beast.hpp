// The Boost.Beast adapter in the conformance suite: its blocking transport, its
// asynchronous transport on an io_context the test thread runs (completion_handler and a
// request_handle to cancel), and the same on a two-thread pool through the asio
// completion-token form (use_future, cancelled through a cancellation slot).
#pragma once

#include "../harness.hpp"

#include <dbserve/beast/transport.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace conformance {

struct beast_blocking_kit : blocking_kit<dbserve::beast::blocking_transport> {
    static constexpr const char* name = "beast blocking";
};

// The test thread runs the io_context, as a single-threaded program would.
struct beast_async_kit {
    static constexpr const char* name = "beast async io_context";
    static constexpr bool is_async = true;

    struct transport_type {
        boost::asio::io_context io;
        dbserve::beast::async_transport transport;
        explicit transport_type(const dbserve::transport_options& options) : transport(io, options) {}
    };

    static std::unique_ptr<transport_type> make(const dbserve::transport_options& options) {
        return std::make_unique<transport_type>(options);
    }
    static dbserve::result<dbserve::http_response> send(transport_type& t, const dbserve::http_request& r,
                                                        const dbserve::send_options& o) {
        return drive(t, r, o, std::nullopt);
    }
    static dbserve::result<dbserve::http_response> send_and_cancel(transport_type& t, const dbserve::http_request& r,
                                                                   const dbserve::send_options& o,
                                                                   std::chrono::milliseconds after) {
        return drive(t, r, o, after);
    }

private:
    static dbserve::result<dbserve::http_response> drive(transport_type& t, const dbserve::http_request& r,
                                                         const dbserve::send_options& o,
                                                         std::optional<std::chrono::milliseconds> cancel_after) {
        std::optional<dbserve::result<dbserve::http_response>> outcome;
        auto handle = t.transport.async_send(r, o, dbserve::completion_handler([&outcome](dbserve::result<dbserve::http_response> x) {
            outcome.emplace(std::move(x));
        }));
        const auto started = std::chrono::steady_clock::now();
        bool cancelled = false;
        while (!outcome && std::chrono::steady_clock::now() - started < hard_deadline) {
            if (cancel_after && !cancelled && std::chrono::steady_clock::now() - started >= *cancel_after) {
                handle.cancel();
                cancelled = true;
            }
            t.io.restart();
            t.io.run_one_for(std::chrono::milliseconds(20));
        }
        if (!outcome) return dbserve::unexpected(dbserve::errc::timeout, "the transport never completed the request");
        return std::move(*outcome);
    }
};

// Two threads run the io_context; requests go through asio::use_future and are
// cancelled through a cancellation slot.
struct beast_thread_pool_kit {
    static constexpr const char* name = "beast async thread pool (use_future)";
    static constexpr bool is_async = true;

    struct transport_type {
        boost::asio::io_context io;
        dbserve::beast::async_transport transport;
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
        std::vector<std::thread> threads;

        explicit transport_type(const dbserve::transport_options& options)
            : transport(io, options), work(io.get_executor()) {
            for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
        }
        ~transport_type() {
            work.reset();
            io.stop();
            for (auto& thread : threads) thread.join();
        }
    };

    static std::unique_ptr<transport_type> make(const dbserve::transport_options& options) {
        return std::make_unique<transport_type>(options);
    }
    static dbserve::result<dbserve::http_response> send(transport_type& t, const dbserve::http_request& r,
                                                        const dbserve::send_options& o) {
        return wait(t.transport.async_send(r, o, boost::asio::use_future));
    }
    static dbserve::result<dbserve::http_response> send_and_cancel(transport_type& t, const dbserve::http_request& r,
                                                                   const dbserve::send_options& o,
                                                                   std::chrono::milliseconds after) {
        boost::asio::cancellation_signal signal;
        auto future = t.transport.async_send(r, o, boost::asio::bind_cancellation_slot(signal.slot(), boost::asio::use_future));
        std::this_thread::sleep_for(after);
        signal.emit(boost::asio::cancellation_type::terminal);
        return wait(std::move(future));
    }

private:
    static dbserve::result<dbserve::http_response> wait(std::future<dbserve::result<dbserve::http_response>> future) {
        if (future.wait_for(hard_deadline) != std::future_status::ready)
            return dbserve::unexpected(dbserve::errc::timeout, "the transport never completed the request");
        return future.get();
    }
};

}  // namespace conformance

#define DBSERVE_CONFORMANCE_KITS \
    conformance::beast_blocking_kit, conformance::beast_async_kit, conformance::beast_thread_pool_kit
