// Typed views over what serving endpoints answer: {"predictions": ...} from custom models,
// {"outputs": ...} from feature serving, chat / completions / embeddings from LLM endpoints,
// and the chunks of a streamed chat. Every view keeps the whole parsed document in `raw`.
// Parsing is lenient about the bare NaN / Infinity / -Infinity tokens the service writes,
// reports an HTML page (a Private Link or SSO login redirect answered with 200) as an error,
// and reports an error object found where data was expected as that error. Never throws.
#pragma once

#include <dbserve/payload/detail/error_body.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
inline std::string snippet(std::string_view text) {
    constexpr std::size_t max = 120;
    std::string out;
    for (char c : text.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    if (has_terminal_controls(out)) out = escape_terminal_controls(out);  // C1 controls, bytes that are not UTF-8
    if (text.size() > max) out += "...";
    return out;
}

inline std::string string_member(const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A whole-number member, clamped to the int64 range (converting an out-of-range double is
// undefined behaviour); 0 when it is missing, not a number, or NaN.
inline std::int64_t integer_member(const nlohmann::json& object, const char* key) {
    constexpr std::int64_t largest = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t smallest = std::numeric_limits<std::int64_t>::min();
    auto it = object.find(key);
    if (it == object.end() || !it->is_number()) return 0;
    if (it->is_number_unsigned()) {
        const auto v = it->get<std::uint64_t>();
        return v > static_cast<std::uint64_t>(largest) ? largest : static_cast<std::int64_t>(v);
    }
    if (it->is_number_integer()) return it->get<std::int64_t>();
    const double v = it->get<double>();
    if (std::isnan(v)) return 0;
    if (v >= static_cast<double>(largest)) return largest;  // 2^63, just past the largest
    if (v <= static_cast<double>(smallest)) return smallest;
    return static_cast<std::int64_t>(v);
}

// A number as double; null (a missing value) reads as NaN. False for anything else.
inline bool to_double(const nlohmann::json& v, double& out) noexcept {
    if (v.is_number()) {
        out = v.get<double>();
        return true;
    }
    if (v.is_null()) {
        out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    return false;
}
}  // namespace detail

// Parses a response body as JSON, accepting bare NaN, Infinity and -Infinity outside strings.
// An HTML page or text that is not JSON is an errc::bad_response error.
inline result<nlohmann::json> parse_response_json(std::string_view body) {
    if (detail::starts_like_html(body)) return detail::html_instead_of_json_error();
    bool too_deep = false;
    auto parsed = detail::parse_lenient_json(body, &too_deep);
    if (parsed.is_discarded()) {
        if (body.empty()) return unexpected(errc::bad_response, "the response body is empty");
        if (too_deep) return detail::too_deep_error("the response");
        return unexpected(errc::bad_response,
                          "the response is not valid JSON: \"" + detail::snippet(body) + "\"");
    }
    return parsed;
}

// The same, also refusing a body whose Content-Type says HTML.
inline result<nlohmann::json> parse_response_json(const http_response& response) {
    if (detail::icontains(response.headers.get("content-type"), "text/html"))
        return detail::html_instead_of_json_error();
    return parse_response_json(std::string_view(response.body));
}

// ---------------------------------------------------------------- tables and tensors

// The numbers of a one-dimensional array (nulls read as NaN), e.g. a model's predictions
// [0.1, 0.7] or one column of a table. Names the first element that is not a number.
inline result<std::vector<double>> to_doubles(const nlohmann::json& array) {
    if (!array.is_array())
        return unexpected(errc::bad_response,
                          std::string("expected an array of numbers, got ") + array.type_name());
    std::vector<double> out;
    out.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
        double v = 0;
        if (!detail::to_double(array[i], v))
            return unexpected(errc::bad_response, "element " + std::to_string(i) +
                                                      " is not a number but " +
                                                      array[i].type_name());
        out.push_back(v);
    }
    return out;
}

// One column of a table in any of the shapes pandas and MLflow write: records
// ([{"a": 1}, {"a": 2}]), columns ({"a": [1, 2]}) or split ({"columns": [...], "data": [[...]]}).
inline result<std::vector<double>> table_column(const nlohmann::json& table, std::string_view name) {
    const std::string key(name);
    if (table.is_array()) {
        std::vector<double> out;
        out.reserve(table.size());
        for (std::size_t row = 0; row < table.size(); ++row) {
            const auto& record = table[row];
            if (!record.is_object())
                return unexpected(errc::bad_response, "row " + std::to_string(row) +
                                                          " is not a record (JSON object)");
            auto it = record.find(key);
            if (it == record.end())
                return unexpected(errc::bad_response,
                                  "row " + std::to_string(row) + " has no column '" + key + "'");
            double v = 0;
            if (!detail::to_double(*it, v))
                return unexpected(errc::bad_response, "row " + std::to_string(row) + ", column '" +
                                                          key + "' is not a number");
            out.push_back(v);
        }
        return out;
    }
    if (table.is_object()) {
        auto columns = table.find("columns");
        auto data = table.find("data");
        if (columns != table.end() && data != table.end() && columns->is_array() && data->is_array()) {
            std::size_t index = columns->size();
            for (std::size_t i = 0; i < columns->size(); ++i)
                if ((*columns)[i].is_string() && (*columns)[i].get_ref<const std::string&>() == key)
                    index = i;
            if (index == columns->size())
                return unexpected(errc::bad_response, "the table has no column '" + key + "'");
            std::vector<double> out;
            out.reserve(data->size());
            for (std::size_t row = 0; row < data->size(); ++row) {
                const auto& r = (*data)[row];
                double v = 0;
                if (!r.is_array() || index >= r.size() || !detail::to_double(r[index], v))
                    return unexpected(errc::bad_response, "row " + std::to_string(row) +
                                                              ", column '" + key +
                                                              "' is missing or not a number");
                out.push_back(v);
            }
            return out;
        }
        auto it = table.find(key);
        if (it == table.end())
            return unexpected(errc::bad_response, "the table has no column '" + key + "'");
        if (it->is_object()) {  // pandas "dict" orient: {"col": {"0": v, "1": v}}
            std::vector<double> out;
            for (const auto& item : it->items()) {
                double v = 0;
                if (!detail::to_double(item.value(), v))
                    return unexpected(errc::bad_response, "column '" + key + "', index " +
                                                              item.key() + " is not a number");
                out.push_back(v);
            }
            return out;
        }
        return to_doubles(*it);
    }
    return unexpected(errc::bad_response,
                      std::string("expected a table (array of records or object of columns), got ") +
                          table.type_name());
}

// {"predictions": ...} from a custom / MLflow model. The predictions may be any shape:
// a list of numbers, a list of records (a table), a dict of columns, a nested tensor.
struct predictions_response {
    nlohmann::json raw;  // the whole response document

    const nlohmann::json& predictions() const noexcept {
        if (raw.is_object()) {
            auto it = raw.find("predictions");
            if (it != raw.end()) return *it;
        }
        return raw;  // an older MLflow server answers with the bare list
    }
    // Number of top-level predictions (rows); 1 for a scalar or a dict of columns.
    std::size_t size() const noexcept {
        const auto& p = predictions();
        return p.is_array() ? p.size() : 1;
    }
    // True when the predictions are a table given as records.
    bool is_records() const noexcept {
        const auto& p = predictions();
        return p.is_array() && !p.empty() && p.front().is_object();
    }
    // One prediction per row as numbers ([0.1, 0.7]; nulls read as NaN).
    result<std::vector<double>> as_doubles() const { return to_doubles(predictions()); }
    // One column of tabular predictions (records, columns or split form).
    result<std::vector<double>> column(std::string_view name) const {
        return table_column(predictions(), name);
    }
};

// {"outputs": [...]} from a feature serving endpoint: one record per lookup row.
struct outputs_response {
    nlohmann::json raw;

    const nlohmann::json& outputs() const noexcept {
        if (raw.is_object()) {
            auto it = raw.find("outputs");
            if (it != raw.end()) return *it;
        }
        return raw;
    }
    std::size_t size() const noexcept { return outputs().is_array() ? outputs().size() : 1; }
    result<std::vector<double>> column(std::string_view name) const {
        return table_column(outputs(), name);
    }
};

namespace detail {
inline result<nlohmann::json> parse_object_with(std::string_view body, const char* key,
                                                const char* what) {
    auto parsed = parse_response_json(body);
    if (!parsed) return parsed;
    if (parsed->is_object() && parsed->contains(key)) return parsed;
    dbserve::error service_error;
    if (read_json_error_object(*parsed, service_error)) return service_error;
    return unexpected(errc::bad_response, std::string("expected ") + what +
                                              " with a \"" + key + "\" field, got: " +
                                              snippet(parsed->dump()));
}
}  // namespace detail

// Parses {"predictions": ...}. A bare JSON array (older MLflow servers) is accepted as the
// predictions themselves.
inline result<predictions_response> parse_predictions(std::string_view body) {
    auto parsed = parse_response_json(body);
    if (!parsed) return std::move(parsed).error();
    if (parsed->is_array()) return predictions_response{std::move(*parsed)};
    if (parsed->is_object() && parsed->contains("predictions"))
        return predictions_response{std::move(*parsed)};
    dbserve::error service_error;
    if (detail::read_json_error_object(*parsed, service_error)) return service_error;
    return unexpected(errc::bad_response,
                      "expected {\"predictions\": ...} from a model endpoint, got: " +
                          detail::snippet(parsed->dump()) +
                          " (feature serving endpoints answer {\"outputs\": ...}: use parse_outputs)");
}

// Parses {"outputs": ...} from a feature serving endpoint.
inline result<outputs_response> parse_outputs(std::string_view body) {
    auto parsed = detail::parse_object_with(body, "outputs", "a feature serving response");
    if (!parsed) return std::move(parsed).error();
    return outputs_response{std::move(*parsed)};
}

// ---------------------------------------------------------------- LLM endpoints

struct token_usage {
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    std::int64_t total_tokens = 0;
};

namespace detail {
inline std::optional<token_usage> read_usage(const nlohmann::json& document) {
    if (!document.is_object()) return std::nullopt;
    auto it = document.find("usage");
    if (it == document.end() || !it->is_object()) return std::nullopt;
    return token_usage{integer_member(*it, "prompt_tokens"), integer_member(*it, "completion_tokens"),
                       integer_member(*it, "total_tokens")};
}

// Message content is a string, null, or a list of parts ({"type": "text", "text": ...}):
// the text parts are joined.
inline std::string content_text(const nlohmann::json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string out;
    if (content.is_array())
        for (const auto& part : content) {
            if (part.is_string()) out += part.get_ref<const std::string&>();
            else if (part.is_object()) out += string_member(part, "text");
        }
    return out;
}

// finish_reason, or finishReason as some models spell it; empty while unfinished (null).
inline std::string finish_reason_of(const nlohmann::json& choice) {
    auto reason = string_member(choice, "finish_reason");
    return reason.empty() ? string_member(choice, "finishReason") : reason;
}

// The "choices" array of a response or of a stream chunk: both read the same fields, only
// the object carrying role and content differs ("message" in a response, "delta" in a
// chunk). `where` completes the error message (" in a stream chunk").
template <class Choice>
result<void> read_choices(const nlohmann::json& choices, const char* message_member, std::string_view where,
                          std::vector<Choice>& out) {
    out.reserve(choices.size());
    for (std::size_t i = 0; i < choices.size(); ++i) {
        const auto& c = choices[i];
        if (!c.is_object())
            return unexpected(errc::bad_response,
                              "choices[" + std::to_string(i) + "]" + std::string(where) + " is not an object");
        Choice choice;
        choice.index = c.contains("index") ? static_cast<std::size_t>(integer_member(c, "index")) : i;
        auto message = c.find(message_member);
        if (message != c.end() && message->is_object()) {
            choice.role = string_member(*message, "role");
            auto content = message->find("content");
            if (content != message->end()) choice.content = content_text(*content);
        } else {
            choice.content = string_member(c, "text");
        }
        choice.finish_reason = finish_reason_of(c);
        out.push_back(std::move(choice));
    }
    return {};
}
}  // namespace detail

struct completion_choice {
    std::size_t index = 0;
    std::string role;           // "assistant" for chat; empty for completions
    std::string content;        // message.content (chat) or text (completions)
    std::string finish_reason;  // "stop", "length", ...; from finish_reason or finishReason
};

// A chat (`object: "chat.completion"`) or completions (`"text_completion"`) response.
struct completion_response {
    std::string id;
    std::string object;
    std::string model;
    std::int64_t created = 0;
    std::vector<completion_choice> choices;
    std::optional<token_usage> usage;
    nlohmann::json raw;

    // The first choice's text: what most callers want.
    std::string_view content() const noexcept {
        return choices.empty() ? std::string_view() : std::string_view(choices.front().content);
    }
};
using chat_response = completion_response;
using completions_response = completion_response;

// Parses a chat or completions response (non-streamed).
inline result<completion_response> parse_completion_response(std::string_view body) {
    auto parsed = detail::parse_object_with(body, "choices", "a chat or completions response");
    if (!parsed) return std::move(parsed).error();
    const auto& doc = *parsed;
    const auto& choices = doc["choices"];
    if (!choices.is_array())
        return unexpected(errc::bad_response, "\"choices\" in the response is not an array");
    completion_response out;
    out.id = detail::string_member(doc, "id");
    out.object = detail::string_member(doc, "object");
    out.model = detail::string_member(doc, "model");
    out.created = detail::integer_member(doc, "created");
    out.usage = detail::read_usage(doc);
    auto read = detail::read_choices(choices, "message", "", out.choices);
    if (!read) return std::move(read).error();
    out.raw = std::move(*parsed);
    return out;
}
inline result<chat_response> parse_chat_response(std::string_view body) {
    return parse_completion_response(body);
}
inline result<completions_response> parse_completions_response(std::string_view body) {
    return parse_completion_response(body);
}

struct embedding {
    std::size_t index = 0;
    std::vector<double> values;
};

// An embeddings response (`object: "list"`, `data[].embedding`).
struct embeddings_response {
    std::string model;
    std::vector<embedding> data;  // in the order of the inputs (sorted by index)
    std::optional<token_usage> usage;
    nlohmann::json raw;
};

inline result<embeddings_response> parse_embeddings_response(std::string_view body) {
    auto parsed = detail::parse_object_with(body, "data", "an embeddings response");
    if (!parsed) return std::move(parsed).error();
    const auto& doc = *parsed;
    const auto& data = doc["data"];
    if (!data.is_array())
        return unexpected(errc::bad_response, "\"data\" in the embeddings response is not an array");
    embeddings_response out;
    out.model = detail::string_member(doc, "model");
    out.usage = detail::read_usage(doc);
    out.data.reserve(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
        const auto& item = data[i];
        auto vector = item.is_object() ? item.find("embedding") : item.end();
        if (!item.is_object() || vector == item.end())
            return unexpected(errc::bad_response,
                              "data[" + std::to_string(i) + "] has no \"embedding\"");
        auto values = to_doubles(*vector);
        if (!values)
            return unexpected(errc::bad_response, "data[" + std::to_string(i) +
                                                      "].embedding: " + values.error().message);
        embedding e;
        e.index = item.contains("index") ? static_cast<std::size_t>(detail::integer_member(item, "index")) : i;
        e.values = std::move(*values);
        out.data.push_back(std::move(e));
    }
    std::stable_sort(out.data.begin(), out.data.end(),
                     [](const embedding& a, const embedding& b) { return a.index < b.index; });
    out.raw = std::move(*parsed);
    return out;
}

// ---------------------------------------------------------------- streaming

struct chunk_choice {
    std::size_t index = 0;
    std::string role;           // delta.role, usually only in the first chunk
    std::string content;        // delta.content (chat) or text (completions)
    std::string finish_reason;  // empty until the last chunk of that choice
};

// One `data:` event of a streamed chat or completion (`object: "chat.completion.chunk"`).
struct chat_chunk {
    std::string id;
    std::string object;
    std::string model;
    std::int64_t created = 0;
    std::vector<chunk_choice> choices;
    std::optional<token_usage> usage;  // some servers send it in the last chunk
    nlohmann::json raw;

    // The first choice's new text and finish reason (empty when absent).
    std::string_view content() const noexcept {
        return choices.empty() ? std::string_view() : std::string_view(choices.front().content);
    }
    std::string_view finish_reason() const noexcept {
        return choices.empty() ? std::string_view() : std::string_view(choices.front().finish_reason);
    }
};

// Parses the data of one SSE event. An error object sent in the stream is returned as that
// error (with the service's code).
inline result<chat_chunk> parse_chat_chunk(std::string_view data) {
    auto parsed = parse_response_json(data);
    if (!parsed) return std::move(parsed).error();
    const auto& doc = *parsed;
    if (!doc.is_object())
        return unexpected(errc::bad_response,
                          "a stream chunk is not a JSON object: " + detail::snippet(data));
    auto choices = doc.find("choices");
    if (choices == doc.end()) {
        dbserve::error service_error;
        if (detail::read_json_error_object(doc, service_error)) return service_error;
        if (!doc.contains("usage"))
            return unexpected(errc::bad_response,
                              "a stream chunk has no \"choices\": " + detail::snippet(data));
    } else if (!choices->is_array()) {
        return unexpected(errc::bad_response, "\"choices\" in a stream chunk is not an array");
    }
    chat_chunk out;
    out.id = detail::string_member(doc, "id");
    out.object = detail::string_member(doc, "object");
    out.model = detail::string_member(doc, "model");
    out.created = detail::integer_member(doc, "created");
    out.usage = detail::read_usage(doc);
    if (choices != doc.end()) {
        auto read = detail::read_choices(*choices, "delta", " in a stream chunk", out.choices);
        if (!read) return std::move(read).error();
    }
    out.raw = std::move(*parsed);
    return out;
}

DBSERVE_END_NAMESPACE
