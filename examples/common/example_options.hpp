// The command line every example shares: which endpoint, and how to reach it.
//
//   --endpoint NAME            the serving endpoint (else the example's environment variable)
//   --cacert FILE              trust this CA file instead of the system store (env DBSERVE_CA_FILE)
//   --resolve HOST:PORT:ADDR   connect to ADDR for HOST:PORT, like curl's --resolve; repeatable
//                              (env DBSERVE_RESOLVE: entries separated by spaces or commas)
//
// Credentials never come from the command line (it shows in `ps` and shell history): the
// examples read DATABRICKS_HOST, DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET.
// Against the local emulator, --cacert and --resolve let the real-looking host names
// (adb-....azuredatabricks.net, <id>.<shard>.serving.azuredatabricks.net) reach 127.0.0.1
// while TLS still checks the certificate against those names.
#pragma once

#include <dbserve/protocol/error.hpp>
#include <dbserve/client/transport_options.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

struct example_options {
    std::string endpoint;
    dbserve::transport_options transport;
    std::vector<std::string> arguments;  // what the example itself takes (flags it knows, positionals)
};

// "host:port:address" (address may be a bracketed IPv6 literal).
inline bool parse_resolve(std::string_view entry, dbserve::resolve_override& out) {
    const auto first = entry.find(':');
    if (first == std::string_view::npos || first == 0) return false;
    const auto second = entry.find(':', first + 1);
    if (second == std::string_view::npos) return false;
    const std::string port(entry.substr(first + 1, second - first - 1));
    std::string_view address = entry.substr(second + 1);
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']')
        address = address.substr(1, address.size() - 2);
    char* end = nullptr;
    const long number = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || number < 1 || number > 65535 || address.empty()) return false;
    out.host = std::string(entry.substr(0, first));
    out.port = static_cast<std::uint16_t>(number);
    out.address = std::string(address);
    return true;
}

inline bool add_resolve(dbserve::transport_options& transport, std::string_view entry) {
    dbserve::resolve_override parsed;
    if (!parse_resolve(entry, parsed)) {
        std::fprintf(stderr, "bad resolve entry '%.*s': expected HOST:PORT:ADDRESS, e.g. "
                             "adb-123.4.azuredatabricks.net:443:127.0.0.1\n",
                     static_cast<int>(entry.size()), entry.data());
        return false;
    }
    transport.resolve.push_back(std::move(parsed));
    return true;
}

// Parses the shared flags; anything else is left in `arguments` for the example. Prints
// the problem (or the usage for --help) and returns nullopt when the program should stop;
// `exit_code` then says how.
inline std::optional<example_options> parse_example_options(int argc, char** argv, const char* endpoint_variable,
                                                            const char* usage, int& exit_code) {
    example_options out;
    exit_code = 2;
    if (const char* endpoint = std::getenv(endpoint_variable)) out.endpoint = endpoint;
    if (const char* ca = std::getenv("DBSERVE_CA_FILE")) out.transport.tls.ca_file = ca;
    if (const char* resolve = std::getenv("DBSERVE_RESOLVE")) {
        std::string_view rest(resolve);
        while (!rest.empty()) {
            const auto end = rest.find_first_of(" ,");
            const std::string_view entry = rest.substr(0, end);
            if (!entry.empty() && !add_resolve(out.transport, entry)) return std::nullopt;
            if (end == std::string_view::npos) break;
            rest.remove_prefix(end + 1);
        }
    }
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--help" || arg == "-h") {
            std::printf("%s", usage);
            exit_code = 0;
            return std::nullopt;
        } else if (arg == "--endpoint" || arg == "--cacert" || arg == "--resolve") {
            if (!has_value) {
                std::fprintf(stderr, "%s needs a value\n%s", argv[i], usage);
                return std::nullopt;
            }
            const std::string value = argv[++i];
            if (arg == "--endpoint") out.endpoint = value;
            else if (arg == "--cacert") out.transport.tls.ca_file = value;
            else if (!add_resolve(out.transport, value)) return std::nullopt;
        } else {
            out.arguments.emplace_back(arg);
        }
    }
    if (out.endpoint.empty()) {
        std::fprintf(stderr, "no serving endpoint given: pass --endpoint NAME or set %s\n%s", endpoint_variable,
                     usage);
        return std::nullopt;
    }
    // Examples answer within a minute or say why; the default (5 minutes) suits batch jobs.
    out.transport.request_timeout = std::chrono::seconds(60);
    return out;
}

// The exit status for a failure: 2 when nothing could be sent because of the
// configuration, 1 for everything else.
inline int exit_code_for(const dbserve::error& failure) {
    return failure.code == dbserve::errc::configuration || failure.code == dbserve::errc::invalid_argument ? 2 : 1;
}

}  // namespace examples
