// RFC 9396 authorization_details: what an endpoint-scoped token may do. The encoding is
// byte-for-byte stable (type, then fields in insertion order, then actions), so the
// JSON text can serve as a cache key and as the form value sent to the token endpoint.
// A string discovered from the service (query_info.authorization_details) is passed on
// unchanged, never re-encoded.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

enum class endpoint_action { query_inference_endpoint, manage_inference_endpoint };

constexpr std::string_view to_string(endpoint_action action) noexcept {
    return action == endpoint_action::manage_inference_endpoint ? "manage_inference_endpoint"
                                                                : "query_inference_endpoint";
}

// One element of the array. A field named "type" or "actions" is skipped (those come from
// the members of the same name); a field name given twice keeps its first position and
// its last value.
struct authorization_detail {
    std::string type;
    std::vector<std::pair<std::string, nlohmann::json>> fields;
    std::vector<std::string> actions;  // "actions" is left out when this is empty
};

// An endpoint id is the first label of the endpoint's data plane host name: letters,
// digits, '-' and '_', 1 to 63 characters.
result<void> validate_endpoint_id(std::string_view endpoint_id);

class authorization_details {
public:
    authorization_details() = default;

    // [{"type":"workspace_permission","object_type":"serving-endpoints",
    //   "object_path":"/serving-endpoints/<id>","actions":["query_inference_endpoint"]}]
    // An id that validate_endpoint_id refuses gives empty details: use
    // try_for_serving_endpoint to get the reason.
    static authorization_details for_serving_endpoint(
        std::string_view endpoint_id, endpoint_action action = endpoint_action::query_inference_endpoint);
    static result<authorization_details> try_for_serving_endpoint(
        std::string_view endpoint_id, endpoint_action action = endpoint_action::query_inference_endpoint);

    // The service's own string, kept byte for byte (it is what the token endpoint expects).
    static authorization_details from_discovered(std::string raw_json_array);

    // Appends one detail. After from_discovered the new element is spliced in before the
    // closing ']' so the discovered bytes stay as they were; a discovered value that is a
    // single object is wrapped into an array first, anything else is replaced.
    authorization_details& add(authorization_detail detail);

    const std::string& json() const noexcept { return json_; }
    // True when there is nothing to send: no details, or an empty array.
    bool empty() const noexcept;

    friend bool operator==(const authorization_details& a, const authorization_details& b) noexcept {
        return a.json_ == b.json_;
    }
    friend bool operator!=(const authorization_details& a, const authorization_details& b) noexcept {
        return !(a == b);
    }

private:
    std::string json_;
};

namespace detail {
namespace authz {

// Compact JSON, UTF-8 kept as is; invalid UTF-8 becomes U+FFFD instead of aborting.
inline void append_json(std::string& out, const nlohmann::json& value) {
    out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline void append_json_string(std::string& out, std::string_view text) {
    append_json(out, nlohmann::json(std::string(text)));
}

inline std::string encode(const authorization_detail& d) {
    std::string out = "{\"type\":";
    append_json_string(out, d.type);
    for (std::size_t i = 0; i < d.fields.size(); ++i) {
        const std::string& name = d.fields[i].first;
        if (name == "type" || name == "actions") continue;
        bool seen_before = false;
        for (std::size_t k = 0; k < i && !seen_before; ++k) seen_before = d.fields[k].first == name;
        if (seen_before) continue;
        const nlohmann::json* value = &d.fields[i].second;
        for (std::size_t k = i + 1; k < d.fields.size(); ++k)
            if (d.fields[k].first == name) value = &d.fields[k].second;
        out += ',';
        append_json_string(out, name);
        out += ':';
        append_json(out, *value);
    }
    if (!d.actions.empty()) {
        out += ",\"actions\":[";
        for (std::size_t i = 0; i < d.actions.size(); ++i) {
            if (i != 0) out += ',';
            append_json_string(out, d.actions[i]);
        }
        out += ']';
    }
    out += '}';
    return out;
}

constexpr std::string_view json_whitespace = " \t\r\n";

}  // namespace authz
}  // namespace detail

inline result<void> validate_endpoint_id(std::string_view endpoint_id) {
    if (endpoint_id.empty())
        return unexpected(errc::invalid_argument,
                          "the endpoint id is empty; it is the first label of the endpoint's route optimized "
                          "host name");
    for (std::size_t i = 0; i < endpoint_id.size(); ++i) {
        const char c = endpoint_id[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_';
        if (!ok) {
            std::string what;
            const auto u = static_cast<unsigned char>(c);
            if (u > 0x20 && u < 0x7f) what = std::string("'") + c + "'";
            else {
                static constexpr char digits[] = "0123456789ABCDEF";
                what = "byte 0x";
                what += digits[u >> 4];
                what += digits[u & 15];
            }
            return unexpected(errc::invalid_argument,
                              "the endpoint id has " + what + " at position " + std::to_string(i + 1) +
                                  "; only letters, digits, '-' and '_' are allowed (it is a host name label)");
        }
    }
    if (endpoint_id.size() > 63)
        return unexpected(errc::invalid_argument, "the endpoint id is " + std::to_string(endpoint_id.size()) +
                                                      " characters long; a host name label has at most 63");
    return {};
}

inline result<authorization_details> authorization_details::try_for_serving_endpoint(std::string_view endpoint_id,
                                                                                    endpoint_action action) {
    auto ok = validate_endpoint_id(endpoint_id);
    if (!ok) return std::move(ok).error();
    authorization_detail d;
    d.type = "workspace_permission";
    d.fields.emplace_back("object_type", "serving-endpoints");
    d.fields.emplace_back("object_path", "/serving-endpoints/" + std::string(endpoint_id));
    d.actions.emplace_back(to_string(action));
    authorization_details out;
    out.add(std::move(d));
    return out;
}

inline authorization_details authorization_details::for_serving_endpoint(std::string_view endpoint_id,
                                                                         endpoint_action action) {
    auto made = try_for_serving_endpoint(endpoint_id, action);
    return made ? std::move(*made) : authorization_details();
}

inline authorization_details authorization_details::from_discovered(std::string raw_json_array) {
    authorization_details out;
    out.json_ = std::move(raw_json_array);
    return out;
}

inline authorization_details& authorization_details::add(authorization_detail item) {
    using detail::authz::json_whitespace;
    const std::string element = detail::authz::encode(item);
    const std::size_t last = json_.find_last_not_of(json_whitespace);
    const std::size_t first = json_.find_first_not_of(json_whitespace);
    if (last != std::string::npos && json_[first] == '[' && json_[last] == ']' && last > first) {
        const std::size_t before = json_.find_last_not_of(json_whitespace, last - 1);
        json_.insert(last, before == first ? element : "," + element);
    } else if (last != std::string::npos && json_[first] == '{' && json_[last] == '}') {
        json_ = "[" + json_ + "," + element + "]";
    } else {
        json_ = "[" + element + "]";
    }
    return *this;
}

inline bool authorization_details::empty() const noexcept {
    using detail::authz::json_whitespace;
    const std::size_t first = json_.find_first_not_of(json_whitespace);
    if (first == std::string::npos) return true;
    if (json_[first] != '[') return false;
    const std::size_t next = json_.find_first_not_of(json_whitespace, first + 1);
    return next != std::string::npos && json_[next] == ']' &&
           json_.find_first_not_of(json_whitespace, next + 1) == std::string::npos;
}

DBSERVE_END_NAMESPACE
