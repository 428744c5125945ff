// Requests per second of the bundled transports against a keep-alive HTTPS server, the
// same request floor.c sends: a small JSON POST with a bearer token.
//
//   bench_transport MODE URL CA_FILE host:port:address REQUESTS
//     MODE  curl-blocking | curl-async-seq | curl-async-64
//           beast-blocking | beast-async-64   (when built with the Beast adapter)
// Prints "<mode> <requests per second> <CPU microseconds per request>".
// bench/run-transport.sh runs every mode.
#include <dbserve/curl/transport.hpp>
#if defined(DBSERVE_BENCH_BEAST)
#include <boost/asio/io_context.hpp>
#include <dbserve/beast/transport.hpp>
#endif

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

namespace {

struct measurement {
    double requests_per_second = 0;
    double cpu_microseconds_per_request = 0;
};

// Wall and CPU time from construction to finish().
class stopwatch {
public:
    stopwatch() : wall_(std::chrono::steady_clock::now()), cpu_(std::clock()) {}
    measurement finish(long requests) const {
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_).count();
        const double cpu = static_cast<double>(std::clock() - cpu_) / CLOCKS_PER_SEC;
        return {static_cast<double>(requests) / wall, cpu * 1e6 / static_cast<double>(requests)};
    }

private:
    std::chrono::steady_clock::time_point wall_;
    std::clock_t cpu_;
};

struct setup {
    std::string url;
    dbserve::transport_options options;
    long requests = 0;
};

dbserve::http_request make_request(const setup& s) {
    dbserve::http_request r;
    r.method = dbserve::http_method::post;
    r.url = s.url;
    r.body = R"({"inputs":[[1.0,2.0,3.0]]})";
    (void)r.headers.add("Content-Type", "application/json");
    (void)r.headers.add("Accept", "application/json");
    (void)r.headers.add("Authorization", "Bearer bench-token");
    return r;
}

bool ok(const dbserve::result<dbserve::http_response>& r) {
    if (!r) {
        std::fprintf(stderr, "bench_transport: %s\n", r.error().to_string().c_str());
        return false;
    }
    if (r->status != 200) {
        std::fprintf(stderr, "bench_transport: HTTP %d\n", r->status);
        return false;
    }
    return true;
}

// Sequential: one request after another on one transport.
template <class Send>
measurement sequential(const setup& s, Send&& send) {
    const auto request = make_request(s);
    for (int i = 0; i < 50; ++i)  // warm-up: connection and TLS session
        if (!ok(send(request))) std::exit(1);
    const stopwatch watch;
    for (long i = 0; i < s.requests; ++i)
        if (!ok(send(request))) std::exit(1);
    return watch.finish(s.requests);
}

// `in_flight` requests outstanding at all times; each completion starts the next.
// `start(request, handler)` queues one, `step()` runs the event loop a little.
template <class Start, class Step>
measurement concurrent(const setup& s, int in_flight, Start&& start, Step&& step) {
    const auto request = make_request(s);
    const long total = s.requests + in_flight;  // the first wave warms up
    long started = 0;
    long done = 0;
    std::optional<stopwatch> watch;
    std::function<void()> launch;
    launch = [&] {
        ++started;
        start(request, [&](dbserve::result<dbserve::http_response> r) {
            if (!ok(r)) std::exit(1);
            if (++done == in_flight) watch.emplace();
            if (started < total) launch();
        });
    };
    for (int i = 0; i < in_flight; ++i) launch();
    while (done < total) step();
    return watch->finish(s.requests);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s MODE URL CA_FILE host:port:address REQUESTS\n", argv[0]);
        return 2;
    }
    const std::string mode = argv[1];
    setup s;
    s.url = argv[2];
    s.options.tls.ca_file = argv[3];
    const std::string resolve = argv[4];
    const auto first = resolve.find(':');
    const auto second = resolve.find(':', first + 1);
    s.options.resolve.push_back({resolve.substr(0, first),
                                 static_cast<std::uint16_t>(std::stoi(resolve.substr(first + 1, second - first - 1))),
                                 resolve.substr(second + 1)});
    s.options.proxy.from_environment = false;
    s.options.max_connections_per_host = 64;
    s.requests = std::atol(argv[5]);
    const dbserve::send_options send_options;

    measurement rate;
    if (mode == "curl-blocking") {
        dbserve::curl::blocking_transport t(s.options);
        rate = sequential(s, [&](const dbserve::http_request& r) { return t.send(r, send_options); });
    } else if (mode == "curl-async-seq" || mode == "curl-async-64") {
        dbserve::curl::async_transport t(s.options);
        rate = concurrent(
            s, mode == "curl-async-seq" ? 1 : 64,
            [&](const dbserve::http_request& r, dbserve::completion_handler h) { t.async_send(r, send_options, std::move(h)); },
            [&] { t.run_once(std::chrono::milliseconds(1000)); });
#if defined(DBSERVE_BENCH_BEAST)
    } else if (mode == "beast-blocking") {
        dbserve::beast::blocking_transport t(s.options);
        rate = sequential(s, [&](const dbserve::http_request& r) { return t.send(r, send_options); });
    } else if (mode == "beast-async-seq" || mode == "beast-async-64") {
        boost::asio::io_context io;
        dbserve::beast::async_transport t(io, s.options);
        rate = concurrent(
            s, mode == "beast-async-seq" ? 1 : 64,
            [&](const dbserve::http_request& r, dbserve::completion_handler h) { t.async_send(r, send_options, std::move(h)); },
            [&] {
                io.restart();
                io.run_one();
            });
#endif
    } else {
        std::fprintf(stderr, "bench_transport: unknown mode %s\n", mode.c_str());
        return 2;
    }
    std::printf("%s %.0f %.1f\n", mode.c_str(), rate.requests_per_second, rate.cpu_microseconds_per_request);
    return 0;
}
