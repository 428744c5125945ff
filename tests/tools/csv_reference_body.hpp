// The --csv shaping as it was before it streamed from the file's bytes: a string per cell,
// the whole table in memory. Kept only here, as the reference the streaming shaper must match
// byte for byte.
#pragma once

#include "cli_options.hpp"
#include "request_body.hpp"

#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace csv_reference {

struct csv_cell {
    std::string text;
    bool quoted = false;
};

struct csv_table {
    std::vector<std::string> columns;
    std::vector<std::vector<csv_cell>> rows;
};

namespace detail {
inline dbserve::unexpected csv_error(std::size_t line, const std::string& what) {
    return dbserve::unexpected(dbserve::errc::invalid_argument,
                               "CSV line " + std::to_string(line) + ": " + what);
}
}  // namespace detail

inline dbserve::result<csv_table> parse_csv(std::string_view text) {
    std::vector<std::vector<csv_cell>> records;
    std::vector<std::size_t> record_lines;  // where each record starts, for error messages
    std::vector<csv_cell> record;
    csv_cell cell;
    std::size_t line = 1;
    std::size_t record_line = 1;
    bool in_quotes = false;
    bool after_quote = false;  // just closed a quoted field: only , or end of line may follow
    bool record_has_content = false;

    auto end_cell = [&] {
        record.push_back(std::move(cell));
        cell = csv_cell{};
        after_quote = false;
    };
    auto end_record = [&] {
        end_cell();
        if (record_has_content || record.size() > 1) {
            records.push_back(std::move(record));
            record_lines.push_back(record_line);
        }
        record.clear();
        record_has_content = false;
    };

    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // BOM
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_quotes) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    cell.text += '"';
                    ++i;
                } else {
                    in_quotes = false;
                    after_quote = true;
                }
            } else {
                if (c == '\n') ++line;
                cell.text += c;
            }
            continue;
        }
        if (c == ',') {
            record_has_content = true;
            end_cell();
        } else if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            end_record();
            ++line;
            record_line = line;
        } else if (after_quote) {
            return detail::csv_error(line, "unexpected character after a closing quote; a quoted "
                                           "field must end right before a comma or the line end");
        } else if (c == '"') {
            if (!cell.text.empty())
                return detail::csv_error(line, "a quote inside an unquoted field; quote the whole "
                                               "field and double the inner quote (\"\")");
            in_quotes = true;
            cell.quoted = true;
            record_has_content = true;
        } else {
            cell.text += c;
            record_has_content = true;
        }
    }
    if (in_quotes)
        return detail::csv_error(record_line, "a quoted field is never closed; add the missing '\"'");
    if (record_has_content || !record.empty() || !cell.text.empty() || cell.quoted) end_record();

    if (records.empty())
        return dbserve::unexpected(dbserve::errc::invalid_argument,
                                   "the CSV file is empty; it needs a header row of column names");
    csv_table table;
    for (auto& c : records.front()) {
        if (c.text.empty())
            return detail::csv_error(1, "a column name in the header row is empty");
        table.columns.push_back(std::move(c.text));
    }
    for (std::size_t r = 1; r < records.size(); ++r) {
        if (records[r].size() != table.columns.size())
            return dbserve::unexpected(
                dbserve::errc::invalid_argument,
                "CSV line " + std::to_string(record_lines[r]) + " (data row " + std::to_string(r) + ") has " +
                    std::to_string(records[r].size()) + " fields but the header has " +
                    std::to_string(table.columns.size()) +
                    "; every row needs one field per column (quote fields that contain commas)");
        table.rows.push_back(std::move(records[r]));
    }
    return table;
}

// A cell as a number when the whole (unquoted) cell is a finite decimal number.
inline bool csv_cell_number(const csv_cell& cell, double& out) {
    if (cell.quoted || cell.text.empty()) return false;
    const char* first = cell.text.data();
    const char* last = first + cell.text.size();
    if (*first == '+') ++first;
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && ptr == last && std::isfinite(out);
}

namespace detail {
inline dbserve::cell csv_value(const csv_cell& c, std::int64_t& integer, double& number) {
    if (!c.quoted && c.text.empty()) return nullptr;
    if (!c.quoted) {
        const char* first = c.text.data();
        const char* last = first + c.text.size();
        if (first != last && *first == '+') ++first;
        auto [ptr, ec] = std::from_chars(first, last, integer);
        if (ec == std::errc() && ptr == last) return integer;
        if (csv_reference::csv_cell_number(c, number)) return number;
    }
    return std::string_view(c.text);
}

}  // namespace detail

inline dbserve::result<std::string> csv_body(const dbserve_query::cli_options& o, std::string_view text,
                                             const nlohmann::json& params) {
    auto table = parse_csv(text);
    if (!table) {
        dbserve::error e = std::move(table).error();
        e.message = "--csv " + o.csv_file + ": " + e.message;
        return e;
    }
    if (table->rows.empty())
        return dbserve_query::detail::body_error("--csv " + o.csv_file + ": the file has a header row but no data rows; add rows");
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
    if (o.format == dbserve_query::csv_format::split) {
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

}  // namespace csv_reference
