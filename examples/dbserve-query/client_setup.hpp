// From the command line to the library's configuration: client_config, the secret source
// (environment, profile, --client-secret-file), transport_options (TLS, --resolve,
// timeouts), and the checks that must pass before anything is sent: credentials present
// and usable for a route optimized endpoint (no personal access token), host and URLs
// well formed, CA files readable. --max-time becomes the query deadline.
#pragma once

#include "cli_options.hpp"
#include "credential_scrubber.hpp"
#include "input_files.hpp"
#include "token_file.hpp"

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/credentials.hpp>
#include <dbserve/client/federation.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/secret_sources.hpp>
#include <dbserve/client/transport_options.hpp>
#include <dbserve/protocol/url.hpp>

#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <fstream>
#include <string>

namespace dbserve_query {

struct cli_setup {
    dbserve::client_config config;
    dbserve::default_secret_source secrets;
    dbserve::transport_options transport;
    std::string token_url;         // --token-url, checked (also in config); empty: <host>/oidc/v1/token
    std::string token_path_note;   // for -v: which way to a token is used
    std::string credentials_note;  // for -v: which credentials were found (no values)
};

namespace detail {

inline dbserve::unexpected setup_error(std::string message) {
    return dbserve::unexpected(dbserve::errc::configuration, std::move(message));
}

inline dbserve::result<void> check_path(const std::string& path, const char* flag, bool directory) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return setup_error(std::string(flag) + " '" + path + "' does not exist; check the path");
    if (directory != S_ISDIR(st.st_mode))
        return setup_error(std::string(flag) + " '" + path + "' is " + (directory ? "not a directory" : "a directory") +
                           (directory ? "; give a directory of CA certificates prepared with openssl rehash"
                                      : "; give a PEM file of CA certificates (use --capath for a directory)"));
    return {};
}

// Whether the file holds a PEM certificate block; reads at most `limit` bytes (a CA bundle
// is a few hundred KB).
inline bool holds_pem_certificate(const std::string& path, std::size_t limit = 4u * 1024u * 1024u) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::string text(limit, '\0');
    in.read(&text[0], static_cast<std::streamsize>(limit));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return text.find("-----BEGIN CERTIFICATE-----") != std::string::npos;
}

// A CA file or directory that cannot be used would only show as a TLS failure (exit 6)
// after the first connection, or be ignored by one TLS stack and not the other: both are
// checked here, before anything is sent, the same way for every transport.
inline dbserve::result<void> check_ca_file(const std::string& path) {
    if (auto ok = check_path(path, "--cacert", false); !ok) return ok;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_size == 0)
        return setup_error("--cacert '" + path + "' is empty; give a PEM file of CA certificates");
    if (!holds_pem_certificate(path))
        return setup_error("--cacert '" + path +
                           "' holds no PEM certificate (no -----BEGIN CERTIFICATE----- block, or it cannot be read); "
                           "give a PEM file of CA certificates");
    return {};
}

inline dbserve::result<void> check_ca_directory(const std::string& path) {
    if (auto ok = check_path(path, "--capath", true); !ok) return ok;
    bool found = false;
    if (DIR* dir = ::opendir(path.c_str())) {
        while (const dirent* entry = ::readdir(dir)) {
            const std::string file = path + "/" + entry->d_name;
            struct stat st {};
            if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && holds_pem_certificate(file)) {
                found = true;
                break;
            }
        }
        ::closedir(dir);
    }
    if (!found)
        return setup_error("--capath '" + path +
                           "' holds no PEM certificate file; give a directory of CA certificates prepared with "
                           "openssl rehash");
    return {};
}

}  // namespace detail

// Every credential found is also given to `scrubber`, so no output can show it.
inline dbserve::result<cli_setup> make_setup(const cli_options& o, credential_scrubber& scrubber) {
    cli_setup s;
    auto& c = s.config;

    // Where.
    c.host = o.host;
    c.endpoint_name = o.endpoint;
    c.url = o.url;
    c.endpoint_id = o.endpoint_id;
    c.served_model = o.served_model;
    c.action = o.action == "manage_inference_endpoint" ? dbserve::endpoint_action::manage_inference_endpoint
                                                         : dbserve::endpoint_action::query_inference_endpoint;
    if (!o.host.empty()) {
        auto host = dbserve::normalize_workspace_host(o.host);
        if (!host) return detail::setup_error("--host: " + host.error().message);
    }
    if (!o.url.empty()) {
        auto endpoint = dbserve::resolve_configured_endpoint(o.url, o.endpoint_id, o.served_model, c.action);
        if (!endpoint) return detail::setup_error("--url: " + endpoint.error().message);
    } else if (auto valid = dbserve::validate_endpoint_name(o.endpoint); !valid) {
        return detail::setup_error("--endpoint: " + valid.error().message);
    }
    if (!o.token_url.empty()) {
        auto parsed = dbserve::parse_url(o.token_url);
        if (!parsed) return detail::setup_error("--token-url: " + parsed.error().message);
        if (parsed->scheme != "https" && !dbserve::is_loopback_host(parsed->host))
            return detail::setup_error("--token-url must be an https:// URL (it receives the client secret)");
        s.token_url = o.token_url;
        c.token_url = o.token_url;
    }

    // Network.
    auto& t = s.transport;
    if (!o.cacert.empty()) {
        if (auto ok = detail::check_ca_file(o.cacert); !ok) return std::move(ok).error();
        t.tls.ca_file = o.cacert;
    }
    if (!o.capath.empty()) {
        if (auto ok = detail::check_ca_directory(o.capath); !ok) return std::move(ok).error();
        t.tls.ca_directory = o.capath;
    }
    for (const auto& r : o.resolve) t.resolve.push_back({r.host, r.port, r.address});
    if (o.connect_timeout_s) t.connect_timeout = detail::to_milliseconds(*o.connect_timeout_s);
    if (o.max_time_s) {
        // Like curl's --max-time: the whole query, retries, waits, token and discovery
        // requests included (the query deadline).
        const auto max_time = detail::to_milliseconds(*o.max_time_s);
        t.request_timeout = max_time;
        c.timeout = max_time;
        c.retry.max_elapsed = max_time;
        c.query_deadline = max_time;
    }
    t.user_agent = "dbserve-query/" DBSERVE_QUERY_VERSION;

    // Credentials.
    s.secrets.profile = o.profile;
    if (!o.client_secret_file.empty()) {
        auto secret = read_secret_file(o.client_secret_file, "--client-secret-file", "client secret");
        if (!secret) return std::move(secret).error();
        s.secrets.values.client_secret = std::move(*secret);
    }
    const bool use_token_file = !o.token_file.empty();
    switch (o.auth) {
        case auth_choice::automatic:
            c.auth = use_token_file ? dbserve::token_path::supplied : dbserve::token_path::automatic;
            break;
        case auth_choice::client_credentials: c.auth = dbserve::token_path::client_credentials; break;
        case auth_choice::token_exchange: c.auth = dbserve::token_path::token_exchange; break;
        case auth_choice::env_oidc:
        case auth_choice::file_oidc:
        case auth_choice::github_oidc:
            // Token federation: the JWT is exchanged for a workspace token, then (as the SDKs
            // do for route optimized endpoints) for one scoped to the endpoint.
            c.auth = dbserve::token_path::automatic;
            s.secrets.values.auth_type = o.auth == auth_choice::env_oidc    ? std::string(dbserve::auth_type_env_oidc)
                                         : o.auth == auth_choice::file_oidc ? std::string(dbserve::auth_type_file_oidc)
                                                                            : std::string(dbserve::auth_type_github_oidc);
            break;
        case auth_choice::token:
            if (use_token_file) {
                c.auth = dbserve::token_path::supplied;
            } else {
                // A ready OAuth token from DATABRICKS_TOKEN or the profile's token.
                c.auth = dbserve::token_path::client_credentials;
                s.secrets.values.auth_type = std::string(dbserve::auth_type_oauth_token);
            }
            break;
    }
    if (c.auth == dbserve::token_path::supplied) {
        // Read once now so a bad file stops the tool before anything is sent.
        auto first = read_token_file(o.token_file, std::chrono::system_clock::now());
        if (!first) return std::move(first).error();
        scrubber.add(first->access_token.reveal());
        const std::string path = o.token_file;
        c.supply_token = [path]() { return read_token_file(path, std::chrono::system_clock::now()); };
        s.token_path_note = "token path: a token from --token-file " + path + " (read again at each token fetch" +
                            (o.url.empty() ? "; it also looks the endpoint up by name)" : ")");
        return s;
    }

    auto loaded = s.secrets.load();
    if (!loaded) return std::move(loaded).error();
    scrubber.add_client_credentials(loaded->client_id, loaded->client_secret.reveal());
    scrubber.add(loaded->token.reveal());
    scrubber.add(loaded->oidc_token.reveal());
    scrubber.add(loaded->actions_id_token_request_token.reveal());
    s.credentials_note = "credentials: " + dbserve::describe(*loaded);
    auto method = dbserve::select_credential_method(*loaded);
    if (!method) return std::move(method).error();
    const std::string& host = o.host.empty() ? loaded->host : o.host;
    if (host.empty())
        return detail::setup_error("no workspace host: give --host https://<workspace>, set DATABRICKS_HOST, or put "
                                   "host in the profile (--profile NAME)");
    auto normalized = dbserve::normalize_workspace_host(host);
    if (!normalized) return detail::setup_error("workspace host: " + normalized.error().message);
    const std::string token_endpoint = s.token_url.empty() ? dbserve::token_url(*normalized) : s.token_url;
    if (*method == dbserve::credential_method::token_federation) {
        s.token_path_note = "token path: OAuth token federation (" + loaded->auth_type +
                            "): the identity provider's JWT exchanged at " + token_endpoint +
                            " for a workspace token (audience " + dbserve::federation_audience(*loaded, token_endpoint) +
                            "), then for a token scoped to the endpoint's authorization_details";
    } else if (*method == dbserve::credential_method::token) {
        s.token_path_note = "token path: the OAuth token from DATABRICKS_TOKEN or the profile, used as it is";
    } else if (c.auth == dbserve::token_path::token_exchange ||
               (c.auth == dbserve::token_path::automatic && o.url.empty())) {
        s.token_path_note = "token path: token exchange: a control-plane token from " + token_endpoint +
                            " (client credentials), the endpoint discovered by name, then exchanged for a token "
                            "scoped to its authorization_details";
    } else {
        s.token_path_note = "token path: client credentials with authorization_details (" + o.action + ") at " +
                            token_endpoint;
    }
    return s;
}

}  // namespace dbserve_query
