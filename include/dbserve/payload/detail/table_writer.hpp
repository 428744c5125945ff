// How dataframe.hpp writes a table: cells appended straight into the body text, column
// by column and row by row, in the split or the records layout, the first refused value
// remembered with its row and column.
#pragma once

#include <dbserve/payload/array_views.hpp>
#include <dbserve/payload/cell.hpp>
#include <dbserve/payload/json_writer.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstddef>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

template <class Row>
class column_mapping;  // dataframe.hpp

namespace detail {

template <class T>
inline bool write_number_at(char*& p, const T& v) noexcept {
    if constexpr (std::is_same_v<T, bool>) {
        std::memcpy(p, v ? "true" : "false", v ? 4 : 5);
        p += v ? 4 : 5;
        return true;
    } else if constexpr (std::is_same_v<T, float>) {
        return json_writer::write_float(p, v);
    } else if constexpr (std::is_floating_point_v<T>) {
        return json_writer::write_double(p, static_cast<double>(v));
    } else {
        static_assert(std::is_integral_v<T>, "table values must be arithmetic (or use cells)");
        p = std::to_chars(p, p + 24, v).ptr;
        return true;
    }
}

// The state shared by the split and records writers. Kept on the heap so the writers can be
// moved while json_writer points into the buffer.
class table_writer {
public:
    table_writer(input_format format, bool records, std::vector<std::string> columns,
                 const write_options& options, std::string buffer)
        : state_(std::make_unique<state>(std::move(buffer))) {
        auto& s = *state_;
        s.format = format;
        s.records = records;
        s.options = options;
        s.columns = std::move(columns);
        model_input_access::start(s.w, format);
        std::set<std::string_view> seen;
        for (const auto& name : s.columns)
            if (!seen.insert(name).second) {
                fail("columns", "the column \"" + name + "\" is named twice");
                return;
            }
        if (records) {
            if (s.columns.empty()) {
                fail("columns", "records need column names");
                return;
            }
            // Pre-encode `"name":` (with the separating comma after the first) once.
            for (std::size_t i = 0; i < s.columns.size(); ++i) {
                std::string key;
                {
                    json_writer kw(key);
                    if (i != 0) kw.put(',');
                    std::size_t bad = 0;
                    if (!kw.string(s.columns[i], s.options.invalid_utf8, &bad)) {
                        fail("columns", "column " + std::to_string(i) + " has a name that is not valid UTF-8");
                        return;
                    }
                    kw.put(':');
                }
                s.keys_size += key.size();
                s.keys.push_back(std::move(key));
            }
            s.w.put('[');
        } else {
            s.w.raw("{");
            if (!s.columns.empty()) {
                s.w.raw("\"columns\":[");
                for (std::size_t i = 0; i < s.columns.size(); ++i) {
                    if (i != 0) s.w.put(',');
                    if (!s.w.string(s.columns[i], s.options.invalid_utf8)) {
                        fail("columns", "column " + std::to_string(i) + " has a name that is not valid UTF-8");
                        return;
                    }
                }
                s.w.raw("],");
            }
            s.w.raw("\"data\":[");
        }
    }

    std::size_t row_count() const noexcept { return state_ ? state_->rows : 0; }
    bool ok() const noexcept { return state_ && !state_->failure; }
    const std::vector<std::string>& columns() const noexcept { return state_->columns; }

    bool add_cells(const cell* cells, std::size_t count) {
        if (!begin_row(count)) return false;
        auto& s = *state_;
        std::string reason;
        for (std::size_t i = 0; i < count; ++i) {
            begin_cell(i);
            if (!cells[i].write(s.w, s.options, reason)) return fail_cell(i, reason);
        }
        end_row();
        return true;
    }

    template <class Row>
    bool add_mapped(const Row& row, const column_mapping<Row>& mapping) {
        const auto& writers = mapping.writers();
        if (!begin_row(writers.size())) return false;
        auto& s = *state_;
        std::string reason;
        for (std::size_t i = 0; i < writers.size(); ++i) {
            begin_cell(i);
            if (!writers[i](s.w, row, s.options, reason)) return fail_cell(i, reason);
        }
        end_row();
        return true;
    }

    // The hot path for numeric buffers: each row is written through one raw pointer.
    template <class T>
    bool add_matrix(const matrix_view<T>& m) {
        if (!ok()) return false;
        if (!m.shape_matches())
            return fail("values", "the buffer holds " + std::to_string(m.size) + " values but " +
                                      std::to_string(m.rows) + " rows x " + std::to_string(m.cols) +
                                      " columns need " + std::to_string(m.rows * m.cols));
        auto& s = *state_;
        if (m.rows == 0) return true;
        if (!check_width(m.cols)) return false;
        const std::size_t per_row =
            m.cols * (json_writer::max_double_chars + 1) + s.keys_size + 3;
        s.w.reserve(per_row * m.rows);
        const bool null_ok = s.options.non_finite == non_finite_policy::write_null;
        for (std::size_t r = 0; r < m.rows; ++r) {
            char* p = s.w.cursor(per_row);
            if (s.rows != 0) *p++ = ',';
            *p++ = s.records ? '{' : '[';
            for (std::size_t c = 0; c < m.cols; ++c) {
                if (s.records) {
                    const auto& key = s.keys[c];
                    std::memcpy(p, key.data(), key.size());
                    p += key.size();
                } else if (c != 0) {
                    *p++ = ',';
                }
                if (!write_number_at(p, m(r, c))) {
                    if (!null_ok) {
                        s.w.advance_to(p);
                        return fail_cell(c, cell::non_finite_reason(m(r, c) != m(r, c)));
                    }
                    std::memcpy(p, "null", 4);
                    p += 4;
                }
            }
            *p++ = s.records ? '}' : ']';
            s.w.advance_to(p);
            ++s.rows;
        }
        return true;
    }

    void set_index(nlohmann::json index) {
        if (state_) state_->index = std::move(index);
    }

    result<model_input> finish() {
        if (!state_) return unexpected(errc::invalid_argument, "the table was already finished");
        auto& s = *state_;
        if (s.failure) return *s.failure;
        if (s.rows == 0)
            return detail::input_error(s.format, "", "has no rows; add at least one row before finish()");
        s.w.put(']');
        if (!s.records) {
            if (!s.index.is_null()) {
                if (!s.index.is_array() || s.index.size() != s.rows)
                    return detail::input_error(s.format, "index",
                                               "must be an array with one entry per row (" +
                                                   std::to_string(s.rows) + " rows)");
                s.w.raw(",\"index\":");
                json_write_failure failure;
                if (!write_json_value(s.w, s.index, s.options, "index", failure))
                    return detail::input_error(s.format, failure.path, failure.reason);
            }
            s.w.put('}');
        }
        s.w.finish();
        auto input = model_input_access::make(s.format, std::move(s.buffer));
        state_.reset();
        return input;
    }

private:
    struct state {
        explicit state(std::string reuse) : buffer(cleared(std::move(reuse))) {}
        static std::string cleared(std::string s) {
            s.clear();
            return s;
        }
        std::string buffer;
        json_writer w{buffer};
        input_format format = input_format::dataframe_split;
        bool records = false;
        write_options options;
        std::vector<std::string> columns;
        std::vector<std::string> keys;  // records: `"name":` / `,"name":`
        std::size_t keys_size = 0;
        std::size_t rows = 0;
        std::size_t width = 0;  // split without column names: set by the first row
        std::optional<dbserve::error> failure;
        nlohmann::json index;
    };

    bool fail(const std::string& where, const std::string& what) {
        if (state_ && !state_->failure) state_->failure = detail::input_error(state_->format, where, what);
        return false;
    }
    bool fail_cell(std::size_t column, const std::string& reason) {
        const auto& s = *state_;
        std::string where = "row " + std::to_string(s.rows) + ", column " +
                            (column < s.columns.size() ? "'" + s.columns[column] + "' (" + std::to_string(column) + ")"
                                                       : std::to_string(column));
        return fail(where, reason);
    }
    bool check_width(std::size_t count) {
        auto& s = *state_;
        if (!s.columns.empty()) {
            if (count != s.columns.size())
                return fail("row " + std::to_string(s.rows),
                            "has " + std::to_string(count) + " values but there are " +
                                std::to_string(s.columns.size()) + " columns");
        } else if (s.rows == 0 && s.width == 0) {
            if (count == 0) return fail("row 0", "is empty");
            s.width = count;
        } else if (count != s.width) {
            return fail("row " + std::to_string(s.rows),
                        "has " + std::to_string(count) + " values but the rows before have " +
                            std::to_string(s.width));
        }
        return true;
    }
    bool begin_row(std::size_t count) {
        if (!ok()) return false;
        if (!check_width(count)) return false;
        auto& s = *state_;
        if (s.rows != 0) s.w.put(',');
        s.w.put(s.records ? '{' : '[');
        return true;
    }
    void begin_cell(std::size_t i) {
        auto& s = *state_;
        if (s.records) s.w.raw(s.keys[i]);
        else if (i != 0) s.w.put(',');
    }
    void end_row() {
        auto& s = *state_;
        s.w.put(s.records ? '}' : ']');
        ++s.rows;
    }

    std::unique_ptr<state> state_;
};

template <class T, class = void>
struct is_cell_range : std::false_type {};
template <class T>
struct is_cell_range<T, std::void_t<decltype(std::data(std::declval<const T&>()))>>
    : std::is_same<std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const T&>()))>>, cell> {};
template <class T, class = void>
struct has_contiguous_data : std::false_type {};
template <class T>
struct has_contiguous_data<T, std::void_t<decltype(std::data(std::declval<const T&>()))>> : std::true_type {};

// A row from a range: numbers go through the fast matrix path, cells as they are, anything
// else (strings, optionals, JSON values) element by element as cells.
template <class Range>
bool add_range(table_writer& table, const Range& row) {
    using element = std::remove_cv_t<std::remove_reference_t<decltype(*std::begin(row))>>;
    if constexpr (is_cell_range<Range>::value) {
        return table.add_cells(std::data(row), static_cast<std::size_t>(std::size(row)));
    } else if constexpr (std::is_arithmetic_v<element> && has_contiguous_data<Range>::value) {
        return table.add_matrix(matrix(row, 1, static_cast<std::size_t>(std::size(row))));
    } else {
        std::vector<cell> cells;
        for (const auto& value : row) cells.emplace_back(value);
        return table.add_cells(cells.data(), cells.size());
    }
}

// The row-adding surface the table writers share; each writer adds what is its own (the
// split form's pandas index).
class row_writer {
public:
    // add_row returns false when the row was refused; finish() then reports why.
    bool add_row(std::initializer_list<cell> row) { return table_.add_cells(row.begin(), row.size()); }
    // A row from a range: numbers (std::vector<double>, std::span, std::array), cells, strings...
    template <class Range>
    bool add_row(const Range& row) { return add_range(table_, row); }
    // Every row of a numeric matrix.
    template <class T>
    bool add_rows(const matrix_view<T>& values) { return table_.add_matrix(values); }
    // One row per struct, through a column mapping.
    template <class Row>
    bool add_row(const Row& row, const column_mapping<Row>& mapping) { return table_.add_mapped(row, mapping); }

    std::size_t row_count() const noexcept { return table_.row_count(); }
    bool ok() const noexcept { return table_.ok(); }
    result<model_input> finish() { return table_.finish(); }

protected:
    row_writer(input_format format, bool as_records, std::vector<std::string> columns, const write_options& options,
               std::string reuse)
        : table_(format, as_records, std::move(columns), options, std::move(reuse)) {}

    table_writer table_;
};
}  // namespace detail

DBSERVE_END_NAMESPACE
