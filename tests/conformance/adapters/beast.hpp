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
#include <functional>
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
        return std::move(drive(t, {r}, o, {}).front());
    }
    static dbserve::result<dbserve::http_response> send_and_cancel(transport_type& t, const dbserve::http_request& r,
                                                                   const dbserve::send_options& o,
                                                                   const std::function<bool()>& cancel_when) {
        return std::move(drive(t, {r}, o, cancel_when).front());
    }
    static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type& t,
                                                                         const std::vector<dbserve::http_request>& requests,
                                                                         const dbserve::send_options& o) {
        return drive(t, requests, o, {});
    }

private:
    // Starts the requests and runs the io_context until every handler ran, cancelling
    // the first once `cancel_when` says so.
    static std::vector<dbserve::result<dbserve::http_response>> drive(transport_type& t,
                                                                      const std::vector<dbserve::http_request>& requests,
                                                                      const dbserve::send_options& o,
                                                                      const std::function<bool()>& cancel_when) {
        auto outcomes = std::make_shared<std::vector<std::optional<dbserve::result<dbserve::http_response>>>>(requests.size());
        std::vector<dbserve::beast::request_handle> handles;
        for (std::size_t i = 0; i < requests.size(); ++i)
            handles.push_back(t.transport.async_send(
                requests[i], o, dbserve::completion_handler([outcomes, i](dbserve::result<dbserve::http_response> x) {
                    (*outcomes)[i].emplace(std::move(x));
                })));
        const auto all_done = [&] {
            for (const auto& outcome : *outcomes)
                if (!outcome) return false;
            return true;
        };
        const auto deadline = std::chrono::steady_clock::now() + hard_deadline;
        bool cancelled = false;
        while (!all_done() && std::chrono::steady_clock::now() < deadline) {
            if (cancel_when && !cancelled && cancel_when()) {
                handles.front().cancel();
                cancelled = true;
            }
            t.io.restart();
            t.io.run_one_for(std::chrono::milliseconds(20));
        }
        std::vector<dbserve::result<dbserve::http_response>> out;
        for (auto& outcome : *outcomes) {
            require_called(outcome.has_value());
            out.push_back(std::move(*outcome));
        }
        return out;
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
                                                                   const std::function<bool()>& cancel_when) {
        boost::asio::cancellation_signal signal;
        auto future = t.transport.async_send(r, o, boost::asio::bind_cancellation_slot(signal.slot(), boost::asio::use_future));
        const auto deadline = std::chrono::steady_clock::now() + hard_deadline;
        // Checks the condition between short waits for the handler.
        while (!cancel_when() && std::chrono::steady_clock::now() < deadline)
            if (future.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready) break;
        signal.emit(boost::asio::cancellation_type::terminal);
        return wait(std::move(future));
    }
    static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type& t,
                                                                         const std::vector<dbserve::http_request>& requests,
                                                                         const dbserve::send_options& o) {
        std::vector<std::future<dbserve::result<dbserve::http_response>>> futures;
        for (const auto& r : requests) futures.push_back(t.transport.async_send(r, o, boost::asio::use_future));
        std::vector<dbserve::result<dbserve::http_response>> out;
        for (auto& f : futures) out.push_back(wait(std::move(f)));
        return out;
    }

private:
    static dbserve::result<dbserve::http_response> wait(std::future<dbserve::result<dbserve::http_response>> future) {
        require_called(future.wait_for(hard_deadline) == std::future_status::ready);
        return future.get();
    }
};

}  // namespace conformance

#define DBSERVE_CONFORMANCE_KITS \
    conformance::beast_blocking_kit, conformance::beast_async_kit, conformance::beast_thread_pool_kit
