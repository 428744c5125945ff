// A Databricks workspace and its route optimized data plane, as plain request -> reply logic:
// the token endpoint, the serving-endpoints API, invocations on each endpoint's own host,
// fault injection and the admin API. No sockets: server.cpp feeds it parsed requests, and the
// unit tests call it directly. Thread safe (one mutex): the server may call it from any thread.
// One class, one file per route: workspace.cpp (state and routing), token_routes.cpp,
// discovery_routes.cpp, invocation_routes.cpp, fault_injection.cpp, admin_routes.cpp; what
// they share beyond this class is in workspace_support.hpp.
#pragma once

#include "external_issuer.hpp"
#include "federation.hpp"
#include "models.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace emulator {

struct http_request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query, as sent
    std::string host;    // the Host header, without a port, lower case
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    const std::string* header(std::string_view name) const;  // case-insensitive, first match
};

struct http_reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Non-empty: the body goes out with chunked transfer encoding, one chunk per entry (SSE).
    std::vector<std::string> chunks;
    // Stop after this many chunks and drop the connection (a stream cut mid-way); -1: never.
    int truncate_after_chunks = -1;
    // Wait this long before each chunk after the first (a model generating tokens).
    std::chrono::milliseconds chunk_delay{0};
    bool close = false;  // answer with Connection: close

    std::string header(std::string_view name) const;  // "" when absent
};

// What fault injection decided for one request; see README "Fault injection".
enum class fault_action { none, reply, drop_before, drop_after, truncate_stream };

struct fault_decision {
    fault_action action = fault_action::none;
    int fault_id = 0;
    std::chrono::milliseconds delay{0};  // wait before answering (applies to every action)
    http_reply reply;                    // for fault_action::reply
    int truncate_after_chunks = 0;
};

struct fault_spec {
    int id = 0;
    std::string route = "any";     // token | discovery | invocations | any
    std::string endpoint;          // endpoint name; empty = every endpoint
    std::string grant;             // token route only: client_credentials | jwt-bearer; empty = both
    std::string kind = "status";   // status | garbage | delay | drop_before | drop_after | truncate_stream
    int status = 503;
    std::string retry_after;       // Retry-After header value (seconds or an HTTP date); empty = none
    int retry_after_date_in = -1;  // >= 0: Retry-After is the HTTP date this many seconds after firing
    std::string body;              // replaces the default body
    std::string content_type;      // replaces the default content type
    int delay_ms = 0;
    int skip = 0;                  // matching requests let through before the fault fires
    int count = 1;                 // times it fires; -1 = until cleared
    int truncate_after_chunks = 1;
    int fired = 0;
};

struct principal {
    std::string name;
    std::string client_id;
    std::string client_secret;
    // endpoint name ("*" = every endpoint) -> actions held
    std::map<std::string, std::set<std::string>> actions;
};

struct endpoint {
    std::string name;
    model_kind kind = model_kind::custom;
    bool route_optimized = true;
    bool legacy_invocations = false;  // created before 2025-09-22: workspace path also works
    bool ready = true;
    std::vector<std::string> served_models;  // the first takes the traffic
    int generation = 0;                      // bumped when recreated (new id, new host)
    std::string id;
};

struct workspace_options {
    std::string workspace_id = "6051921418418893";
    std::string workspace_host = "adb-6051921418418893.13.azuredatabricks.net";
    std::string shard = "eastus2";
    std::uint16_t port = 443;  // the port advertised in URLs (omitted when 443)
    std::string address = "127.0.0.1";
    int token_lifetime_seconds = 3600;
    std::string token_type = "Bearer";
    // Data-plane tokens with this many seconds or less left are refused (Azure: 30).
    int reject_expiring_within_seconds = 0;
    // A streamed answer waits this long between its chunks (time per output token).
    int stream_chunk_delay_ms = 0;
    std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

class workspace {
public:
    explicit workspace(workspace_options options);

    // Applies a configuration object (the --config file's shape, see README). Throws
    // std::invalid_argument naming the bad field.
    void configure(const json& config);
    void set_port(std::uint16_t port);

    // Called once the request's header has arrived (body still unread): counts the request
    // and decides which fault, if any, applies to it.
    fault_decision begin(const http_request& head);
    // Answers a whole request under the decision begin() made.
    http_reply handle(const http_request& request, const fault_decision& decision);
    // begin() then handle(): for tests, which see drops as fault decisions only.
    http_reply serve(const http_request& request);

    void note_connection();
    void note_bad_request();  // malformed HTTP the server refused before the workspace saw it

    json info() const;      // the JSON line printed at start
    json counters() const;  // GET /admin/counters
    void add_fault(fault_spec spec);
    // Also accept RS256 JWT access tokens from this outside issuer on the data plane; their
    // authorization_details claim grants endpoints by id, as for the emulator's own tokens.
    // Counted in counters()["external_tokens"] ("accepted" / "refused").
    void trust_issuer(std::shared_ptr<const external_issuer> issuer);
    // OAuth token federation: the token-exchange grant accepts JWTs that satisfy one of
    // these (POST /admin/federation-policies, or "federation_policies" in the config).
    void add_federation_policy(federation_policy policy);
    // The GitHub Actions ID-token stand-in's signer (ES256), for tests that forge tokens.
    const jwt_signer& github_signer() const { return *github_signer_; }

    // Identities and endpoints, for tests and info().
    const principal& principal_named(std::string_view name) const;
    const endpoint& endpoint_named(std::string_view name) const;
    std::string personal_access_token() const;
    std::string data_plane_host(const endpoint& e) const;
    std::string invocations_url(const endpoint& e, std::string_view served_model = {}) const;
    std::string workspace_url() const;
    std::string authorization_details_for(const endpoint& e) const;  // what discovery hands out

private:
    struct grant {
        std::string endpoint_id;
        std::set<std::string> actions;
    };
    struct token_record {
        std::string principal;  // principal name, or "pat-user"
        std::string scope;
        std::vector<grant> grants;  // empty: a control-plane token
        std::chrono::system_clock::time_point expires;
    };
    enum class route { token, discovery, discovery_list, invocations, legacy_invocations, admin, github_id_token, other };
    struct classified {
        route kind = route::other;
        std::string endpoint_name;  // for discovery and invocations
        std::string grant;          // token route: grant type when known from the head
    };

    // workspace.cpp: shared state and routing
    classified classify(const http_request& head) const;
    http_reply handle_locked(const http_request& request, const classified& where);
    std::chrono::system_clock::time_point now() const;
    std::string endpoint_id_for(const std::string& name, int generation) const;
    endpoint* find_endpoint(std::string_view name);
    endpoint* find_endpoint_by_id(std::string_view id);
    void reset_locked();
    void bump(const std::string& group, const std::string& key);
    void bump_external(const std::string& outcome);
    // token_routes.cpp
    http_reply token(const http_request& request);
    http_reply authorization_server_metadata() const;
    const principal* authenticate_basic(const std::string& header_value) const;
    http_reply issue_token(const principal& who, const std::string& scope, std::vector<grant> grants);
    http_reply federated_token(std::map<std::string, std::string>& form);
    http_reply github_id_token(const http_request& request);
    federation_policy parse_federation_policy(const json& spec) const;
    json federation_policy_json(const federation_policy& p) const;
    // discovery_routes.cpp
    http_reply discovery(const http_request& request, const classified& where);
    http_reply discovery_list(const http_request& request);
    json endpoint_json(const endpoint& e) const;
    // invocation_routes.cpp
    http_reply invoke(const http_request& request, const classified& where, bool legacy);
    // fault_injection.cpp
    fault_decision decide_fault(const classified& where);  // counts a fault that fires
    fault_spec parse_fault(const json& spec) const;
    http_reply fault_reply(const fault_spec& spec, const classified& where) const;
    // admin_routes.cpp
    http_reply admin(const http_request& request);
    json endpoint_summary(const endpoint& e) const;
    json info_locked() const;

    mutable std::mutex mutex_;
    workspace_options initial_options_;
    workspace_options options_;
    std::int64_t clock_offset_seconds_ = 0;
    std::vector<principal> principals_;
    std::vector<endpoint> initial_endpoints_;
    std::vector<endpoint> endpoints_;
    std::vector<fault_spec> initial_faults_;
    std::vector<fault_spec> faults_;
    int next_fault_id_ = 1;
    std::unordered_map<std::string, token_record> tokens_;
    std::string pat_;
    std::uint64_t sequence_ = 0;
    json counters_;
    std::shared_ptr<const external_issuer> external_issuer_;
    std::vector<principal> initial_principals_;
    std::vector<federation_policy> initial_policies_;
    std::vector<federation_policy> federation_policies_;
    int next_policy_id_ = 1;
    // The GitHub Actions ID-token stand-in: GET /github-actions/idtoken?audience=...
    std::shared_ptr<const jwt_signer> github_signer_;
    std::string github_request_token_;
    std::string github_subject_ = "repo:dbserve/dbserve:ref:refs/heads/main";
};

// Decodes application/x-www-form-urlencoded text ('+' is a space); false on a bad escape.
bool form_urldecode(std::string_view text, std::string& out);
// Parses a form body; false when a name repeats or an escape is bad.
bool parse_form(std::string_view body, std::map<std::string, std::string>& out, std::string& error);
std::string base64_encode(std::string_view bytes, bool url_safe = false);
bool base64_decode(std::string_view text, std::string& out);  // standard alphabet, padding required
std::string http_date(std::chrono::system_clock::time_point when);

}  // namespace emulator
