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

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
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

// One shaping of the whole CSV text into a table writer. `null_columns`, when given, marks the
// numeric columns whose NaN and infinity cells are written as null (--nan null); otherwise
// they are written as their text, and the column statistics say afterwards whether that text
// sits in a numeric column (refused) or among other text (kept).
struct csv_shaping {
    std::vector<std::string> columns;
    std::vector<char> numeric;               // per column: every non-empty cell is an unquoted number
    std::vector<std::size_t> non_finite_row;  // per column: first data row with nan/inf (0: none)
    std::vector<std::size_t> non_finite_line;
    std::vector<std::string> non_finite_text;
    std::size_t data_rows = 0;
    std::optional<dbserve::error> csv_failure;  // the header or a ragged row, as parse_csv words it
    dbserve::result<dbserve::model_input> input = dbserve::unexpected(dbserve::errc::invalid_argument, "no table");
};

template <class Writer>
dbserve::result<csv_shaping> shape_csv(std::string_view text, std::size_t body_estimate,
                                       const std::vector<char>* null_columns) {
    csv_shaping out;
    std::optional<Writer> writer;
    bool writing = true;
    std::vector<dbserve::cell> row;
    auto on_record = [&](const csv_cell* cells, std::size_t count, std::size_t line) {
        if (out.csv_failure) return;  // only the first is reported; the rest is still scanned for quoting errors
        if (!writer) {  // the header row
            for (std::size_t k = 0; k < count; ++k) {
                if (cells[k].text.empty()) {
                    out.csv_failure = csv_error(1, "a column name in the header row is empty").value;
                    return;
                }
                out.columns.emplace_back(cells[k].text);
            }
            std::string buffer;
            buffer.reserve(body_estimate);
            writer.emplace(out.columns, dbserve::write_options{}, std::move(buffer));
            out.numeric.assign(count, 1);
            out.non_finite_row.assign(count, 0);
            out.non_finite_line.assign(count, 0);
            out.non_finite_text.assign(count, std::string());
            return;
        }
        const std::size_t data_row = ++out.data_rows;
        if (count != out.columns.size()) {
            out.csv_failure =
                dbserve::error{dbserve::errc::invalid_argument,
                               "CSV line " + std::to_string(line) + " (data row " + std::to_string(data_row) +
                                   ") has " + std::to_string(count) + " fields but the header has " +
                                   std::to_string(out.columns.size()) +
                                   "; every row needs one field per column (quote fields that contain commas)"};
            return;
        }
        row.clear();
        for (std::size_t k = 0; k < count; ++k) {
            const csv_cell& c = cells[k];
            std::int64_t integer = 0;
            double number = 0;
            switch (csv_classify(c, integer, number)) {
                case csv_number_kind::integer: row.emplace_back(integer); break;
                case csv_number_kind::finite: row.emplace_back(number); break;
                case csv_number_kind::non_finite:
                    if (out.non_finite_row[k] == 0) {
                        out.non_finite_row[k] = data_row;
                        out.non_finite_line[k] = line;
                        out.non_finite_text[k] = std::string(c.text);
                    }
                    if (null_columns && (*null_columns)[k]) row.emplace_back(nullptr);
                    else row.emplace_back(c.text);
                    break;
                case csv_number_kind::none:
                    if (!c.quoted && c.text.empty()) {
                        row.emplace_back(nullptr);
                    } else {
                        out.numeric[k] = 0;
                        row.emplace_back(c.text);
                    }
                    break;
            }
        }
        if (writing) writing = writer->add_row(row);
    };
    auto scanned = scan_csv(text, on_record);
    if (!scanned) return std::move(scanned).error();
    if (*scanned == 0)
        return dbserve::unexpected(dbserve::errc::invalid_argument,
                                   "the CSV file is empty; it needs a header row of column names");
    if (!out.csv_failure && out.data_rows != 0) out.input = writer->finish();
    return out;
}

// A CSV error with the file named, as every --csv error is.
inline dbserve::error csv_file_error(const cli_options& o, dbserve::error e) {
    e.message = "--csv " + o.csv_file + ": " + e.message;
    return e;
}

template <class Writer>
dbserve::result<dbserve::model_input> csv_input(const cli_options& o, std::string_view text) {
    // Numbers keep about their length; records repeat the keys (`,"name":`) on every row.
    std::size_t estimate = text.size() + text.size() / 4 + 4096;
    if (o.format == csv_format::records) {
        const std::string_view header = text.substr(0, text.find('\n'));
        const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
        const auto commas = static_cast<std::size_t>(std::count(header.begin(), header.end(), ','));
        estimate += lines * (header.size() + 4 * (commas + 1));
    }
    const auto shaped = [&](const std::vector<char>* null_columns) -> dbserve::result<csv_shaping> {
        auto s = shape_csv<Writer>(text, estimate, null_columns);
        if (!s) return csv_file_error(o, std::move(s).error());
        if (s->csv_failure) return csv_file_error(o, std::move(*s->csv_failure));
        if (s->data_rows == 0)
            return body_error("--csv " + o.csv_file + ": the file has a header row but no data rows; add rows");
        if (!s->input) return csv_file_error(o, std::move(s->input).error());
        return s;
    };
    auto first = shaped(nullptr);
    if (!first) return std::move(first).error();
    // NaN and infinity in a numeric column: refused (the first by row), or written as null.
    std::size_t at = 0;
    bool any = false;
    std::vector<char> null_columns(first->columns.size(), 0);
    for (std::size_t k = 0; k < first->columns.size(); ++k) {
        if (!first->numeric[k] || first->non_finite_row[k] == 0) continue;
        null_columns[k] = 1;
        if (!any || first->non_finite_row[k] < first->non_finite_row[at]) at = k;
        any = true;
    }
    if (!any) return std::move(first->input);
    if (!o.nan_as_null)
        return body_error("--csv " + o.csv_file + ": CSV line " + std::to_string(first->non_finite_line[at]) +
                          " (data row " + std::to_string(first->non_finite_row[at]) + "), column '" +
                          first->columns[at] + "' (" + std::to_string(at) + "): '" + first->non_finite_text[at] +
                          "' in a numeric column is NaN or infinite, which JSON cannot carry; fix the cell, or "
                          "give --nan null to send such cells as null (a missing value)");
    first->input = dbserve::unexpected(dbserve::errc::invalid_argument, "");  // frees the first body
    auto second = shaped(&null_columns);
    if (!second) return std::move(second).error();
    return std::move(second->input);
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

// The request body for --csv, from the file's bytes.
inline dbserve::result<std::string> csv_text_body(const cli_options& o, std::string_view text,
                                                  const nlohmann::json& params) {
    auto input = o.format == csv_format::split ? detail::csv_input<dbserve::dataframe_split_writer>(o, text)
                                               : detail::csv_input<dbserve::dataframe_records_writer>(o, text);
    if (!input) return std::move(input).error();
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

inline dbserve::result<std::string> csv_body(const cli_options& o, const nlohmann::json& params) {
    auto text = read_whole_file(o.csv_file, "--csv");
    if (!text) return std::move(text).error();
    return csv_text_body(o, *text, params);
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
