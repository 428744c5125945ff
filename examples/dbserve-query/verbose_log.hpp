// -v: every request and response line on stderr, secrets redacted, plus the token events
// (which way to a token is used, each token fetched and its lifetime). Whatever a server
// sent is shown with every credential the tool knows scrubbed and control characters
// escaped, so an answer can neither quote a secret nor drive the terminal. Thread safe:
// load mode's workers share one log.
#pragma once

#include "credential_scrubber.hpp"
#include "redaction.hpp"
#include "terminal_text.hpp"

#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace dbserve_query {

class verbose_log {
public:
    explicit verbose_log(std::shared_ptr<const credential_scrubber> scrubber, std::FILE* out = stderr)
        : scrubber_(std::move(scrubber)), out_(out) {}

    // "* ..." lines: what the tool decided (token path, credentials in use).
    void note(const std::string& text) { write("* " + shown(text) + "\n"); }

    void request(const dbserve::http_request& r, bool token_request) {
        std::string text = "> " + std::string(dbserve::to_string(r.method)) + " " + shown(r.url) + "\n";
        for (const auto& h : r.headers)
            text += "> " + shown(h.name) + ": " + shown(redact_header_value(h.name, h.value)) + "\n";
        if (!r.body.empty()) {
            if (token_request) text += "> " + shown(redact_form_body(r.body)) + "\n";
            else text += "> (body: " + std::to_string(r.body.size()) + " bytes)\n";
        }
        write(text);
    }

    void response(const dbserve::http_request& r, bool token_request,
                  const dbserve::result<dbserve::http_response>& response, std::chrono::steady_clock::duration took) {
        const double ms = std::chrono::duration<double, std::milli>(took).count();
        char timing[48];
        std::snprintf(timing, sizeof timing, " (%.1f ms)", ms);
        if (!response) {
            write("! " + std::string(dbserve::to_string(r.method)) + " " + shown(r.url) + " failed" + timing + ": " +
                  shown(response.error().to_string()) + "\n");
            return;
        }
        const auto& resp = *response;
        std::string text = "< HTTP " + std::to_string(resp.status);
        if (!resp.reason.empty()) text += " " + shown(resp.reason);
        text += timing;
        text += "\n";
        for (const auto& h : resp.headers)
            text += "< " + shown(h.name) + ": " + shown(redact_header_value(h.name, h.value)) + "\n";
        const bool ok = resp.status >= 200 && resp.status <= 299;
        if (token_request && !resp.body.empty()) text += "< " + shown(redact_json_body(resp.body, !ok)) + "\n";
        else if (!ok && !resp.body.empty()) text += "< " + shown(redact_json_body(resp.body, true)) + "\n";
        if (token_request && ok) text += "* " + shown(describe_token(r, resp)) + "\n";
        write(text);
    }

private:
    // "fetched a data-plane token (client credentials with authorization_details), expires in 3600 s"
    static std::string describe_token(const dbserve::http_request& r, const dbserve::http_response& resp) {
        const std::string_view body = r.body;
        std::string kind;
        if (body.find("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") != std::string_view::npos ||
            body.find("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer") != std::string_view::npos)
            kind = "a data-plane token (token exchange of the control-plane token)";
        else if (body.find("authorization_details=") != std::string_view::npos)
            kind = "a data-plane token (client credentials with authorization_details)";
        else
            kind = "a control-plane token (client credentials, for endpoint discovery)";
        std::string text = "fetched " + kind;
        auto doc = dbserve::detail::parse_bounded_json(resp.body);
        if (!doc.is_discarded() && doc.is_object()) {
            auto it = doc.find("expires_in");
            if (it != doc.end() && (it->is_number() || it->is_string()))
                text += ", expires in " + (it->is_string() ? it->get<std::string>() : it->dump()) + " s";
        }
        return text;
    }

    // One piece of a line as it may be shown: no credential, no control character.
    std::string shown(std::string text) const {
        if (scrubber_) text = scrubber_->scrub(std::move(text));
        return escape_for_terminal(text);
    }

    void write(const std::string& text) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::fputs(text.c_str(), out_);
        std::fflush(out_);
    }

    std::shared_ptr<const credential_scrubber> scrubber_;
    std::FILE* out_;
    std::mutex mutex_;
};

}  // namespace dbserve_query
