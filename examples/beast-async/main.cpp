// Queries a route optimized serving endpoint asynchronously, over Boost.Beast, on an
// io_context the program runs itself.
//
//   export DATABRICKS_HOST=adb-....azuredatabricks.net DATABRICKS_CLIENT_ID=... DATABRICKS_CLIENT_SECRET=...
//   beast-async-query <endpoint name | invocations URL> '{"inputs": [[1, 2, 3]]}'
#include <dbserve/beast/transport.hpp>
#include <dbserve/client/client.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <endpoint name | invocations URL> '<JSON body>'\n", argv[0]);
        return 2;
    }
    boost::asio::io_context io;
    // The client may wait for a retry on its clock's thread while no socket is busy: keep
    // run() from returning until the answer is in.
    auto work = boost::asio::make_work_guard(io);

    dbserve::transport_options options;  // system trust store, 10 s connect, 5 min per request
    options.request_timeout = std::chrono::seconds(60);

    dbserve::client_config config;
    const std::string_view target = argv[1];
    if (target.substr(0, 8) == "https://") config.url = std::string(target);
    else config.endpoint_name = std::string(target);

    using client_type = dbserve::basic_client<dbserve::traits_for<dbserve::beast::async_transport>>;
    client_type client(std::move(config), dbserve::beast::async_transport(io, std::move(options)));

    int exit_code = 1;
    client.async_query(std::string(argv[2]), [&](dbserve::result<dbserve::query_response> response) {
        if (response) {
            std::printf("HTTP %d%s%s\n%s\n", response->status, response->served_model_name.empty() ? "" : " from ",
                        response->served_model_name.c_str(), std::string(response->body()).c_str());
            exit_code = 0;
        } else {
            std::fprintf(stderr, "query failed: %s\n", response.error().to_string().c_str());
        }
        work.reset();  // called on an io thread or the clock's: either way run() may now end
    });
    io.run();
    return exit_code;
}
