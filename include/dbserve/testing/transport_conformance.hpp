// The transport conformance kit: checks a Transport of your own against the contract in
// dbserve/client/transport.hpp, over plain HTTP/1.1 on loopback, with a small server the
// kit runs itself (POSIX sockets; no other program, no certificates).
//
//     my_transport transport(...);
//     dbserve::testing::conformance_report report = dbserve::testing::check_transport(transport);
//     if (!report.ok()) { std::cerr << report.summary(); return 1; }
//
// In a test framework: CHECK_MESSAGE(report.ok(), report.summary()) (doctest, Catch2),
// EXPECT_TRUE(report.ok()) << report.summary() (GoogleTest). Each check is named in
// report.passed or report.failures.
//
// A transport with send() is checked through it; one with only async_send() through
// async_send, waiting (up to conformance_options::hard_deadline) for the handler. An
// asynchronous transport must make progress while the kit waits: on its own threads, or
// through conformance_options::pump, called in a loop while waiting (a run_once()-style
// transport: pump = [&] { transport.run_once(10ms); }).
//
// What is checked: the framing (Host, Content-Length, no Transfer-Encoding, no
// Accept-Encoding, no Expect, headers passed in order), every status returned as a response
// (a 3xx not followed, a 5xx not an error), bodies as they came (not decompressed, chunked
// coding removed), streaming through on_body_chunk (the head holds status and headers, its
// body is empty, http_response::body stays empty), a zero timeout meaning the transport's
// default, a deadline passing after the request was written (timeout, may have been
// processed), a connection closed mid-response (connection, may have been processed), a
// refused connection (connection, not processed), a name that does not resolve
// (name_resolution, not processed), concurrent calls from several threads, and an
// asynchronous handler called exactly once. TLS failures need certificates and are left to
// your own tests (dbserve's own adapters are checked against them in its test suite).
#pragma once

#include <dbserve/client/policy_checks.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#if !defined(_WIN32)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace testing {

struct conformance_failure {
    std::string check;
    std::string detail;
};

struct conformance_report {
    std::vector<std::string> passed;
    std::vector<conformance_failure> failures;

    bool ok() const noexcept { return failures.empty() && !passed.empty(); }
    std::string summary() const {
        std::string out = std::to_string(passed.size()) + " passed, " + std::to_string(failures.size()) + " failed";
        for (const auto& f : failures) out += "\n  FAILED " + f.check + ": " + f.detail;
        return out + "\n";
    }
};

struct conformance_options {
    // The longest the kit waits for one request, whatever the transport does.
    std::chrono::milliseconds hard_deadline{30'000};
    // The deadline given to requests that must time out.
    std::chrono::milliseconds short_timeout{300};
    // Called in a loop while an asynchronous request is out (a transport without threads).
    std::function<void()> pump;
    // A host name that must not resolve (RFC 6761 reserves .invalid).
    std::string unresolvable_host = "dbserve-conformance.invalid";
};

namespace detail {

// One request as the kit's server read it off the wire.
struct wire_request {
    std::string method, target;
    std::vector<header> headers;
    std::string body;
    const std::string* find(std::string_view name) const {
        for (const auto& h : headers)
            if (dbserve::detail::iequals(h.name, name)) return &h.value;
        return nullptr;
    }
    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (const auto& h : headers) n += dbserve::detail::iequals(h.name, name) ? 1 : 0;
        return n;
    }
};

// A loopback HTTP/1.1 server with a fixed set of routes, one thread per connection.
class conformance_server {
public:
    conformance_server() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ::close(listen_fd_);
            listen_fd_ = -1;
            return;
        }
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    conformance_server(const conformance_server&) = delete;
    conformance_server& operator=(const conformance_server&) = delete;
    ~conformance_server() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
            for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
        }
        released_.notify_all();
        if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
        if (acceptor_.joinable()) acceptor_.join();
        if (listen_fd_ >= 0) ::close(listen_fd_);
        for (auto& t : connections_) t.join();
    }

    bool running() const noexcept { return listen_fd_ >= 0; }
    int port() const noexcept { return port_; }
    std::string url(std::string_view path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
    }
    // The last request the server read whose target is `target`.
    std::optional<wire_request> last(std::string_view target) const {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = seen_.rbegin(); it != seen_.rend(); ++it)
            if (it->target == target) return *it;
        return std::nullopt;
    }

private:
    void accept_loop() {
        for (;;) {
            const int fd = ::accept(listen_fd_, nullptr, nullptr);
            std::lock_guard<std::mutex> lock(mutex_);
            if (fd < 0 || stopping_) {
                if (fd >= 0) ::close(fd);
                return;
            }
            open_fds_.push_back(fd);
            connections_.emplace_back([this, fd] { serve(fd); });
        }
    }

    static bool write_all(int fd, std::string_view bytes) {
        while (!bytes.empty()) {
            const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one request; false when the connection ended or the request is malformed.
    static bool read_request(int fd, std::string& buffer, wire_request& out) {
        std::size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
            char chunk[4096];
            const auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
        const std::string head = buffer.substr(0, end);
        buffer.erase(0, end + 4);
        std::size_t line_end = head.find("\r\n");
        const std::string request_line = head.substr(0, line_end);
        const auto sp1 = request_line.find(' '), sp2 = request_line.rfind(' ');
        if (sp1 == std::string::npos || sp2 == sp1) return false;
        out = wire_request{};
        out.method = request_line.substr(0, sp1);
        out.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
        while (line_end != std::string::npos && line_end < head.size()) {
            const std::size_t start = line_end + 2;
            line_end = head.find("\r\n", start);
            const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
            const auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
            out.headers.push_back({line.substr(0, colon), value});
        }
        std::size_t length = 0;
        if (const auto* cl = out.find("Content-Length")) length = static_cast<std::size_t>(std::stoul(*cl));
        while (buffer.size() < length) {
            char chunk[4096];
            const auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
        out.body = buffer.substr(0, length);
        buffer.erase(0, length);
        return true;
    }

    static std::string response(int status, std::string_view reason, std::string_view extra_headers,
                                std::string_view body) {
        return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n" + std::string(extra_headers) +
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
    }

    void serve(int fd) {
        std::string buffer;
        wire_request request;
        while (read_request(fd, buffer, request)) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                seen_.push_back(request);
            }
            const std::string& t = request.target;
            bool keep = true;
            if (t == "/echo" || t == "/slow-echo") {
                keep = write_all(fd, response(200, "OK", "Content-Type: text/plain\r\nX-Kit: echo\r\nX-Kit: twice\r\n",
                                              request.body));
            } else if (t == "/status-503") {
                keep = write_all(fd, response(503, "Service Unavailable", "Retry-After: 1\r\n", R"({"error":"busy"})"));
            } else if (t == "/redirect") {
                keep = write_all(fd, response(302, "Found", "Location: /echo\r\n", "moved"));
            } else if (t == "/encoded") {
                // Bytes labelled gzip that are not gzip: a transport that decompresses fails.
                keep = write_all(fd, response(200, "OK", "Content-Encoding: gzip\r\n", "not gzip at all"));
            } else if (t == "/chunked") {
                keep = write_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kit: chunked\r\n\r\n") &&
                       write_all(fd, "5\r\nalpha\r\n") && write_all(fd, "4\r\nbeta\r\n") &&
                       write_all(fd, "5\r\ngamma\r\n") && write_all(fd, "0\r\n\r\n");
            } else if (t == "/never") {
                std::unique_lock<std::mutex> lock(mutex_);
                released_.wait(lock, [this] { return stopping_; });
                keep = false;
            } else if (t == "/close-mid") {
                write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
                keep = false;
            } else {
                keep = write_all(fd, response(404, "Not Found", "", "no such route"));
            }
            if (!keep) break;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        ::close(fd);
        for (auto& open : open_fds_)
            if (open == fd) open = -1;
    }

    int listen_fd_ = -1;
    int port_ = 0;
    mutable std::mutex mutex_;
    std::condition_variable released_;
    bool stopping_ = false;
    std::vector<int> open_fds_;
    std::vector<wire_request> seen_;
    std::thread acceptor_;
    std::vector<std::thread> connections_;
};

// A port nothing listens on: bound, then closed.
inline int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// Sends through send() or async_send(), so every check is written once.
template <class Transport>
class conformance_caller {
public:
    conformance_caller(Transport& transport, const conformance_options& options)
        : transport_(transport), options_(options) {}

    // Empty optional: an asynchronous handler was not called within the hard deadline.
    std::optional<result<http_response>> call(const http_request& request, const send_options& options,
                                              int* handler_calls = nullptr) {
        if constexpr (is_sync_transport_v<Transport>) {
            (void)handler_calls;
            return transport_.send(request, options);
        } else {
            struct slot {
                std::mutex mutex;
                std::condition_variable done;
                std::optional<result<http_response>> outcome;
                std::atomic<int> calls{0};
            };
            auto shared = std::make_shared<slot>();
            transport_.async_send(request, options, [shared](result<http_response> r) {
                shared->calls.fetch_add(1);
                std::lock_guard<std::mutex> lock(shared->mutex);
                if (!shared->outcome) shared->outcome.emplace(std::move(r));
                shared->done.notify_all();
            });
            const auto until = std::chrono::steady_clock::now() + options_.hard_deadline;
            std::unique_lock<std::mutex> lock(shared->mutex);
            while (!shared->outcome && std::chrono::steady_clock::now() < until) {
                if (options_.pump) {
                    lock.unlock();
                    options_.pump();
                    lock.lock();
                } else {
                    shared->done.wait_until(lock, until);
                }
            }
            if (handler_calls) *handler_calls = shared->calls.load();
            return std::move(shared->outcome);
        }
    }

private:
    Transport& transport_;
    const conformance_options& options_;
};

inline http_request conformance_request(http_method method, std::string url, std::string body = {}) {
    http_request r;
    r.method = method;
    r.url = std::move(url);
    r.body = std::move(body);
    return r;
}

inline std::string describe(const std::optional<result<http_response>>& r) {
    if (!r) return "the completion handler was not called within the hard deadline";
    if (*r) return "status " + std::to_string((*r)->status) + ", body '" + (*r)->body + "'";
    return "error " + std::string(to_string(r->error().code)) + ": " + r->error().message;
}

}  // namespace detail

// Runs every check against `transport` and reports each by name.
template <class Transport>
conformance_report check_transport(Transport& transport, conformance_options options = {}) {
    static_assert(is_sync_transport_v<Transport> || is_async_transport_v<Transport>,
                  "dbserve: check_transport needs a Transport with send() or async_send()");
    conformance_report report;
    detail::conformance_server server;
    if (!server.running()) {
        report.failures.push_back({"set-up", "the kit could not listen on 127.0.0.1"});
        return report;
    }
    detail::conformance_caller<Transport> caller(transport, options);
    send_options normal;
    normal.timeout = options.hard_deadline;
    const auto expect = [&report](const char* check, bool ok, const std::string& detail) {
        if (ok) report.passed.emplace_back(check);
        else report.failures.push_back({check, detail});
    };
    using detail::describe;
    const auto post = [&](std::string_view path, std::string body) {
        return detail::conformance_request(http_method::post, server.url(path), std::move(body));
    };
    const auto get = [&](std::string_view path) {
        return detail::conformance_request(http_method::get, server.url(path));
    };

    {  // framing of a POST
        auto request = post("/echo", R"({"inputs":[1,2,3]})");
        request.headers.add_unchecked("Content-Type", "application/json");
        request.headers.add_unchecked("X-Kit-First", "1");
        request.headers.add_unchecked("X-Kit-Second", "2");
        int calls = 0;
        const auto r = caller.call(request, normal, &calls);
        const auto seen = server.last("/echo");
        expect("a POST and its response pass through", r && *r && (*r)->status == 200 &&
                                                           (*r)->body == request.body && (*r)->reason == "OK",
               describe(r));
        if constexpr (!is_sync_transport_v<Transport>)
            expect("the completion handler is called exactly once", calls == 1,
                   "called " + std::to_string(calls) + " times");
        const bool have = seen.has_value();
        const std::string host = "127.0.0.1:" + std::to_string(server.port());
        expect("the transport adds Host with the port", have && seen->find("Host") && *seen->find("Host") == host,
               have && seen->find("Host") ? "Host: " + *seen->find("Host") : "no Host header");
        expect("the transport adds Content-Length and no Transfer-Encoding",
               have && seen->find("Content-Length") && *seen->find("Content-Length") == std::to_string(request.body.size()) &&
                   !seen->find("Transfer-Encoding"),
               "the request's framing headers are not Content-Length alone");
        expect("no Accept-Encoding is sent", have && !seen->find("Accept-Encoding"),
               have && seen->find("Accept-Encoding") ? "Accept-Encoding: " + *seen->find("Accept-Encoding") : "");
        expect("no Expect: 100-continue is sent", have && !seen->find("Expect"), "an Expect header was sent");
        bool in_order = false;
        if (have) {
            std::size_t first = seen->headers.size(), second = seen->headers.size();
            for (std::size_t i = 0; i < seen->headers.size(); ++i) {
                if (seen->headers[i].name == "X-Kit-First" && seen->headers[i].value == "1") first = i;
                if (seen->headers[i].name == "X-Kit-Second" && seen->headers[i].value == "2") second = i;
            }
            in_order = first < second && second < seen->headers.size() && seen->count("Content-Type") == 1;
        }
        expect("the request's headers are sent as given, in order", in_order, "a header is missing or reordered");
        if (r && *r) {
            std::size_t kit_headers = 0;
            for (const auto& h : (*r)->headers) kit_headers += dbserve::detail::iequals(h.name, "X-Kit") ? 1 : 0;
            expect("repeated response headers are kept", kit_headers == 2,
                   std::to_string(kit_headers) + " X-Kit headers in the response");
        }
    }
    {  // an empty POST still says its length
        const auto r = caller.call(post("/echo", ""), normal);
        const auto seen = server.last("/echo");
        expect("an empty POST carries Content-Length: 0",
               r && *r && seen && seen->find("Content-Length") && *seen->find("Content-Length") == "0", describe(r));
    }
    {
        const auto r = caller.call(get("/status-503"), normal);
        expect("an HTTP error status is a response, not an error",
               r && *r && (*r)->status == 503 && (*r)->headers.get("Retry-After") == "1", describe(r));
    }
    {
        const auto r = caller.call(get("/redirect"), normal);
        expect("a redirect is returned, not followed",
               r && *r && (*r)->status == 302 && (*r)->headers.get("Location") == "/echo" && (*r)->body == "moved",
               describe(r));
    }
    {
        const auto r = caller.call(get("/encoded"), normal);
        expect("a body is returned as it came, not decompressed", r && *r && (*r)->body == "not gzip at all",
               describe(r));
    }
    {
        const auto r = caller.call(get("/chunked"), normal);
        expect("the chunked transfer coding is removed", r && *r && (*r)->body == "alphabetagamma", describe(r));
    }
    {  // streaming
        struct seen_chunks {
            std::mutex mutex;
            std::string bytes;
            bool heads_ok = true;
            int calls = 0;
        };
        auto chunks = std::make_shared<seen_chunks>();
        send_options streaming = normal;
        streaming.on_body_chunk = [chunks](const http_response& head, std::string_view chunk) {
            std::lock_guard<std::mutex> lock(chunks->mutex);
            ++chunks->calls;
            chunks->bytes.append(chunk);
            if (head.status != 200 || head.headers.get("X-Kit") != "chunked" || !head.body.empty())
                chunks->heads_ok = false;
        };
        const auto r = caller.call(get("/chunked"), streaming);
        std::lock_guard<std::mutex> lock(chunks->mutex);
        expect("on_body_chunk receives the body in order", r && *r && chunks->bytes == "alphabetagamma",
               describe(r) + ", streamed '" + chunks->bytes + "'");
        expect("each on_body_chunk head holds the status and headers and no body", chunks->calls > 0 && chunks->heads_ok,
               "a head lacked the status or the X-Kit header, or carried a body");
        expect("a streamed response leaves http_response::body empty", r && *r && (*r)->body.empty(), describe(r));
    }
    {
        send_options zero;  // timeout 0: the transport's default
        const auto r = caller.call(post("/echo", "zero"), zero);
        expect("a zero timeout means the transport's default, not an immediate timeout",
               r && *r && (*r)->body == "zero", describe(r));
    }
    {
        send_options short_deadline;
        short_deadline.timeout = options.short_timeout;
        const auto r = caller.call(post("/never", "{}"), short_deadline);
        expect("a deadline passing after the request was written is timeout, may have been processed",
               r && !*r && r->error().code == errc::timeout && r->error().request_may_have_been_processed,
               describe(r) + (r && !*r && !r->error().request_may_have_been_processed ? " (not flagged)" : ""));
    }
    {
        const auto r = caller.call(post("/close-mid", "{}"), normal);
        expect("a connection closed mid-response is connection, may have been processed",
               r && !*r && r->error().code == errc::connection && r->error().request_may_have_been_processed,
               describe(r));
    }
    {
        const auto r = caller.call(detail::conformance_request(http_method::post,
                                                               "http://127.0.0.1:" +
                                                                   std::to_string(detail::closed_port()) + "/echo",
                                                               "{}"),
                                   normal);
        expect("a refused connection is connection, not processed",
               r && !*r && r->error().code == errc::connection && !r->error().request_may_have_been_processed,
               describe(r));
    }
    {
        const auto r = caller.call(
            detail::conformance_request(http_method::get, "http://" + options.unresolvable_host + "/echo"), normal);
        expect("a name that does not resolve is name_resolution, not processed",
               r && !*r && r->error().code == errc::name_resolution && !r->error().request_may_have_been_processed,
               describe(r));
    }
    if constexpr (is_sync_transport_v<Transport>) {  // concurrent calls on one object
        constexpr int threads = 4, per_thread = 5;
        std::atomic<int> good{0};
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    const std::string body = std::to_string(t) + "/" + std::to_string(i);
                    auto r = transport.send(post("/echo", body), normal);
                    if (r && r->body == body) good.fetch_add(1);
                }
            });
        for (auto& w : workers) w.join();
        expect("concurrent send() calls from several threads all succeed", good.load() == threads * per_thread,
               std::to_string(good.load()) + " of " + std::to_string(threads * per_thread) + " succeeded");
    }
    return report;
}

}  // namespace testing
DBSERVE_END_NAMESPACE

#endif  // !_WIN32
