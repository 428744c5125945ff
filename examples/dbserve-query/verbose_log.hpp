// -v: every request and response line on stderr, secrets redacted, plus the token events
// (which way to a token is used, each token fetched and its lifetime). Whatever a server
// sent is shown with every credential the tool knows scrubbed and control characters
// escaped, so an answer can neither quote a secret nor drive the terminal. Thread safe:
// load mode's workers share one log.
#pragma once

#include "credential_scrubber.hpp"
#include "redaction.hpp"
#include "terminal_text.hpp"

#include <dbserve/client/events.hpp>
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

    // "* event ..." lines: what a query did, from the client's events (no secret in any).
    void event(const dbserve::query_event& e) {
        auto ms = [](std::chrono::nanoseconds d) {
            char text[32];
            std::snprintf(text, sizeof text, "%.1f ms", std::chrono::duration<double, std::milli>(d).count());
            return std::string(text);
        };
        std::string text = "event " + std::string(dbserve::to_string(e.kind));
        switch (e.kind) {
            case dbserve::event_kind::token_fetched:
                text += ": " + std::string(dbserve::to_string(e.path)) + " token for '" + std::string(e.endpoint) +
                        "', expires in " +
                        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(e.lifetime).count()) +
                        " s, took " + ms(e.latency);
                break;
            case dbserve::event_kind::token_refresh_failed:
                text += std::string(e.old_token_served ? " (the cached token is still used)" : "") + ": " +
                        (e.failure ? e.failure->to_string() : std::string());
                break;
            case dbserve::event_kind::discovered:
                text += ": '" + std::string(e.endpoint) + "' (" + std::string(e.reason) + "), took " + ms(e.latency);
                break;
            case dbserve::event_kind::retry_scheduled:
                text += ": attempt " + std::to_string(e.attempt) + " failed (" +
                        (e.failure ? e.failure->to_string() : std::string()) + "), next in " + ms(e.wait);
                break;
            case dbserve::event_kind::query_finished:
                text += ": " + (e.failure ? e.failure->to_string() : "HTTP " + std::to_string(e.status)) + ", " +
                        std::to_string(e.attempts) + " attempt(s), " + ms(e.latency) + ", sent " +
                        std::to_string(e.request_bytes) + " bytes, received " + std::to_string(e.response_bytes) +
                        " bytes";
                if (!e.served_model.empty()) text += ", served model " + std::string(e.served_model);
                break;
            case dbserve::event_kind::stream_first_byte:
            case dbserve::event_kind::stream_first_token:
                text += ": " + ms(e.latency) + " after the query began";
                break;
            case dbserve::event_kind::stream_chunk:
                text += " " + std::to_string(e.chunks) + ": " + ms(e.since_previous) + " after the previous";
                break;
            case dbserve::event_kind::stream_end:
                text += ": " + std::to_string(e.chunks) + " chunks";
                if (!e.finish_reason.empty()) text += ", finish_reason " + std::string(e.finish_reason);
                if (e.usage)
                    text += ", usage " + std::to_string(e.usage->prompt_tokens) + "+" +
                            std::to_string(e.usage->completion_tokens) + " tokens";
                break;
        }
        if (!e.trace_id.empty()) text += " [trace " + std::string(e.trace_id) + "]";
        note(text);
    }

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
