// The workspace's shared state and its routing: set-up and configuration, identities and
// URLs, classifying a request by host and path, counting it, and handing it to its route.
// The routes live in token_routes.cpp, discovery_routes.cpp, invocation_routes.cpp,
// fault_injection.cpp and admin_routes.cpp; the codecs in codecs.cpp.
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <algorithm>
#include <stdexcept>

namespace emulator {

using namespace detail;
using std::chrono::system_clock;

// ---------------------------------------------------------------------------------------------
// Set-up

workspace::workspace(workspace_options options) : initial_options_(options), options_(std::move(options)) {
    principals_.push_back({"sp-main", "7c5a3e1b-2f4d-4a6c-8e9b-0d1f2a3b4c5d", "dose0e4c2b8f6a1d3e5f7a9b0c2d4e6f8a1b",
                           {{"*", {query_action, manage_action}}}});
    // Both values hold characters RFC 6749 section 2.3.1 requires to be form-urlencoded
    // before base64: sending them raw in Basic fails to match.
    principals_.push_back({"sp-encoded", "emulator:sp+2", "dose:se+cr%t/with space", {{"*", {query_action}}}});
    principals_.push_back({"sp-no-query", "3f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f", "dose5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a",
                           {{"chat-model", {query_action}}}});
    pat_ = "dapi" + hex64(fnv1a("personal access token", 1469598103934665603ull)) +
           hex64(fnv1a("emulator", 88172645463325252ull));

    auto add = [this](std::string name, model_kind kind, bool route_optimized, bool legacy, bool ready,
                      std::vector<std::string> served) {
        endpoint e;
        e.name = std::move(name);
        e.kind = kind;
        e.route_optimized = route_optimized;
        e.legacy_invocations = legacy;
        e.ready = ready;
        e.served_models = std::move(served);
        e.id = endpoint_id_for(e.name, 0);
        initial_endpoints_.push_back(std::move(e));
    };
    add("sum-model", model_kind::custom, true, false, true, {"sum-v1", "sum-v2"});
    add("legacy-sum-model", model_kind::custom, true, true, true, {"legacy-sum-v1"});
    add("chat-model", model_kind::chat, true, false, true, {"chat-v1"});
    add("completions-model", model_kind::completions, true, false, true, {"completions-v1"});
    add("embeddings-model", model_kind::embeddings, true, false, true, {"embeddings-v1"});
    add("feature-endpoint", model_kind::feature, true, false, true, {"feature-spec-v1"});
    add("classic-model", model_kind::custom, false, true, true, {"classic-v1"});
    add("not-ready-model", model_kind::custom, true, false, false, {"not-ready-v1"});
    endpoints_ = initial_endpoints_;
    initial_principals_ = principals_;
    // ES256, while GitHub signs with RS256: the end-to-end tests then see both algorithms
    // (oidc-provider's tokens are RS256). A P-256 key is also quick to make per workspace.
    github_signer_ = std::make_shared<const jwt_signer>("ES256", "github-stand-in");
    github_request_token_ = "actions-request-" + hex64(fnv1a("github request token", 88172645463325252ull));
    reset_locked();
}

std::string workspace::endpoint_id_for(const std::string& name, int generation) const {
    std::string key = name + "#" + std::to_string(generation);
    return hex64(fnv1a(key, 1469598103934665603ull)) + hex64(fnv1a(key, 7809847782465536322ull));
}

void workspace::configure(const json& config) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!config.is_object()) throw std::invalid_argument("the configuration must be a JSON object");
    for (const auto& item : config.items()) {
        const auto& key = item.key();
        const auto& value = item.value();
        auto need_int = [&](int minimum) {
            if (!value.is_number_integer() || value.get<std::int64_t>() < minimum)
                throw std::invalid_argument("'" + key + "' must be an integer >= " + std::to_string(minimum));
            return value.get<int>();
        };
        auto need_string = [&] {
            if (!value.is_string() || value.get<std::string>().empty())
                throw std::invalid_argument("'" + key + "' must be a non-empty string");
            return value.get<std::string>();
        };
        if (key == "token_lifetime_seconds") {
            options_.token_lifetime_seconds = need_int(1);
        } else if (key == "token_type") {
            options_.token_type = need_string();
        } else if (key == "reject_expiring_within_seconds") {
            options_.reject_expiring_within_seconds = need_int(0);
        } else if (key == "stream_chunk_delay_ms") {
            options_.stream_chunk_delay_ms = need_int(0);
        } else if (key == "workspace_id") {
            options_.workspace_id = need_string();
            if (options_.workspace_id.find_first_not_of("0123456789") != std::string::npos)
                throw std::invalid_argument("'workspace_id' must be numeric");
        } else if (key == "workspace_host") {
            options_.workspace_host = lower(need_string());
        } else if (key == "shard") {
            options_.shard = lower(need_string());
        } else if (key == "faults") {
            if (!value.is_array()) throw std::invalid_argument("'faults' must be an array of fault objects");
            for (const auto& spec : value) {
                auto fault = parse_fault(spec);
                fault.id = next_fault_id_++;
                initial_faults_.push_back(fault);
                faults_.push_back(fault);
            }
        } else if (key == "federation_policies") {
            if (!value.is_array()) throw std::invalid_argument("'federation_policies' must be an array of policies");
            for (const auto& spec : value) {
                auto policy = parse_federation_policy(spec);
                policy.id = next_policy_id_++;
                initial_policies_.push_back(policy);
                federation_policies_.push_back(std::move(policy));
            }
        } else if (key == "endpoints") {
            if (!value.is_object()) throw std::invalid_argument("'endpoints' must be an object keyed by endpoint name");
            for (const auto& e : value.items()) {
                auto it = std::find_if(initial_endpoints_.begin(), initial_endpoints_.end(),
                                       [&](const endpoint& x) { return x.name == e.key(); });
                if (it == initial_endpoints_.end())
                    throw std::invalid_argument("'endpoints' names unknown endpoint '" + e.key() + "'");
                if (!e.value().is_object()) throw std::invalid_argument("'endpoints." + e.key() + "' must be an object");
                for (const auto& field : e.value().items()) {
                    if (!field.value().is_boolean())
                        throw std::invalid_argument("'endpoints." + e.key() + "." + field.key() + "' must be a boolean");
                    bool flag = field.value().get<bool>();
                    if (field.key() == "legacy_invocations" || field.key() == "created_before_2025_09_22")
                        it->legacy_invocations = flag;
                    else if (field.key() == "ready")
                        it->ready = flag;
                    else if (field.key() == "route_optimized")
                        it->route_optimized = flag;
                    else
                        throw std::invalid_argument("unknown endpoint setting '" + field.key() + "'");
                }
            }
            endpoints_ = initial_endpoints_;
        } else {
            throw std::invalid_argument("unknown configuration key '" + key + "'");
        }
    }
    auto port = options_.port;
    initial_options_ = options_;
    initial_options_.port = port;
}

void workspace::set_port(std::uint16_t port) {
    std::lock_guard<std::mutex> lock(mutex_);
    options_.port = port;
    initial_options_.port = port;
}

void workspace::reset_locked() {
    auto port = options_.port;
    options_ = initial_options_;
    options_.port = port;
    clock_offset_seconds_ = 0;
    endpoints_ = initial_endpoints_;
    faults_ = initial_faults_;
    principals_ = initial_principals_;
    federation_policies_ = initial_policies_;
    counters_ = json{{"connections_accepted", 0},
                     {"requests", 0},
                     {"bad_requests", 0},
                     {"token_requests", json{{"total", 0}}},
                     {"token_responses", json::object()},
                     {"tokens_issued", json{{"control_plane", 0}, {"data_plane", 0}}},
                     {"discovery_requests", 0},
                     {"discovery_responses", json::object()},
                     {"invocations_total", 0},
                     {"invocations", json::object()},
                     {"invocations_by_endpoint", json::object()},
                     {"legacy_invocations", 0},
                     {"faults_fired", 0},
                     {"federation", json{{"accepted", 0}, {"refused", 0}}},
                     {"identity_tokens", json{{"issued", 0}, {"refused", 0}}},
                     {"secret_rotations", 0},
                     {"connections_dropped", 0},
                     {"traceparent", json::object()}};
}

system_clock::time_point workspace::now() const {
    return options_.now() + std::chrono::seconds(clock_offset_seconds_);
}

void workspace::bump(const std::string& group, const std::string& key) {
    if (key.empty()) {
        counters_[group] = counters_[group].get<std::int64_t>() + 1;
        return;
    }
    auto& g = counters_[group];
    g[key] = g.value(key, std::int64_t{0}) + 1;
}

void workspace::trust_issuer(std::shared_ptr<const external_issuer> issuer) {
    std::lock_guard<std::mutex> lock(mutex_);
    external_issuer_ = std::move(issuer);
}

void workspace::add_federation_policy(federation_policy policy) {
    std::lock_guard<std::mutex> lock(mutex_);
    policy.id = next_policy_id_++;
    federation_policies_.push_back(std::move(policy));
}

void workspace::bump_external(const std::string& outcome) {
    auto& group = counters_["external_tokens"];
    if (!group.is_object()) group = json::object();
    group[outcome] = group.value(outcome, std::int64_t{0}) + 1;
}

void workspace::note_connection() {
    std::lock_guard<std::mutex> lock(mutex_);
    bump("connections_accepted", "");
}

void workspace::note_bad_request() {
    std::lock_guard<std::mutex> lock(mutex_);
    bump("bad_requests", "");
}

endpoint* workspace::find_endpoint(std::string_view name) {
    for (auto& e : endpoints_)
        if (e.name == name) return &e;
    return nullptr;
}

endpoint* workspace::find_endpoint_by_id(std::string_view id) {
    for (auto& e : endpoints_)
        if (e.id == id && e.route_optimized) return &e;
    return nullptr;
}

const principal& workspace::principal_named(std::string_view name) const {
    for (const auto& p : principals_)
        if (p.name == name) return p;
    throw std::out_of_range("no principal named " + std::string(name));
}

const endpoint& workspace::endpoint_named(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : endpoints_)
        if (e.name == name) return e;
    throw std::out_of_range("no endpoint named " + std::string(name));
}

std::string workspace::personal_access_token() const { return pat_; }

std::string workspace::data_plane_host(const endpoint& e) const {
    return e.id + "." + options_.shard + ".serving.azuredatabricks.net";
}

std::string workspace::invocations_url(const endpoint& e, std::string_view served_model) const {
    std::string path = "/" + options_.workspace_id + "/serving-endpoints/" + e.name;
    if (!served_model.empty()) path += "/served-models/" + std::string(served_model);
    return origin(data_plane_host(e), options_.port) + path + "/invocations";
}

std::string workspace::workspace_url() const { return origin(options_.workspace_host, options_.port); }

std::string workspace::authorization_details_for(const endpoint& e) const {
    return "[{\"type\":\"workspace_permission\",\"object_type\":\"serving-endpoints\",\"object_path\":"
           "\"/serving-endpoints/" +
           e.id + "\",\"actions\":[\"" + query_action + "\"]}]";
}

// ---------------------------------------------------------------------------------------------
// Routing

workspace::classified workspace::classify(const http_request& head) const {
    classified where;
    std::string_view target = head.target;
    auto path = target.substr(0, target.find('?'));
    std::vector<std::string> segments;
    if (!split_path(path, segments)) return where;
    const bool workspace_host =
        head.host == options_.workspace_host || head.host == "localhost" || head.host == "127.0.0.1";
    const std::string data_plane_suffix = "." + options_.shard + ".serving.azuredatabricks.net";
    auto invocation_name = [&](std::size_t first) -> std::string {
        // serving-endpoints/<name>/invocations or serving-endpoints/<name>/served-models/<m>/invocations
        auto n = segments.size() - first;
        if (segments[first] != "serving-endpoints") return {};
        if (n == 3 && segments[first + 2] == "invocations") return segments[first + 1];
        if (n == 5 && segments[first + 2] == "served-models" && segments[first + 4] == "invocations")
            return segments[first + 1];
        return {};
    };
    if (workspace_host) {
        if (path == "/oidc/v1/token") {
            where.kind = route::token;
        } else if (path == "/github-actions/idtoken") {
            where.kind = route::github_id_token;
        } else if (segments.size() >= 1 && segments[0] == "admin") {
            where.kind = route::admin;
        } else if (segments.size() == 3 && segments[0] == "api" && segments[1] == "2.0" && segments[2] == "serving-endpoints") {
            where.kind = route::discovery_list;
        } else if (segments.size() == 4 && segments[0] == "api" && segments[1] == "2.0" &&
                   segments[2] == "serving-endpoints") {
            where.kind = route::discovery;
            where.endpoint_name = segments[3];
        } else if (segments.size() >= 3) {
            auto name = invocation_name(0);
            if (!name.empty()) {
                where.kind = route::legacy_invocations;
                where.endpoint_name = name;
            }
        }
    } else if (ends_with(head.host, data_plane_suffix)) {
        if (segments.size() >= 4) {
            auto name = invocation_name(1);
            if (!name.empty()) {
                where.kind = route::invocations;
                where.endpoint_name = name;
            }
        }
    }
    return where;
}

fault_decision workspace::begin(const http_request& head) {
    std::lock_guard<std::mutex> lock(mutex_);
    fault_decision decision;
    auto where = classify(head);
    if (where.kind == route::admin) return decision;
    bump("requests", "");
    if (where.kind == route::token) bump("token_requests", "total");
    if (where.kind == route::discovery || where.kind == route::discovery_list) bump("discovery_requests", "");
    if (where.kind == route::invocations || where.kind == route::legacy_invocations) {
        bump("invocations_total", "");
        bump("invocations_by_endpoint", where.endpoint_name);
        if (where.kind == route::legacy_invocations) bump("legacy_invocations", "");
    }
    if (where.kind == route::other) return decision;
    return decide_fault(where);
}

http_reply workspace::serve(const http_request& request) { return handle(request, begin(request)); }

// A version-00 traceparent as the W3C spec writes it: 00-<32 hex>-<16 hex>-<2 hex>,
// lowercase, neither id all zero.
static bool well_formed_traceparent(const std::string& v) {
    if (v.size() != 55 || v.compare(0, 3, "00-") != 0 || v[35] != '-' || v[52] != '-') return false;
    auto hex = [&](std::size_t from, std::size_t n) {
        bool nonzero = false;
        for (std::size_t i = from; i < from + n; ++i) {
            const char c = v[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
            if (c != '0') nonzero = true;
        }
        return nonzero || n == 2;
    };
    return hex(3, 32) && hex(36, 16) && hex(53, 2);
}

http_reply workspace::handle(const http_request& request, const fault_decision& decision) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto where = classify(request);
    http_reply r;
    if (where.kind == route::token) {
        // Count by grant even when a fault answers, so tests see every attempt.
        std::map<std::string, std::string> form;
        std::string error;
        std::string grant = "unknown";
        if (parse_form(request.body, form, error) && form.count("grant_type")) {
            const auto& g = form["grant_type"];
            grant = g == "client_credentials"   ? "client_credentials"
                    : g == jwt_bearer_grant     ? "jwt-bearer"
                    : g == token_exchange_grant ? "token-exchange"
                                                : "other";
        }
        bump("token_requests", grant);
    }
    if (decision.action == fault_action::reply)
        r = decision.reply;
    else
        r = handle_locked(request, where);
    if (decision.action == fault_action::truncate_stream) r.truncate_after_chunks = decision.truncate_after_chunks;
    if (const std::string* traceparent = request.header("traceparent")) {
        // W3C Trace Context: counted (well-formed or not) and echoed, so a test sees what
        // each request carried.
        bump("traceparent", "received");
        bump("traceparent", well_formed_traceparent(*traceparent) ? "valid" : "invalid");
        r.headers.emplace_back("traceparent-received", *traceparent);
        if (const std::string* tracestate = request.header("tracestate"))
            r.headers.emplace_back("tracestate-received", *tracestate);
    }
    const std::string status = std::to_string(r.status);
    switch (where.kind) {
        case route::token: bump("token_responses", status); break;
        case route::discovery:
        case route::discovery_list: bump("discovery_responses", status); break;
        case route::invocations:
        case route::legacy_invocations: bump("invocations", status); break;
        default: break;
    }
    r.headers.emplace_back("x-request-id", hex64(fnv1a(std::to_string(++sequence_), 1469598103934665603ull)));
    return r;
}

http_reply workspace::handle_locked(const http_request& request, const classified& where) {
    switch (where.kind) {
        case route::token: return token(request);
        case route::discovery: return discovery(request, where);
        case route::discovery_list: return discovery_list(request);
        case route::invocations: return invoke(request, where, false);
        case route::legacy_invocations: return invoke(request, where, true);
        case route::admin: return admin(request);
        case route::github_id_token: return github_id_token(request);
        case route::other: break;
    }
    std::string path = request.target.substr(0, request.target.find('?'));
    const bool workspace_host =
        request.host == options_.workspace_host || request.host == "localhost" || request.host == "127.0.0.1";
    if (workspace_host && path == "/oidc/.well-known/oauth-authorization-server") return authorization_server_metadata();
    if (!workspace_host && !ends_with(request.host, "." + options_.shard + ".serving.azuredatabricks.net"))
        return service_error(404, "ENDPOINT_NOT_FOUND", "No service answers for host '" + request.host + "'.");
    return service_error(404, "ENDPOINT_NOT_FOUND", "No API found for '" + request.method + " " + path + "'.");
}

}  // namespace emulator
