// HTTP/1.1 over TLS on one loopback port, for every host the workspace answers (routing is by
// the Host header; one certificate carries every name). Keep-alive, chunked SSE, faults that
// delay or drop connections. Boost.Beast stays inside server.cpp.
#pragma once

#include "workspace.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace emulator {

struct server_options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0: an ephemeral port
    std::string certificate_chain_pem;
    std::string private_key_pem;
    int threads = 1;
    bool exit_on_stdin_eof = false;
    int max_lifetime_seconds = 0;  // 0: run until signalled
    bool verbose = false;          // one access-log line per request on stderr
    bool allow_sni_mismatch = false;  // else a Host other than the TLS server name gets 421
    std::size_t body_limit = 16u * 1024u * 1024u;
    int idle_timeout_seconds = 120;
};

// Binds, calls on_listening(port) once, then serves until SIGINT or SIGTERM (or stdin EOF,
// or the lifetime, when asked). Returns the process exit code.
int run_server(workspace& ws, const server_options& options, const std::function<void(std::uint16_t)>& on_listening);

}  // namespace emulator
