// Starts dbserve-emulator from a C++ test, reads its JSON line and stops it again (POSIX).
// Link the CMake target dbserve_emulator_process: it adds this directory to the include
// path and defines DBSERVE_EMULATOR_BINARY, the path of the built emulator.
//
//   dbserve_emulator::process emulator;                 // throws std::runtime_error on failure
//   emulator.info()["endpoints"]["sum-model"]["url"];   // the JSON line, parsed
//   emulator.ca_file(); emulator.port(); emulator.resolve();  // host -> "127.0.0.1:port"
//
// The emulator runs with --exit-on-stdin-eof on a pipe this object holds, so it exits even
// when the test process dies without running destructors; --max-lifetime is a second net.
#pragma once

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace dbserve_emulator {

// Ends a child process: SIGTERM, up to 5 s for it to exit, then SIGKILL; always reaps it.
inline void terminate_child(pid_t pid) noexcept {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
}

class process {
public:
    // extra_arguments go to the emulator as they are (e.g. {"--token-lifetime", "5"}).
    explicit process(std::vector<std::string> extra_arguments = {},
                     std::chrono::milliseconds start_deadline = std::chrono::seconds(30),
                     std::string binary = default_binary()) {
        // Close-on-exec, so emulators started later do not inherit this one's pipes.
        int out[2], in[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("dbserve_emulator::process: pipe failed");
        if (::pipe2(in, O_CLOEXEC) != 0) {
            ::close(out[0]);
            ::close(out[1]);
            throw std::runtime_error("dbserve_emulator::process: pipe failed");
        }
        std::vector<std::string> args{binary, "--exit-on-stdin-eof", "--max-lifetime", "900"};
        args.insert(args.end(), extra_arguments.begin(), extra_arguments.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("dbserve_emulator::process: fork failed");
        if (pid_ == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            ::close(in[0]);
            ::close(in[1]);
            ::close(out[0]);
            ::close(out[1]);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        stdin_ = in[1];
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + start_deadline;
        bool complete = false;
        while (!complete) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{out[0], POLLIN, 0};
            int ready = ::poll(&p, 1, static_cast<int>(left.count()));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) break;
            char c;
            auto n = ::read(out[0], &c, 1);
            if (n <= 0) break;
            if (c == '\n')
                complete = true;
            else
                line += c;
        }
        ::close(out[0]);
        if (!complete) {
            stop();
            throw std::runtime_error("dbserve_emulator::process: no JSON line from " + binary +
                                     " before the deadline (is it built? see its standard error)");
        }
        info_ = nlohmann::json::parse(line, nullptr, false);
        if (info_.is_discarded() || !info_.is_object()) {
            stop();
            throw std::runtime_error("dbserve_emulator::process: the first line is not a JSON object: " + line);
        }
    }

    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process() { stop(); }

    static std::string default_binary() {
#ifdef DBSERVE_EMULATOR_BINARY
        return DBSERVE_EMULATOR_BINARY;
#else
        return "dbserve-emulator";
#endif
    }

    const nlohmann::json& info() const noexcept { return info_; }
    std::uint16_t port() const { return info_.at("port").get<std::uint16_t>(); }
    std::string ca_file() const { return info_.at("ca_file").get<std::string>(); }
    std::string workspace_url() const { return info_.at("workspace_url").get<std::string>(); }
    std::string admin_url() const { return info_.at("admin_url").get<std::string>(); }
    // host -> "127.0.0.1:<port>", for a transport's resolve override.
    std::map<std::string, std::string> resolve() const {
        return info_.at("resolve").get<std::map<std::string, std::string>>();
    }
    int pid() const noexcept { return static_cast<int>(pid_); }

    // SIGTERM, then SIGKILL if it has not exited within five seconds. Idempotent.
    void stop() noexcept {
        if (stdin_ >= 0) {
            ::close(stdin_);
            stdin_ = -1;
        }
        if (pid_ <= 0) return;
        terminate_child(pid_);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    nlohmann::json info_;
};

}  // namespace dbserve_emulator
