// Request bodies for LLM endpoints (foundation-model, external-model and agent endpoints):
// chat (`messages`), completions (`prompt`) and embeddings (`input`). They are OpenAI-like
// and the service refuses unknown top-level fields, so each request is a struct with exactly
// the fields the service knows, checked before sending: temperature in [0, 2], top_p in
// (0, 1], n in [1, 5], max_tokens and top_k positive, messages and prompts non-empty.
//
//   dbserve::chat_request chat;
//   chat.messages = {{"system", "Answer briefly."}, {"user", "What is a route optimized endpoint?"}};
//   chat.max_tokens = 200;
//   chat.stream = true;
//   auto body = chat.to_body();   // result<std::string>, at most llm_body_limit (4 MB)
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/payload/body_limits.hpp>
#include <dbserve/payload/json_writer.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

struct chat_message {
    std::string role;     // "system", "user", "assistant" or "tool"
    std::string content;
};

// Sampling and output options shared by chat and completions.
struct generation_options {
    std::optional<std::int64_t> max_tokens;    // > 0
    std::optional<double> temperature;         // [0, 2]
    std::optional<double> top_p;               // (0, 1]
    std::optional<std::int64_t> top_k;         // > 0
    std::optional<int> n;                      // [1, 5]: number of choices
    std::vector<std::string> stop;             // stop sequences
    bool stream = false;                       // answer as Server-Sent Events
    std::map<std::string, std::string> extra_params;  // passed to the model as is
};

namespace detail {
inline result<void> check_generation(const generation_options& o) {
    auto bad = [](std::string message) -> result<void> {
        return unexpected(errc::invalid_argument, std::move(message));
    };
    if (o.max_tokens && *o.max_tokens <= 0)
        return bad("max_tokens is " + std::to_string(*o.max_tokens) + "; it must be a positive integer");
    if (o.temperature && !(*o.temperature >= 0.0 && *o.temperature <= 2.0))
        return bad("temperature is " + std::to_string(*o.temperature) + "; it must be between 0 and 2");
    if (o.top_p && !(*o.top_p > 0.0 && *o.top_p <= 1.0))
        return bad("top_p is " + std::to_string(*o.top_p) + "; it must be in (0, 1]");
    if (o.top_k && *o.top_k <= 0)
        return bad("top_k is " + std::to_string(*o.top_k) + "; it must be a positive integer");
    if (o.n && (*o.n < 1 || *o.n > 5))
        return bad("n is " + std::to_string(*o.n) + "; it must be between 1 and 5");
    for (std::size_t i = 0; i < o.stop.size(); ++i)
        if (o.stop[i].empty()) return bad("stop[" + std::to_string(i) + "] is an empty string");
    return {};
}

inline void put_generation(nlohmann::json& body, const generation_options& o) {
    if (o.max_tokens) body["max_tokens"] = *o.max_tokens;
    if (o.temperature) body["temperature"] = *o.temperature;
    if (o.top_p) body["top_p"] = *o.top_p;
    if (o.top_k) body["top_k"] = *o.top_k;
    if (o.n) body["n"] = *o.n;
    if (!o.stop.empty()) body["stop"] = o.stop;
    if (o.stream) body["stream"] = true;
    if (!o.extra_params.empty()) body["extra_params"] = o.extra_params;
}

// Encodes with the library's writer: invalid UTF-8 is refused (or replaced) instead of
// aborting inside nlohmann's dump() when exceptions are off. Appends to `out` and checks the
// size; on error `out` is left as it was.
inline result<void> append_encoded_body(const nlohmann::json& body, std::string& out, std::size_t limit,
                                        invalid_utf8_policy utf8) {
    const std::size_t start = out.size();
    {
        json_writer w(out);
        json_write_failure failure;
        write_options options;
        options.invalid_utf8 = utf8;
        if (!write_json_value(w, body, options, std::string(), failure)) {
            w.finish();
            out.resize(start);
            return unexpected(errc::invalid_argument, failure.path + " " + failure.reason);
        }
    }
    auto size_ok = check_body_size(out.size() - start, limit);
    if (!size_ok) out.resize(start);
    return size_ok;
}

// The body functions every LLM request shares, written once: each request supplies to_json()
// and invalid_utf8, and to_body() is append_body_to() on a fresh string.
template <class Request>
struct llm_body_encoding {
    // The body as a string, at most `limit` bytes.
    result<std::string> to_body(std::size_t limit = llm_body_limit) const {
        std::string out;
        auto ok = append_body_to(out, limit);
        if (!ok) return std::move(ok).error();
        return out;
    }
    // Appends the body to `out` (e.g. a reused buffer); `out` is unchanged on error.
    result<void> append_body_to(std::string& out, std::size_t limit = llm_body_limit) const {
        const auto& request = static_cast<const Request&>(*this);
        auto body = request.to_json();
        if (!body) return std::move(body).error();
        return append_encoded_body(*body, out, limit, request.invalid_utf8);
    }
};
}  // namespace detail

struct chat_request : generation_options, detail::llm_body_encoding<chat_request> {
    std::vector<chat_message> messages;
    invalid_utf8_policy invalid_utf8 = invalid_utf8_policy::error;

    result<nlohmann::json> to_json() const {
        if (messages.empty())
            return unexpected(errc::invalid_argument, "messages is empty; a chat request needs at least one message");
        for (std::size_t i = 0; i < messages.size(); ++i) {
            const auto& role = messages[i].role;
            if (role != "system" && role != "user" && role != "assistant" && role != "tool")
                return unexpected(errc::invalid_argument,
                                  "messages[" + std::to_string(i) + "].role is \"" + role +
                                      "\"; use system, user, assistant or tool");
        }
        auto ok = detail::check_generation(*this);
        if (!ok) return std::move(ok).error();
        nlohmann::json body = nlohmann::json::object();
        auto& list = body["messages"] = nlohmann::json::array();
        for (const auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
        detail::put_generation(body, *this);
        return body;
    }
};

struct completions_request : generation_options, detail::llm_body_encoding<completions_request> {
    std::vector<std::string> prompt;  // one prompt, or several for a batch
    invalid_utf8_policy invalid_utf8 = invalid_utf8_policy::error;

    result<nlohmann::json> to_json() const {
        if (prompt.empty())
            return unexpected(errc::invalid_argument, "prompt is empty; a completions request needs a prompt");
        auto ok = detail::check_generation(*this);
        if (!ok) return std::move(ok).error();
        nlohmann::json body = nlohmann::json::object();
        if (prompt.size() == 1) body["prompt"] = prompt.front();
        else body["prompt"] = prompt;
        detail::put_generation(body, *this);
        return body;
    }
};

struct embeddings_request : detail::llm_body_encoding<embeddings_request> {
    std::vector<std::string> input;  // one text, or several for a batch
    std::map<std::string, std::string> extra_params;
    invalid_utf8_policy invalid_utf8 = invalid_utf8_policy::error;

    result<nlohmann::json> to_json() const {
        if (input.empty())
            return unexpected(errc::invalid_argument, "input is empty; an embeddings request needs a text");
        nlohmann::json body = nlohmann::json::object();
        if (input.size() == 1) body["input"] = input.front();
        else body["input"] = input;
        if (!extra_params.empty()) body["extra_params"] = extra_params;
        return body;
    }
};

DBSERVE_END_NAMESPACE
