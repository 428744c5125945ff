// What the workspace's route files share (internal to the emulator core): text helpers,
// reply builders and the fixed strings of the protocol. Each route file keeps what only it
// uses in its own unnamed namespace.
#pragma once

#include "workspace.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace emulator::detail {

inline constexpr const char* query_action = "query_inference_endpoint";
inline constexpr const char* manage_action = "manage_inference_endpoint";
inline constexpr const char* jwt_bearer_grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr const char* token_exchange_grant = "urn:ietf:params:oauth:grant-type:token-exchange";
inline constexpr const char* jwt_token_type = "urn:ietf:params:oauth:token-type:jwt";
inline constexpr const char* no_credential = "Credential was not sent or was of an unsupported type for this API.";

inline std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

inline bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

inline bool starts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && text.substr(0, prefix.size()) == prefix;
}

inline bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

inline bool percent_decode(std::string_view text, std::string& out) {
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
inline bool split_path(std::string_view path, std::vector<std::string>& segments) {
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

inline std::uint64_t fnv1a(std::string_view text, std::uint64_t seed) {
    std::uint64_t hash = seed;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    return hash;
}

inline std::string hex64(std::uint64_t value) {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
    return buffer;
}

inline http_reply json_reply(int status, const json& body) {
    http_reply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body.dump();
    return r;
}

inline http_reply service_error(int status, std::string_view code, std::string_view message) {
    return json_reply(status, json{{"error_code", std::string(code)}, {"message", std::string(message)}});
}

inline std::string bearer_token(const http_request& request, bool& present) {
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

inline std::string origin(const std::string& host, std::uint16_t port) {
    return "https://" + host + (port == 443 ? "" : ":" + std::to_string(port));
}

// The JSON a fault is listed as (GET /admin/faults); see fault_injection.cpp.
json fault_json(const fault_spec& f);

}  // namespace emulator::detail
