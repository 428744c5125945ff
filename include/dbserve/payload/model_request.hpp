// The body of a query to a custom (MLflow) model or feature serving endpoint:
//   {"<input key>": <input>, "params": {...}, "client_request_id": "...", "usage_context": {...}}
// with exactly one input key (dataframe_split, dataframe_records, instances or inputs). A
// model_request holds exactly one model_input, so a body with none or two cannot be built.
// The input writers (dataframe.hpp, tensor.hpp) produce a model_input already encoded as
// text; body() appends the other fields and checks the size limit without copying it.
#pragma once

#include <dbserve/payload/body_limits.hpp>
#include <dbserve/payload/json_writer.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

enum class input_format { dataframe_split, dataframe_records, instances, inputs };

constexpr std::string_view to_string(input_format f) noexcept {
    switch (f) {
        case input_format::dataframe_split: return "dataframe_split";
        case input_format::dataframe_records: return "dataframe_records";
        case input_format::instances: return "instances";
        case input_format::inputs: return "inputs";
    }
    return "inputs";
}

class model_input;
namespace detail {
// Lets the input writers build a model_input from text they have checked.
struct model_input_access {
    static model_input make(input_format format, std::string open_body);
    // `{"<key>":` written into a fresh or caller-given buffer.
    static void start(json_writer& w, input_format format) {
        w.raw("{\"");
        w.raw(to_string(format));
        w.raw("\":");
    }
};

inline dbserve::error input_error(input_format format, const std::string& where, const std::string& what) {
    return dbserve::error(errc::invalid_argument,
                          std::string(to_string(format)) + (where.empty() ? "" : " ") + where + ": " + what);
}
}  // namespace detail

// One encoded input value with its key. Build it with the writers in dataframe.hpp and
// tensor.hpp, or from any nlohmann::json value with from_json (checked the same way).
class model_input {
public:
    input_format format() const noexcept { return format_; }
    // The encoded text so far: `{"<key>":<value>` (the body's closing brace comes later).
    std::string_view text() const noexcept { return text_; }

    // Checks `value` against what the service accepts for that key and encodes it:
    //  - dataframe_split: an object with "data" (an array of rows of equal length, matching
    //    "columns" when given) and optionally "columns" (strings) and "index"; no other keys;
    //  - dataframe_records: a non-empty array of objects;
    //  - instances: a non-empty array; when its elements are objects they all have the same
    //    keys (the service pivots them into columns of equal length);
    //  - inputs: any value but null.
    // Numbers and strings follow `options` (non-finite numbers and invalid UTF-8 refused by
    // default).
    static result<model_input> from_json(input_format format, const nlohmann::json& value,
                                         const write_options& options = {}) {
        auto checked = check_shape(format, value);
        if (!checked) return std::move(checked).error();
        std::string text;
        json_writer w(text);
        detail::model_input_access::start(w, format);
        json_write_failure failure;
        if (!detail::write_json_value(w, value, options, std::string(), failure))
            return detail::input_error(format, describe_place(format, value, failure.path), failure.reason);
        w.finish();
        return model_input(format, std::move(text));
    }

private:
    friend struct detail::model_input_access;
    friend class model_request;
    model_input(input_format format, std::string text) : format_(format), text_(std::move(text)) {}

    // "data[3][1]" in a dataframe_split -> "row 3, column 'b' (1)"; "[3].b" in records ->
    // "row 3, column 'b'".
    static std::string describe_place(input_format format, const nlohmann::json& value, const std::string& path) {
        if (path.empty()) return "value";
        auto number_at = [&](std::size_t& i, std::size_t& out) {
            std::size_t start = i;
            out = 0;
            while (i < path.size() && path[i] >= '0' && path[i] <= '9') out = out * 10 + static_cast<std::size_t>(path[i++] - '0');
            return i > start && i < path.size() && path[i] == ']';
        };
        std::size_t i = 0, row = 0, column = 0;
        if (format == input_format::dataframe_split && path.compare(0, 5, "data[") == 0) {
            i = 5;
            if (!number_at(i, row) || path.compare(i, 2, "][") != 0) return path;
            i += 2;
            if (!number_at(i, column)) return path;
            std::string where = "row " + std::to_string(row) + ", column ";
            auto columns = value.find("columns");
            if (columns != value.end() && columns->is_array() && column < columns->size() &&
                (*columns)[column].is_string())
                where += "'" + (*columns)[column].get<std::string>() + "' (" + std::to_string(column) + ")";
            else
                where += std::to_string(column);
            return i + 1 == path.size() ? where : where + " " + path.substr(i + 1);
        }
        if (format == input_format::dataframe_records && path[0] == '[') {
            i = 1;
            if (!number_at(i, row)) return path;
            std::string rest = path.substr(i + 1);
            if (!rest.empty() && rest[0] == '.') return "row " + std::to_string(row) + ", column '" + rest.substr(1) + "'";
            return "row " + std::to_string(row) + (rest.empty() ? "" : " " + rest);
        }
        return path;
    }

    static result<void> check_shape(input_format format, const nlohmann::json& v) {
        auto fail = [&](const std::string& where, const std::string& what) -> result<void> {
            return detail::input_error(format, where, what);
        };
        switch (format) {
            case input_format::dataframe_split: {
                if (!v.is_object()) return fail("", "must be an object with \"data\" and optional \"columns\" and \"index\"");
                for (const auto& item : v.items())
                    if (item.key() != "data" && item.key() != "columns" && item.key() != "index")
                        return fail("", "has the key \"" + item.key() +
                                            "\"; only \"columns\", \"data\" and \"index\" are allowed");
                auto data = v.find("data");
                if (data == v.end() || !data->is_array()) return fail("", "needs \"data\": an array of rows");
                std::size_t width = 0;
                bool have_width = false;
                auto columns = v.find("columns");
                if (columns != v.end()) {
                    if (!columns->is_array()) return fail("columns", "must be an array of column names");
                    std::set<std::string> seen;
                    for (std::size_t i = 0; i < columns->size(); ++i) {
                        if (!(*columns)[i].is_string()) return fail("columns[" + std::to_string(i) + "]", "is not a string");
                        if (!seen.insert((*columns)[i].get<std::string>()).second)
                            return fail("columns", "names \"" + (*columns)[i].get<std::string>() + "\" twice");
                    }
                    width = columns->size();
                    have_width = true;
                }
                for (std::size_t r = 0; r < data->size(); ++r) {
                    const auto& row = (*data)[r];
                    if (!row.is_array()) return fail("row " + std::to_string(r), "is not an array");
                    if (!have_width) {
                        width = row.size();
                        have_width = true;
                    } else if (row.size() != width) {
                        return fail("row " + std::to_string(r),
                                    "has " + std::to_string(row.size()) + " values but " +
                                        (columns != v.end() ? "there are " + std::to_string(width) + " columns"
                                                            : "row 0 has " + std::to_string(width)));
                    }
                }
                auto index = v.find("index");
                if (index != v.end() && (!index->is_array() || index->size() != data->size()))
                    return fail("index", "must be an array with one entry per row (" +
                                             std::to_string(data->size()) + ")");
                return {};
            }
            case input_format::dataframe_records:
                if (!v.is_array() || v.empty()) return fail("", "must be a non-empty array of records (objects)");
                for (std::size_t r = 0; r < v.size(); ++r)
                    if (!v[r].is_object()) return fail("row " + std::to_string(r), "is not an object");
                return {};
            case input_format::instances: {
                if (!v.is_array() || v.empty()) return fail("", "must be a non-empty array");
                if (!v.front().is_object()) return {};
                const auto& first = v.front();
                for (std::size_t r = 0; r < v.size(); ++r) {
                    const auto& row = v[r];
                    if (!row.is_object())
                        return fail("row " + std::to_string(r), "is not an object but row 0 is");
                    bool same = row.size() == first.size();
                    for (const auto& item : first.items())
                        if (!row.contains(item.key())) same = false;
                    if (!same)
                        return fail("row " + std::to_string(r),
                                    "has different keys from row 0; every instance needs the same "
                                    "named tensors");
                }
                return {};
            }
            case input_format::inputs:
                if (v.is_null()) return fail("", "is null; give a tensor or an object of named tensors");
                return {};
        }
        return {};
    }

    input_format format_ = input_format::inputs;
    std::string text_;
};

inline model_input detail::model_input_access::make(input_format format, std::string open_body) {
    return model_input(format, std::move(open_body));
}

// The whole body: one input plus the optional fields. Errors from the input (a refused row,
// a NaN) are carried to body(), so a request reads as one expression:
//   auto body = dbserve::model_request(dbserve::write_dataframe_split(columns, values))
//                   .params({{"threshold", 0.5}})
//                   .body();
class model_request {
public:
    model_request(result<model_input> input) : input_(std::move(input)) {}
    model_request(model_input input) : input_(std::move(input)) {}

    // Checks a whole body given as JSON: exactly one input key, "params" an object, and no
    // other keys than client_request_id and usage_context.
    static model_request from_json(const nlohmann::json& body, const write_options& options = {}) {
        if (!body.is_object())
            return model_request(unexpected(errc::invalid_argument, "the request body must be a JSON object"));
        const input_format formats[] = {input_format::dataframe_split, input_format::dataframe_records,
                                        input_format::instances, input_format::inputs};
        const nlohmann::json* input = nullptr;
        input_format format = input_format::inputs;
        std::string found;
        for (auto f : formats) {
            auto it = body.find(std::string(to_string(f)));
            if (it == body.end()) continue;
            if (input != nullptr)
                return model_request(unexpected(
                    errc::invalid_argument, "the request body has both \"" + found + "\" and \"" +
                                                std::string(to_string(f)) +
                                                "\"; give exactly one of dataframe_split, "
                                                "dataframe_records, instances, inputs"));
            input = &*it;
            format = f;
            found = std::string(to_string(f));
        }
        if (input == nullptr)
            return model_request(unexpected(errc::invalid_argument,
                                            "the request body has no input; give exactly one of "
                                            "dataframe_split, dataframe_records, instances, inputs"));
        model_request request(model_input::from_json(format, *input, options));
        request.options(options);
        for (const auto& item : body.items()) {
            const auto& key = item.key();
            if (key == found) continue;
            if (key == "params") request.params(item.value());
            else if (key == "usage_context") request.usage_context(item.value());
            else if (key == "client_request_id") {
                if (!item.value().is_string())
                    request.fail("client_request_id must be a string");
                else
                    request.client_request_id(item.value().get<std::string>());
            } else {
                request.fail("the request body has the unknown field \"" + key +
                             "\"; allowed beside the input are params, client_request_id, usage_context");
            }
        }
        return request;
    }

    // Extra parameters for the model's predict(); must be a JSON object.
    model_request& params(nlohmann::json value) {
        if (!value.is_object()) fail(std::string("params must be a JSON object, not ") + value.type_name());
        params_ = std::move(value);
        return *this;
    }
    // A caller-chosen id recorded in the endpoint's inference table.
    model_request& client_request_id(std::string id) {
        if (id.empty()) fail("client_request_id is empty; leave it unset instead");
        client_request_id_ = std::move(id);
        return *this;
    }
    // Usage tracking context (e.g. {"end_user_to_charge": "team-a"}); must be a JSON object.
    model_request& usage_context(nlohmann::json value) {
        if (!value.is_object()) fail(std::string("usage_context must be a JSON object, not ") + value.type_name());
        usage_context_ = std::move(value);
        return *this;
    }
    // Body size limit; default_body_limit (16 MB) unless set (e.g. body_limit_for(kind)).
    model_request& max_body_bytes(std::size_t limit) {
        max_body_bytes_ = limit;
        return *this;
    }
    // Number and UTF-8 policies for params and usage_context.
    model_request& options(const write_options& options) {
        options_ = options;
        return *this;
    }

    // The finished body, moved out of the input's buffer (no copy).
    result<std::string> body() && {
        if (auto ok = check(); !ok) return std::move(ok).error();
        std::string text = std::move(input_->text_);
        if (auto ok = append_fields(text); !ok) return std::move(ok).error();
        return text;
    }
    // The finished body as a copy; the request can be sent again.
    result<std::string> body() const& {
        std::string text;
        auto ok = append_body_to(text);
        if (!ok) return std::move(ok).error();
        return text;
    }
    // Appends the body to `out` (e.g. a buffer reused across requests). On error `out` is
    // left as it was.
    result<void> append_body_to(std::string& out) const {
        if (auto ok = check(); !ok) return ok;
        std::size_t start = out.size();
        out.append(input_->text_);
        auto ok = append_fields(out, start);
        if (!ok) out.resize(start);
        return ok;
    }

private:
    void fail(std::string message) {
        if (!failure_) failure_ = std::move(message);
    }
    result<void> check() const {
        if (!input_) return input_.error();
        if (failure_) return unexpected(errc::invalid_argument, *failure_);
        return {};
    }
    result<void> append_fields(std::string& out, std::size_t start = 0) const {
        {
            json_writer w(out);
            json_write_failure failure;
            if (!params_.is_null()) {
                w.raw(",\"params\":");
                if (!detail::write_json_value(w, params_, options_, "params", failure))
                    return unexpected(errc::invalid_argument, failure.path + " " + failure.reason);
            }
            if (!client_request_id_.empty()) {
                w.raw(",\"client_request_id\":");
                if (!w.string(client_request_id_, options_.invalid_utf8))
                    return unexpected(errc::invalid_argument, "client_request_id is not valid UTF-8");
            }
            if (!usage_context_.is_null()) {
                w.raw(",\"usage_context\":");
                if (!detail::write_json_value(w, usage_context_, options_, "usage_context", failure))
                    return unexpected(errc::invalid_argument, failure.path + " " + failure.reason);
            }
            w.put('}');
        }
        return check_body_size(out.size() - start, max_body_bytes_);
    }

    result<model_input> input_;
    nlohmann::json params_;
    std::string client_request_id_;
    nlohmann::json usage_context_;
    std::size_t max_body_bytes_ = default_body_limit;
    write_options options_;
    std::optional<std::string> failure_;
};

DBSERVE_END_NAMESPACE
