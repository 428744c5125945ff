// End-to-end tests over the Boost.Beast transports (the cases are in e2e_cases.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <dbserve/beast/transport.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>
#include <thread>

#include "e2e_fixture.hpp"

namespace e2e {
struct kit {
    static constexpr const char* name = "beast";
    using blocking = dbserve::beast::blocking_transport;
    using async = dbserve::beast::async_transport;
    // The asynchronous transport runs on an io_context served by two threads.
    struct async_runtime {
        boost::asio::io_context io;
        std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
        std::vector<std::thread> threads;

        async make(const dbserve::transport_options& options) { return async(io, options); }
        template <class Client>
        void start(Client&) {
            for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
        }
        template <class Client>
        void stop(Client&) {
            finish();
        }
        // Also after the client is gone.
        void finish() {
            work.reset();
            io.stop();
            for (auto& t : threads) t.join();
            threads.clear();
        }
    };
};
}  // namespace e2e

#include "e2e_cases.hpp"

int main(int argc, char** argv) {
    e2e::isolate_environment();
    doctest::Context context(argc, argv);
    return context.run();
}
