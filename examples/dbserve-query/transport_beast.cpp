// The Boost.Beast transport for dbserve-query (see transports.hpp).
#include "transports.hpp"

#include <dbserve/beast/transport.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace dbserve_query {

send_function make_beast_send(const dbserve::transport_options& options) {
    auto transport = std::make_shared<dbserve::beast::blocking_transport>(options);
    return [transport](const dbserve::http_request& request, const dbserve::send_options& send_options) {
        return transport->send(request, send_options);
    };
}

namespace {

// An io_context run by one thread; each request runs on its own strand. One thread, not
// one per core: against nginx on the same 2-core machine a second thread lowered the rate
// by 18 % (26k vs 32k queries/s, more CPU per query in strand and lock hand-offs).
struct beast_loop {
    explicit beast_loop(const dbserve::transport_options& options)
        : io(static_cast<int>(loop_threads())), work(boost::asio::make_work_guard(io)), transport(io, options) {
        for (unsigned i = 0; i < loop_threads(); ++i) threads.emplace_back([this] { io.run(); });
    }
    ~beast_loop() { stop(); }
    void stop() {
        work.reset();
        io.stop();
        for (auto& t : threads)
            if (t.joinable()) {
                if (t.get_id() == std::this_thread::get_id()) t.detach();
                else t.join();
            }
    }
    static unsigned loop_threads() { return 1; }

    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
    dbserve::beast::async_transport transport;
    std::vector<std::thread> threads;
};

}  // namespace

async_network make_beast_async(const dbserve::transport_options& options) {
    auto loop = std::make_shared<beast_loop>(options);
    async_network network;
    network.send = [loop](dbserve::http_request request, dbserve::send_options send_options,
                          dbserve::completion_handler handler) {
        loop->transport.async_send(std::move(request), std::move(send_options), std::move(handler));
    };
    network.stop = [loop] { loop->stop(); };
    return network;
}

}  // namespace dbserve_query
