// dbserve::beast::blocking_transport: a synchronous Transport on a private io_context,
// with the asynchronous transport's deadlines and connection reuse.
//
//   dbserve::beast::blocking_transport blocking(options);
//   auto response = blocking.send(request, {});
//
// Pulls in Beast, Asio and OpenSSL; include it in as few translation units as you can.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/beast/async_transport.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/client/transport_options.hpp>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace beast {

// Sends one request at a time per calling thread, on a private io_context, with the
// same deadlines as the asynchronous transport. Safe to share between threads: they
// take turns running the io_context, and connections are reused across all of them.
class blocking_transport {
public:
    explicit blocking_transport(transport_options options = {}) : core_(std::make_unique<core>(std::move(options))) {}

    result<http_response> send(const http_request& request, const send_options& options) {
        core& c = *core_;
        if (c.running_thread == std::this_thread::get_id())
            return unexpected(errc::invalid_argument,
                              "blocking_transport::send was called from inside an on_body_chunk callback of the "
                              "same transport; use another transport for nested requests");
        std::optional<result<http_response>> outcome;
        c.transport.async_send(request, options,
                               completion_handler([&outcome](result<http_response> r) { outcome.emplace(std::move(r)); }));
        std::lock_guard<std::mutex> lock(c.run_mutex);
        c.running_thread = std::this_thread::get_id();
        struct clear_running {
            core& c;
            ~clear_running() { c.running_thread = std::thread::id(); }
        } clear{c};
        while (!outcome) {
            if (c.io.stopped()) c.io.restart();
            if (c.io.run_one() == 0 && !outcome) {
                c.io.restart();
                if (c.io.run_one() == 0 && !outcome)
                    return unexpected(errc::connection, "the request was lost by the transport (no work left)");
            }
        }
        return std::move(*outcome);
    }

    const transport_options& options() const noexcept { return core_->transport.options(); }
    std::size_t idle_connections() const { return core_->transport.idle_connections(); }

private:
    struct core {
        explicit core(transport_options options) : transport(io, std::move(options)) {}
        ~core() { transport.close_idle_connections(); }
        boost::asio::io_context io;
        async_transport transport;
        std::mutex run_mutex;
        // The thread running io now (under run_mutex), to refuse a re-entrant send.
        std::atomic<std::thread::id> running_thread{};
    };
    std::unique_ptr<core> core_;
};

}  // namespace beast
DBSERVE_END_NAMESPACE
