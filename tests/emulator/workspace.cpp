#include "workspace.hpp"

#include <dbserve/protocol/detail/base64.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>

namespace emulator {
namespace {

using std::chrono::system_clock;

const char* const query_action = "query_inference_endpoint";
const char* const manage_action = "manage_inference_endpoint";
const char* const jwt_bearer_grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const char* const not_authorized = "User is not authorized to the requested authorizations";
const char* const no_credential = "Credential was not sent or was of an unsupported type for this API.";

// Creation times either side of 2025-09-22, the day from which new route optimized
// endpoints stopped answering on the workspace path.
constexpr std::int64_t legacy_created_ms = 1735689600000;  // 2025-01-01
constexpr std::int64_t recent_created_ms = 1760000000000;  // 2025-10-09

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool percent_decode(std::string_view text, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return false;
        int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

// Path segments, percent-decoded; false on a bad escape.
bool split_path(std::string_view path, std::vector<std::string>& segments) {
    segments.clear();
    if (path.empty() || path.front() != '/') return false;
    std::size_t start = 1;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        auto raw = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        std::string decoded;
        if (!percent_decode(raw, decoded)) return false;
        segments.push_back(std::move(decoded));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return true;
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t seed) {
    std::uint64_t hash = seed;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    return hash;
}

std::string hex64(std::uint64_t value) {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
    return buffer;
}

std::string random_bytes(std::size_t n) {
    static thread_local std::mt19937_64 engine{std::random_device{}()};
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(engine() & 0xff);
    return out;
}

http_reply json_reply(int status, const json& body) {
    http_reply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body.dump();
    return r;
}

http_reply service_error(int status, std::string_view code, std::string_view message) {
    return json_reply(status, json{{"error_code", std::string(code)}, {"message", std::string(message)}});
}

// RFC 6749 section 5.2 error, as the token endpoint sends it.
http_reply oauth_error(int status, std::string_view error, std::string_view description) {
    http_reply r = json_reply(status, json{{"error", std::string(error)}, {"error_description", std::string(description)}});
    r.headers.emplace_back("Cache-Control", "no-store");
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"oidc\"");
    return r;
}

std::string default_error_code(int status) {
    switch (status) {
        case 400: return "BAD_REQUEST";
        case 401: return "UNAUTHENTICATED";
        case 403: return "PERMISSION_DENIED";
        case 404: return "RESOURCE_DOES_NOT_EXIST";
        case 409: return "RESOURCE_CONFLICT";
        case 429: return "REQUEST_LIMIT_EXCEEDED";
        case 500: return "INTERNAL_ERROR";
        case 501: return "NOT_IMPLEMENTED";
        case 503: return "TEMPORARILY_UNAVAILABLE";
        case 504: return "DEADLINE_EXCEEDED";
        default: return "ERROR";
    }
}

std::string default_error_message(int status) {
    switch (status) {
        case 429: return "Too many requests. Please wait a moment and try again.";
        case 500: return "Internal server error.";
        case 503: return "The service is temporarily unavailable. Please try again later.";
        case 504: return "Request processing time exceeded limit";
        default: return "Injected failure with status " + std::to_string(status) + ".";
    }
}

const char* route_name(int kind) {
    // Matches the order of workspace::route.
    static const char* const names[] = {"token", "discovery", "discovery", "invocations", "invocations", "admin", "other"};
    return names[kind];
}

std::string bearer_token(const http_request& request, bool& present) {
    present = false;
    const std::string* value = request.header("authorization");
    if (!value) return {};
    auto space = value->find(' ');
    if (space == std::string::npos || !iequals(value->substr(0, space), "bearer")) return {};
    std::string token = value->substr(space + 1);
    while (!token.empty() && token.front() == ' ') token.erase(token.begin());
    while (!token.empty() && token.back() == ' ') token.pop_back();
    present = !token.empty();
    return token;
}

bool jwt_shaped(std::string_view token) {
    if (std::count(token.begin(), token.end(), '.') != 2) return false;
    for (char c : token)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Small codecs

bool form_urldecode(std::string_view text, std::string& out) {
    std::string plus_as_space(text);
    std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
    return percent_decode(plus_as_space, out);
}

bool parse_form(std::string_view body, std::map<std::string, std::string>& out, std::string& error) {
    out.clear();
    std::size_t start = 0;
    while (start <= body.size()) {
        auto amp = body.find('&', start);
        auto pair = body.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!pair.empty()) {
            auto eq = pair.find('=');
            std::string name, value;
            if (!form_urldecode(pair.substr(0, eq), name) ||
                !form_urldecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), value)) {
                error = "the form body holds a malformed percent escape";
                return false;
            }
            if (out.count(name)) {
                error = "parameter '" + name + "' is included more than once";
                return false;
            }
            out.emplace(std::move(name), std::move(value));
        }
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    return true;
}

std::string base64_encode(std::string_view bytes, bool url_safe) {
    std::string out = dbserve::detail::base64_encode(bytes);
    if (url_safe) {
        // base64url as JWTs carry it (RFC 7515 section 2): '-' and '_', no padding.
        while (!out.empty() && out.back() == '=') out.pop_back();
        for (char& c : out) {
            if (c == '+') c = '-';
            else if (c == '/') c = '_';
        }
    }
    return out;
}

bool base64_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 != 0) return false;
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        int padding = 0;
        for (int k = 0; k < 4; ++k) {
            char c = text[i + static_cast<std::size_t>(k)];
            if (c == '=') {
                // Padding only at the very end, and at most two.
                if (i + 4 != text.size() || k < 2) return false;
                v[k] = 0;
                ++padding;
            } else {
                if (padding) return false;
                v[k] = value(c);
                if (v[k] < 0) return false;
            }
        }
        unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
        out += static_cast<char>((n >> 16) & 0xff);
        if (padding < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (padding < 1) out += static_cast<char>(n & 0xff);
    }
    return true;
}

std::string http_date(system_clock::time_point when) {
    std::time_t t = system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buffer;
}

const std::string* http_request::header(std::string_view name) const {
    for (const auto& h : headers)
        if (iequals(h.first, name)) return &h.second;
    return nullptr;
}

std::string http_reply::header(std::string_view name) const {
    for (const auto& h : headers)
        if (iequals(h.first, name)) return h.second;
    return {};
}

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
                     {"connections_dropped", 0}};
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

static std::string origin(const std::string& host, std::uint16_t port) {
    return "https://" + host + (port == 443 ? "" : ":" + std::to_string(port));
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
// Routing and faults

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

fault_spec workspace::parse_fault(const json& spec) const {
    if (!spec.is_object()) throw std::invalid_argument("a fault must be a JSON object");
    fault_spec f;
    bool status_given = false;
    for (const auto& item : spec.items()) {
        const auto& key = item.key();
        const auto& value = item.value();
        auto need_int = [&](int minimum) {
            if (!value.is_number_integer() || value.get<std::int64_t>() < minimum || value.get<std::int64_t>() > 1000000000)
                throw std::invalid_argument("fault field '" + key + "' must be an integer >= " + std::to_string(minimum));
            return value.get<int>();
        };
        auto need_string = [&] {
            if (!value.is_string()) throw std::invalid_argument("fault field '" + key + "' must be a string");
            auto text = value.get<std::string>();
            if (key != "body" && text.find_first_of("\r\n") != std::string::npos)
                throw std::invalid_argument("fault field '" + key + "' must not hold a line break");
            return text;
        };
        if (key == "route") {
            f.route = need_string();
            if (f.route != "token" && f.route != "discovery" && f.route != "invocations" && f.route != "any")
                throw std::invalid_argument("fault route must be token, discovery, invocations or any");
        } else if (key == "endpoint") {
            f.endpoint = need_string();
        } else if (key == "kind") {
            f.kind = need_string();
            static const std::set<std::string> kinds{"status", "garbage", "delay", "drop_before", "drop_after",
                                                     "truncate_stream"};
            if (!kinds.count(f.kind))
                throw std::invalid_argument(
                    "fault kind must be status, garbage, delay, drop_before, drop_after or truncate_stream");
        } else if (key == "status") {
            f.status = need_int(200);
            // 204 and 304 carry no body, and 1xx are not final answers.
            if (f.status > 599 || f.status == 204 || f.status == 304)
                throw std::invalid_argument("fault status must be 200..599, not 204 or 304");
            status_given = true;
        } else if (key == "retry_after") {
            if (value.is_number_integer() && value.get<std::int64_t>() >= 0)
                f.retry_after = std::to_string(value.get<std::int64_t>());
            else
                f.retry_after = need_string();
        } else if (key == "retry_after_date_in") {
            // An HTTP-date that many seconds after the fault fires.
            f.retry_after_date_in = need_int(0);
        } else if (key == "body") {
            f.body = value.is_string() ? value.get<std::string>() : value.dump();
        } else if (key == "content_type") {
            f.content_type = need_string();
        } else if (key == "delay_ms") {
            f.delay_ms = need_int(0);
        } else if (key == "skip") {
            f.skip = need_int(0);
        } else if (key == "count") {
            f.count = need_int(-1);
            if (f.count == 0) throw std::invalid_argument("fault count must be positive, or -1 for until cleared");
        } else if (key == "truncate_after_chunks") {
            f.truncate_after_chunks = need_int(0);
        } else if (key == "id" || key == "fired") {
            // Echoed back by GET /admin/faults; ignored on input.
        } else {
            throw std::invalid_argument("unknown fault field '" + key + "'");
        }
    }
    if (f.kind == "garbage" && !status_given) f.status = 200;
    return f;
}

static json fault_json(const fault_spec& f) {
    json out{{"id", f.id}, {"route", f.route}, {"kind", f.kind}};
    if (!f.endpoint.empty()) out["endpoint"] = f.endpoint;
    if (f.kind == "status" || f.kind == "garbage") out["status"] = f.status;
    if (!f.retry_after.empty()) out["retry_after"] = f.retry_after;
    if (f.retry_after_date_in >= 0) out["retry_after_date_in"] = f.retry_after_date_in;
    if (!f.body.empty()) out["body"] = f.body;
    if (!f.content_type.empty()) out["content_type"] = f.content_type;
    if (f.delay_ms) out["delay_ms"] = f.delay_ms;
    out["skip"] = f.skip;
    out["count"] = f.count;
    out["fired"] = f.fired;
    return out;
}

void workspace::add_fault(fault_spec spec) {
    std::lock_guard<std::mutex> lock(mutex_);
    spec.id = next_fault_id_++;
    faults_.push_back(spec);
}

http_reply workspace::fault_reply(const fault_spec& spec, const classified& where) const {
    http_reply r;
    r.status = spec.status;
    if (spec.kind == "garbage") {
        r.headers.emplace_back("Content-Type", spec.content_type.empty() ? "text/html; charset=utf-8" : spec.content_type);
        r.body = spec.body.empty()
                     ? "<!doctype html><html><head><title>Sign in</title></head><body><form action=\"/login\">"
                       "Sign in to continue</form></body></html>"
                     : spec.body;
    } else {
        r.headers.emplace_back("Content-Type", spec.content_type.empty() ? "application/json" : spec.content_type);
        if (!spec.body.empty()) {
            r.body = spec.body;
        } else if (where.kind == route::token && spec.status >= 400 && spec.status < 500 && spec.status != 429) {
            r.body = json{{"error", "invalid_request"}, {"error_description", default_error_message(spec.status)}}.dump();
        } else {
            r.body = json{{"error_code", default_error_code(spec.status)}, {"message", default_error_message(spec.status)}}.dump();
        }
    }
    if (spec.retry_after_date_in >= 0)
        r.headers.emplace_back("Retry-After", http_date(now() + std::chrono::seconds(spec.retry_after_date_in)));
    else if (!spec.retry_after.empty())
        r.headers.emplace_back("Retry-After", spec.retry_after);
    return r;
}

fault_decision workspace::begin(const http_request& head) {
    std::lock_guard<std::mutex> lock(mutex_);
    fault_decision decision;
    auto where = classify(head);
    if (where.kind == route::admin) return decision;
    bump("requests", "");
    const std::string name = route_name(static_cast<int>(where.kind));
    if (where.kind == route::token) bump("token_requests", "total");
    if (where.kind == route::discovery || where.kind == route::discovery_list) bump("discovery_requests", "");
    if (where.kind == route::invocations || where.kind == route::legacy_invocations) {
        bump("invocations_total", "");
        bump("invocations_by_endpoint", where.endpoint_name);
        if (where.kind == route::legacy_invocations) bump("legacy_invocations", "");
    }
    if (where.kind == route::other) return decision;
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
        auto& f = *it;
        if (f.route != "any" && f.route != name) continue;
        if (!f.endpoint.empty() && f.endpoint != where.endpoint_name) continue;
        if (f.skip > 0) {
            --f.skip;
            return decision;
        }
        ++f.fired;
        bump("faults_fired", "");
        decision.fault_id = f.id;
        decision.delay = std::chrono::milliseconds(f.delay_ms);
        if (f.kind == "status" || f.kind == "garbage") {
            decision.action = fault_action::reply;
            decision.reply = fault_reply(f, where);
        } else if (f.kind == "drop_before") {
            decision.action = fault_action::drop_before;
            bump("connections_dropped", "");
            if (where.kind == route::token) bump("token_requests", "unknown");
            const char* group = where.kind == route::token ? "token_responses"
                                : (where.kind == route::invocations || where.kind == route::legacy_invocations)
                                    ? "invocations"
                                    : "discovery_responses";
            bump(group, "dropped_before_read");
        } else if (f.kind == "drop_after") {
            decision.action = fault_action::drop_after;
            bump("connections_dropped", "");
        } else if (f.kind == "truncate_stream") {
            decision.action = fault_action::truncate_stream;
            decision.truncate_after_chunks = f.truncate_after_chunks;
            bump("connections_dropped", "");
        }
        if (f.count > 0 && --f.count == 0) faults_.erase(it);
        return decision;
    }
    return decision;
}

http_reply workspace::serve(const http_request& request) { return handle(request, begin(request)); }

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
            grant = g == "client_credentials" ? "client_credentials" : g == jwt_bearer_grant ? "jwt-bearer" : "other";
        }
        bump("token_requests", grant);
    }
    if (decision.action == fault_action::reply)
        r = decision.reply;
    else
        r = handle_locked(request, where);
    if (decision.action == fault_action::truncate_stream) r.truncate_after_chunks = decision.truncate_after_chunks;
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
        case route::other: break;
    }
    std::string path = request.target.substr(0, request.target.find('?'));
    const bool workspace_host =
        request.host == options_.workspace_host || request.host == "localhost" || request.host == "127.0.0.1";
    if (workspace_host && path == "/oidc/.well-known/oauth-authorization-server") {
        const std::string base = workspace_url();
        return json_reply(200, json{{"issuer", base + "/oidc"},
                                    {"token_endpoint", base + "/oidc/v1/token"},
                                    {"grant_types_supported", json::array({"client_credentials", jwt_bearer_grant})},
                                    {"token_endpoint_auth_methods_supported",
                                     json::array({"client_secret_basic", "client_secret_post"})},
                                    {"scopes_supported", json::array({"all-apis"})},
                                    {"authorization_details_types_supported",
                                     json::array({"workspace_permission", "unity_catalog_permission"})}});
    }
    if (!workspace_host && !ends_with(request.host, "." + options_.shard + ".serving.azuredatabricks.net"))
        return service_error(404, "ENDPOINT_NOT_FOUND", "No service answers for host '" + request.host + "'.");
    return service_error(404, "ENDPOINT_NOT_FOUND", "No API found for '" + request.method + " " + path + "'.");
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

const principal* workspace::authenticate_basic(const std::string& header_value) const {
    auto space = header_value.find(' ');
    if (space == std::string::npos || !iequals(header_value.substr(0, space), "basic")) return nullptr;
    std::string decoded;
    if (!base64_decode(header_value.substr(space + 1), decoded)) return nullptr;
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return nullptr;
    // RFC 6749 section 2.3.1: each part was form-urlencoded, so only the characters that
    // encoding leaves alone may appear raw; a raw ':' or '%' etc. fails to match.
    auto encoded_form = [](std::string_view part) {
        for (char c : part)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '*' ||
                  c == '~' || c == '+' || c == '%'))
                return false;
        return true;
    };
    std::string raw_id = decoded.substr(0, colon), raw_secret = decoded.substr(colon + 1);
    if (!encoded_form(raw_id) || !encoded_form(raw_secret)) return nullptr;
    std::string id, secret;
    if (!form_urldecode(raw_id, id) || !form_urldecode(raw_secret, secret)) return nullptr;
    for (const auto& p : principals_)
        if (p.client_id == id && p.client_secret == secret) return &p;
    return nullptr;
}

http_reply workspace::issue_token(const principal& who, const std::string& scope, std::vector<grant> grants) {
    const auto issued = now();
    const auto expires = issued + std::chrono::seconds(options_.token_lifetime_seconds);
    json details = json::array();
    for (const auto& g : grants)
        details.push_back(json{{"type", "workspace_permission"},
                               {"object_type", "serving-endpoints"},
                               {"object_path", "/serving-endpoints/" + g.endpoint_id},
                               {"actions", g.actions}});
    json header{{"alg", "RS256"}, {"kid", "emulator"}, {"typ", "at+jwt"}};
    json payload{{"iss", workspace_url() + "/oidc"},
                 {"sub", who.client_id},
                 {"client_id", who.client_id},
                 {"scope", scope},
                 {"iat", std::chrono::duration_cast<std::chrono::seconds>(issued.time_since_epoch()).count()},
                 {"exp", std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count()},
                 {"jti", hex64(fnv1a(std::to_string(++sequence_), 7809847782465536322ull))}};
    if (!grants.empty()) payload["authorization_details"] = details;
    std::string token = base64_encode(header.dump(), true) + "." + base64_encode(payload.dump(), true) + "." +
                        base64_encode(random_bytes(32), true);
    // Forget long-expired tokens now and then so a long benchmark does not grow without bound.
    if (tokens_.size() > 100000)
        for (auto it = tokens_.begin(); it != tokens_.end();)
            it = it->second.expires < issued ? tokens_.erase(it) : std::next(it);
    bump("tokens_issued", grants.empty() ? "control_plane" : "data_plane");
    tokens_[token] = token_record{who.name, scope, std::move(grants), expires};
    http_reply r = json_reply(200, json{{"access_token", token},
                                        {"token_type", options_.token_type},
                                        {"expires_in", options_.token_lifetime_seconds},
                                        {"scope", scope}});
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Pragma", "no-cache");
    return r;
}

http_reply workspace::token(const http_request& request) {
    if (request.method != "POST") {
        http_reply r = oauth_error(405, "invalid_request", "The token endpoint accepts POST only.");
        r.headers.emplace_back("Allow", "POST");
        return r;
    }
    const std::string* content_type = request.header("content-type");
    if (!content_type || lower(content_type->substr(0, content_type->find(';'))).find("application/x-www-form-urlencoded") ==
                             std::string::npos)
        return oauth_error(400, "invalid_request",
                           "The token request must have Content-Type application/x-www-form-urlencoded.");
    std::map<std::string, std::string> form;
    std::string error;
    if (!parse_form(request.body, form, error)) return oauth_error(400, "invalid_request", "Invalid request: " + error + ".");
    if (!form.count("grant_type") || form["grant_type"].empty())
        return oauth_error(400, "invalid_request", "Missing required parameter: grant_type.");
    const std::string grant_type = form["grant_type"];

    auto check_scope = [&](const std::string& scope, std::string& bad) {
        std::size_t start = 0;
        while (start <= scope.size()) {
            auto space = scope.find(' ', start);
            auto item = scope.substr(start, space == std::string::npos ? std::string::npos : space - start);
            if (!item.empty() && item != "all-apis" && item != "offline_access") {
                bad = item;
                return false;
            }
            if (space == std::string::npos) break;
            start = space + 1;
        }
        return true;
    };

    // RFC 9396 details against the endpoints that exist now and what the principal holds.
    auto check_details = [&](const std::string& text, const principal& who, std::vector<grant>& grants,
                             http_reply& refusal) {
        json parsed = json::parse(text, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_array() || parsed.empty()) {
            refusal = oauth_error(400, "invalid_authorization_details",
                                  "authorization_details must be a non-empty JSON array of objects.");
            return false;
        }
        for (const auto& item : parsed) {
            if (!item.is_object() || !item.contains("type") || !item["type"].is_string()) {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "Each authorization_details entry must be an object with a string 'type'.");
                return false;
            }
            const auto type = item["type"].get<std::string>();
            if (type == "unity_catalog_permission") continue;
            if (type != "workspace_permission") {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "Unsupported authorization_details type '" + type + "'.");
                return false;
            }
            if (item.value("object_type", json()) != "serving-endpoints") {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "workspace_permission needs object_type 'serving-endpoints'.");
                return false;
            }
            const auto path = item.value("object_path", json());
            const std::string prefix = "/serving-endpoints/";
            if (!path.is_string() || !starts_with(path.get<std::string>(), prefix)) {
                refusal = oauth_error(400, "invalid_authorization_details",
                                      "workspace_permission needs object_path '/serving-endpoints/<endpoint-id>'.");
                return false;
            }
            const std::string id = path.get<std::string>().substr(prefix.size());
            const endpoint* target = find_endpoint_by_id(id);
            if (!target) {
                const endpoint* by_name = find_endpoint(id);
                refusal = oauth_error(400, "invalid_authorization_details",
                                      by_name ? "object_path names the endpoint by its name; it takes the endpoint id."
                                              : "object_path '" + path.get<std::string>() +
                                                    "' names no route optimized serving endpoint.");
                return false;
            }
            const auto actions = item.value("actions", json());
            if (!actions.is_array() || actions.empty()) {
                refusal = oauth_error(400, "invalid_authorization_details", "workspace_permission needs a non-empty 'actions' array.");
                return false;
            }
            grant g{id, {}};
            for (const auto& action : actions) {
                if (!action.is_string() || (action != query_action && action != manage_action)) {
                    refusal = oauth_error(400, "invalid_authorization_details",
                                          "Unknown action " + action.dump() + " in authorization_details.");
                    return false;
                }
                g.actions.insert(action.get<std::string>());
            }
            std::set<std::string> held;
            for (const auto& [name, acts] : who.actions)
                if (name == "*" || name == target->name) held.insert(acts.begin(), acts.end());
            for (const auto& action : g.actions)
                if (!held.count(action)) {
                    refusal = oauth_error(400, "invalid_authorization_details", not_authorized);
                    return false;
                }
            grants.push_back(std::move(g));
        }
        return true;
    };

    if (grant_type == "client_credentials") {
        const std::string* authorization = request.header("authorization");
        const principal* who = nullptr;
        const bool in_body = form.count("client_secret") != 0;
        if (authorization && in_body)
            return oauth_error(400, "invalid_request", "Use exactly one client authentication method.");
        if (authorization) {
            who = authenticate_basic(*authorization);
            if (!who) return oauth_error(401, "invalid_client", "Client authentication failed.");
            if (form.count("client_id") && form["client_id"] != who->client_id)
                return oauth_error(400, "invalid_request", "client_id does not match the authenticated client.");
        } else if (in_body) {
            for (const auto& p : principals_)
                if (form.count("client_id") && p.client_id == form["client_id"] && p.client_secret == form["client_secret"])
                    who = &p;
            if (!who) return oauth_error(401, "invalid_client", "Client authentication failed.");
        } else {
            return oauth_error(401, "invalid_client", "Client authentication is required.");
        }
        std::string scope = form.count("scope") ? form["scope"] : "all-apis";
        std::string bad;
        if (!check_scope(scope, bad)) return oauth_error(400, "invalid_scope", "Invalid scope: " + bad + ".");
        std::vector<grant> grants;
        if (form.count("authorization_details")) {
            http_reply refusal;
            if (!check_details(form["authorization_details"], *who, grants, refusal)) return refusal;
        }
        return issue_token(*who, scope, std::move(grants));
    }
    if (grant_type == jwt_bearer_grant) {
        const std::string* authorization = request.header("authorization");
        if (authorization && starts_with(lower(*authorization), "basic ") && !authenticate_basic(*authorization))
            return oauth_error(401, "invalid_client", "Client authentication failed.");
        if (!form.count("assertion") || form["assertion"].empty())
            return oauth_error(400, "invalid_request", "Missing required parameter: assertion.");
        const std::string& assertion = form["assertion"];
        if (starts_with(assertion, "dapi"))
            return oauth_error(400, "invalid_grant", "A personal access token cannot be exchanged for an OAuth token.");
        auto it = tokens_.find(assertion);
        if (it == tokens_.end()) return oauth_error(400, "invalid_grant", "The assertion is not a valid token.");
        if (it->second.expires <= now()) return oauth_error(400, "invalid_grant", "The assertion has expired.");
        if (!it->second.grants.empty())
            return oauth_error(400, "invalid_grant", "The assertion must be a workspace token, not an endpoint-scoped one.");
        if (!form.count("authorization_details"))
            return oauth_error(400, "invalid_request", "Missing required parameter: authorization_details.");
        const principal& who = principal_named(it->second.principal);
        std::string scope = form.count("scope") ? form["scope"] : it->second.scope;
        std::string bad;
        if (!check_scope(scope, bad)) return oauth_error(400, "invalid_scope", "Invalid scope: " + bad + ".");
        std::vector<grant> grants;
        http_reply refusal;
        if (!check_details(form["authorization_details"], who, grants, refusal)) return refusal;
        return issue_token(who, scope, std::move(grants));
    }
    return oauth_error(400, "unsupported_grant_type", "Unsupported grant_type: " + grant_type + ".");
}

// ---------------------------------------------------------------------------------------------
// Serving-endpoints API (control plane)

json workspace::endpoint_json(const endpoint& e) const {
    const std::int64_t created = e.legacy_invocations ? legacy_created_ms : recent_created_ms;
    json served = json::array();
    for (const auto& m : e.served_models) {
        json entity{{"name", m}};
        if (e.kind == model_kind::custom || e.kind == model_kind::feature) {
            entity["entity_name"] = "main.default." + e.name;
            entity["entity_version"] = std::to_string(&m - e.served_models.data() + 1);
        } else {
            entity["foundation_model"] = json{{"name", m}};
        }
        entity["state"] = json{{"deployment", e.ready ? "DEPLOYMENT_READY" : "DEPLOYMENT_CREATING"}};
        served.push_back(entity);
    }
    json out{{"name", e.name},
             {"id", e.id},
             {"creator", "emulator@example.com"},
             {"creation_timestamp", created + e.generation * 1000},
             {"last_updated_timestamp", created + e.generation * 1000},
             {"state", json{{"ready", e.ready ? "READY" : "NOT_READY"},
                            {"config_update", e.ready ? "NOT_UPDATING" : "IN_PROGRESS"}}},
             {"config", json{{"served_entities", served},
                             {"traffic_config",
                              json{{"routes", json::array({json{{"served_model_name", e.served_models.front()},
                                                                {"traffic_percentage", 100}}})}}},
                             {"config_version", e.generation + 1}}},
             {"permission_level", "CAN_MANAGE"},
             {"route_optimized", e.route_optimized}};
    switch (e.kind) {
        case model_kind::chat: out["task"] = "llm/v1/chat"; break;
        case model_kind::completions: out["task"] = "llm/v1/completions"; break;
        case model_kind::embeddings: out["task"] = "llm/v1/embeddings"; break;
        default: break;
    }
    if (e.route_optimized) {
        out["endpoint_url"] = invocations_url(e);
        out["data_plane_info"] =
            json{{"query_info", json{{"endpoint_url", invocations_url(e)},
                                     {"authorization_details", authorization_details_for(e)}}}};
    }
    return out;
}

http_reply workspace::discovery(const http_request& request, const classified& where) {
    if (request.method != "GET") return service_error(405, "BAD_REQUEST", "Use GET on this API.");
    bool present = false;
    std::string token = bearer_token(request, present);
    if (!present) return service_error(401, "UNAUTHENTICATED", no_credential);
    if (starts_with(token, "dapi")) {
        if (token != pat_) return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
    } else {
        auto it = tokens_.find(token);
        if (it == tokens_.end() || it->second.expires <= now())
            return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
        if (!it->second.grants.empty())
            return service_error(403, "PERMISSION_DENIED",
                                 "This token is scoped to serving endpoints (authorization_details) and cannot call "
                                 "workspace APIs; use a workspace token with scope all-apis.");
        if (it->second.scope.find("all-apis") == std::string::npos)
            return service_error(403, "PERMISSION_DENIED", "The token's scope does not include all-apis.");
    }
    if (where.endpoint_name.empty()) return service_error(404, "RESOURCE_DOES_NOT_EXIST", "Endpoint name is empty.");
    const endpoint* e = find_endpoint(where.endpoint_name);
    if (!e)
        return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                             "Endpoint with name '" + where.endpoint_name + "' does not exist.");
    return json_reply(200, endpoint_json(*e));
}

http_reply workspace::discovery_list(const http_request& request) {
    classified where;
    where.endpoint_name = endpoints_.front().name;
    http_reply check = discovery(request, where);
    if (check.status != 200) return check;
    json list = json::array();
    for (const auto& e : endpoints_) list.push_back(endpoint_json(e));
    return json_reply(200, json{{"endpoints", list}});
}

// ---------------------------------------------------------------------------------------------
// Invocations (data plane, and the old workspace path)

http_reply workspace::invoke(const http_request& request, const classified& where, bool legacy) {
    if (request.method != "POST") return service_error(405, "BAD_REQUEST", "Use POST to query a serving endpoint.");
    std::vector<std::string> segments;
    split_path(request.target.substr(0, request.target.find('?')), segments);
    std::string served_model;
    const std::size_t offset = legacy ? 0 : 1;
    if (segments.size() == offset + 5) served_model = segments[offset + 3];

    endpoint* e = nullptr;
    if (legacy) {
        e = find_endpoint(where.endpoint_name);
        if (!e)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "Endpoint with name '" + where.endpoint_name + "' does not exist.");
        if (e->route_optimized && !e->legacy_invocations)
            return service_error(400, "BAD_REQUEST",
                                 "Endpoint '" + e->name +
                                     "' is route optimized: query it at its dedicated URL " + invocations_url(*e) + ".");
    } else {
        const std::string id = request.host.substr(0, request.host.find('.'));
        e = find_endpoint_by_id(id);
        if (!e)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "No route optimized endpoint has id '" + id + "' (it may have been recreated).");
        if (segments[0] != options_.workspace_id)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "Workspace '" + segments[0] + "' is not served by this host.");
        if (where.endpoint_name != e->name)
            return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                                 "Endpoint '" + where.endpoint_name + "' is not served by this host.");
    }
    if (!served_model.empty() &&
        std::find(e->served_models.begin(), e->served_models.end(), served_model) == e->served_models.end())
        return service_error(404, "RESOURCE_DOES_NOT_EXIST",
                             "Served model '" + served_model + "' does not exist in endpoint '" + e->name + "'.");

    bool present = false;
    std::string token = bearer_token(request, present);
    if (!present) return service_error(401, "UNAUTHENTICATED", no_credential);
    if (starts_with(token, "dapi")) {
        if (!legacy)
            return service_error(401, "UNAUTHENTICATED",
                                 "Personal access tokens are not supported for route optimized endpoints. "
                                 "Use an OAuth token.");
        if (token != pat_) return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
    } else {
        if (!jwt_shaped(token)) return service_error(401, "UNAUTHENTICATED", "Malformed access token.");
        auto it = tokens_.find(token);
        token_record external;
        const token_record* record = it == tokens_.end() ? nullptr : &it->second;
        if (!record && external_issuer_) {
            // A token from the trusted outside issuer: its signature and claims stand in
            // for this emulator's own table.
            external_token verified;
            std::string reason;
            if (!external_issuer_->verify(token, verified, reason)) {
                bump_external("refused");
                return service_error(401, "UNAUTHENTICATED", "Invalid access token (" + reason + ").");
            }
            bump_external("accepted");
            external.principal = verified.subject;
            external.expires = verified.expires;
            for (auto& g : verified.grants) external.grants.push_back(grant{std::move(g.endpoint_id), std::move(g.actions)});
            record = &external;
        }
        if (!record) return service_error(401, "UNAUTHENTICATED", "Invalid access token.");
        const auto margin = legacy ? 0 : options_.reject_expiring_within_seconds;
        if (record->expires - std::chrono::seconds(margin) <= now())
            return service_error(401, "UNAUTHENTICATED", "The access token has expired.");
        const auto& grants = record->grants;
        bool allowed = legacy && grants.empty();
        for (const auto& g : grants)
            if (g.endpoint_id == e->id && (g.actions.count(query_action) || g.actions.count(manage_action))) allowed = true;
        if (!allowed) {
            if (grants.empty())
                return service_error(403, "PERMISSION_DENIED",
                                     "A workspace token cannot query a route optimized endpoint; get a token with "
                                     "authorization_details for endpoint '" + e->name + "'.");
            return service_error(403, "PERMISSION_DENIED",
                                 "The access token is not authorized to query endpoint '" + e->name + "'.");
        }
    }
    if (!e->ready)
        return service_error(503, "TEMPORARILY_UNAVAILABLE",
                             "Endpoint '" + e->name + "' is not ready: its configuration update is in progress.");

    const std::string* content_type = request.header("content-type");
    if (std::count_if(request.headers.begin(), request.headers.end(),
                      [](const auto& h) { return iequals(h.first, "content-type"); }) > 1)
        return service_error(400, "BAD_REQUEST", "The request has more than one Content-Type header.");
    model_call call;
    call.kind = e->kind;
    call.content_type = content_type ? std::string_view(*content_type) : std::string_view{};
    call.body = request.body;
    call.model_name = served_model.empty() ? e->served_models.front() : served_model;
    call.created = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
    call.sequence = ++sequence_;
    model_reply m = run_model(call);
    http_reply r;
    r.status = m.status;
    r.headers.emplace_back("Content-Type", m.content_type);
    if (m.status == 200) r.headers.emplace_back("served-model-name", served_model.empty() ? e->served_models.front() : served_model);
    if (m.streaming) {
        r.headers.emplace_back("Cache-Control", "no-cache");
        r.chunks = std::move(m.events);
    } else {
        r.body = std::move(m.body);
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// Admin API and self-description

json workspace::endpoint_summary(const endpoint& e) const {
    json out{{"name", e.name},
             {"id", e.id},
             {"kind", std::string(to_string(e.kind))},
             {"route_optimized", e.route_optimized},
             {"ready", e.ready},
             {"legacy_invocations", e.legacy_invocations}};
    if (e.route_optimized) {
        endpoint next = e;
        next.id = endpoint_id_for(e.name, e.generation + 1);
        out["host"] = data_plane_host(e);
        out["url"] = invocations_url(e);
        json served = json::object();
        for (const auto& m : e.served_models) served[m] = invocations_url(e, m);
        out["served_model_urls"] = served;
        out["authorization_details"] = authorization_details_for(e);
        out["next_host"] = data_plane_host(next);
        out["next_url"] = invocations_url(next);
    }
    out["workspace_url"] = workspace_url() + "/serving-endpoints/" + e.name + "/invocations";
    out["served_models"] = e.served_models;
    return out;
}

json workspace::info_locked() const {
    const std::string admin_origin = origin(options_.address, options_.port);
    json principals = json::object();
    for (const auto& p : principals_) {
        json permissions = json::object();
        for (const auto& [name, actions] : p.actions) permissions[name] = actions;
        principals[p.name] = json{{"client_id", p.client_id}, {"client_secret", p.client_secret}, {"permissions", permissions}};
    }
    json endpoints = json::object();
    json resolve = json::object();
    json curl_resolve = json::array();
    auto add_host = [&](const std::string& host) {
        if (resolve.contains(host)) return;
        resolve[host] = options_.address + ":" + std::to_string(options_.port);
        curl_resolve.push_back(host + ":" + std::to_string(options_.port) + ":" + options_.address);
    };
    add_host(options_.workspace_host);
    for (const auto& e : endpoints_) {
        endpoints[e.name] = endpoint_summary(e);
        if (e.route_optimized) {
            add_host(endpoints[e.name]["host"].get<std::string>());
            add_host(endpoints[e.name]["next_host"].get<std::string>());
        }
    }
    const auto& main = principals_.front();
    return json{{"emulator", "dbserve-emulator"},
                {"format", 1},
                {"address", options_.address},
                {"port", options_.port},
                {"workspace_host", options_.workspace_host},
                {"workspace_url", workspace_url()},
                {"workspace_id", options_.workspace_id},
                {"token_url", workspace_url() + "/oidc/v1/token"},
                {"admin_url", admin_origin + "/admin"},
                {"token_lifetime_seconds", options_.token_lifetime_seconds},
                {"service_principal", json{{"client_id", main.client_id}, {"client_secret", main.client_secret}}},
                {"principals", principals},
                {"personal_access_token", pat_},
                {"endpoints", endpoints},
                {"resolve", resolve},
                {"curl_resolve", curl_resolve}};
}

json workspace::info() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return info_locked();
}

json workspace::counters() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counters_;
}

http_reply workspace::admin(const http_request& request) {
    std::string path = request.target.substr(0, request.target.find('?'));
    std::vector<std::string> segments;
    split_path(path, segments);
    const bool get = request.method == "GET";
    const bool post = request.method == "POST";
    json body;
    if (post) {
        if (request.body.empty()) {
            body = json::object();
        } else {
            body = json::parse(request.body, nullptr, false);
            if (body.is_discarded())
                return service_error(400, "INVALID_PARAMETER_VALUE", "The admin request body is not valid JSON.");
        }
    }
    try {
        if (segments.size() == 2 && segments[1] == "counters" && get) return json_reply(200, counters_);
        if (segments.size() == 2 && segments[1] == "info" && get) return json_reply(200, info_locked());
        if (segments.size() == 2 && segments[1] == "reset" && post) {
            reset_locked();
            return json_reply(200, json{{"reset", true}});
        }
        if (segments.size() == 2 && segments[1] == "faults") {
            if (get || post || request.method == "DELETE") {
                if (post) {
                    json added = json::array();
                    const json specs = body.is_array() ? body : json::array({body});
                    std::vector<fault_spec> parsed;
                    for (const auto& spec : specs) parsed.push_back(parse_fault(spec));
                    for (auto& f : parsed) {
                        f.id = next_fault_id_++;
                        faults_.push_back(f);
                        added.push_back(fault_json(f));
                    }
                    return json_reply(200, json{{"added", added}});
                }
                if (request.method == "DELETE") faults_.clear();
                json list = json::array();
                for (const auto& f : faults_) list.push_back(fault_json(f));
                return json_reply(200, json{{"faults", list}});
            }
        }
        if (segments.size() == 3 && segments[1] == "faults" && segments[2] == "clear" && post) {
            faults_.clear();
            return json_reply(200, json{{"faults", json::array()}});
        }
        if (segments.size() == 3 && segments[1] == "endpoints" && (get || post)) {
            endpoint* e = find_endpoint(segments[2]);
            if (!e) return service_error(404, "RESOURCE_DOES_NOT_EXIST", "No endpoint named '" + segments[2] + "'.");
            if (post) {
                if (!body.is_object()) throw std::invalid_argument("the body must be a JSON object");
                for (const auto& item : body.items())
                    if (!item.value().is_boolean()) throw std::invalid_argument("'" + item.key() + "' must be a boolean");
                for (const auto& item : body.items()) {
                    const bool flag = item.value().get<bool>();
                    if (item.key() == "ready")
                        e->ready = flag;
                    else if (item.key() == "legacy_invocations" || item.key() == "created_before_2025_09_22")
                        e->legacy_invocations = flag;
                    else if (item.key() == "route_optimized")
                        e->route_optimized = flag;
                    else if (item.key() == "recreate") {
                        if (flag) {
                            ++e->generation;
                            e->id = endpoint_id_for(e->name, e->generation);
                        }
                    } else
                        throw std::invalid_argument("unknown endpoint setting '" + item.key() + "'");
                }
            }
            return json_reply(200, endpoint_summary(*e));
        }
        if (segments.size() == 2 && segments[1] == "config" && (get || post)) {
            if (post) {
                if (!body.is_object()) throw std::invalid_argument("the body must be a JSON object");
                for (const auto& item : body.items()) {
                    const auto& v = item.value();
                    if (item.key() == "token_type") {
                        if (!v.is_string() || v.get<std::string>().empty()) throw std::invalid_argument("'token_type' must be a string");
                        continue;
                    }
                    if (!v.is_number_integer()) throw std::invalid_argument("'" + item.key() + "' must be an integer");
                    if (item.key() == "token_lifetime_seconds" && v.get<std::int64_t>() < 1)
                        throw std::invalid_argument("'token_lifetime_seconds' must be >= 1");
                    if (item.key() == "reject_expiring_within_seconds" && v.get<std::int64_t>() < 0)
                        throw std::invalid_argument("'reject_expiring_within_seconds' must be >= 0");
                    if (item.key() != "token_lifetime_seconds" && item.key() != "reject_expiring_within_seconds" &&
                        item.key() != "clock_offset_seconds" && item.key() != "advance_clock_seconds")
                        throw std::invalid_argument("unknown config setting '" + item.key() + "'");
                }
                for (const auto& item : body.items()) {
                    const auto& v = item.value();
                    if (item.key() == "token_type") options_.token_type = v.get<std::string>();
                    if (item.key() == "token_lifetime_seconds") options_.token_lifetime_seconds = v.get<int>();
                    if (item.key() == "reject_expiring_within_seconds") options_.reject_expiring_within_seconds = v.get<int>();
                    if (item.key() == "clock_offset_seconds") clock_offset_seconds_ = v.get<std::int64_t>();
                    if (item.key() == "advance_clock_seconds") clock_offset_seconds_ += v.get<std::int64_t>();
                }
            }
            return json_reply(200, json{{"token_lifetime_seconds", options_.token_lifetime_seconds},
                                        {"token_type", options_.token_type},
                                        {"reject_expiring_within_seconds", options_.reject_expiring_within_seconds},
                                        {"clock_offset_seconds", clock_offset_seconds_}});
        }
        if (segments.size() == 3 && segments[1] == "tokens" && segments[2] == "revoke" && post) {
            const auto revoked = tokens_.size();
            tokens_.clear();
            return json_reply(200, json{{"revoked", revoked}});
        }
    } catch (const std::invalid_argument& e) {
        return service_error(400, "INVALID_PARAMETER_VALUE", e.what());
    }
    return service_error(404, "ENDPOINT_NOT_FOUND", "No admin API for '" + request.method + " " + path + "'.");
}

}  // namespace emulator
