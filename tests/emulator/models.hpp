// The deterministic models behind the emulator's endpoints, and the request validation the
// service applies before a model sees a body (MLflow's scoring server for custom models and
// feature serving, the strict OpenAI-like schema for LLM endpoints). Pure functions: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace emulator {

using json = nlohmann::ordered_json;

enum class model_kind { custom, chat, completions, embeddings, feature };

std::string_view to_string(model_kind kind) noexcept;

// What a model answered. Either a whole body, or (streaming) a list of Server-Sent Events
// already framed ("data: ...\n\n"), one per chunk on the wire, the last being data: [DONE].
struct model_reply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::string> events;
    bool streaming = false;
};

// The service's error body: {"error_code": code, "message": message}.
std::string error_body(std::string_view code, std::string_view message);
model_reply error_reply(int status, std::string_view code, std::string_view message);

struct model_call {
    model_kind kind = model_kind::custom;
    std::string_view content_type;  // the request's Content-Type header, as sent
    std::string_view body;
    std::string_view model_name;    // reported in LLM responses
    std::int64_t created = 0;       // seconds since the epoch, for LLM responses
    std::uint64_t sequence = 0;     // makes LLM response ids unique and deterministic
};

// Validates the request the way the service does and answers deterministically:
// custom models predict the sum of each row ({"predictions": [...]}, scaled by
// params.scale when given; a row holding null predicts NaN, written as a bare NaN token),
// feature serving answers {"outputs": [record + {"total": sum}]}, chat echoes the last user
// message, completions echo the prompt, embeddings are [characters, words, 1.0].
model_reply run_model(const model_call& call);

// The MLflow scoring server's content-type rule: application/json (or text/csv when
// allowed), charset utf-8 only; anything else is a 415.
bool content_type_acceptable(std::string_view content_type, bool allow_csv, std::string& reason);

}  // namespace emulator
