// A Transport that wraps another and prints one line per HTTP request: the method, the
// URL, what a token request asks for, and the status. It shows the flow the client runs
// (discovery, the token requests, the invocation) without touching the library: a
// Transport policy is any type with this send().
//
// It never prints a header (the Authorization header holds the client secret or the
// token) and never a request body as a whole (a token exchange carries a token in it):
// only the grant type and authorization_details, which are not secret.
#pragma once

#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace examples {

namespace detail {
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The decoded value of one field of an application/x-www-form-urlencoded body.
inline std::string form_field(std::string_view body, std::string_view name) {
    while (!body.empty()) {
        const auto end = body.find('&');
        const std::string_view pair = body.substr(0, end);
        if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
            std::string out;
            const std::string_view value = pair.substr(name.size() + 1);
            for (std::size_t i = 0; i < value.size(); ++i) {
                if (value[i] == '+') {
                    out += ' ';
                } else if (value[i] == '%' && i + 2 < value.size() && hex_value(value[i + 1]) >= 0 &&
                           hex_value(value[i + 2]) >= 0) {
                    out += static_cast<char>(hex_value(value[i + 1]) * 16 + hex_value(value[i + 2]));
                    i += 2;
                } else {
                    out += value[i];
                }
            }
            return out;
        }
        if (end == std::string_view::npos) break;
        body.remove_prefix(end + 1);
    }
    return {};
}
}  // namespace detail

template <class Transport>
class traced_transport {
public:
    explicit traced_transport(Transport inner) : inner_(std::move(inner)) {}

    dbserve::result<dbserve::http_response> send(const dbserve::http_request& request,
                                                 const dbserve::send_options& options) {
        auto response = inner_.send(request, options);
        const std::string what = describe(request);
        if (what.rfind("query", 0) == 0) query_url_ = request.url;
        std::string outcome;
        if (response) outcome = "HTTP " + std::to_string(response->status);
        else outcome = std::string(dbserve::to_string(response.error().code));
        std::printf("  %-4s %s -> %s\n       %s\n", std::string(dbserve::to_string(request.method)).c_str(),
                    request.url.c_str(), outcome.c_str(), what.c_str());
        std::fflush(stdout);
        return response;
    }

    // The URL the last query went to: the route optimized invocations URL.
    const std::string& query_url() const noexcept { return query_url_; }

private:
    static std::string describe(const dbserve::http_request& request) {
        const std::string_view url = request.url;
        const std::string_view token_path = "/oidc/v1/token";
        if (url.size() >= token_path.size() && url.substr(url.size() - token_path.size()) == token_path) {
            std::string grant = detail::form_field(request.body, "grant_type");
            if (grant == "urn:ietf:params:oauth:grant-type:jwt-bearer") grant = "token exchange (jwt-bearer)";
            const std::string details = detail::form_field(request.body, "authorization_details");
            if (details.empty()) return "workspace token: " + grant + ", scope all-apis (for discovery)";
            return "endpoint token: " + grant + " with authorization_details " + details;
        }
        if (url.find("/api/2.0/serving-endpoints/") != std::string_view::npos)
            return "discovery: the endpoint's route optimized URL and authorization_details";
        return "query: " + std::to_string(request.body.size()) + " bytes of JSON";
    }

    Transport inner_;
    std::string query_url_;
};

}  // namespace examples
