// Tensor inputs (TF Serving style), for models whose signature takes tensors:
//  - `instances`: row form, the first dimension is the batch: [[1, 2], [3, 4]];
//  - `inputs`: the same row form, or column form with named tensors:
//    {"inputs": {"image": [[...]], "mask": [...]}}.
// Numeric tensors are written straight from the caller's buffer (row-major with a shape, or a
// matrix in either layout). Rows of named tensors ([{"a": 1, "b": 2}, ...]) use records_writer
// from dataframe.hpp with input_format::instances.
//
//   auto input = dbserve::write_instances(dbserve::tensor(pixels, {batch, 28, 28}));
//   dbserve::named_tensors_writer named;
//   named.add("ids", dbserve::tensor(ids)).add("mask", dbserve::tensor(mask, {2, 8}));
//   auto body = dbserve::model_request(named.finish()).body();
#pragma once

#include <dbserve/payload/array_views.hpp>
#include <dbserve/payload/cell.hpp>
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/json_writer.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

namespace detail {

inline std::string element_path(const std::vector<std::size_t>& shape, std::size_t flat) {
    std::vector<std::size_t> index(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        index[d] = shape[d] == 0 ? 0 : flat % shape[d];
        flat = shape[d] == 0 ? 0 : flat / shape[d];
    }
    std::string out = "element [";
    for (std::size_t d = 0; d < index.size(); ++d) out += (d ? "," : "") + std::to_string(index[d]);
    return out + "]";
}

// A tensor with a zero dimension: nested empty arrays, e.g. shape {2, 0} -> [[],[]].
inline void write_empty_tensor(json_writer& w, const std::vector<std::size_t>& shape, std::size_t d) {
    w.put('[');
    if (d + 1 < shape.size())
        for (std::size_t i = 0; i < shape[d]; ++i) {
            if (i != 0) w.put(',');
            write_empty_tensor(w, shape, d + 1);
        }
    w.put(']');
}

// Writes the nested arrays of a row-major tensor. On failure sets where/reason.
template <class T>
bool write_tensor(json_writer& w, const tensor_view<T>& t, const write_options& options, std::string& where,
                  std::string& reason) {
    if (!t.shape_matches()) {
        where = "shape";
        reason = "the buffer holds " + std::to_string(t.size) + " values but the shape needs " +
                 std::to_string(t.shape.empty() ? 0 : t.elements());
        return false;
    }
    const std::size_t dims = t.shape.size();
    const std::size_t inner = t.shape.back();
    const bool null_ok = options.non_finite == non_finite_policy::write_null;
    std::vector<std::size_t> counter(dims, 0);  // position in every outer dimension
    std::size_t flat = 0;
    // Open the outer dimensions, then alternate: one innermost row, close/open brackets.
    if (t.size == 0) {
        write_empty_tensor(w, t.shape, 0);
        return true;
    }
    for (std::size_t d = 0; d + 1 < dims; ++d) w.put('[');
    for (;;) {
        char* p = w.cursor(inner * (json_writer::max_double_chars + 1) + 2);
        *p++ = '[';
        for (std::size_t i = 0; i < inner; ++i) {
            if (i != 0) *p++ = ',';
            if (!write_number_at(p, t.data[flat + i])) {
                if (!null_ok) {
                    w.advance_to(p);
                    where = element_path(t.shape, flat + i);
                    reason = cell::non_finite_reason(t.data[flat + i] != t.data[flat + i]);
                    return false;
                }
                std::memcpy(p, "null", 4);
                p += 4;
            }
        }
        *p++ = ']';
        w.advance_to(p);
        flat += inner;
        // Advance the outer counters like an odometer, closing and reopening brackets.
        std::size_t d = dims - 1;
        while (d > 0) {
            --d;
            if (++counter[d] < t.shape[d]) break;
            counter[d] = 0;
            w.put(']');
            if (d == 0) return true;
        }
        if (dims == 1) return true;
        w.put(',');
        for (std::size_t e = d + 1; e + 1 < dims; ++e) w.put('[');
    }
}

template <class T>
result<model_input> write_tensor_input(input_format format, const tensor_view<T>& t, const write_options& options) {
    if (t.shape.empty() || t.shape.front() == 0)
        return input_error(format, "", "needs at least one instance (the first dimension is the batch)");
    std::string text;
    {
        json_writer w(text);
        model_input_access::start(w, format);
        w.reserve(t.size * 20 + 64);
        std::string where, reason;
        if (!write_tensor(w, t, options, where, reason)) return input_error(format, where, reason);
    }
    return model_input_access::make(format, std::move(text));
}

template <class T>
tensor_view<T> matrix_as_tensor(const matrix_view<T>& m, std::vector<T>& storage) {
    if (m.order == layout::row_major) return {m.data, m.size, {m.rows, m.cols}};
    storage.resize(m.rows * m.cols);
    if (m.shape_matches())
        for (std::size_t r = 0; r < m.rows; ++r)
            for (std::size_t c = 0; c < m.cols; ++c) storage[r * m.cols + c] = m(r, c);
    return {storage.data(), m.shape_matches() ? storage.size() : m.size, {m.rows, m.cols}};
}

}  // namespace detail

// {"instances": <tensor>}: row form, first dimension = batch.
template <class T>
result<model_input> write_instances(const tensor_view<T>& values, const write_options& options = {}) {
    return detail::write_tensor_input(input_format::instances, values, options);
}
template <class T>
result<model_input> write_instances(const matrix_view<T>& values, const write_options& options = {}) {
    std::vector<T> storage;
    return detail::write_tensor_input(input_format::instances, detail::matrix_as_tensor(values, storage), options);
}
// {"inputs": <tensor>}: row form.
template <class T>
result<model_input> write_inputs(const tensor_view<T>& values, const write_options& options = {}) {
    return detail::write_tensor_input(input_format::inputs, values, options);
}
template <class T>
result<model_input> write_inputs(const matrix_view<T>& values, const write_options& options = {}) {
    std::vector<T> storage;
    return detail::write_tensor_input(input_format::inputs, detail::matrix_as_tensor(values, storage), options);
}
// Any JSON value (strings, mixed types, nested lists), checked like model_input::from_json.
inline result<model_input> write_instances(const nlohmann::json& values, const write_options& options = {}) {
    return model_input::from_json(input_format::instances, values, options);
}
inline result<model_input> write_inputs(const nlohmann::json& values, const write_options& options = {}) {
    return model_input::from_json(input_format::inputs, values, options);
}

// Column form: {"inputs": {"name": <tensor>, ...}} (or "instances" when asked). Each named
// tensor may have its own shape.
class named_tensors_writer {
public:
    explicit named_tensors_writer(input_format format = input_format::inputs, const write_options& options = {})
        : format_(format), options_(options) {
        json_writer w(text_);
        detail::model_input_access::start(w, format_);
        w.put('{');
    }

    template <class T>
    named_tensors_writer& add(const std::string& name, const tensor_view<T>& values) {
        if (!begin(name)) return *this;
        {
            json_writer w(text_);
            std::string where, reason;
            if (!detail::write_tensor(w, values, options_, where, reason))
                fail("\"" + name + "\" " + where, reason);
        }
        return *this;
    }
    // A named tensor given as JSON: a list of strings, nested lists, base64 strings...
    named_tensors_writer& add(const std::string& name, const nlohmann::json& value) {
        if (!begin(name)) return *this;
        {
            json_writer w(text_);
            json_write_failure failure;
            if (!detail::write_json_value(w, value, options_, name, failure)) fail(failure.path, failure.reason);
        }
        return *this;
    }

    result<model_input> finish() {
        if (failure_) return *failure_;
        if (names_.empty()) return detail::input_error(format_, "", "has no named tensors; add at least one");
        text_ += '}';
        return detail::model_input_access::make(format_, std::move(text_));
    }

private:
    bool begin(const std::string& name) {
        if (failure_) return false;
        if (!names_.insert(name).second) {
            fail("\"" + name + "\"", "is given twice");
            return false;
        }
        json_writer w(text_);
        if (names_.size() > 1) w.put(',');
        if (!w.string(name, options_.invalid_utf8)) {
            fail("tensor name", "is not valid UTF-8");
            return false;
        }
        w.put(':');
        return true;
    }
    void fail(const std::string& where, const std::string& what) {
        if (!failure_) failure_ = detail::input_error(format_, where, what);
    }

    input_format format_;
    write_options options_;
    std::string text_;
    std::set<std::string> names_;
    std::optional<dbserve::error> failure_;
};

DBSERVE_END_NAMESPACE
