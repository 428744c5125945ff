// dbserve-emulator: a strict local Databricks workspace and route optimized data plane.
// Prints one JSON line describing itself on stdout once it listens; see README.md,
// "The emulator", for the line, the admin API and fault injection.
#include "certs.hpp"
#include "server.hpp"
#include "workspace.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const char* const usage = R"(usage: dbserve-emulator [options]

  --port N                  listen port on the address (default 0: an ephemeral port)
  --address A               listen address (default 127.0.0.1)
  --config FILE             JSON configuration (token_lifetime_seconds, token_type,
                            reject_expiring_within_seconds, workspace_id, workspace_host,
                            shard, faults, endpoints)
  --token-lifetime S        lifetime of issued tokens in seconds (default 3600)
  --fault JSON              a fault to inject from the start (repeatable)
  --state-dir DIR           where to write ca.pem, server.pem, server.key
                            (default: a new temporary directory, removed at exit)
  --cert FILE --key FILE --ca FILE
                            serve this certificate chain and key instead of generating them
  --info-file FILE          also write the JSON line to FILE (written atomically)
  --env-file FILE           also write the same facts as shell assignments
                            (DBSERVE_EMULATOR_...), for `. FILE` in scripts
  --threads N               I/O threads (default 1)
  --trust-issuer-key FILE   also accept RS256 JWT access tokens signed by this PEM public key
                            on the data plane, granted by their authorization_details claim
  --trust-issuer ISS        with --trust-issuer-key: the `iss` those tokens must carry
  --exit-on-stdin-eof       exit when standard input reaches end of file
  --max-lifetime S          exit after S seconds (a safety net for tests)
  --verbose                 log one line per request on stderr
  --allow-sni-mismatch      serve requests whose Host differs from the TLS server name
                            (by default they get 421 Misdirected Request)
  --help                    this text
)";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot write " + temporary);
        out << content;
        if (!out.flush()) throw std::runtime_error("cannot write " + temporary);
    }
    ::chmod(temporary.c_str(), mode);
    if (std::rename(temporary.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename to " + path);
}

std::string shell_quote(const std::string& value) {
    std::string out = "'";
    for (char c : value) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string env_name(std::string text) {
    for (auto& c : text) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    return text;
}

// The JSON line's facts as shell assignments: scripts source it instead of parsing JSON.
std::string env_text(const emulator::json& line) {
    std::string out;
    auto put = [&](const std::string& name, const std::string& value) {
        out += "DBSERVE_EMULATOR_" + name + "=" + shell_quote(value) + "\n";
    };
    for (const char* key : {"port", "pid", "address", "ca_file", "state_dir", "workspace_host", "workspace_url",
                            "workspace_id", "token_url", "admin_url", "personal_access_token"}) {
        const auto& v = line[key];
        put(env_name(key), v.is_string() ? v.get<std::string>() : v.dump());
    }
    put("CLIENT_ID", line["service_principal"]["client_id"].get<std::string>());
    put("CLIENT_SECRET", line["service_principal"]["client_secret"].get<std::string>());
    for (const auto& p : line["principals"].items()) {
        put(env_name(p.key()) + "_CLIENT_ID", p.value()["client_id"].get<std::string>());
        put(env_name(p.key()) + "_CLIENT_SECRET", p.value()["client_secret"].get<std::string>());
    }
    std::string resolve;
    for (const auto& r : line["curl_resolve"]) resolve += (resolve.empty() ? "" : " ") + r.get<std::string>();
    put("CURL_RESOLVE", resolve);
    for (const auto& e : line["endpoints"].items()) {
        const std::string prefix = "ENDPOINT_" + env_name(e.key()) + "_";
        put(prefix + "ID", e.value()["id"].get<std::string>());
        if (e.value().contains("url")) {
            put(prefix + "HOST", e.value()["host"].get<std::string>());
            put(prefix + "URL", e.value()["url"].get<std::string>());
            put(prefix + "AUTHORIZATION_DETAILS", e.value()["authorization_details"].get<std::string>());
        }
        put(prefix + "WORKSPACE_URL", e.value()["workspace_url"].get<std::string>());
    }
    return out;
}

int to_int(const std::string& flag, const std::string& value, int minimum, int maximum) {
    try {
        std::size_t used = 0;
        long v = std::stol(value, &used);
        if (used == value.size() && v >= minimum && v <= maximum) return static_cast<int>(v);
    } catch (const std::exception&) {
    }
    throw std::invalid_argument(flag + " takes an integer in " + std::to_string(minimum) + ".." + std::to_string(maximum));
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    emulator::workspace_options options;
    emulator::server_options server;
    std::string config_path, state_dir, cert_path, key_path, ca_path, info_file, env_file;
    std::string trust_issuer_key, trust_issuer;
    emulator::json faults = emulator::json::array();
    int token_lifetime = 0;
    bool temporary_state_dir = false;
    try {
        std::vector<std::string> args(argv + 1, argv + argc);
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& flag = args[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= args.size()) throw std::invalid_argument(flag + " needs a value");
                return args[++i];
            };
            if (flag == "--help" || flag == "-h") {
                std::cout << usage;
                return 0;
            } else if (flag == "--port") {
                server.port = static_cast<std::uint16_t>(to_int(flag, value(), 0, 65535));
            } else if (flag == "--address") {
                server.address = value();
            } else if (flag == "--config") {
                config_path = value();
            } else if (flag == "--token-lifetime") {
                token_lifetime = to_int(flag, value(), 1, 100000000);
            } else if (flag == "--fault") {
                auto text = value();
                auto spec = emulator::json::parse(text, nullptr, false);
                if (spec.is_discarded()) throw std::invalid_argument("--fault takes a JSON object: " + text);
                faults.push_back(spec);
            } else if (flag == "--state-dir") {
                state_dir = value();
            } else if (flag == "--cert") {
                cert_path = value();
            } else if (flag == "--key") {
                key_path = value();
            } else if (flag == "--ca") {
                ca_path = value();
            } else if (flag == "--info-file") {
                info_file = value();
            } else if (flag == "--env-file") {
                env_file = value();
            } else if (flag == "--trust-issuer-key") {
                trust_issuer_key = value();
            } else if (flag == "--trust-issuer") {
                trust_issuer = value();
            } else if (flag == "--threads") {
                server.threads = to_int(flag, value(), 1, 64);
            } else if (flag == "--exit-on-stdin-eof") {
                server.exit_on_stdin_eof = true;
            } else if (flag == "--max-lifetime") {
                server.max_lifetime_seconds = to_int(flag, value(), 1, 100000000);
            } else if (flag == "--allow-sni-mismatch") {
                server.allow_sni_mismatch = true;
            } else if (flag == "--verbose") {
                server.verbose = true;
            } else {
                throw std::invalid_argument("unknown option " + flag + " (see --help)");
            }
        }
        if (cert_path.empty() != key_path.empty() || (!cert_path.empty() && ca_path.empty()))
            throw std::invalid_argument("--cert, --key and --ca go together");
        options.address = server.address;

        emulator::workspace ws(options);
        if (!config_path.empty()) {
            auto config = emulator::json::parse(read_file(config_path), nullptr, false);
            if (config.is_discarded()) throw std::invalid_argument(config_path + " is not valid JSON");
            ws.configure(config);
        }
        if (!faults.empty()) ws.configure(emulator::json{{"faults", faults}});
        if (token_lifetime > 0) ws.configure(emulator::json{{"token_lifetime_seconds", token_lifetime}});
        if (!trust_issuer.empty() && trust_issuer_key.empty())
            throw std::invalid_argument("--trust-issuer needs --trust-issuer-key");
        if (!trust_issuer_key.empty())
            ws.trust_issuer(std::make_shared<emulator::external_issuer>(read_file(trust_issuer_key), trust_issuer));

        if (state_dir.empty()) {
            char pattern[] = "/tmp/dbserve-emulator-XXXXXX";
            if (!::mkdtemp(pattern)) throw std::runtime_error("cannot create a temporary directory");
            state_dir = pattern;
            temporary_state_dir = true;
        } else {
            ::mkdir(state_dir.c_str(), 0700);
        }
        const auto info = ws.info();
        std::string ca_file = state_dir + "/ca.pem", cert_file = state_dir + "/server.pem",
                    key_file = state_dir + "/server.key";
        if (!cert_path.empty()) {
            server.certificate_chain_pem = read_file(cert_path);
            server.private_key_pem = read_file(key_path);
            ca_file = ca_path;
            cert_file = cert_path;
            key_file = key_path;
        } else {
            const std::string shard_wildcard =
                "*." + info["endpoints"]["sum-model"]["host"].get<std::string>().substr(
                           info["endpoints"]["sum-model"]["host"].get<std::string>().find('.') + 1);
            std::vector<std::string> ips{"127.0.0.1"};
            if (server.address != "127.0.0.1" && server.address.find(':') == std::string::npos &&
                server.address != "0.0.0.0")
                ips.push_back(server.address);
            auto certs = emulator::generate_certificates(
                {info["workspace_host"].get<std::string>(), shard_wildcard, "localhost"}, ips);
            write_file(ca_file, certs.ca_pem, 0644);
            write_file(cert_file, certs.server_cert_pem, 0644);
            write_file(key_file, certs.server_key_pem, 0600);
            server.certificate_chain_pem = certs.server_cert_pem;
            server.private_key_pem = certs.server_key_pem;
        }

        int code = emulator::run_server(ws, server, [&](std::uint16_t port) {
            ws.set_port(port);
            auto line = ws.info();
            line["pid"] = static_cast<long>(::getpid());
            line["ca_file"] = ca_file;
            line["cert_file"] = cert_file;
            line["key_file"] = key_file;
            line["state_dir"] = state_dir;
            const std::string text = line.dump();
            if (!info_file.empty()) write_file(info_file, text + "\n", 0600);
            if (!env_file.empty()) write_file(env_file, env_text(line), 0600);
            std::cout << text << std::endl;
        });
        // Stop listening to signals while cleaning up, so a late one cannot cut it short.
        std::signal(SIGTERM, SIG_IGN);
        std::signal(SIGINT, SIG_IGN);
        if (temporary_state_dir) {
            std::remove(ca_file.c_str());
            std::remove(cert_file.c_str());
            std::remove(key_file.c_str());
            ::rmdir(state_dir.c_str());
        }
        return code;
    } catch (const std::exception& e) {
        std::cerr << "dbserve-emulator: " << e.what() << "\n";
        if (temporary_state_dir) {
            std::remove((state_dir + "/ca.pem").c_str());
            std::remove((state_dir + "/server.pem").c_str());
            std::remove((state_dir + "/server.key").c_str());
            ::rmdir(state_dir.c_str());
        }
        return 2;
    }
}
