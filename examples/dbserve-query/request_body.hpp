// The request body from the command line: --data (text, @FILE or @- sent as is once it is
// known to be JSON), --csv (a dataframe_split or dataframe_records table), or --chat (one
// user message), with --params. Everything is checked before anything is sent.
#pragma once

#include "cli_options.hpp"
#include "csv.hpp"
#include "input_files.hpp"
#include "terminal_text.hpp"

#include <dbserve/payload/dataframe.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/payload/llm_request.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

namespace dbserve_query {

namespace detail {

inline dbserve::unexpected body_error(std::string message) {
    return dbserve::unexpected(dbserve::errc::invalid_argument, std::move(message));
}

// Strict JSON (no NaN, no comments), nesting at most dbserve's max_json_depth; the error
// names the byte where parsing stopped. nlohmann reports a number beyond a double's range
// (1e309) as out_of_range, not as a parse error: every exception it has is caught here.
inline dbserve::result<nlohmann::json> parse_strict_json(const std::string& text, const std::string& what) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        return body_error(what + " is empty; give a JSON object such as '{\"inputs\": [[1, 2]]}'");
    bool too_deep = false;
    const auto bounded = [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (static_cast<std::size_t>(depth) > dbserve::detail::max_json_depth) too_deep = true;
        return !too_deep;
    };
    const auto nested_too_deep = [&what] {
        return body_error(what + " nests arrays or objects more than " +
                          std::to_string(dbserve::detail::max_json_depth) + " levels deep; flatten the input");
    };
    try {
        auto doc = nlohmann::json::parse(text, bounded);
        if (too_deep) return nested_too_deep();
        return doc;
    } catch (const nlohmann::json::parse_error& e) {
        if (too_deep) return nested_too_deep();
        // nlohmann says why after " - " ("invalid string: ill-formed UTF-8 byte; last read: ...").
        const std::string_view said = e.what();
        const auto why = said.find(" - ");
        const std::string reason =
            why == std::string_view::npos ? std::string()
                                          : " (" + std::string(said.substr(why + 3, said.find("; last read", why) -
                                                                                        why - 3)) + ")";
        return body_error(what + " is not valid JSON: parsing stopped at byte " + std::to_string(e.byte) + reason +
                          "; fix the JSON (NaN and Infinity are not JSON: use null)");
    } catch (const nlohmann::json::out_of_range& e) {
        if (e.id == 406)
            return body_error(what + " holds a number too large for a double (such as 1e309); write it within "
                              "+-1.7e308, or as a string");
        return body_error(what + " could not be read: " + std::string(e.what()) + "; fix the JSON");
    } catch (const nlohmann::json::exception& e) {
        return body_error(what + " could not be read: " + std::string(e.what()) + "; fix the JSON");
    }
}

// The JSON text of a document built here, or an error naming `what` instead of an exception
// (a string that is not UTF-8 cannot be written as JSON).
inline dbserve::result<std::string> dump_json(const nlohmann::json& doc, const std::string& what) {
    try {
        return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
        return body_error(what + " holds text that is not valid UTF-8; convert it to UTF-8");
    }
}

inline dbserve::cell csv_value(const csv_cell& c, std::int64_t& integer, double& number) {
    if (!c.quoted && c.text.empty()) return nullptr;
    if (!c.quoted) {
        const char* first = c.text.data();
        const char* last = first + c.text.size();
        if (first != last && *first == '+') ++first;
        auto [ptr, ec] = std::from_chars(first, last, integer);
        if (ec == std::errc() && ptr == last) return integer;
        if (csv_cell_number(c, number)) return number;
    }
    return std::string_view(c.text);
}

}  // namespace detail

inline dbserve::result<nlohmann::json> parse_params(const cli_options& o) {
    if (o.params.empty()) return nlohmann::json();
    auto params = detail::parse_strict_json(o.params, "--params");
    if (!params) return params;
    if (!params->is_object())
        return detail::body_error("--params must be a JSON object such as '{\"scale\": 2}', not " +
                                  std::string(params->type_name()));
    return params;
}

inline dbserve::result<std::string> csv_body(const cli_options& o, const nlohmann::json& params) {
    auto text = read_input_file(o.csv_file, "--csv");
    if (!text) return std::move(text).error();
    auto table = parse_csv(*text);
    if (!table) {
        dbserve::error e = std::move(table).error();
        e.message = "--csv " + o.csv_file + ": " + e.message;
        return e;
    }
    if (table->rows.empty())
        return detail::body_error("--csv " + o.csv_file + ": the file has a header row but no data rows; add rows");
    auto add_rows = [&](auto& writer) {
        std::vector<dbserve::cell> row;
        std::vector<std::int64_t> integers(table->columns.size());
        std::vector<double> numbers(table->columns.size());
        for (const auto& cells : table->rows) {
            row.clear();
            for (std::size_t i = 0; i < cells.size(); ++i) row.push_back(detail::csv_value(cells[i], integers[i], numbers[i]));
            if (!writer.add_row(row)) break;
        }
        return writer.finish();
    };
    dbserve::result<dbserve::model_input> input = dbserve::unexpected(dbserve::errc::invalid_argument, "no table");
    if (o.format == csv_format::split) {
        dbserve::dataframe_split_writer writer(table->columns);
        input = add_rows(writer);
    } else {
        dbserve::dataframe_records_writer writer(table->columns);
        input = add_rows(writer);
    }
    if (!input) {
        dbserve::error e = std::move(input).error();
        e.message = "--csv " + o.csv_file + ": " + e.message;
        return e;
    }
    dbserve::model_request request(std::move(*input));
    if (!params.is_null()) request.params(params);
    auto body = std::move(request).body();
    if (!body) {
        dbserve::error e = std::move(body).error();
        e.code = dbserve::errc::invalid_argument;
        return e;
    }
    return body;
}

inline dbserve::result<std::string> chat_body(const cli_options& o, const nlohmann::json& params) {
    if (const auto bad = first_invalid_utf8(o.chat); bad != std::string::npos)
        return detail::body_error("--chat is not valid UTF-8 (byte " + std::to_string(bad) +
                                  " of the message); give the message in UTF-8, e.g. convert it with iconv");
    dbserve::chat_request chat;
    chat.messages.push_back({"user", o.chat});
    if (o.max_tokens) chat.max_tokens = *o.max_tokens;
    if (o.temperature) chat.temperature = *o.temperature;
    auto body = chat.to_json();
    if (!body) return std::move(body).error();
    // For a chat, --params adds top-level generation fields (top_p, stop, n...).
    if (params.is_object())
        for (auto it = params.begin(); it != params.end(); ++it) {
            if (it.key() == "messages")
                return detail::body_error("--params may not set \"messages\" with --chat; use --data for a whole "
                                          "conversation");
            (*body)[it.key()] = it.value();
        }
    return detail::dump_json(*body, "--chat");
}

inline dbserve::result<std::string> data_body(const cli_options& o, const nlohmann::json& params) {
    std::string text;
    std::string what = "--data";
    if (!o.data.empty() && o.data.front() == '@') {
        const std::string path = o.data.substr(1);
        if (path.empty()) return detail::body_error("--data @ needs a file name (@FILE) or - for standard input (@-)");
        auto read = read_input_file(path, "--data");
        if (!read) return std::move(read).error();
        text = std::move(*read);
        what = path == "-" ? "--data @- (standard input)" : "--data @" + path;
    } else {
        text = o.data;
    }
    auto doc = detail::parse_strict_json(text, what);
    if (!doc) return std::move(doc).error();
    if (params.is_null()) return text;  // as is
    if (!doc->is_object())
        return detail::body_error("--params needs the --data body to be a JSON object");
    if (doc->contains("params"))
        return detail::body_error("--params given but the --data body already has \"params\"; keep one of them");
    (*doc)["params"] = params;
    return detail::dump_json(*doc, what);
}

inline dbserve::result<std::string> build_request_body(const cli_options& o) {
    auto params = parse_params(o);
    if (!params) return std::move(params).error();
    if (!o.csv_file.empty()) return csv_body(o, *params);
    if (!o.chat.empty()) return chat_body(o, *params);
    return data_body(o, *params);
}

}  // namespace dbserve_query
