// The public conformance kit (dbserve/testing/transport_conformance.hpp) run as a plain
// check program, the way a user runs it on a transport of their own: the shipped adapter's
// blocking and asynchronous transports must pass every check, and a transport that breaks
// the contract must be caught. It also pins the adapter's client aliases.
#include <dbserve/testing/transport_conformance.hpp>

#if defined(DBSERVE_KIT_CURL)
#include <dbserve/curl/client.hpp>
namespace adapter = dbserve::curl;
#else
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <dbserve/beast/client.hpp>
namespace adapter = dbserve::beast;
#endif

#include <type_traits>

// The adapter's client aliases name the stacks they say.
static_assert(std::is_same_v<adapter::client::transport_type, adapter::blocking_transport>);
static_assert(std::is_same_v<adapter::async_client::transport_type, adapter::async_transport>);
static_assert(std::is_same_v<adapter::client::clock_type, dbserve::system_clock_policy>);
static_assert(std::is_same_v<adapter::async_client::secret_source_type, dbserve::default_secret_source>);

#include <iostream>
#include <string>
#include <thread>

namespace {

int failures = 0;

void expect_pass(const char* name, const dbserve::testing::conformance_report& report) {
    std::cout << name << ": " << report.summary();
    if (!report.ok()) ++failures;
}

// Breaks two rules: asks for compressed bodies, and turns a 5xx into a transport error.
template <class Inner>
struct contract_breaking_transport {
    Inner& inner;
    dbserve::result<dbserve::http_response> send(const dbserve::http_request& request,
                                                 const dbserve::send_options& options) {
        auto changed = request;
        changed.headers.add_unchecked("Accept-Encoding", "gzip");
        auto r = inner.send(changed, options);
        if (r && r->status >= 500) return dbserve::unexpected(dbserve::errc::service, "a 5xx");
        return r;
    }
};

template <class Inner>
void expect_caught(Inner& inner) {
    contract_breaking_transport<Inner> broken{inner};
    const auto report = dbserve::testing::check_transport(broken);
    bool saw_encoding = false, saw_status = false;
    for (const auto& f : report.failures) {
        saw_encoding = saw_encoding || f.check == "no Accept-Encoding is sent";
        saw_status = saw_status || f.check == "an HTTP error status is a response, not an error";
    }
    std::cout << "contract-breaking transport: " << report.summary();
    if (report.ok() || !saw_encoding || !saw_status || report.failures.size() != 2) {
        std::cout << "  the kit should have failed exactly the Accept-Encoding and the status checks\n";
        ++failures;
    }
}

}  // namespace

int main() {
#if defined(DBSERVE_KIT_CURL)
    dbserve::curl::blocking_transport blocking;
    expect_pass("curl blocking_transport", dbserve::testing::check_transport(blocking));
    expect_caught(blocking);

    dbserve::curl::async_transport background;
    background.start_background_thread();
    expect_pass("curl async_transport, background thread", dbserve::testing::check_transport(background));

    dbserve::curl::async_transport polled;
    dbserve::testing::conformance_options pump;
    pump.pump = [&polled] { polled.run_once(std::chrono::milliseconds(10)); };
    expect_pass("curl async_transport, run_once", dbserve::testing::check_transport(polled, pump));
#else
    dbserve::beast::blocking_transport blocking;
    expect_pass("beast blocking_transport", dbserve::testing::check_transport(blocking));
    expect_caught(blocking);

    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread runner([&io] { io.run(); });
    {
        dbserve::beast::async_transport async(io);
        expect_pass("beast async_transport", dbserve::testing::check_transport(async));
    }
    work.reset();
    runner.join();
#endif
    std::cout << (failures == 0 ? "all passed\n" : "FAILED\n");
    return failures == 0 ? 0 : 1;
}
