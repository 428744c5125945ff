// Non-owning views of the numeric buffers C++ callers hold: a matrix (rows x columns, row- or
// column-major) and an N-dimensional tensor (row-major with a shape). Built from a pointer
// plus a shape or from any contiguous range (std::vector, std::array, std::span, a C array).
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <type_traits>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

enum class layout {
    row_major,     // values[row * cols + col] (C, NumPy default)
    column_major,  // values[col * rows + row] (Fortran, Eigen default, column stores)
};

template <class T>
struct matrix_view {
    const T* data = nullptr;
    std::size_t rows = 0;
    std::size_t cols = 0;
    layout order = layout::row_major;
    std::size_t size = 0;  // elements the buffer holds; checked against rows * cols

    const T& operator()(std::size_t row, std::size_t col) const noexcept {
        return order == layout::row_major ? data[row * cols + col] : data[col * rows + row];
    }
    bool shape_matches() const noexcept { return size == rows * cols && (data != nullptr || size == 0); }
};

// A matrix over `rows * cols` values at `data`.
template <class T>
matrix_view<T> matrix(const T* data, std::size_t rows, std::size_t cols, layout order = layout::row_major) {
    return {data, rows, cols, order, rows * cols};
}
// A matrix over a contiguous range; a size that is not rows * cols is reported when written.
template <class Range, class T = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const Range&>()))>>>
matrix_view<T> matrix(const Range& values, std::size_t rows, std::size_t cols, layout order = layout::row_major) {
    return {std::data(values), rows, cols, order, static_cast<std::size_t>(std::size(values))};
}

template <class T>
struct tensor_view {
    const T* data = nullptr;
    std::size_t size = 0;             // elements the buffer holds
    std::vector<std::size_t> shape;   // row-major; the product must equal size

    std::size_t elements() const noexcept {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    bool shape_matches() const noexcept { return !shape.empty() && elements() == size; }
};

template <class T>
tensor_view<T> tensor(const T* data, std::vector<std::size_t> shape) {
    tensor_view<T> t{data, 0, std::move(shape)};
    t.size = t.elements();
    return t;
}
template <class Range, class T = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const Range&>()))>>>
tensor_view<T> tensor(const Range& values, std::vector<std::size_t> shape) {
    return {std::data(values), static_cast<std::size_t>(std::size(values)), std::move(shape)};
}
// A one-dimensional tensor over the whole range.
template <class Range, class T = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const Range&>()))>>>
tensor_view<T> tensor(const Range& values) {
    auto n = static_cast<std::size_t>(std::size(values));
    return {std::data(values), n, {n}};
}

DBSERVE_END_NAMESPACE
