#include "models.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

namespace emulator {
namespace {

constexpr std::size_t llm_body_limit = 4u * 1024u * 1024u;

const char* const required_input_format =
    "The input must be a JSON dictionary with exactly one of the input fields "
    "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}";

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string trim(std::string_view text) {
    std::size_t b = 0, e = text.size();
    while (b < e && (text[b] == ' ' || text[b] == '\t')) ++b;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t')) --e;
    return std::string(text.substr(b, e - b));
}

struct bad_input {
    std::string message;
};

// A row's prediction: the sum of its numbers; integral when every input was an integer.
struct row_sum {
    double value = 0;
    bool integral = true;
    bool has_null = false;
};

// Bounded recursion: a body of nested arrays must not overflow the stack.
constexpr int max_nesting = 64;

void add_value(const json& value, row_sum& sum, int depth = 0) {
    if (depth > max_nesting) throw bad_input{"the input is nested too deeply"};
    if (value.is_null()) {
        sum.has_null = true;
    } else if (value.is_number_integer()) {
        sum.value += value.get<double>();
    } else if (value.is_number()) {
        sum.value += value.get<double>();
        sum.integral = false;
    } else if (value.is_array()) {
        for (const auto& item : value) add_value(item, sum, depth + 1);
    } else if (value.is_object()) {
        for (const auto& item : value.items()) add_value(item.value(), sum, depth + 1);
    } else if (value.is_string()) {
        throw bad_input{"could not convert string to float: '" + value.get<std::string>() + "'"};
    } else {
        throw bad_input{"unsupported value in input: " + value.dump()};
    }
}

std::string format_number(double value, bool integral) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
    if (integral && std::fabs(value) < 9e15) {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
        return buffer;
    }
    return json(value).dump();
}

// Rows of a custom-model input, each kept as JSON values in column order.
using rows = std::vector<std::vector<json>>;

rows rows_from_split(const json& split, std::vector<std::string>* columns_out) {
    if (!split.is_object())
        throw bad_input{"dataframe_split must be a JSON object with 'data' and optional 'columns' and 'index'"};
    for (const auto& item : split.items())
        if (item.key() != "columns" && item.key() != "data" && item.key() != "index")
            throw bad_input{"Failed to parse input as a Pandas DataFrame: dataframe_split accepts only "
                            "the keys 'columns', 'data' and 'index'; got unexpected key '" +
                            item.key() + "'"};
    if (!split.contains("data") || !split["data"].is_array())
        throw bad_input{"Failed to parse input as a Pandas DataFrame: dataframe_split needs 'data', an array of rows"};
    rows out;
    std::optional<std::size_t> width;
    for (const auto& row : split["data"]) {
        std::vector<json> values;
        if (row.is_array())
            values.assign(row.begin(), row.end());
        else
            values.push_back(row);
        if (width && *width != values.size())
            throw bad_input{"Failed to parse input as a Pandas DataFrame: rows of dataframe_split.data have different lengths"};
        width = values.size();
        out.push_back(std::move(values));
    }
    if (split.contains("columns")) {
        const auto& columns = split["columns"];
        if (!columns.is_array())
            throw bad_input{"Failed to parse input as a Pandas DataFrame: dataframe_split.columns must be an array"};
        if (width && columns.size() != *width)
            throw bad_input{"Failed to parse input as a Pandas DataFrame: " + std::to_string(columns.size()) +
                            " columns passed, passed data had " + std::to_string(*width) + " columns"};
        if (columns_out)
            for (const auto& c : columns) columns_out->push_back(c.is_string() ? c.get<std::string>() : c.dump());
    }
    if (split.contains("index")) {
        const auto& index = split["index"];
        if (!index.is_array() || index.size() != out.size())
            throw bad_input{"Failed to parse input as a Pandas DataFrame: dataframe_split.index must be an "
                            "array with one entry per row"};
    }
    return out;
}

rows rows_from_records(const json& records) {
    if (!records.is_array())
        throw bad_input{"Failed to parse input as a Pandas DataFrame: dataframe_records must be an array of objects"};
    rows out;
    for (const auto& record : records) {
        if (!record.is_object())
            throw bad_input{"Failed to parse input as a Pandas DataFrame: each dataframe_records entry must be an object"};
        std::vector<json> values;
        for (const auto& item : record.items()) values.push_back(item.value());
        out.push_back(std::move(values));
    }
    return out;
}

rows rows_from_tensor(const json& tensor, std::string_view key) {
    rows out;
    if (tensor.is_array()) {
        for (const auto& item : tensor) out.push_back({item});
        return out;
    }
    if (tensor.is_object() && key == "inputs") {
        // Column form: every column an array of the same length.
        std::optional<std::size_t> length;
        for (const auto& item : tensor.items()) {
            if (!item.value().is_array())
                throw bad_input{"Failed to parse data as TF serving input: column '" + item.key() +
                                "' of 'inputs' must be an array"};
            if (length && *length != item.value().size())
                throw bad_input{"Failed to parse data as TF serving input: the columns of 'inputs' have different lengths"};
            length = item.value().size();
        }
        out.resize(length.value_or(0));
        for (const auto& item : tensor.items())
            for (std::size_t i = 0; i < item.value().size(); ++i) out[i].push_back(item.value()[i]);
        return out;
    }
    throw bad_input{"Failed to parse data as TF serving input: '" + std::string(key) +
                    "' must be a list of instances or, for 'inputs', an object of columns"};
}

rows rows_from_csv(std::string_view body) {
    rows out;
    std::istringstream in{std::string(body)};
    std::string line;
    bool header = true;
    std::size_t width = 0;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::vector<std::string> cells;
        std::size_t start = 0;
        while (true) {
            auto comma = line.find(',', start);
            cells.push_back(trim(std::string_view(line).substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (header) {
            width = cells.size();
            header = false;
            continue;
        }
        if (cells.size() != width)
            throw bad_input{"Failed to parse input as a Pandas DataFrame: a CSV row has " + std::to_string(cells.size()) +
                            " fields, the header has " + std::to_string(width)};
        std::vector<json> values;
        for (const auto& cell : cells) {
            if (cell.empty()) {
                values.push_back(nullptr);
                continue;
            }
            char* end = nullptr;
            double v = std::strtod(cell.c_str(), &end);
            if (end != cell.c_str() + cell.size())
                throw bad_input{"could not convert string to float: '" + cell + "'"};
            if (cell.find_first_of(".eE") == std::string::npos)
                values.push_back(static_cast<std::int64_t>(v));
            else
                values.push_back(v);
        }
        out.push_back(std::move(values));
    }
    return out;
}

std::string predictions_body(const rows& input, std::optional<double> scale) {
    std::string body = "{\"predictions\":[";
    bool first = true;
    for (const auto& row : input) {
        row_sum sum;
        for (const auto& v : row) add_value(v, sum);
        double value = sum.has_null ? std::numeric_limits<double>::quiet_NaN() : sum.value;
        bool integral = sum.integral;
        if (scale) {
            value *= *scale;
            integral = integral && std::floor(*scale) == *scale;
        }
        if (!first) body += ',';
        first = false;
        body += format_number(value, integral);
    }
    body += "]}";
    return body;
}

std::optional<json> parse_json(std::string_view body) {
    json parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
}

model_reply bad_request(std::string_view message) { return error_reply(400, "BAD_REQUEST", message); }

// MLflow's checks on a scoring request; returns the input key and its rows.
model_reply run_custom(const model_call& call, bool feature) {
    std::string reason;
    if (!content_type_acceptable(call.content_type, !feature, reason))
        return error_reply(415, "BAD_REQUEST", reason);
    try {
        if (lower(trim(call.content_type.substr(0, call.content_type.find(';')))) == "text/csv") {
            return model_reply{200, "application/json", predictions_body(rows_from_csv(call.body), std::nullopt), {}, false};
        }
        auto parsed = parse_json(call.body);
        if (!parsed)
            return bad_request("Invalid input. Ensure that input is a valid JSON formatted string.");
        const json& request = *parsed;
        if (!request.is_object())
            return bad_request(std::string(required_input_format) +
                               (request.is_array() ? ". Received a list." : ". Received a value that is not a dictionary."));
        static const std::set<std::string> input_keys{"dataframe_split", "dataframe_records", "instances", "inputs"};
        static const std::set<std::string> extra_keys{"params", "client_request_id", "usage_context"};
        std::vector<std::string> found, unexpected;
        std::string received;
        for (const auto& item : request.items()) {
            if (!received.empty()) received += ", ";
            received += "'" + item.key() + "'";
            if (input_keys.count(item.key()))
                found.push_back(item.key());
            else if (!extra_keys.count(item.key()))
                unexpected.push_back(item.key());
        }
        if (found.size() != 1 || !unexpected.empty())
            return bad_request(std::string(required_input_format) + ". Received dictionary with input fields: [" +
                               received + "]");
        std::optional<double> scale;
        if (request.contains("params")) {
            const auto& params = request["params"];
            if (!params.is_object()) return bad_request("Invalid input. 'params' must be a JSON object.");
            if (params.contains("scale")) {
                if (!params["scale"].is_number())
                    return bad_request("Invalid input. params.scale must be a number.");
                scale = params["scale"].get<double>();
            }
        }
        if (request.contains("client_request_id") && !request["client_request_id"].is_string())
            return bad_request("client_request_id must be a string.");
        if (request.contains("usage_context") && !request["usage_context"].is_object())
            return bad_request("usage_context must be a JSON object.");
        const std::string& key = found.front();
        const json& input = request[key];
        if (feature) {
            rows data;
            std::vector<std::string> columns;
            json records = json::array();
            if (key == "dataframe_records") {
                if (!input.is_array()) throw bad_input{"dataframe_records must be an array of objects"};
                for (const auto& record : input) {
                    if (!record.is_object()) throw bad_input{"each dataframe_records entry must be an object"};
                    records.push_back(record);
                }
            } else if (key == "dataframe_split") {
                data = rows_from_split(input, &columns);
                for (const auto& row : data) {
                    json record = json::object();
                    for (std::size_t i = 0; i < row.size(); ++i)
                        record[i < columns.size() ? columns[i] : std::to_string(i)] = row[i];
                    records.push_back(record);
                }
            } else {
                return bad_request("Feature serving endpoints accept dataframe_records or dataframe_split, not '" + key + "'.");
            }
            json outputs = json::array();
            for (auto record : records) {
                row_sum sum;
                for (const auto& item : record.items())
                    if (item.value().is_number()) add_value(item.value(), sum);
                record["total"] = sum.integral ? json(static_cast<std::int64_t>(sum.value)) : json(sum.value);
                outputs.push_back(record);
            }
            return model_reply{200, "application/json", json{{"outputs", outputs}}.dump(), {}, false};
        }
        rows data;
        if (key == "dataframe_split")
            data = rows_from_split(input, nullptr);
        else if (key == "dataframe_records")
            data = rows_from_records(input);
        else
            data = rows_from_tensor(input, key);
        return model_reply{200, "application/json", predictions_body(data, scale), {}, false};
    } catch (const bad_input& e) {
        return bad_request(e.message);
    }
}

std::vector<std::string> words_of(std::string_view text) {
    std::vector<std::string> words;
    std::string current;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            if (!current.empty()) words.push_back(std::move(current));
            current.clear();
        } else {
            current += c;
        }
    }
    if (!current.empty()) words.push_back(std::move(current));
    return words;
}

std::string join_words(const std::vector<std::string>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) out += (i ? " " : "") + words[i];
    return out;
}

std::string sse_event(const json& data) { return "data: " + data.dump() + "\n\n"; }

// Shared checks of OpenAI-like bodies: the allowed top-level fields and their ranges.
std::optional<model_reply> check_llm_fields(const json& request, const std::set<std::string>& allowed) {
    for (const auto& item : request.items())
        if (!allowed.count(item.key())) return bad_request("json: unknown field \"" + item.key() + "\"");
    if (request.contains("temperature")) {
        const auto& t = request["temperature"];
        if (!t.is_number() || t.get<double>() < 0 || t.get<double>() > 2)
            return bad_request("temperature must be a number between 0 and 2");
    }
    if (request.contains("top_p")) {
        const auto& t = request["top_p"];
        if (!t.is_number() || t.get<double>() <= 0 || t.get<double>() > 1)
            return bad_request("top_p must be a number in (0, 1]");
    }
    if (request.contains("n")) {
        const auto& n = request["n"];
        if (!n.is_number_integer() || n.get<std::int64_t>() < 1 || n.get<std::int64_t>() > 5)
            return bad_request("n must be an integer between 1 and 5");
    }
    if (request.contains("max_tokens")) {
        const auto& m = request["max_tokens"];
        if (!m.is_number_integer() || m.get<std::int64_t>() < 1)
            return bad_request("max_tokens must be a positive integer");
    }
    if (request.contains("stream") && !request["stream"].is_boolean())
        return bad_request("stream must be a boolean");
    if (request.contains("stop")) {
        const auto& s = request["stop"];
        bool ok = s.is_string() || s.is_null();
        if (s.is_array()) {
            ok = s.size() <= 4;
            for (const auto& item : s) ok = ok && item.is_string();
        }
        if (!ok) return bad_request("stop must be a string or an array of at most 4 strings");
    }
    if (request.contains("extra_params") && !request["extra_params"].is_object())
        return bad_request("extra_params must be an object");
    return std::nullopt;
}

model_reply run_generation(const model_call& call, bool chat) {
    auto parsed = parse_json(call.body);
    if (!parsed) return bad_request("Invalid JSON in request body");
    const json& request = *parsed;
    if (!request.is_object()) return bad_request("The request body must be a JSON object");
    static const std::set<std::string> chat_fields{
        "messages", "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "stream",
        "extra_params", "tools", "tool_choice", "response_format", "logprobs", "top_logprobs"};
    static const std::set<std::string> completion_fields{
        "prompt", "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "stream",
        "extra_params", "error_behaviour", "use_raw_prompt"};
    if (auto refusal = check_llm_fields(request, chat ? chat_fields : completion_fields)) return *refusal;

    std::vector<std::string> inputs;  // one generation per input (completions may batch prompts)
    std::size_t prompt_tokens = 0;
    if (chat) {
        if (!request.contains("messages") || !request["messages"].is_array() || request["messages"].empty())
            return bad_request("messages must be a non-empty array of {role, content} objects");
        std::string last_user;
        static const std::set<std::string> roles{"system", "user", "assistant", "tool"};
        for (const auto& message : request["messages"]) {
            if (!message.is_object() || !message.contains("role") || !message["role"].is_string() ||
                !roles.count(message["role"].get<std::string>()))
                return bad_request("each message needs a role: system, user, assistant or tool");
            std::string content;
            if (message.contains("content") && message["content"].is_string()) {
                content = message["content"].get<std::string>();
            } else if (message.contains("content") && message["content"].is_array()) {
                for (const auto& part : message["content"])
                    if (part.is_object() && part.contains("type") && part["type"] == "text" && part.contains("text") &&
                        part["text"].is_string())
                        content += part["text"].get<std::string>();
            } else {
                return bad_request("each message needs content: a string or an array of content parts");
            }
            prompt_tokens += words_of(content).size();
            if (message["role"] == "user") last_user = content;
        }
        inputs.push_back("Echo: " + last_user);
    } else {
        if (!request.contains("prompt")) return bad_request("prompt is required");
        const auto& prompt = request["prompt"];
        if (prompt.is_string()) {
            inputs.push_back("Completion of: " + prompt.get<std::string>());
            prompt_tokens += words_of(prompt.get<std::string>()).size();
        } else if (prompt.is_array() && !prompt.empty()) {
            for (const auto& p : prompt) {
                if (!p.is_string()) return bad_request("prompt must be a string or an array of strings");
                inputs.push_back("Completion of: " + p.get<std::string>());
                prompt_tokens += words_of(p.get<std::string>()).size();
            }
        } else {
            return bad_request("prompt must be a string or an array of strings");
        }
    }
    const auto n = static_cast<std::size_t>(request.value("n", 1));
    const auto max_tokens = request.contains("max_tokens") ? request["max_tokens"].get<std::size_t>()
                                                           : std::numeric_limits<std::size_t>::max();
    const bool stream = request.value("stream", false);
    const std::string id = std::string(chat ? "chatcmpl-emu-" : "cmpl-emu-") + std::to_string(call.sequence);
    const std::string model(call.model_name);

    struct generation {
        std::vector<std::string> words;
        std::string finish_reason;
    };
    std::vector<generation> generations;
    std::size_t completion_tokens = 0;
    for (const auto& input : inputs)
        for (std::size_t i = 0; i < n; ++i) {
            auto words = words_of(input);
            std::string finish = "stop";
            if (words.size() > max_tokens) {
                words.resize(max_tokens);
                finish = "length";
            }
            completion_tokens += words.size();
            generations.push_back({std::move(words), finish});
        }
    json usage{{"prompt_tokens", prompt_tokens},
               {"completion_tokens", completion_tokens},
               {"total_tokens", prompt_tokens + completion_tokens}};

    if (!stream) {
        json choices = json::array();
        for (std::size_t i = 0; i < generations.size(); ++i) {
            json choice{{"index", i}};
            if (chat)
                choice["message"] = json{{"role", "assistant"}, {"content", join_words(generations[i].words)}};
            else
                choice["text"] = join_words(generations[i].words);
            choice["finish_reason"] = generations[i].finish_reason;
            choices.push_back(choice);
        }
        json response{{"id", id},
                      {"object", chat ? "chat.completion" : "text_completion"},
                      {"created", call.created},
                      {"model", model},
                      {"choices", choices},
                      {"usage", usage}};
        return model_reply{200, "application/json", response.dump(), {}, false};
    }

    model_reply reply;
    reply.streaming = true;
    reply.content_type = "text/event-stream";
    const char* object = chat ? "chat.completion.chunk" : "text_completion";
    auto chunk = [&](std::size_t index, json piece, json finish) {
        json choice{{"index", index}};
        if (chat)
            choice["delta"] = std::move(piece);
        else
            choice["text"] = std::move(piece);
        choice["finish_reason"] = std::move(finish);
        return json{{"id", id}, {"object", object}, {"created", call.created}, {"model", model},
                    {"choices", json::array({choice})}};
    };
    for (std::size_t i = 0; i < generations.size(); ++i) {
        if (chat) reply.events.push_back(sse_event(chunk(i, json{{"role", "assistant"}, {"content", ""}}, nullptr)));
        const auto& words = generations[i].words;
        for (std::size_t w = 0; w < words.size(); ++w) {
            std::string text = (w ? " " : "") + words[w];
            reply.events.push_back(sse_event(chunk(i, chat ? json{{"content", text}} : json(text), nullptr)));
        }
        json last = chunk(i, chat ? json::object() : json(""), generations[i].finish_reason);
        if (i + 1 == generations.size()) last["usage"] = usage;
        reply.events.push_back(sse_event(last));
    }
    reply.events.push_back("data: [DONE]\n\n");
    return reply;
}

model_reply run_embeddings(const model_call& call) {
    auto parsed = parse_json(call.body);
    if (!parsed) return bad_request("Invalid JSON in request body");
    const json& request = *parsed;
    if (!request.is_object()) return bad_request("The request body must be a JSON object");
    static const std::set<std::string> fields{"input", "extra_params", "instruction"};
    if (auto refusal = check_llm_fields(request, fields)) return *refusal;
    std::vector<std::string> inputs;
    if (!request.contains("input")) return bad_request("input is required");
    const auto& input = request["input"];
    if (input.is_string()) {
        inputs.push_back(input.get<std::string>());
    } else if (input.is_array() && !input.empty()) {
        for (const auto& item : input) {
            if (!item.is_string()) return bad_request("input must be a string or an array of strings");
            inputs.push_back(item.get<std::string>());
        }
    } else {
        return bad_request("input must be a string or an array of strings");
    }
    json data = json::array();
    std::size_t tokens = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto words = words_of(inputs[i]).size();
        tokens += words;
        data.push_back(json{{"object", "embedding"},
                            {"index", i},
                            {"embedding", json::array({static_cast<double>(inputs[i].size()),
                                                       static_cast<double>(words), 1.0})}});
    }
    json response{{"id", "emb-emu-" + std::to_string(call.sequence)},
                  {"object", "list"},
                  {"model", std::string(call.model_name)},
                  {"data", data},
                  {"usage", json{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
    return model_reply{200, "application/json", response.dump(), {}, false};
}

}  // namespace

std::string_view to_string(model_kind kind) noexcept {
    switch (kind) {
        case model_kind::custom: return "custom";
        case model_kind::chat: return "chat";
        case model_kind::completions: return "completions";
        case model_kind::embeddings: return "embeddings";
        case model_kind::feature: return "feature";
    }
    return "custom";
}

std::string error_body(std::string_view code, std::string_view message) {
    return json{{"error_code", std::string(code)}, {"message", std::string(message)}}.dump();
}

model_reply error_reply(int status, std::string_view code, std::string_view message) {
    return model_reply{status, "application/json", error_body(code, message), {}, false};
}

bool content_type_acceptable(std::string_view content_type, bool allow_csv, std::string& reason) {
    const std::string supported = allow_csv ? "['text/csv', 'application/json']" : "['application/json']";
    auto semicolon = content_type.find(';');
    std::string media = lower(trim(content_type.substr(0, semicolon)));
    if (media != "application/json" && !(allow_csv && media == "text/csv")) {
        reason = "This predictor only supports the following content types: Types: " + supported +
                 ". Got '" + std::string(content_type) + "'.";
        return false;
    }
    while (semicolon != std::string_view::npos) {
        auto next = content_type.find(';', semicolon + 1);
        std::string parameter = lower(trim(content_type.substr(semicolon + 1, next == std::string_view::npos ? std::string_view::npos : next - semicolon - 1)));
        semicolon = next;
        if (parameter.empty()) continue;
        auto eq = parameter.find('=');
        std::string name = trim(parameter.substr(0, eq));
        std::string value = eq == std::string::npos ? "" : trim(parameter.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (name == "charset" && value != "utf-8" && value != "utf8") {
            reason = "The scoring server only supports UTF-8; got charset '" + value + "'.";
            return false;
        }
    }
    return true;
}

model_reply run_model(const model_call& call) {
    switch (call.kind) {
        case model_kind::custom: return run_custom(call, false);
        case model_kind::feature: return run_custom(call, true);
        case model_kind::chat:
        case model_kind::completions:
        case model_kind::embeddings: {
            std::string reason;
            if (!content_type_acceptable(call.content_type, false, reason))
                return error_reply(415, "BAD_REQUEST", reason);
            if (call.body.size() > llm_body_limit)
                return error_reply(413, "BAD_REQUEST", "The request body exceeds the 4 MB limit of this endpoint.");
            if (call.kind == model_kind::embeddings) return run_embeddings(call);
            return run_generation(call, call.kind == model_kind::chat);
        }
    }
    return error_reply(500, "INTERNAL_ERROR", "unknown model kind");
}

}  // namespace emulator
