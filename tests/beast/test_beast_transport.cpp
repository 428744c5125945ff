// What the Beast adapter promises beyond the conformance suite: its URL and proxy rules,
// the bounded connection pool, the connect deadline, sharing one transport between
// threads, and cancellation corner cases. Runs against the conformance suite's server.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "../conformance/harness.hpp"

#include <dbserve/beast/transport.hpp>
#include <dbserve/protocol/url.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace conformance;
using dbserve::errc;
namespace detail = dbserve::beast::detail;

namespace {

// An io_context run by two threads for the duration of a test.
struct thread_pool {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    std::vector<std::thread> threads;
    thread_pool() {
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    }
    ~thread_pool() {
        work.reset();
        io.stop();
        for (auto& t : threads) t.join();
    }
};

std::future<dbserve::result<dbserve::http_response>> send_async(dbserve::beast::async_transport& t,
                                                                 dbserve::http_request request,
                                                                 dbserve::send_options options = with_timeout(normal_timeout)) {
    auto promise = std::make_shared<std::promise<dbserve::result<dbserve::http_response>>>();
    auto future = promise->get_future();
    t.async_send(std::move(request), std::move(options),
                 dbserve::completion_handler([promise](dbserve::result<dbserve::http_response> r) { promise->set_value(std::move(r)); }));
    return future;
}

// A transport that never calls the handler fails the test; nothing stands in for it.
dbserve::result<dbserve::http_response> wait(std::future<dbserve::result<dbserve::http_response>>& f) {
    const bool called = f.wait_for(hard_deadline) == std::future_status::ready;
    REQUIRE_MESSAGE(called, "the transport did not call the completion handler within "
                                << std::chrono::duration_cast<std::chrono::seconds>(hard_deadline).count() << " s");
    return f.get();
}

int server_connections() {
    dbserve::beast::blocking_transport t(trusting_options());
    auto r = t.send(get(https_url(good_host, "/stats")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
    return nlohmann::json::parse(r->body)["connections"].get<int>();
}

}  // namespace

TEST_CASE("a resolve override that is not one IP address fails every request, before anything is sent") {
    for (const char* address : {"localhost", "127.0.0.1,127.0.0.2", "999.1.1.1", "[::1"}) {
        CAPTURE(address);
        auto options = trusting_options();
        options.resolve.push_back({"other.example", 443, address});
        dbserve::beast::blocking_transport t(options);
        auto r = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::configuration);
        CHECK(r.error().message.find("resolve override") != std::string::npos);
    }
}

TEST_CASE("a header too large for Beast is refused before anything is sent, not thrown") {
    dbserve::beast::blocking_transport t(trusting_options());
    auto request = get(https_url(good_host, "/json"));
    REQUIRE(request.headers.set("Authorization", "Bearer " + std::string(8u * 1024u * 1024u, 'a')));
    auto r = t.send(request, with_timeout(normal_timeout));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_FALSE(r.error().request_may_have_been_processed);
    CHECK(r.error().message.find("aaaaaaaa") == std::string::npos);  // the value is never quoted
}

namespace {
dbserve::result<detail::request_target> target_of(std::string_view url) {
    auto parsed = dbserve::parse_url(url);
    if (!parsed) return std::move(parsed).error();
    return detail::to_request_target(std::move(*parsed));
}
}  // namespace

TEST_CASE("the core's parsed URL maps onto scheme, bare host, port, origin-form target and SNI") {
    auto a = target_of("https://ADB-1.2.AzureDatabricks.net/api/2.0/x?y=1");
    REQUIRE(a.has_value());
    CHECK(a->tls);
    CHECK(a->host == "adb-1.2.azuredatabricks.net");
    CHECK(a->port == 443);
    CHECK(a->path == "/api/2.0/x?y=1");
    CHECK(a->host_header == "adb-1.2.azuredatabricks.net");
    CHECK(a->host_and_port() == "adb-1.2.azuredatabricks.net:443");
    CHECK(a->sends_server_name());

    auto b = target_of("http://[::1]:8080");
    REQUIRE(b.has_value());
    CHECK_FALSE(b->tls);
    CHECK(b->host == "::1");
    CHECK(b->port == 8080);
    CHECK(b->path == "/");
    CHECK(b->host_header == "[::1]:8080");
    CHECK(b->host_and_port() == "[::1]:8080");
    CHECK_FALSE(b->sends_server_name());

    auto c = target_of("https://h.example:8443?q");
    REQUIRE(c.has_value());
    CHECK(c->path == "/?q");
    CHECK(c->host_header == "h.example:8443");

    auto d = target_of("https://127.0.0.1/x");
    REQUIRE(d.has_value());
    CHECK_FALSE(d->sends_server_name());

    // The core's parser is stricter than the one this adapter had: a fragment is refused, not dropped.
    for (const char* bad : {"ftp://h/x", "h.example/x", "https://user:pw@h/x", "https://h:0/", "https://h:99999/",
                            "https://:443/", "https://h/a b", "https://[::1/x", "https://h/x#fragment"}) {
        CAPTURE(bad);
        auto r = target_of(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::invalid_argument);
        CHECK(r.error().message.find("pw") == std::string::npos);
    }
}

TEST_CASE("NO_PROXY matches a host and its subdomains, with or without a leading dot, or everything with *") {
    CHECK(detail::no_proxy_matches("*", "anything.example"));
    CHECK(detail::no_proxy_matches("example.com, azuredatabricks.net", "adb-1.2.azuredatabricks.net"));
    CHECK(detail::no_proxy_matches(".azuredatabricks.net", "adb-1.2.AzureDatabricks.net"));
    CHECK(detail::no_proxy_matches("adb-1.2.azuredatabricks.net:443", "adb-1.2.azuredatabricks.net"));
    CHECK_FALSE(detail::no_proxy_matches("databricks.net", "adb-1.2.azuredatabricks.net"));
    CHECK_FALSE(detail::no_proxy_matches("", "h.example"));
    CHECK_FALSE(detail::no_proxy_matches(",,", "h.example"));
}

TEST_CASE("the proxy comes from the options first, then HTTPS_PROXY, https_proxy, ALL_PROXY") {
    std::map<std::string, std::string> env;
    auto getenv_fn = [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    };
    auto target = *target_of("https://adb-1.2.azuredatabricks.net/x");
    dbserve::proxy_options options;

    auto none = detail::select_proxy(options, target, getenv_fn);
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());

    env["ALL_PROXY"] = "http://all.example:3128";
    env["https_proxy"] = "http://lower.example:3128";
    auto lower = detail::select_proxy(options, target, getenv_fn);
    REQUIRE((lower.has_value() && lower->has_value()));
    CHECK((*lower)->host == "lower.example");

    env["HTTPS_PROXY"] = "http://user%40corp:p%3Ass@upper.example";
    auto upper = detail::select_proxy(options, target, getenv_fn);
    REQUIRE((upper.has_value() && upper->has_value()));
    CHECK((*upper)->host == "upper.example");
    CHECK((*upper)->port == 1080);
    CHECK((*upper)->authorization == "Basic " + detail::base64_encode("user@corp:p:ss"));

    env["no_proxy"] = "azuredatabricks.net";
    auto bypassed = detail::select_proxy(options, target, getenv_fn);
    REQUIRE(bypassed.has_value());
    CHECK_FALSE(bypassed->has_value());

    options.url = "proxy.internal:8080";
    options.no_proxy = "other.example";
    auto explicit_proxy = detail::select_proxy(options, target, getenv_fn);
    REQUIRE((explicit_proxy.has_value() && explicit_proxy->has_value()));
    CHECK((*explicit_proxy)->host == "proxy.internal");
    CHECK((*explicit_proxy)->port == 8080);

    options.url = "socks5://proxy.internal:1080";
    auto socks = detail::select_proxy(options, target, getenv_fn);
    REQUIRE_FALSE(socks.has_value());
    CHECK(socks.error().code == errc::configuration);

    options.from_environment = false;
    options.url.clear();
    auto ignored_env = detail::select_proxy(options, target, getenv_fn);
    REQUIRE(ignored_env.has_value());
    CHECK_FALSE(ignored_env->has_value());

    auto plain = *target_of("http://127.0.0.1:8080/x");
    options.url = "http://proxy.internal:8080";
    auto not_for_plain = detail::select_proxy(options, plain, getenv_fn);
    REQUIRE(not_for_plain.has_value());
    CHECK_FALSE(not_for_plain->has_value());
}

TEST_CASE("a proxy URL's host and port are read by the core's parser; 1080 when no port is given") {
    auto bare = detail::parse_proxy_url("proxy.internal");
    REQUIRE(bare.has_value());
    CHECK(bare->host == "proxy.internal");
    CHECK(bare->port == 1080);
    auto port_80 = detail::parse_proxy_url("http://Proxy.Internal:80/");
    REQUIRE(port_80.has_value());
    CHECK(port_80->host == "proxy.internal");
    CHECK(port_80->port == 80);
    auto v6 = detail::parse_proxy_url("http://u:p@[::1]:3128");
    REQUIRE(v6.has_value());
    CHECK(v6->host == "::1");
    CHECK(v6->port == 3128);
    CHECK(v6->authorization == "Basic " + detail::base64_encode("u:p"));
    auto v6_bare = detail::parse_proxy_url("[::1]");
    REQUIRE(v6_bare.has_value());
    CHECK(v6_bare->port == 1080);
    for (const char* bad : {"http://proxy:0", "http://proxy:99999", "http://user:secret@", "http://pro xy:8080"}) {
        CAPTURE(bad);
        auto r = detail::parse_proxy_url(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::configuration);
        CHECK(r.error().message.find("secret") == std::string::npos);
    }
}

TEST_CASE("base64 for proxy credentials pads like RFC 4648") {
    CHECK(detail::base64_encode("") == "");
    CHECK(detail::base64_encode("f") == "Zg==");
    CHECK(detail::base64_encode("fo") == "Zm8=");
    CHECK(detail::base64_encode("foo") == "Zm9v");
    CHECK(detail::base64_encode("foob") == "Zm9vYg==");
}

TEST_CASE("an unreadable CA file fails every request with a configuration error") {
    auto options = trusting_options();
    options.tls.ca_file = "/nonexistent/ca.pem";
    dbserve::beast::blocking_transport t(options);
    auto r = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::configuration);
    CHECK(r.error().message.find("ca_file") != std::string::npos);
}

TEST_CASE("a peer that accepts TCP but never speaks TLS runs into the connect timeout") {
    auto options = trusting_options();
    options.connect_timeout = std::chrono::milliseconds(300);
    dbserve::beast::blocking_transport t(options);
    const auto url = "https://" + std::string(silent_host) + ":" + std::to_string(server().silent_port) + "/json";
    auto r = t.send(get(url), with_timeout(normal_timeout));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::timeout);
    CHECK_MESSAGE(r.error().message.find("connect_timeout") != std::string::npos, r.error().message);
    CHECK_FALSE(r.error().request_may_have_been_processed);
}

TEST_CASE("concurrent requests share at most max_connections_per_host connections") {
    auto options = trusting_options();
    options.max_connections_per_host = 2;
    thread_pool pool;
    dbserve::beast::async_transport t(pool.io, options);
    const int before = server_connections();
    std::vector<std::future<dbserve::result<dbserve::http_response>>> futures;
    for (int i = 0; i < 8; ++i)
        futures.push_back(send_async(t, get(https_url(good_host, "/stream?chunks=2&delay_ms=30"))));
    for (auto& f : futures) {
        auto r = wait(f);
        REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
        CHECK(r->status == 200);
    }
    CHECK(server_connections() - before == 1 + 2);  // the stats probe's own, and the pool's two
    CHECK(t.idle_connections() == 2);
}

TEST_CASE("a request waiting for a free connection still ends at its deadline") {
    auto options = trusting_options();
    options.max_connections_per_host = 1;
    thread_pool pool;
    dbserve::beast::async_transport t(pool.io, options);
    const auto id = unique_id("never");
    auto blocker = send_async(t, post(https_url(good_host, "/never?id=" + id), "{}"),
                              with_timeout(std::chrono::milliseconds(3000)));
    wait_for_event("never:" + id);  // the one connection is taken
    auto queued = send_async(t, get(https_url(good_host, "/json")), with_timeout(std::chrono::milliseconds(300)));
    auto q = wait(queued);
    REQUIRE_FALSE(q.has_value());
    CHECK(q.error().code == errc::timeout);
    CHECK_MESSAGE(q.error().message.find("waiting for a free connection") != std::string::npos, q.error().message);
    CHECK_FALSE(q.error().request_may_have_been_processed);
    auto b = wait(blocker);
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error().code == errc::timeout);
    // The slot came back: the next request gets a connection.
    auto after = send_async(t, get(https_url(good_host, "/json")));
    auto a = wait(after);
    REQUIRE_MESSAGE(a.has_value(), a.error().to_string());
}

TEST_CASE("one blocking transport serves several threads at once and reuses their connections") {
    dbserve::beast::blocking_transport t(trusting_options());
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            for (int j = 0; j < 5; ++j) {
                auto r = t.send(post(https_url(good_host, "/echo"), "{}"), with_timeout(normal_timeout));
                if (r && r->status == 200) ++ok;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(ok.load() == 20);
    CHECK(t.idle_connections() >= 1);
    CHECK(t.idle_connections() <= 4);
}

TEST_CASE("cancelling a finished request or one not yet started is harmless and exact") {
    boost::asio::io_context io;
    dbserve::beast::async_transport t(io, trusting_options());
    int calls = 0;
    std::optional<dbserve::result<dbserve::http_response>> outcome;
    auto handle = t.async_send(get(https_url(good_host, "/json")), with_timeout(normal_timeout),
                               dbserve::completion_handler([&](dbserve::result<dbserve::http_response> r) {
                                   ++calls;
                                   outcome.emplace(std::move(r));
                               }));
    handle.cancel();  // before the io_context ran anything
    io.run_for(hard_deadline);
    CHECK(calls == 1);
    REQUIRE(outcome.has_value());
    REQUIRE_FALSE(outcome->has_value());
    CHECK(outcome->error().code == errc::cancelled);
    CHECK_FALSE(outcome->error().request_may_have_been_processed);

    io.restart();
    calls = 0;
    outcome.reset();
    handle = t.async_send(get(https_url(good_host, "/json")), with_timeout(normal_timeout),
                          dbserve::completion_handler([&](dbserve::result<dbserve::http_response> r) {
                              ++calls;
                              outcome.emplace(std::move(r));
                          }));
    io.run_for(hard_deadline);
    REQUIRE(outcome.has_value());
    REQUIRE(outcome->has_value());
    CHECK_FALSE(handle.active());
    handle.cancel();
    io.restart();
    io.poll();
    CHECK(calls == 1);
}

TEST_CASE("a request_handle lets another thread cancel a streaming response mid-body") {
    thread_pool pool;
    dbserve::beast::async_transport t(pool.io, trusting_options());
    std::promise<void> first_chunk;
    std::atomic<bool> seen{false};
    auto options = with_timeout(normal_timeout);
    options.on_body_chunk = [&](const dbserve::http_response&, std::string_view) {
        if (!seen.exchange(true)) first_chunk.set_value();
    };
    auto promise = std::make_shared<std::promise<dbserve::result<dbserve::http_response>>>();
    auto future = promise->get_future();
    auto handle = t.async_send(get(https_url(good_host, "/stream?chunks=50&delay_ms=50")), options,
                               dbserve::completion_handler([promise](dbserve::result<dbserve::http_response> r) {
                                   promise->set_value(std::move(r));
                               }));
    REQUIRE(first_chunk.get_future().wait_for(hard_deadline) == std::future_status::ready);
    handle.cancel();
    auto r = wait(future);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::cancelled);
    CHECK(r.error().request_may_have_been_processed);
}

TEST_CASE("a blocking send from inside its own on_body_chunk is refused instead of deadlocking") {
    dbserve::beast::blocking_transport t(trusting_options());
    std::optional<dbserve::errc> nested;
    auto options = with_timeout(normal_timeout);
    options.on_body_chunk = [&](const dbserve::http_response&, std::string_view) {
        if (nested) return;
        auto r = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        nested = r ? dbserve::errc{} : r.error().code;
    };
    auto r = t.send(get(https_url(good_host, "/stream?chunks=2&delay_ms=10")), options);
    REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
    REQUIRE(nested.has_value());
    CHECK(*nested == errc::invalid_argument);
    auto after = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(after.has_value(), after.error().to_string());
}

TEST_CASE("proxy credentials from the proxy URL go in Proxy-Authorization and a 407 is reported") {
    // A one-shot proxy that records the CONNECT request and refuses it.
    boost::asio::io_context proxy_io;
    boost::asio::ip::tcp::acceptor acceptor(proxy_io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    boost::asio::ip::tcp::socket peer(proxy_io);
    boost::asio::streambuf received;
    std::string request_head;
    const std::string refusal = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
    acceptor.async_accept(peer, [&](const boost::system::error_code& ec) {
        if (ec) return;
        boost::asio::async_read_until(peer, received, "\r\n\r\n", [&](const boost::system::error_code& ec2, std::size_t n) {
            if (ec2) return;
            request_head.assign(boost::asio::buffers_begin(received.data()), boost::asio::buffers_begin(received.data()) + static_cast<std::ptrdiff_t>(n));
            boost::asio::async_write(peer, boost::asio::buffer(refusal), [&](const boost::system::error_code&, std::size_t) {
                boost::system::error_code ignored;
                peer.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
            });
        });
    });
    std::thread proxy_thread([&] { proxy_io.run_for(std::chrono::seconds(20)); });

    auto options = trusting_options();
    options.proxy.url = "http://user:p%40ss@127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    dbserve::beast::blocking_transport t(options);
    auto r = t.send(get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    proxy_io.stop();
    proxy_thread.join();

    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::connection);
    CHECK_MESSAGE(r.error().message.find("407") != std::string::npos, r.error().message);
    CHECK(r.error().message.find("p@ss") == std::string::npos);
    CHECK(request_head.rfind("CONNECT " + std::string(good_host) + ":" + std::to_string(server().https_port) + " HTTP/1.1\r\n", 0) == 0);
    CHECK(request_head.find("Proxy-Authorization: Basic " + detail::base64_encode("user:p@ss") + "\r\n") != std::string::npos);
}
