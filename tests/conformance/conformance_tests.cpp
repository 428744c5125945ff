// The transport conformance suite: what every bundled transport must do, checked over
// TLS on loopback against server.js.
//
// Built once per adapter: tests/conformance/adapters/<adapter>.hpp defines its kits and
// DBSERVE_CONFORMANCE_KITS (the list of kit types); CMake builds conformance_<adapter>
// from this file when the target dbserve::<adapter> exists. A kit is:
//
//   struct kit {
//       static constexpr const char* name;   // shown in test names
//       static constexpr bool is_async;      // runs the cancellation tests when true
//       using transport_type = ...;
//       static std::unique_ptr<transport_type> make(const dbserve::transport_options&);
//       // Sends and returns the outcome, within conformance::hard_deadline whatever happens.
//       static dbserve::result<dbserve::http_response> send(transport_type&, const dbserve::http_request&,
//                                                           const dbserve::send_options&);
//       // All at once (threads for a blocking transport); the outcomes in request order.
//       static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type&,
//           const std::vector<dbserve::http_request>&, const dbserve::send_options&);
//       // Async only: starts the request, cancels it once cancel_when() is true, returns
//       // its outcome.
//       static dbserve::result<dbserve::http_response> send_and_cancel(transport_type&,
//           const dbserve::http_request&, const dbserve::send_options&, const std::function<bool()>& cancel_when);
//   };
// An asynchronous kit whose handler is not called within hard_deadline fails the test.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include DBSERVE_CONFORMANCE_ADAPTER_HEADER

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

using namespace conformance;
using dbserve::errc;

namespace {

std::string expected_pattern(std::size_t bytes) {
    std::string s(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i) s[i] = static_cast<char>('a' + i % 26);
    return s;
}

template <class Kit>
dbserve::error expect_failure(const dbserve::transport_options& options, const dbserve::http_request& request,
                              dbserve::send_options send = with_timeout(normal_timeout)) {
    auto t = Kit::make(options);
    auto r = Kit::send(*t, request, send);
    REQUIRE_FALSE_MESSAGE(r.has_value(), "expected a failure, got " << describe(r));
    return r.error();
}

}  // namespace

TEST_CASE_TEMPLATE("a request and its response pass through unchanged", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    auto request = post(https_url(good_host, "/echo?x=1"), R"({"inputs":[1,2]})");
    REQUIRE(request.headers.add("X-Databricks-Workspace-Id", "1234").has_value());
    REQUIRE(request.headers.add("Authorization", "Bearer test-token").has_value());
    auto r = Kit::send(*t, request, with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    CHECK(r->status == 200);
    CHECK(r->reason == "Echoing");
    CHECK(r->headers.get("content-type") == "application/json");
    CHECK(r->headers.contains("x-multi"));
    const auto echo = nlohmann::json::parse(r->body);
    CHECK(echo["method"] == "POST");
    CHECK(echo["path"] == "/echo?x=1");
    CHECK(echo["body"] == R"({"inputs":[1,2]})");
    CHECK(echo["headers"]["x-databricks-workspace-id"] == "1234");
    CHECK(echo["headers"]["authorization"] == "Bearer test-token");
    CHECK(echo["headers"]["content-type"] == "application/json");
    CHECK_FALSE(echo["headers"].contains("expect"));

    auto g = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(g.has_value(), describe(g));
    CHECK(g->body == R"({"predictions":[1,2,3]})");
}

TEST_CASE_TEMPLATE("an HTTP error status is a response, not a transport error", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    auto r = Kit::send(*t, post(https_url(good_host, "/status/503"), "{}"), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    CHECK(r->status == 503);
    CHECK(r->headers.get("Retry-After") == "1");
    CHECK(r->body.find("TEST_ERROR") != std::string::npos);
}

TEST_CASE_TEMPLATE("sequential requests to one host reuse one keep-alive connection", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    const nlohmann::json before = server_stats();
    for (int i = 0; i < 6; ++i) {
        auto r = Kit::send(*t, post(https_url(good_host, "/json"), "{}"), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
    }
    const nlohmann::json after = server_stats();
    CHECK(after["connections"].get<int>() == before["connections"].get<int>() + 1);
    CHECK(after["requests"].get<int>() == before["requests"].get<int>() + 6);
}

TEST_CASE_TEMPLATE("two hosts keep one connection each across alternating requests", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    const nlohmann::json before = server_stats();
    for (int i = 0; i < 4; ++i) {
        for (auto host : {second_good_host, good_host}) {
            auto r = Kit::send(*t, get(https_url(host, "/json")), with_timeout(normal_timeout));
            REQUIRE_MESSAGE(r.has_value(), describe(r));
        }
    }
    const nlohmann::json after = server_stats();
    CHECK(after["connections"].get<int>() == before["connections"].get<int>() + 2);
}

TEST_CASE_TEMPLATE("a connection the server closed is replaced and the next request succeeds", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    const nlohmann::json before = server_stats();
    const auto id = unique_id("idle-close");
    auto closing = Kit::send(*t, get(https_url(good_host, "/close-after?id=" + id)), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(closing.has_value(), describe(closing));
    wait_for_event("closed:" + id);  // the server closed the idle connection before the next request
    // Counted by the server: sent once, on a fresh connection.
    auto once = Kit::send(*t, post(https_url(good_host, "/drop-if-reused?id=" + id), "{}"), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(once.has_value(), describe(once));
    CHECK(once->status == 200);
    CHECK(event_count("received:" + id) == 1);
    for (int i = 0; i < 2; ++i) {
        auto r = Kit::send(*t, post(https_url(good_host, "/echo"), "{}"), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
        CHECK(r->status == 200);
    }
    const nlohmann::json after = server_stats();
    CHECK(after["connections"].get<int>() == before["connections"].get<int>() + 2);
}

// Go net/http's rule: a request goes again on a fresh connection only when none of it was
// written; a POST that may have reached the server fails with its outcome unknown.
TEST_CASE_TEMPLATE("a POST the server read and dropped on a reused connection is not sent again", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    for (const bool h2_port : {false, true}) {
        CAPTURE(h2_port);  // the h2 port speaks HTTP/2 to transports that offer it by ALPN
        const auto url = [&](const std::string& path) {
            return h2_port ? h2_url(good_host, path) : https_url(good_host, path);
        };
        auto t = Kit::make(trusting_options());
        const auto id = unique_id("drop");
        auto first = Kit::send(*t, post(url("/drop-if-reused?id=" + id), R"({"inputs":[1]})"), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(first.has_value(), describe(first));
        CHECK(first->status == 200);
        auto second = Kit::send(*t, post(url("/drop-if-reused?id=" + id), R"({"inputs":[2]})"), with_timeout(normal_timeout));
        CHECK_MESSAGE(event_count("received:" + id) == 2, "the server got the second POST more than once");
        REQUIRE_FALSE_MESSAGE(second.has_value(), "expected an unknown outcome, got " << describe(second));
        CHECK_MESSAGE(second.error().code == errc::connection, describe(second));
        CHECK(second.error().request_may_have_been_processed);
    }
}

TEST_CASE_TEMPLATE("a GET without a body that met a dropped reused connection goes again on a fresh one", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    const auto id = unique_id("drop-get");
    for (int i = 0; i < 2; ++i) {
        auto r = Kit::send(*t, get(https_url(good_host, "/drop-if-reused?id=" + id)), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
        CHECK(r->status == 200);
    }
    CHECK(event_count("received:" + id) == 3);
}

TEST_CASE_TEMPLATE("with max_connection_idle zero no connection is reused", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto options = trusting_options();
    options.max_connection_idle = std::chrono::seconds(0);
    auto t = Kit::make(options);
    const nlohmann::json before = server_stats();
    for (int i = 0; i < 3; ++i) {
        auto r = Kit::send(*t, post(https_url(good_host, "/json"), "{}"), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
    }
    const nlohmann::json after = server_stats();
    CHECK(after["connections"].get<int>() == before["connections"].get<int>() + 3);
}

TEST_CASE_TEMPLATE("concurrent requests to one host open at most max_connections_per_host connections", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    auto options = trusting_options();
    options.max_connections_per_host = 2;
    auto t = Kit::make(options);
    ask_server("/limit-reset");
    std::vector<dbserve::http_request> requests;
    for (int i = 0; i < 6; ++i) requests.push_back(post(limit_url(good_host, "/slow?ms=100"), "{}"));
    const auto outcomes = Kit::send_all(*t, requests, with_timeout(normal_timeout));
    for (const auto& r : outcomes) {
        REQUIRE_MESSAGE(r.has_value(), describe(r));
        CHECK(r->status == 200);
    }
    const nlohmann::json stats = server_stats();
    CHECK(stats["limit_peak"].get<int>() >= 1);
    CHECK_MESSAGE(stats["limit_peak"].get<int>() <= 2, "connections open at once: " << stats["limit_peak"]);
}

TEST_CASE_TEMPLATE("a server that never answers runs into the request deadline", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto e = expect_failure<Kit>(trusting_options(), post(https_url(good_host, "/never"), "{}"),
                                       with_timeout(std::chrono::milliseconds(500)));
    CHECK(e.code == errc::timeout);
    CHECK(e.request_may_have_been_processed);
    CHECK(e.native_code != 0);
    CHECK_FALSE(e.native_message.empty());
}

TEST_CASE_TEMPLATE("a TLS handshake that never completes runs into the deadline", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto url = "https://" + std::string(silent_host) + ":" + std::to_string(server().silent_port) + "/json";
    const auto e = expect_failure<Kit>(trusting_options(), post(url, "{}"), with_timeout(std::chrono::milliseconds(500)));
    CHECK(e.code == errc::timeout);
    CHECK_FALSE(e.request_may_have_been_processed);
}

TEST_CASE_TEMPLATE("a server that closes mid-response gives a connection error", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto e = expect_failure<Kit>(trusting_options(), post(https_url(good_host, "/close-mid"), "{}"));
    CHECK(e.code == errc::connection);
    CHECK(e.request_may_have_been_processed);
}

TEST_CASE_TEMPLATE("a chunked body reaches on_body_chunk piece by piece", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    std::string streamed;
    int pieces = 0;
    int status_seen = 0;
    auto options = with_timeout(normal_timeout);
    options.on_body_chunk = [&](const dbserve::http_response& head, std::string_view chunk) {
        status_seen = head.status;
        streamed.append(chunk);
        ++pieces;
    };
    auto r = Kit::send(*t, get(https_url(good_host, "/stream?chunks=4&delay_ms=100")), options);
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    CHECK(r->status == 200);
    CHECK(r->body.empty());
    CHECK(status_seen == 200);
    CHECK(streamed == "chunk-0\nchunk-1\nchunk-2\nchunk-3\n");
    CHECK(pieces >= 2);  // 100 ms apart: they cannot all arrive as one piece
}

TEST_CASE_TEMPLATE("a streamed body that stops sending ends at its idle timeout, the bytes so far delivered", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    std::string streamed;
    auto options = with_timeout(normal_timeout);
    options.idle_timeout = std::chrono::milliseconds(500);
    options.on_body_chunk = [&](const dbserve::http_response&, std::string_view chunk) { streamed.append(chunk); };
    // One chunk, then nothing for far longer than the idle timeout (the request's own
    // timeout is longer still).
    auto r = Kit::send(*t, get(https_url(good_host, "/stream?chunks=2&delay_ms=20000")), options);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::timeout);
    CHECK(r.error().request_may_have_been_processed);
    CHECK(r.error().message.find("sent no byte for 500 ms") != std::string::npos);
    CHECK(streamed == "chunk-0\n");
}

TEST_CASE_TEMPLATE("a streamed body that keeps sending is not cut by its idle timeout", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    std::string streamed;
    auto options = with_timeout(normal_timeout);
    options.idle_timeout = std::chrono::milliseconds(2000);
    options.on_body_chunk = [&](const dbserve::http_response&, std::string_view chunk) { streamed.append(chunk); };
    // Eight chunks 400 ms apart: 2.8 s in all, longer than the idle timeout, never idle that long.
    auto r = Kit::send(*t, get(https_url(good_host, "/stream?chunks=8&delay_ms=400")), options);
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    CHECK(streamed.size() == 8 * std::string("chunk-0\n").size());
}

TEST_CASE_TEMPLATE("large bodies arrive intact, with and without Content-Length", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto t = Kit::make(trusting_options());
    const std::size_t bytes = 8u * 1024u * 1024u + 7u;
    const auto expected = expected_pattern(bytes);
    for (const char* chunked : {"0", "1"}) {
        CAPTURE(chunked);
        auto r = Kit::send(*t, get(https_url(good_host, "/large?bytes=" + std::to_string(bytes) + "&chunked=" + chunked)),
                           with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
        CHECK(r->body.size() == bytes);
        CHECK((r->body == expected));
    }
    std::string big_upload(3u * 1024u * 1024u, 'x');
    auto echo = Kit::send(*t, post(https_url(good_host, "/echo"), big_upload), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(echo.has_value(), describe(echo));
    const nlohmann::json echoed = nlohmann::json::parse(echo->body);
    CHECK(echoed["body"].get<std::string>().size() == big_upload.size());
}

TEST_CASE_TEMPLATE("a response over max_response_bytes is response_too_large", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto options = trusting_options();
    options.max_response_bytes = 1024u * 1024u;
    for (const char* chunked : {"0", "1"}) {
        CAPTURE(chunked);
        const auto url = https_url(good_host, std::string("/large?bytes=2000000&chunked=") + chunked);
        const auto e = expect_failure<Kit>(options, get(url));
        CHECK(e.code == errc::response_too_large);
        CHECK(e.message.find("max_response_bytes") != std::string::npos);

        auto streaming = with_timeout(normal_timeout);
        std::size_t delivered = 0;
        streaming.on_body_chunk = [&](const dbserve::http_response&, std::string_view chunk) { delivered += chunk.size(); };
        const auto streamed = expect_failure<Kit>(options, get(url), streaming);
        CHECK(streamed.code == errc::response_too_large);
        CHECK(delivered <= options.max_response_bytes);
    }
    auto t = Kit::make(options);
    auto exact = Kit::send(*t, get(https_url(good_host, "/large?bytes=1048576")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(exact.has_value(), describe(exact));
    CHECK(exact->body.size() == options.max_response_bytes);
}

TEST_CASE_TEMPLATE("a certificate from an unknown CA is refused with its own message", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto e = expect_failure<Kit>(trusting_options(), get(https_url(unknown_ca_host, "/json")));
    CHECK(e.code == errc::tls);
    CHECK_MESSAGE(e.message.find("certificate is signed by an unknown CA") != std::string::npos, e.message);
    CHECK(e.native_code != 0);
    CHECK_FALSE(e.native_message.empty());
    CHECK_FALSE(e.request_may_have_been_processed);
}

TEST_CASE_TEMPLATE("a certificate for another name is refused as a host name mismatch", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto e = expect_failure<Kit>(trusting_options(), get(https_url(wrong_host, "/json")));
    CHECK(e.code == errc::tls);
    CHECK_MESSAGE(e.message.find("host name mismatch") != std::string::npos, e.message);
    CHECK_FALSE(e.native_message.empty());
}

TEST_CASE_TEMPLATE("an expired certificate is refused as expired", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto e = expect_failure<Kit>(trusting_options(), get(https_url(expired_host, "/json")));
    CHECK(e.code == errc::tls);
    CHECK_MESSAGE(e.message.find("certificate expired") != std::string::npos, e.message);
}

TEST_CASE_TEMPLATE("a self-signed certificate is refused as self-signed", Kit, DBSERVE_CONFORMANCE_KITS) {
    const auto e = expect_failure<Kit>(trusting_options(), get(https_url(self_signed_host, "/json")));
    CHECK(e.code == errc::tls);
    CHECK_MESSAGE(e.message.find("self-signed certificate") != std::string::npos, e.message);
}

TEST_CASE_TEMPLATE("the system store alone does not trust the test CA", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto options = trusting_options();
    options.tls.ca_file.clear();
    const auto e = expect_failure<Kit>(options, get(https_url(good_host, "/json")));
    CHECK(e.code == errc::tls);
    CHECK_MESSAGE(e.message.find("unknown CA") != std::string::npos, e.message);
}

TEST_CASE_TEMPLATE("the trusted CA can be a file, a rehashed directory or PEM text in memory", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    auto from_directory = trusting_options();
    from_directory.tls.ca_file.clear();
    from_directory.tls.ca_directory = cert("ca-dir");
    auto from_memory = trusting_options();
    from_memory.tls.ca_file.clear();
    from_memory.tls.ca_pem = read_file(cert("ca.pem"));
    REQUIRE_FALSE(from_memory.tls.ca_pem.empty());
    int which = 0;
    for (const auto& options : {trusting_options(), from_directory, from_memory}) {
        CAPTURE(which++);
        auto t = Kit::make(options);
        auto r = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
        CHECK(r->status == 200);
    }
}

TEST_CASE_TEMPLATE("verification is off only through the loudly named testing flag", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto options = trusting_options();
    options.tls.insecure_disable_verification_for_testing_only = true;
    auto t = Kit::make(options);
    auto r = Kit::send(*t, get(https_url(self_signed_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), describe(r));
    CHECK(r->status == 200);
}

TEST_CASE_TEMPLATE("a resolve override sends a real-looking name to loopback", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto options = trusting_options();
    auto with_override = Kit::make(options);
    auto r = Kit::send(*with_override, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(r.has_value(), describe(r));

    options.resolve.clear();
    const auto e = expect_failure<Kit>(options, get("https://dbserve-conformance.invalid/json"));
    CHECK(e.code == errc::name_resolution);
    CHECK(e.native_code != 0);
}

TEST_CASE_TEMPLATE("a bearer token never goes over plain http except to loopback", Kit, DBSERVE_CONFORMANCE_KITS) {
    auto with_token = [](std::string url) {
        auto r = post(std::move(url), "{}");
        (void)r.headers.add("Authorization", "Bearer secret-value");
        return r;
    };
    const auto refused = expect_failure<Kit>(trusting_options(), with_token(http_url(good_host, "/echo")));
    CHECK(refused.code == errc::configuration);
    CHECK(refused.message.find("secret-value") == std::string::npos);

    auto t = Kit::make(trusting_options());
    for (auto host : {"127.0.0.1", "localhost"}) {
        CAPTURE(host);
        auto r = Kit::send(*t, with_token(http_url(host, "/echo")), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
        CHECK(r->status == 200);
    }
    auto no_token = Kit::send(*t, post(http_url(good_host, "/echo"), "{}"), with_timeout(normal_timeout));
    REQUIRE_MESSAGE(no_token.has_value(), describe(no_token));

    const auto ftp = expect_failure<Kit>(trusting_options(), get("ftp://127.0.0.1/file"));
    CHECK(ftp.code == errc::invalid_argument);
}

// One rule for every adapter: the core's URL parser reads the host and its loopback rule
// decides, before any name is resolved or any connection opened; the names that are not
// loopback need no DNS (none of them is resolved), so the test needs none either.
TEST_CASE_TEMPLATE("the loopback hosts a bearer token may reach over plain http are the same on every adapter", Kit,
                   DBSERVE_CONFORMANCE_KITS) {
    enum class outcome { allowed, refused_as_not_loopback, refused_as_invalid_url };
    struct row {
        std::string_view host;  // as written in the URL
        outcome expected;
        std::string_view reaches = {};  // for an allowed host: the address the server must listen on
    };
    const row matrix[] = {
        {"localhost", outcome::allowed, "127.0.0.1"},
        {"127.0.0.1", outcome::allowed, "127.0.0.1"},
        {"127.0.0.2", outcome::allowed, "127.0.0.2"},
        {"[::1]", outcome::allowed, "::1"},
        {"[0::1]", outcome::allowed, "::1"},
        {"[::ffff:127.0.0.1]", outcome::allowed, "127.0.0.1"},
        // RFC 6761 makes "localhost." loopback too, but the core's parser refuses a trailing
        // dot in any host name (and outside /etc/hosts the name would go to DNS).
        {"localhost.", outcome::refused_as_invalid_url},
        {"localhost.example.com", outcome::refused_as_not_loopback},
        {"127.0.0.1.example.com", outcome::refused_as_not_loopback},
        {good_host, outcome::refused_as_not_loopback},  // resolves (an override) to 127.0.0.1: still refused
    };
    const auto& also = server().http_also_on;
    const auto served = [&](std::string_view address) {
        return address == "127.0.0.1" || std::find(also.begin(), also.end(), address) != also.end();
    };
    for (const auto& entry : matrix) {
        const std::string host(entry.host);
        CAPTURE(host);
        auto request = post(http_url(host, "/echo"), "{}");
        REQUIRE(request.headers.add("Authorization", "Bearer secret-value").has_value());
        const int connections_before = server_stats()["connections"].get<int>();
        auto t = Kit::make(trusting_options());
        auto r = Kit::send(*t, request, with_timeout(normal_timeout));
        if (entry.expected == outcome::allowed) {
            if (served(entry.reaches)) {
                REQUIRE_MESSAGE(r.has_value(), describe(r));
                CHECK(r->status == 200);
                CHECK(nlohmann::json::parse(r->body)["headers"]["authorization"] == "Bearer secret-value");
            } else {
                // Allowed, but this machine has no such address to listen on.
                REQUIRE_FALSE(r.has_value());
                CHECK_MESSAGE(r.error().code == errc::connection, describe(r));
            }
            continue;
        }
        REQUIRE_FALSE_MESSAGE(r.has_value(), "expected a refusal, got " << describe(r));
        const auto expected_code =
            entry.expected == outcome::refused_as_invalid_url ? errc::invalid_argument : errc::configuration;
        CHECK_MESSAGE(r.error().code == expected_code, describe(r));
        CHECK(r.error().message.find("secret-value") == std::string::npos);
        CHECK_FALSE(r.error().request_may_have_been_processed);
        CHECK(server_stats()["connections"].get<int>() == connections_before);
    }
}

TEST_CASE_TEMPLATE("requests go through an HTTP proxy unless NO_PROXY matches", Kit, DBSERVE_CONFORMANCE_KITS) {
    const std::string proxy = "http://127.0.0.1:" + std::to_string(server().proxy_port);
    auto count_connects = [] { return server_stats()["proxy_connects"].get<int>(); };

    auto options = trusting_options();
    options.proxy.url = proxy;
    const int start = count_connects();
    {
        auto t = Kit::make(options);
        auto r = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
    }
    CHECK(count_connects() == start + 1);

    options.proxy.no_proxy = "example.com,azuredatabricks.net";
    {
        auto t = Kit::make(options);
        auto r = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(r.has_value(), describe(r));
    }
    CHECK(count_connects() == start + 1);

    // From the environment, as curl and the SDKs read it.
    auto from_env = trusting_options();
    from_env.proxy.from_environment = true;
    ::setenv("HTTPS_PROXY", proxy.c_str(), 1);
    ::setenv("https_proxy", proxy.c_str(), 1);
    {
        auto t = Kit::make(from_env);
        auto r = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        CHECK_MESSAGE(r.has_value(), describe(r));
    }
    ::setenv("NO_PROXY", "azuredatabricks.net", 1);
    ::setenv("no_proxy", "azuredatabricks.net", 1);
    {
        auto t = Kit::make(from_env);
        auto r = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        CHECK_MESSAGE(r.has_value(), describe(r));
    }
    for (const char* name : {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}) ::unsetenv(name);
    CHECK(count_connects() == start + 2);
}

TEST_CASE_TEMPLATE("an in-flight asynchronous request can be cancelled", Kit, DBSERVE_CONFORMANCE_KITS) {
    if constexpr (Kit::is_async) {
        auto t = Kit::make(trusting_options());
        const auto id = unique_id("cancel");
        auto r = Kit::send_and_cancel(*t, post(https_url(good_host, "/never?id=" + id), "{}"), with_timeout(normal_timeout),
                                      [&] { return event_count("never:" + id) > 0; });
        REQUIRE_FALSE(r.has_value());
        CHECK_MESSAGE(r.error().code == errc::cancelled, describe(r));
        CHECK(r.error().request_may_have_been_processed);  // it had reached the server

        auto after = Kit::send(*t, get(https_url(good_host, "/json")), with_timeout(normal_timeout));
        REQUIRE_MESSAGE(after.has_value(), describe(after));
        CHECK(after->status == 200);
    }
}
