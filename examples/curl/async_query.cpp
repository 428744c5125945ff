// Queries a route optimized serving endpoint with the asynchronous libcurl transport,
// driven from the program's own loop: each turn calls run_once(), which sleeps in
// curl_multi_poll until a socket is ready, a timer is due or a request is queued, and runs
// the handlers of finished requests on this thread. A game loop would call poll() once
// per frame instead.
//
//   curl-async-query <endpoint name | invocations URL> '{"inputs": [[1, 2, 3]]}' [count]
#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s <endpoint name | invocations URL> '<JSON body>' [count]\n", argv[0]);
        return 2;
    }
    const int count = argc == 4 ? std::atoi(argv[3]) : 1;
    dbserve::transport_options options;
    options.request_timeout = std::chrono::seconds(60);
    if (const char* ca = std::getenv("DBSERVE_CA_FILE")) options.tls.ca_file = ca;

    dbserve::client_config config;
    const std::string_view target = argv[1];
    if (target.substr(0, 8) == "https://") config.url = std::string(target);
    else config.endpoint_name = std::string(target);

    dbserve::basic_client<dbserve::traits_for<dbserve::curl::async_transport>> client(
        std::move(config), dbserve::curl::async_transport(std::move(options)));

    // Handlers run on this thread, inside run_once, except when the client waits out a
    // retry on its clock's thread: hence the atomic.
    std::atomic<int> finished{0};
    std::atomic<int> failed{0};
    for (int i = 0; i < count; ++i)
        client.async_query(std::string(argv[2]), [&](dbserve::result<dbserve::query_response> response) {
            if (response) {
                std::printf("HTTP %d %s\n", response->status, std::string(response->body()).c_str());
            } else {
                std::fprintf(stderr, "query failed: %s\n", response.error().to_string().c_str());
                ++failed;
            }
            ++finished;
        });
    while (finished.load() < count) client.transport().run_once(std::chrono::milliseconds(100));
    return failed.load() == 0 ? 0 : 1;
}
