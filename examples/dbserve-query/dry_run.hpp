// --dry-run: the client runs as usual, but on a transport that sends nothing. Token and
// discovery requests are answered locally with placeholders (so no token is fetched and no
// secret leaves the process); the invocation request is recorded and printed (method, URL,
// headers with Authorization redacted, body) instead of being sent.
#pragma once

#include "cli_transport.hpp"
#include "redaction.hpp"

#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dbserve_query {

class dry_run_recorder {
public:
    // The host put into the placeholder discovery answer; printed as what it stands for.
    static constexpr const char* discovered_host = "https://endpoint-url-from-discovery.invalid";
    static constexpr const char* discovered_host_name = "endpoint-url-from-discovery.invalid";

    // --token-url, so its requests are recognised as token requests.
    void set_token_url(std::string url) { state_->token_url = std::move(url); }

    send_function send_function_for() {
        auto self = state_;
        return [self](const dbserve::http_request& request, const dbserve::send_options&) {
            return answer(*self, request);
        };
    }

    // Prints what was recorded: the steps before the query as "# " lines, then the query.
    void print(std::FILE* out) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        for (const auto& line : state_->notes) std::fprintf(out, "# %s\n", line.c_str());
        if (!state_->query) return;
        const auto& r = *state_->query;
        std::string text = std::string(dbserve::to_string(r.method)) + " " + placeholder(r.url) + "\n";
        for (const auto& h : r.headers) {
            std::string value = redact_header_value(h.name, h.value);
            if (state_->discovered && dbserve::detail::iequals(h.name, "X-Databricks-Workspace-Id") && value == "0")
                value = "<workspace id from discovery>";
            text += h.name + ": " + value + "\n";
        }
        text += "\n";
        std::fwrite(text.data(), 1, text.size(), out);
        std::fwrite(r.body.data(), 1, r.body.size(), out);  // not copied: a CSV body may be large
        std::fputc('\n', out);
    }

    bool captured() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->query.has_value();
    }

private:
    struct state {
        std::mutex mutex;
        std::vector<std::string> notes;
        std::optional<dbserve::http_request> query;
        bool discovered = false;
        std::string token_url;
    };

    std::string placeholder(const std::string& url) const {
        const std::string prefix = std::string(discovered_host) + "/0/";
        if (url.compare(0, prefix.size(), prefix) == 0)
            return "<route optimized host from discovery>/<workspace id>/" + url.substr(prefix.size());
        return url;
    }

    static dbserve::result<dbserve::http_response> answer(state& s, const dbserve::http_request& request) {
        std::lock_guard<std::mutex> lock(s.mutex);
        dbserve::http_response response;
        response.status = 200;
        response.headers.add_unchecked("Content-Type", "application/json");
        if (is_token_request(request) || (!s.token_url.empty() && request.url == s.token_url)) {
            s.notes.push_back("a token would be fetched (not done in a dry run): POST " + request.url + " " +
                              form_decode_for_display(redact_form_body(request.body)));
            response.body = R"({"access_token":"dry-run-placeholder","token_type":"Bearer","expires_in":3600})";
            return response;
        }
        if (request.method == dbserve::http_method::get) {
            s.notes.push_back("the endpoint would be looked up (not done in a dry run): GET " + request.url);
            const auto slash = request.url.rfind('/');
            const std::string name = request.url.substr(slash + 1);
            const nlohmann::json details = nlohmann::json::array(
                {{{"type", "workspace_permission"},
                  {"object_type", "serving-endpoints"},
                  {"object_path", "/serving-endpoints/<endpoint id from discovery>"},
                  {"actions", {"<as discovery returns them>"}}}});
            nlohmann::json doc = {
                {"name", name},
                {"route_optimized", true},
                {"state", {{"ready", "READY"}}},
                {"data_plane_info",
                 {{"query_info",
                   {{"endpoint_url", std::string(discovered_host) + "/0/serving-endpoints/" + name + "/invocations"},
                    {"authorization_details", details.dump()}}}}}};
            s.discovered = true;
            response.body = doc.dump();
            return response;
        }
        if (!s.query) s.query = request;
        return dbserve::unexpected(dbserve::errc::cancelled, "dry run: the request was not sent");
    }

    std::shared_ptr<state> state_ = std::make_shared<state>();
};

}  // namespace dbserve_query
