// Table inputs for custom models: `dataframe_split` ({"columns": [...], "data": [[...]]},
// keeps column order: the recommended form) and `dataframe_records` ([{"col": v}, ...]).
// Rows are written straight into the body text as they are added: no JSON tree is built.
// Every row must have one value per column; the first refused value stops the table and
// finish() reports it with its row and column.
//
//   dbserve::dataframe_split_writer table({"age", "income"});
//   table.add_row({42, 5100.5});
//   table.add_row({std::nullopt, 3900.0});          // a missing value is null
//   auto body = dbserve::model_request(table.finish()).body();
//
//   // A whole numeric buffer in one call (row-major or column-major):
//   auto input = dbserve::write_dataframe_split(names, dbserve::matrix(values, rows, cols));
//
//   // A vector of structs through a column mapping:
//   dbserve::column_mapping<order> columns;
//   columns.add("amount", &order::amount).add("country", [](const order& o) { return o.country; });
//   auto input = dbserve::write_dataframe_records(orders, columns);
#pragma once

#include <dbserve/payload/array_views.hpp>
#include <dbserve/payload/cell.hpp>
#include <dbserve/payload/detail/table_writer.hpp>
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

// How to turn one struct into one row: a name and a getter per column. A getter is a
// pointer to a data member or any callable taking `const Row&` and returning something a
// cell accepts (a number, a string, bool, std::optional, dbserve::binary, nlohmann::json).
template <class Row>
class column_mapping {
public:
    using cell_writer = std::function<bool(json_writer&, const Row&, const write_options&, std::string&)>;

    template <class Getter>
    column_mapping& add(std::string name, Getter getter) {
        names_.push_back(std::move(name));
        writers_.push_back([getter](json_writer& w, const Row& row, const write_options& options,
                                    std::string& reason) {
            // The getter's result (perhaps a temporary) lives until the cell is written.
            return cell(std::invoke(getter, row)).write(w, options, reason);
        });
        return *this;
    }

    const std::vector<std::string>& names() const noexcept { return names_; }
    const std::vector<cell_writer>& writers() const noexcept { return writers_; }

private:
    std::vector<std::string> names_;
    std::vector<cell_writer> writers_;
};

// Builds {"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}.
// With no column names, "columns" is left out and rows must simply be of equal length.
// `reuse` lends a buffer whose capacity is reused (its content is discarded).
class dataframe_split_writer : public detail::row_writer {
public:
    explicit dataframe_split_writer(std::vector<std::string> columns = {}, const write_options& options = {},
                                    std::string reuse = {})
        : row_writer(input_format::dataframe_split, false, std::move(columns), options, std::move(reuse)) {}

    // The pandas index: one entry per row, checked at finish().
    dataframe_split_writer& index(nlohmann::json values) {
        table_.set_index(std::move(values));
        return *this;
    }
};

// Builds [{"col": v, ...}, ...] under `format`: instances or inputs for the row form of
// named tensors (dataframe_records_writer below is the dataframe_records form).
class records_writer : public detail::row_writer {
public:
    explicit records_writer(input_format format, std::vector<std::string> columns,
                            const write_options& options = {}, std::string reuse = {})
        : row_writer(format, true, std::move(columns), options, std::move(reuse)) {}
};

// Builds {"dataframe_records": [{"col": v, ...}, ...]}. Column order is not guaranteed on the
// server: prefer dataframe_split_writer when it matters.
class dataframe_records_writer : public records_writer {
public:
    explicit dataframe_records_writer(std::vector<std::string> columns, const write_options& options = {},
                                      std::string reuse = {})
        : records_writer(input_format::dataframe_records, std::move(columns), options, std::move(reuse)) {}
};

// ---------------------------------------------------------------- one-call forms

template <class T>
result<model_input> write_dataframe_split(std::vector<std::string> columns, const matrix_view<T>& values,
                                          const write_options& options = {}) {
    if (!columns.empty() && columns.size() != values.cols)
        return detail::input_error(input_format::dataframe_split, "columns",
                                   std::to_string(columns.size()) + " column names for a matrix of " +
                                       std::to_string(values.cols) + " columns");
    dataframe_split_writer w(std::move(columns), options);
    w.add_rows(values);
    return w.finish();
}

template <class T>
result<model_input> write_dataframe_records(std::vector<std::string> columns, const matrix_view<T>& values,
                                            const write_options& options = {}) {
    if (columns.size() != values.cols)
        return detail::input_error(input_format::dataframe_records, "columns",
                                   std::to_string(columns.size()) + " column names for a matrix of " +
                                       std::to_string(values.cols) + " columns");
    dataframe_records_writer w(std::move(columns), options);
    w.add_rows(values);
    return w.finish();
}

template <class Rows, class Row>
result<model_input> write_dataframe_split(const Rows& rows, const column_mapping<Row>& mapping,
                                          const write_options& options = {}) {
    dataframe_split_writer w(mapping.names(), options);
    for (const auto& row : rows)
        if (!w.add_row(row, mapping)) break;
    return w.finish();
}

template <class Rows, class Row>
result<model_input> write_dataframe_records(const Rows& rows, const column_mapping<Row>& mapping,
                                            const write_options& options = {}) {
    dataframe_records_writer w(mapping.names(), options);
    for (const auto& row : rows)
        if (!w.add_row(row, mapping)) break;
    return w.finish();
}

DBSERVE_END_NAMESPACE
