// RFC 4180 CSV for dbserve-query's --csv: a header row of column names, then rows of
// cells. Cells that look like numbers become numbers, empty unquoted cells become null,
// everything else a string. Errors name the line and say how to fix it.
//
// scan_csv reads the file's bytes in place and hands each record to a callback as views:
// no string per cell, no table in memory (a large CSV is shaped at the speed of the JSON
// writer). Only a quoted cell with doubled quotes is unescaped, into a buffer reused per
// record.
#pragma once

#include <dbserve/protocol/result.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace dbserve_query {

struct csv_cell {
    std::string_view text;
    bool quoted = false;
};

namespace detail {
inline dbserve::unexpected csv_error(std::size_t line, const std::string& what) {
    return dbserve::unexpected(dbserve::errc::invalid_argument,
                               "CSV line " + std::to_string(line) + ": " + what);
}

inline bool csv_special(char c) noexcept { return c == ',' || c == '"' || c == '\n' || c == '\r'; }
}  // namespace detail

// Calls on_record(const csv_cell* cells, std::size_t count, std::size_t line) for each
// record (blank lines are skipped; `line` is where the record starts, counting line breaks
// inside quotes). The views live until the callback returns. Returns the number of records,
// or the first quoting error.
template <class OnRecord>
dbserve::result<std::size_t> scan_csv(std::string_view text, OnRecord&& on_record) {
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // BOM
    // A cell is [begin, begin + size) of the text, or of `unescaped` when in_scratch.
    struct span {
        std::size_t begin;
        std::size_t size;
        bool quoted;
        bool in_scratch;
    };
    std::vector<span> spans;
    std::vector<csv_cell> cells;
    std::string unescaped;
    std::size_t records = 0;
    std::size_t line = 1;
    const char* const data = text.data();
    const std::size_t n = text.size();
    std::size_t i = 0;

    while (i < n) {
        const std::size_t record_line = line;
        spans.clear();
        unescaped.clear();
        bool has_content = false;  // a comma, a quote or any character: not a blank line
        // One cell per iteration; the record ends at a line break or the end of the text.
        for (;;) {
            span cell{i, 0, false, false};
            if (i < n && data[i] == '"') {
                cell.quoted = true;
                has_content = true;
                ++i;
                std::size_t from = i;
                bool escaped = false;
                for (;;) {
                    const void* q = std::memchr(data + i, '"', n - i);
                    if (q == nullptr) {
                        return detail::csv_error(record_line,
                                                 "a quoted field is never closed; add the missing '\"'");
                    }
                    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - data);
                    for (std::size_t k = i; k < at; ++k) line += data[k] == '\n';
                    if (at + 1 < n && data[at + 1] == '"') {  // a doubled quote is one quote
                        if (!escaped) {
                            cell.begin = unescaped.size();
                            escaped = true;
                        }
                        unescaped.append(data + from, at + 1 - from);
                        i = from = at + 2;
                        continue;
                    }
                    if (escaped) {
                        unescaped.append(data + from, at - from);
                        cell.size = unescaped.size() - cell.begin;
                        cell.in_scratch = true;
                    } else {
                        cell.begin = from;
                        cell.size = at - from;
                    }
                    i = at + 1;
                    break;
                }
                // Only a comma or the line end may follow a closing quote.
                if (i < n && data[i] != ',' && data[i] != '\n' && data[i] != '\r')
                    return detail::csv_error(line, "unexpected character after a closing quote; a quoted "
                                                   "field must end right before a comma or the line end");
            } else {
                const std::size_t from = i;
                while (i < n && !detail::csv_special(data[i])) ++i;
                if (i < n && data[i] == '"')
                    return detail::csv_error(line, "a quote inside an unquoted field; quote the whole "
                                                   "field and double the inner quote (\"\")");
                cell.begin = from;
                cell.size = i - from;
                if (cell.size != 0) has_content = true;
            }
            spans.push_back(cell);
            if (i < n && data[i] == ',') {
                has_content = true;
                ++i;
                continue;
            }
            break;  // a line break or the end
        }
        if (i < n) {  // the line break: \r\n, \r or \n
            if (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n') ++i;
            ++i;
            ++line;
        }
        if (!has_content) continue;
        cells.resize(spans.size());
        for (std::size_t k = 0; k < spans.size(); ++k) {
            const span& s = spans[k];
            cells[k].text = std::string_view((s.in_scratch ? unescaped.data() : data) + s.begin, s.size);
            cells[k].quoted = s.quoted;
        }
        on_record(static_cast<const csv_cell*>(cells.data()), cells.size(), record_line);
        ++records;
    }
    return records;
}

// A whole CSV as a table of owned strings: for tests and small files (the request body is
// built by streaming through scan_csv instead).
struct csv_owned_cell {
    std::string text;
    bool quoted = false;
};
struct csv_table {
    std::vector<std::string> columns;
    std::vector<std::vector<csv_owned_cell>> rows;
};

inline dbserve::result<csv_table> parse_csv(std::string_view text) {
    std::vector<std::vector<csv_owned_cell>> records;
    std::vector<std::size_t> record_lines;
    auto scanned = scan_csv(text, [&](const csv_cell* cells, std::size_t count, std::size_t line) {
        std::vector<csv_owned_cell> record;
        for (std::size_t k = 0; k < count; ++k) record.push_back({std::string(cells[k].text), cells[k].quoted});
        records.push_back(std::move(record));
        record_lines.push_back(line);
    });
    if (!scanned) return std::move(scanned).error();
    if (records.empty())
        return dbserve::unexpected(dbserve::errc::invalid_argument,
                                   "the CSV file is empty; it needs a header row of column names");
    csv_table table;
    for (auto& c : records.front()) {
        if (c.text.empty()) return detail::csv_error(1, "a column name in the header row is empty");
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

// What an unquoted cell holds as a number.
enum class csv_number_kind {
    none,        // not a number (text, or beyond a double's range): a string
    integer,     // fits a 64-bit integer: written as an integer
    finite,      // a finite double
    non_finite,  // nan, inf, infinity in any case and sign: no JSON form
};

inline csv_number_kind csv_classify(const csv_cell& cell, std::int64_t& integer, double& number) {
    if (cell.quoted || cell.text.empty()) return csv_number_kind::none;
    const char* first = cell.text.data();
    const char* last = first + cell.text.size();
    if (*first == '+') ++first;
    {
        auto [ptr, ec] = std::from_chars(first, last, integer);
        if (ec == std::errc() && ptr == last) return csv_number_kind::integer;
    }
    auto [ptr, ec] = std::from_chars(first, last, number);
    if (ec != std::errc() || ptr != last) return csv_number_kind::none;
    return std::isfinite(number) ? csv_number_kind::finite : csv_number_kind::non_finite;
}

// A cell as a number when the whole (unquoted) cell is a finite decimal number.
inline bool csv_cell_number(const csv_cell& cell, double& out) {
    std::int64_t integer = 0;
    switch (csv_classify(cell, integer, out)) {
        case csv_number_kind::integer:
            out = static_cast<double>(integer);
            return true;
        case csv_number_kind::finite: return true;
        default: return false;
    }
}

}  // namespace dbserve_query
