// The conformance suite's side of the test server: makes the certificates, starts
// server.js once per test program (it dies with the program: it exits when its stdin
// closes), and builds the requests and options the tests share.
#pragma once

#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/client/transport_options.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace conformance {

// No kit may take longer than this for one request, whatever the transport does: a
// transport that never calls back fails the test instead of hanging it.
constexpr std::chrono::seconds hard_deadline{60};
// The deadline the tests give requests that should succeed.
constexpr std::chrono::milliseconds normal_timeout{10'000};

// Names the server answers for (all mapped to 127.0.0.1 by resolve overrides).
constexpr std::string_view good_host = "adb-1.2.azuredatabricks.net";
constexpr std::string_view second_good_host = "ep-1.7.serving.azuredatabricks.net";
constexpr std::string_view wrong_host = "wrong-host.azuredatabricks.net";
constexpr std::string_view expired_host = "expired.azuredatabricks.net";
constexpr std::string_view self_signed_host = "self-signed.azuredatabricks.net";
constexpr std::string_view unknown_ca_host = "unknown-ca.azuredatabricks.net";
constexpr std::string_view silent_host = "silent.azuredatabricks.net";

class test_server {
public:
    static const test_server& instance() {
        static const test_server server;
        return server;
    }

    int https_port = 0;
    int h2_port = 0;  // offers HTTP/2 by ALPN
    int http_port = 0;
    std::vector<std::string> http_also_on;  // loopback addresses besides 127.0.0.1 serving http_port
    int proxy_port = 0;
    int silent_port = 0;
    int limit_port = 0;    // https_port again, counting its open connections
    int control_port = 0;  // plain HTTP for the tests' own questions, not counted
    std::string cert_dir = DBSERVE_CONFORMANCE_CERT_DIR;

    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;
    ~test_server() {
        if (stdin_fd_ >= 0) ::close(stdin_fd_);  // the server exits when its stdin closes
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }

private:
    test_server() {
        const std::string script = std::string(DBSERVE_CONFORMANCE_SOURCE_DIR) + "/make-certs.sh";
        const std::string command = "bash '" + script + "' '" + cert_dir + "'";
        if (std::system(command.c_str()) != 0) throw std::runtime_error("make-certs.sh failed: " + command);
        isolate_environment();

        int to_server[2];
        int from_server[2];
        if (::pipe2(to_server, O_CLOEXEC) != 0 || ::pipe2(from_server, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, to_server[0], 0);
        posix_spawn_file_actions_adddup2(&actions, from_server[1], 1);
        std::string node = DBSERVE_CONFORMANCE_NODE;
        std::string server_js = std::string(DBSERVE_CONFORMANCE_SOURCE_DIR) + "/server.js";
        char* argv[] = {node.data(), server_js.data(), cert_dir.data(), nullptr};
        const int spawned = ::posix_spawn(&pid_, node.c_str(), &actions, nullptr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(to_server[0]);
        ::close(from_server[1]);
        stdin_fd_ = to_server[1];
        if (spawned != 0) throw std::runtime_error("could not start " + node);

        const std::string line = read_line(from_server[0], std::chrono::seconds(20));
        ::close(from_server[0]);
        const auto ports = nlohmann::json::parse(line);
        https_port = ports.at("https_port").get<int>();
        h2_port = ports.at("h2_port").get<int>();
        http_port = ports.at("http_port").get<int>();
        proxy_port = ports.at("proxy_port").get<int>();
        silent_port = ports.at("silent_port").get<int>();
        limit_port = ports.at("limit_port").get<int>();
        control_port = ports.at("control_port").get<int>();
        http_also_on = ports.at("http_also_on").get<std::vector<std::string>>();
    }

    // Points the variables OpenSSL and the curl tool read at a CA nobody should trust, so
    // a transport that lets them override its explicit trust settings fails the tests,
    // and removes proxy variables so only the proxy tests use a proxy.
    void isolate_environment() const {
        const std::string rogue = cert_dir + "/rogue-ca.pem";
        for (const char* name : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"})
            ::setenv(name, rogue.c_str(), 1);
        ::setenv("SSL_CERT_DIR", cert_dir.c_str(), 1);
        for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                 "no_proxy", "NO_PROXY"})
            ::unsetenv(name);
    }

    static std::string read_line(int fd, std::chrono::milliseconds limit) {
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (line.empty() || line.back() != '\n') {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd p{fd, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
                throw std::runtime_error("server.js did not print its ports in time");
            char buffer[256];
            const auto n = ::read(fd, buffer, sizeof buffer);
            if (n <= 0) throw std::runtime_error("server.js exited before printing its ports");
            line.append(buffer, static_cast<std::size_t>(n));
        }
        return line;
    }

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
};

inline const test_server& server() { return test_server::instance(); }

// Asks the server's control port over a plain socket, so the answer never depends on the
// transport under test; fails the test if no answer comes within hard_deadline.
inline nlohmann::json ask_server(const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(server().control_port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    bool complete = false;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            const auto deadline = std::chrono::steady_clock::now() + hard_deadline;
            for (;;) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
                pollfd p{fd, POLLIN, 0};
                if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
                char buffer[4096];
                const auto n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n < 0) break;
                if (n == 0) {
                    complete = true;  // HTTP/1.0: the body ends when the server closes
                    break;
                }
                reply.append(buffer, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    const auto body = reply.find("\r\n\r\n");
    REQUIRE_MESSAGE((complete && body != std::string::npos), "the test server did not answer " << path);
    return nlohmann::json::parse(reply.substr(body + 4));
}

inline nlohmann::json server_stats() { return ask_server("/stats"); }

// How often the server saw `event` (see server.js).
inline int event_count(const std::string& event) {
    const auto events = ask_server("/events");
    return events.contains(event) ? events[event].get<int>() : 0;
}

// Waits until the server saw `event` `count` times: a wait on the event, not a sleep.
inline void wait_for_event(const std::string& event, int count = 1) {
    const auto events = ask_server("/await?event=" + event + "&count=" + std::to_string(count));
    REQUIRE(events.contains(event));
    REQUIRE(events[event].get<int>() >= count);
}

// A name unique within this run, for events and counters of one test.
inline std::string unique_id(const char* what) {
    static int next = 0;
    return std::string(what) + "-" + std::to_string(++next);
}

inline std::string cert(std::string_view file) { return server().cert_dir + "/" + std::string(file); }

inline std::string read_file(const std::string& path) {
    std::string out;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
        char buffer[4096];
        std::size_t n;
        while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
        std::fclose(f);
    }
    return out;
}

// Trusts the test CA (as a file) and maps every test name to loopback; no proxy.
inline dbserve::transport_options trusting_options() {
    const auto& s = server();
    dbserve::transport_options options;
    options.tls.ca_file = cert("ca.pem");
    for (auto host : {good_host, second_good_host, wrong_host, expired_host, self_signed_host, unknown_ca_host}) {
        options.resolve.push_back({std::string(host), static_cast<std::uint16_t>(s.https_port), "127.0.0.1"});
        options.resolve.push_back({std::string(host), static_cast<std::uint16_t>(s.http_port), "127.0.0.1"});
        options.resolve.push_back({std::string(host), static_cast<std::uint16_t>(s.h2_port), "127.0.0.1"});
    }
    options.resolve.push_back({std::string(silent_host), static_cast<std::uint16_t>(s.silent_port), "127.0.0.1"});
    options.resolve.push_back({std::string(good_host), static_cast<std::uint16_t>(s.limit_port), "127.0.0.1"});
    options.proxy.from_environment = false;
    options.connect_timeout = std::chrono::milliseconds(5'000);
    options.request_timeout = normal_timeout;
    return options;
}

inline std::string https_url(std::string_view host, std::string_view path) {
    return "https://" + std::string(host) + ":" + std::to_string(server().https_port) + std::string(path);
}
inline std::string h2_url(std::string_view host, std::string_view path) {
    return "https://" + std::string(host) + ":" + std::to_string(server().h2_port) + std::string(path);
}
inline std::string limit_url(std::string_view host, std::string_view path) {
    return "https://" + std::string(host) + ":" + std::to_string(server().limit_port) + std::string(path);
}
inline std::string http_url(std::string_view host, std::string_view path) {
    return "http://" + std::string(host) + ":" + std::to_string(server().http_port) + std::string(path);
}

inline dbserve::http_request get(std::string url) {
    dbserve::http_request r;
    r.method = dbserve::http_method::get;
    r.url = std::move(url);
    return r;
}
inline dbserve::http_request post(std::string url, std::string body) {
    dbserve::http_request r;
    r.method = dbserve::http_method::post;
    r.url = std::move(url);
    r.body = std::move(body);
    (void)r.headers.add("Content-Type", "application/json");
    return r;
}

// For assertion messages, which doctest may evaluate whatever the outcome.
inline std::string describe(const dbserve::result<dbserve::http_response>& r) {
    return r.has_value() ? "HTTP " + std::to_string(r->status) : r.error().to_string();
}

inline dbserve::send_options with_timeout(std::chrono::milliseconds timeout) {
    dbserve::send_options o;
    o.timeout = timeout;
    return o;
}

// The kit of a blocking transport: its own send() already returns within the timeout, so
// there is nothing to drive. A kit derives from it and adds only its `name`.
template <class Transport>
struct blocking_kit {
    static constexpr bool is_async = false;
    using transport_type = Transport;
    static std::unique_ptr<transport_type> make(const dbserve::transport_options& options) {
        return std::make_unique<transport_type>(options);
    }
    static dbserve::result<dbserve::http_response> send(transport_type& t, const dbserve::http_request& r,
                                                        const dbserve::send_options& o) {
        return t.send(r, o);
    }
    // Each request from its own thread, all at once.
    static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type& t,
                                                                         const std::vector<dbserve::http_request>& requests,
                                                                         const dbserve::send_options& o) {
        std::vector<std::optional<dbserve::result<dbserve::http_response>>> outcomes(requests.size());
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < requests.size(); ++i)
            threads.emplace_back([&, i] { outcomes[i].emplace(t.send(requests[i], o)); });
        for (auto& thread : threads) thread.join();
        std::vector<dbserve::result<dbserve::http_response>> out;
        for (auto& outcome : outcomes) out.push_back(std::move(*outcome));
        return out;
    }
};

// Fails the test when an asynchronous transport did not call a handler within
// hard_deadline: a handler never called is a broken transport, never a made-up result.
inline void require_called(bool called) {
    REQUIRE_MESSAGE(called, "the transport did not call the completion handler within "
                                << std::chrono::duration_cast<std::chrono::seconds>(hard_deadline).count() << " s");
}

}  // namespace conformance
