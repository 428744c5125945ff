// dbserve-query's exit codes, and which one a library error maps to. The numbers are part
// of the tool's documented interface (README, --help): scripts branch on them.
#pragma once

#include "terminal_text.hpp"

#include <dbserve/protocol/error.hpp>

#include <cstdio>
#include <string>

namespace dbserve_query {

enum exit_code : int {
    exit_success = 0,
    exit_usage = 2,            // usage or configuration error; nothing was sent
    exit_auth = 3,             // token request refused, 401, 403
    exit_http = 4,             // another HTTP error, or an answer that cannot be used
    exit_network = 5,          // network failure or timeout
    exit_tls = 6,              // TLS verification failure
};

inline int exit_code_for(const dbserve::error& e) noexcept {
    switch (e.code) {
        case dbserve::errc::invalid_argument:
        case dbserve::errc::configuration:
            return exit_usage;
        case dbserve::errc::authentication:
        case dbserve::errc::permission:
            return exit_auth;
        case dbserve::errc::name_resolution:
        case dbserve::errc::connection:
        case dbserve::errc::timeout:
        case dbserve::errc::cancelled:
            return exit_network;
        case dbserve::errc::tls:
            return exit_tls;
        case dbserve::errc::not_found:
        case dbserve::errc::bad_request:
        case dbserve::errc::throttled:
        case dbserve::errc::unavailable:
        case dbserve::errc::service:
        case dbserve::errc::bad_response:
        case dbserve::errc::response_too_large:
            return exit_http;
    }
    return exit_http;
}

// Exit 2 promises that nothing was sent. A problem found in what a server answered, after
// requests went out (a discovered endpoint that is not route optimized, a discovered URL
// that is plain http or carries user-info), is the server side's: exit 4, whatever the
// library calls it.
inline int exit_code_for(const dbserve::error& e, bool requests_sent) noexcept {
    const int code = exit_code_for(e);
    return code == exit_usage && requests_sent ? exit_http : code;
}

// One line on stderr: the problem and (in the library's messages) the fix. Line breaks in
// a message are folded so a script reading stderr line by line sees one line per error;
// other control characters (a server's text may carry terminal escapes) are escaped.
// Credentials are the caller's to scrub first (credential_scrubber).
inline void print_error_line(std::string message) {
    for (char& c : message)
        if (c == '\n' || c == '\r') c = ' ';
    const std::string line = "dbserve-query: " + escape_for_terminal(message) + "\n";
    std::fputs(line.c_str(), stderr);
}

}  // namespace dbserve_query
