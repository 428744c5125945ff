// The end-to-end tests' processes and plumbing: the emulator (through
// tests/emulator/emulator_process.hpp), the real OAuth server (tests/peers/oauth-server.mjs on
// Node) and nginx as a TLS front, each started with a deadline and stopped when its object
// goes away. Children get SIGKILL if the test program dies (PR_SET_PDEATHSIG) and the ones
// that read stdin also exit when it closes, so no process outlives a test, failed or not.
// Adapter-independent: the kits (kits.hpp) bring the transports.
#pragma once

#include <dbserve/dbserve.hpp>
#include <dbserve/protocol/form_encoding.hpp>

#include <emulator_process.hpp>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace e2e {

using namespace std::chrono_literals;
using json = nlohmann::json;

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

// The clients' clock: real time plus a skip the test controls. Waits, backoff and deadlines
// run in real time, but a test can move the client's time forward by minutes at once, in
// step with the emulator's clock (`advance_clock_seconds`, see admin_api::advance_clock), to
// put a token past its stale or expiry point without waiting for it and without depending
// on how fast the machine runs. Copies share the skip. Advance only while no query is in
// flight: a deadline taken before the skip would count the skipped time as spent.
class shifted_clock {
public:
    using wall_clock = std::chrono::system_clock;
    using monotonic_clock = std::chrono::steady_clock;

    wall_clock::time_point wall_now() const {
        return wall_clock::now() + std::chrono::duration_cast<wall_clock::duration>(skip());
    }
    monotonic_clock::time_point monotonic_now() const { return monotonic_clock::now() + skip(); }
    void sleep_until(monotonic_clock::time_point deadline) const { std::this_thread::sleep_until(deadline - skip()); }
    void async_wait_until(monotonic_clock::time_point deadline, std::function<void()> callback) const {
        dbserve::system_clock_policy{}.async_wait_until(deadline - skip(), std::move(callback));
    }

    void advance(std::chrono::seconds step) const {
        skip_->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(step).count());
    }

private:
    std::chrono::nanoseconds skip() const { return std::chrono::nanoseconds(skip_->load()); }
    std::shared_ptr<std::atomic<std::int64_t>> skip_ = std::make_shared<std::atomic<std::int64_t>>(0);
};

// A fresh directory under the build tree for one test's files.
inline std::string make_work_dir(const std::string& tag) {
    std::string base = DBSERVE_E2E_WORK_DIR;
    ::mkdir(base.c_str(), 0755);
    std::string pattern = base + "/" + tag + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed under " + base);
    return pattern;
}

// The trust store variables of the environment must not rescue (or break) a test: the CA
// is always passed explicitly. Proxies would send loopback traffic elsewhere.
inline void isolate_environment() {
    for (const char* name : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"})
        ::setenv(name, "/nonexistent/dbserve-e2e-ca.pem", 1);
    ::setenv("SSL_CERT_DIR", "/nonexistent/dbserve-e2e-ca", 1);
    for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                             "no_proxy", "NO_PROXY"})
        ::unsetenv(name);
}

// A free loopback port, for programs that take a port instead of reporting one (nginx).
inline std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

// A child process with its stdin on a pipe we hold and its stdout on a pipe we read.
class child {
public:
    child(std::vector<std::string> argv, const std::string& stderr_file, const std::string& working_dir = {}) {
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        if (::pipe2(out, O_CLOEXEC) != 0) {
            ::close(in[0]);
            ::close(in[1]);
            throw std::runtime_error("pipe failed");
        }
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            const int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (err >= 0) ::dup2(err, 2);
            if (!working_dir.empty() && ::chdir(working_dir.c_str()) != 0) ::_exit(125);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        stdin_ = in[1];
        stdout_ = out[0];
        name_ = argv.empty() ? std::string() : argv[0];
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child() { stop(); }

    // The first line on stdout, within the deadline; throws otherwise.
    std::string read_line(std::chrono::milliseconds limit) {
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) throw std::runtime_error(name_ + " printed no line before the deadline");
            pollfd p{stdout_, POLLIN, 0};
            const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) continue;
            char c;
            const auto n = ::read(stdout_, &c, 1);
            if (n <= 0) throw std::runtime_error(name_ + " exited before printing its line");
            if (c == '\n') return line;
            line += c;
        }
    }

    // Its stdout: readable with end of file (POLLHUP) once the child has exited.
    int stdout_fd() const noexcept { return stdout_; }

    bool running() {
        if (pid_ <= 0) return false;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }

    // SIGTERM, then SIGKILL after five seconds. Idempotent.
    void stop() noexcept {
        if (stdin_ >= 0) ::close(stdin_);
        if (stdout_ >= 0) ::close(stdout_);
        stdin_ = stdout_ = -1;
        if (pid_ <= 0) return;
        dbserve_emulator::terminate_child(pid_);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    std::string name_;
};

// Certificates for the real peers: a test CA and a leaf naming `host`, made by openssl.
struct test_certificates {
    std::string ca_file, cert_file, key_file;
};

inline test_certificates make_certificates(const std::string& dir, const std::string& host) {
    const std::string command = "bash '" + std::string(DBSERVE_E2E_SOURCE_DIR) + "/make-certs.sh' '" + dir + "' '" +
                                host + "' >'" + dir + "/make-certs.log' 2>&1";
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("make-certs.sh failed; see " + dir + "/make-certs.log");
    return {dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
}

// tests/peers/oauth-server.mjs: oidc-provider, configured like a workspace token endpoint.
class oauth_server {
public:
    oauth_server(const std::string& dir, const std::string& endpoint_ids, int ttl_seconds = 3600)
        : public_key_file_(dir + "/oauth-public.pem") {
        const std::string peers = DBSERVE_E2E_PEERS_DIR;
        if (::access((peers + "/node_modules/oidc-provider/package.json").c_str(), R_OK) != 0)
            throw std::runtime_error("oidc-provider is not installed: run `npm ci` in " + peers +
                                     " (scripts/install-deps.sh does it)");
        const std::vector<std::string> argv{DBSERVE_E2E_NODE, peers + "/oauth-server.mjs", "--port", "0",
                                            "--public-key-out", public_key_file_, "--endpoints", endpoint_ids,
                                            "--ttl", std::to_string(ttl_seconds)};
        // It starts in about 0.3 s. Under a full parallel test run on two cores one start
        // has hung past 30 s without printing its line, so a hung start is replaced once,
        // keeping its log beside the new one.
        for (int attempt = 1;; ++attempt) {
            const std::string log = dir + "/oauth-server" + (attempt == 1 ? "" : "-retry") + ".log";
            process_ = std::make_unique<child>(argv, log, peers);
            try {
                info_ = json::parse(process_->read_line(30s), nullptr, false);
                break;
            } catch (const std::runtime_error&) {
                process_.reset();
                if (attempt == 2) throw;
            }
        }
        if (!info_.is_object()) throw std::runtime_error("oauth-server.mjs printed no JSON object");
    }
    const json& info() const { return info_; }
    std::uint16_t port() const { return info_.at("port").get<std::uint16_t>(); }
    const std::string& public_key_file() const { return public_key_file_; }
    json client(std::size_t i) const { return info_.at("clients").at(i); }

private:
    std::string public_key_file_;
    std::unique_ptr<child> process_;
    json info_;
};

// nginx (`nginx -p DIR -c FILE`, no daemon, no master) terminating TLS for `host` on a free
// loopback port and proxying to an http backend on loopback.
class nginx_front {
public:
    nginx_front(const std::string& dir, const std::string& host, const test_certificates& certs,
                std::uint16_t backend_port)
        : port_(free_port()) {
        ::mkdir((dir + "/logs").c_str(), 0755);
        const std::string config = "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + dir +
                                   "/nginx.pid;\nerror_log " + dir + "/logs/error.log info;\n"
                                   "events { worker_connections 64; }\n"
                                   "http {\n"
                                   "  access_log " + dir + "/logs/access.log;\n"
                                   "  client_body_temp_path " + dir + "/client_body;\n"
                                   "  proxy_temp_path " + dir + "/proxy;\n"
                                   "  fastcgi_temp_path " + dir + "/fastcgi;\n"
                                   "  uwsgi_temp_path " + dir + "/uwsgi;\n"
                                   "  scgi_temp_path " + dir + "/scgi;\n"
                                   "  server {\n"
                                   "    listen 127.0.0.1:" + std::to_string(port_) + " ssl;\n"
                                   "    server_name " + host + ";\n"
                                   "    ssl_certificate " + certs.cert_file + ";\n"
                                   "    ssl_certificate_key " + certs.key_file + ";\n"
                                   "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                                   "    location /oidc/ {\n"
                                   "      proxy_pass http://127.0.0.1:" + std::to_string(backend_port) + ";\n"
                                   "      proxy_http_version 1.1;\n"
                                   "      proxy_set_header Host $host:$server_port;\n"
                                   "      proxy_set_header X-Forwarded-Proto https;\n"
                                   "      proxy_set_header X-Forwarded-For $remote_addr;\n"
                                   "    }\n"
                                   "    location / { return 404; }\n"
                                   "  }\n"
                                   "}\n";
        const std::string config_file = dir + "/nginx.conf";
        write_file(config_file, config);
        // nginx binds and listens on its port before it writes its pid file, so once the file
        // is written connections queue even before nginx accepts them: wait for that write
        // (inotify), or for nginx's stdout to close (it exited), not for time to pass.
        const int watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (watch < 0 || ::inotify_add_watch(watch, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
            if (watch >= 0) ::close(watch);
            throw std::runtime_error("inotify on " + dir + " failed");
        }
        process_ = std::make_unique<child>(
            std::vector<std::string>{DBSERVE_E2E_NGINX, "-p", dir, "-c", config_file}, dir + "/nginx.stderr");
        const bool ready = wait_for_pid_file(watch, dir + "/nginx.pid", *process_, 20s);
        ::close(watch);
        if (!ready) {
            if (!process_->running())
                throw std::runtime_error("nginx exited at start: " + read_file(dir + "/nginx.stderr") +
                                         read_file(dir + "/logs/error.log"));
            throw std::runtime_error("nginx did not write its pid file in time: " + read_file(dir + "/logs/error.log"));
        }
    }
    std::uint16_t port() const noexcept { return port_; }

private:
    // True once `pid_file` holds a pid; false when nginx exits first (its stdout hangs up
    // and it is gone) or `limit` passes.
    static bool wait_for_pid_file(int watch, const std::string& pid_file, child& nginx, std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        int exited = nginx.stdout_fd();
        for (;;) {
            if (!read_file(pid_file).empty()) return true;
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd fds[2] = {{watch, POLLIN, 0}, {exited, POLLIN, 0}};
            if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
            char sink[256];
            if (fds[1].revents != 0 && ::read(exited, sink, sizeof sink) <= 0) {
                if (!nginx.running()) return !read_file(pid_file).empty();
                exited = -1;  // it closed its stdout but runs on: only the pid file tells
            }
            char events[4096];
            while (::read(watch, events, sizeof events) > 0) {
            }
        }
    }

    std::uint16_t port_;
    std::unique_ptr<child> process_;
};

// ------------------------------------------------------------------ emulator helpers

// The emulator with the facts the tests use, read from its JSON line.
struct emulator {
    explicit emulator(std::vector<std::string> arguments = {}) : process(std::move(arguments)) {}
    dbserve_emulator::process process;

    const json& info() const { return process.info(); }
    std::string workspace_url() const { return process.workspace_url(); }
    std::string ca_file() const { return process.ca_file(); }
    json endpoint(const std::string& name) const { return info().at("endpoints").at(name); }
    std::string url(const std::string& name) const { return endpoint(name).at("url").get<std::string>(); }
    std::string id(const std::string& name) const { return endpoint(name).at("id").get<std::string>(); }
    dbserve::credentials principal(const std::string& name = "sp-main") const {
        const json& p = info().at("principals").at(name);
        dbserve::credentials c;
        c.host = workspace_url();
        c.client_id = p.at("client_id").get<std::string>();
        c.client_secret = dbserve::secret_string(p.at("client_secret").get<std::string>());
        return c;
    }
    // Trust the emulator's CA only, reach every name it serves on loopback.
    dbserve::transport_options transport_options() const {
        dbserve::transport_options options;
        options.tls.ca_file = ca_file();
        add_resolve(options);
        options.proxy.from_environment = false;
        options.connect_timeout = 5s;
        options.request_timeout = 20s;
        return options;
    }
    void add_resolve(dbserve::transport_options& options) const {
        for (auto& [host, address] : process.resolve()) {
            const auto colon = address.rfind(':');
            options.resolve.push_back({host, static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))),
                                       address.substr(0, colon)});
        }
    }
};

// A token request body for the client-credentials grant, with authorization_details.
inline std::string client_credentials_body(const std::string& authorization_details) {
    std::string body;
    dbserve::append_form_field(body, "grant_type", "client_credentials");
    dbserve::append_form_field(body, "scope", "all-apis");
    if (!authorization_details.empty()) dbserve::append_form_field(body, "authorization_details", authorization_details);
    return body;
}

}  // namespace e2e
