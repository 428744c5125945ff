// What only the libcurl adapter promises, on top of the shared suite: HTTP/2
// multiplexing, several threads on one blocking transport, the async transport's
// lifetime and cancel_all, options refused up front, exceptions from body callbacks.
#include <doctest/doctest.h>

#include "curl.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace conformance;
using dbserve::errc;

namespace {

// Steps the transport until `done` or the hard deadline.
template <class Done>
void run_until(dbserve::curl::async_transport& t, Done done) {
    const auto start = std::chrono::steady_clock::now();
    while (!done() && std::chrono::steady_clock::now() - start < hard_deadline) t.run_once(std::chrono::milliseconds(50));
}

nlohmann::json stats(dbserve::curl::async_transport& t) {
    auto r = curl_async_kit::send(t, get(h2_url(good_host, "/stats")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    return nlohmann::json::parse(r->body);
}

}  // namespace

TEST_CASE("curl: HTTP/2 is negotiated when offered and multiplexes concurrent requests on one connection") {
    dbserve::curl::async_transport t(trusting_options());
    auto first = curl_async_kit::send(t, get(h2_url(good_host, "/echo")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(first.has_value(), describe(first));
    CHECK(nlohmann::json::parse(first->body)["http_version"] == "2.0");

    const auto before = stats(t);
    constexpr int count = 32;
    int succeeded = 0;
    int finished = 0;
    for (int i = 0; i < count; ++i)
        t.async_send(get(h2_url(good_host, "/stream?chunks=2&delay_ms=50")), with_timeout(normal_timeout),
                     [&](dbserve::result<dbserve::http_response> r) {
                         ++finished;
                         if (r && r->status == 200) ++succeeded;
                     });
    run_until(t, [&] { return finished == count; });
    CHECK(succeeded == count);
    const auto after = stats(t);
    CHECK(after["connections"].get<int>() == before["connections"].get<int>());
}

TEST_CASE("curl: with enable_http2 off HTTP/1.1 is used even where HTTP/2 is offered") {
    auto options = trusting_options();
    options.enable_http2 = false;
    dbserve::curl::blocking_transport t(options);
    auto r = t.send(get(h2_url(good_host, "/echo")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    CHECK(nlohmann::json::parse(r->body)["http_version"] == "1.1");
}

TEST_CASE("curl: one blocking transport serves several threads at once") {
    dbserve::curl::blocking_transport t(trusting_options());
    std::atomic<int> succeeded{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&, copy = t]() mutable {  // copies share the pool
            for (int j = 0; j < 10; ++j) {
                auto r = copy.send(post(https_url(good_host, "/echo"), "{}"), with_timeout(normal_timeout));
                if (r && r->status == 200) ++succeeded;
            }
        });
    for (auto& thread : threads) thread.join();
    CHECK(succeeded.load() == 40);
}

TEST_CASE("curl: destroying the async transport completes what is pending with cancelled") {
    std::vector<dbserve::errc> outcomes;
    {
        dbserve::curl::async_transport t(trusting_options());
        for (int i = 0; i < 3; ++i)
            t.async_send(post(https_url(good_host, "/never"), "{}"), with_timeout(normal_timeout),
                         [&](dbserve::result<dbserve::http_response> r) {
                             outcomes.push_back(r ? errc::invalid_argument : r.error().code);
                         });
        for (int i = 0; i < 5; ++i) t.run_once(std::chrono::milliseconds(20));  // some are on the wire
    }
    REQUIRE(outcomes.size() == 3);
    for (auto code : outcomes) CHECK(code == errc::cancelled);
}

TEST_CASE("curl: cancel_all cancels queued and in-flight requests, and the transport goes on") {
    dbserve::curl::async_transport t(trusting_options());
    int cancelled = 0;
    int finished = 0;
    auto count = [&](dbserve::result<dbserve::http_response> r) {
        ++finished;
        if (!r && r.error().code == errc::cancelled) ++cancelled;
    };
    t.async_send(post(https_url(good_host, "/never"), "{}"), with_timeout(normal_timeout), count);
    t.run_once(std::chrono::milliseconds(100));
    t.async_send(post(https_url(good_host, "/never"), "{}"), with_timeout(normal_timeout), count);  // still queued
    t.cancel_all();
    run_until(t, [&] { return finished == 2; });
    CHECK(cancelled == 2);
    CHECK(t.pending() == 0);
    auto after = curl_async_kit::send(t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    CHECK_MESSAGE(after.has_value(), describe(after));
}

TEST_CASE("curl: unusable options fail every request with a configuration error") {
    auto options = trusting_options();
    options.resolve.push_back({"adb-9.9.azuredatabricks.net", 443, ""});
    dbserve::curl::blocking_transport blocking(options);
    auto r = blocking.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::configuration);
    CHECK(r.error().message.find("resolve override") != std::string::npos);

    dbserve::curl::async_transport async(options);
    auto a = curl_async_kit::send(async, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_FALSE(a.has_value());
    CHECK(a.error().code == errc::configuration);

    auto no_deadline = trusting_options();
    no_deadline.request_timeout = std::chrono::milliseconds(0);
    dbserve::curl::blocking_transport unbounded(no_deadline);
    auto u = unbounded.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_FALSE(u.has_value());
    CHECK(u.error().code == errc::configuration);
}

#if DBSERVE_HAS_EXCEPTIONS
TEST_CASE("curl: an option libcurl refuses is a configuration error naming the first one refused") {
    dbserve::curl::detail::easy_handle easy(curl_easy_init());
    REQUIRE(easy);
    dbserve::curl::detail::option_setter set(easy.get());
    set(CURLOPT_NOSIGNAL, 1L);
    CHECK(set.ok());
    set(CURLOPT_MAXAGE_CONN, -1L)(CURLOPT_MAXLIFETIME_CONN, -1L);
    REQUIRE_FALSE(set.ok());
    const auto e = set.error();
    CHECK(e.code == errc::configuration);
    CHECK_MESSAGE(e.message.find("CURLOPT_MAXAGE_CONN") != std::string::npos, e.message);
    CHECK_MESSAGE(e.message.find("CURLOPT_MAXLIFETIME_CONN") == std::string::npos, e.message);
    CHECK(e.native_code == CURLE_BAD_FUNCTION_ARGUMENT);

    // A size cap beyond what libcurl takes is a cap it can hold, not a refused option.
    auto options = trusting_options();
    options.max_response_bytes = static_cast<std::size_t>(-1);
    dbserve::curl::blocking_transport t(options);
    auto r = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    CHECK_MESSAGE(r.has_value(), describe(r));
}

TEST_CASE("curl: an exception thrown by on_body_chunk reaches the caller and the transport stays usable") {
    dbserve::curl::blocking_transport t(trusting_options());
    auto options = with_timeout(normal_timeout);
    options.on_body_chunk = [](const dbserve::http_response&, std::string_view) { throw std::runtime_error("stop"); };
    CHECK_THROWS_WITH_AS(static_cast<void>(t.send(get(https_url(good_host, "/stream?chunks=3&delay_ms=10")), options)),
                         "stop", std::runtime_error);
    auto r = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    CHECK_MESSAGE(r.has_value(), describe(r));
}
#endif

TEST_CASE("curl: every libcurl failure maps onto a category and keeps libcurl's code and text") {
    const struct {
        CURLcode code;
        errc expected;
    } cases[] = {
        {CURLE_COULDNT_RESOLVE_HOST, errc::name_resolution}, {CURLE_COULDNT_RESOLVE_PROXY, errc::name_resolution},
        {CURLE_COULDNT_CONNECT, errc::connection},          {CURLE_RECV_ERROR, errc::connection},
        {CURLE_SEND_ERROR, errc::connection},               {CURLE_GOT_NOTHING, errc::connection},
        {CURLE_PARTIAL_FILE, errc::connection},             {CURLE_HTTP2_STREAM, errc::connection},
        {CURLE_OPERATION_TIMEDOUT, errc::timeout},          {CURLE_SSL_CONNECT_ERROR, errc::tls},
        {CURLE_PEER_FAILED_VERIFICATION, errc::tls},        {CURLE_SSL_CACERT_BADFILE, errc::tls},
        {CURLE_FILESIZE_EXCEEDED, errc::response_too_large}, {CURLE_ABORTED_BY_CALLBACK, errc::cancelled},
        {CURLE_WEIRD_SERVER_REPLY, errc::bad_response},     {CURLE_URL_MALFORMAT, errc::invalid_argument},
    };
    for (const auto& c : cases) {
        CAPTURE(c.code);
        dbserve::curl::detail::failure_context context;
        context.host = "adb-1.2.azuredatabricks.net";
        context.error_buffer = "";
        const auto e = dbserve::curl::detail::map_error(c.code, nullptr, context);
        CHECK(e.code == c.expected);
        CHECK(e.native_code == static_cast<int>(c.code));
        CHECK(e.native_message == curl_easy_strerror(c.code));
        CHECK_FALSE(e.request_may_have_been_processed);  // nothing was sent
    }
    dbserve::curl::detail::failure_context over_cap;
    over_cap.response_too_large = true;
    over_cap.error_buffer = "Failure writing output to destination";
    const auto e = dbserve::curl::detail::map_error(CURLE_WRITE_ERROR, nullptr, over_cap);
    CHECK(e.code == errc::response_too_large);
    CHECK(e.native_message == "Failure writing output to destination");
}

TEST_CASE("curl: a failure's category depends on whether the request went out") {
    using dbserve::curl::detail::map_error;
    dbserve::curl::detail::failure_context before;
    before.host = "adb-1.2.azuredatabricks.net";
    dbserve::curl::detail::failure_context after = before;
    after.request_sent = true;
    after.connection_ready = true;
    // HTTP/0.9, "HTTP/1.1 2x0", "HTTP/7.3 200": libcurl says unsupported protocol, as it
    // does for a URL scheme it cannot use; only the second is the caller's to fix.
    CHECK(map_error(CURLE_UNSUPPORTED_PROTOCOL, nullptr, before).code == errc::invalid_argument);
    CHECK(map_error(CURLE_UNSUPPORTED_PROTOCOL, nullptr, after).code == errc::bad_response);
    CHECK(map_error(CURLE_WEIRD_SERVER_REPLY, nullptr, after).code == errc::bad_response);
    // A response header over libcurl's cap is reported as out of memory before libcurl 8.6.
    const auto header = map_error(CURLE_OUT_OF_MEMORY, nullptr, after);
    CHECK(header.code == errc::response_too_large);
    CHECK(header.message.find("too large") != std::string::npos);
    CHECK(header.message.find("out of memory") == std::string::npos);
    CHECK(map_error(CURLE_OUT_OF_MEMORY, nullptr, before).code == errc::connection);
    // A reused connection has no connect time: a timeout on it is not a failed set-up.
    dbserve::curl::detail::failure_context reused = before;
    reused.connection_ready = true;
    const auto late = map_error(CURLE_OPERATION_TIMEDOUT, nullptr, reused);
    CHECK(late.code == errc::timeout);
    CHECK(late.message.find("could be set up") == std::string::npos);
    CHECK(late.message.find("no complete response") != std::string::npos);
    CHECK(map_error(CURLE_OPERATION_TIMEDOUT, nullptr, before).message.find("could be set up") != std::string::npos);
}
