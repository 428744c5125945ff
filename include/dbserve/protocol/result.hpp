// result<T>: a value or a dbserve::error. The core never throws; callers who want
// exceptions use dbserve/client/throwing.hpp.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>

#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

DBSERVE_BEGIN_NAMESPACE

// Tag type so a result<T> can be built from an error without ambiguity.
struct unexpected {
    error value;
    explicit unexpected(error e) : value(std::move(e)) {}
    unexpected(errc code, std::string message) : value(code, std::move(message)) {}
};

namespace detail {
[[noreturn]] inline void bad_result_access() noexcept { std::abort(); }
}  // namespace detail

template <class T>
class [[nodiscard]] result {
public:
    using value_type = T;

    template <class U = T,
              std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                   !std::is_same_v<std::decay_t<U>, result> &&
                                   !std::is_same_v<std::decay_t<U>, unexpected> &&
                                   !std::is_same_v<std::decay_t<U>, dbserve::error>,
                               int> = 0>
    result(U&& v) : storage_(std::in_place_index<0>, std::forward<U>(v)) {}
    result(unexpected u) : storage_(std::in_place_index<1>, std::move(u.value)) {}
    result(dbserve::error e) : storage_(std::in_place_index<1>, std::move(e)) {}
    // The value built in place from `args`, with no temporary to move from.
    template <class... Args>
    explicit result(std::in_place_t, Args&&... args) : storage_(std::in_place_index<0>, std::forward<Args>(args)...) {}

    bool has_value() const noexcept { return storage_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    // Calling these on the wrong alternative aborts: check has_value() first.
    T& value() & noexcept { return *check_value(); }
    const T& value() const& noexcept { return *check_value(); }
    T&& value() && noexcept { return std::move(*check_value()); }
    T& operator*() & noexcept { return value(); }
    const T& operator*() const& noexcept { return value(); }
    T&& operator*() && noexcept { return std::move(*this).value(); }
    T* operator->() noexcept { return check_value(); }
    const T* operator->() const noexcept { return check_value(); }

    const dbserve::error& error() const& noexcept { return *check_error(); }
    dbserve::error& error() & noexcept { return *check_error(); }
    dbserve::error&& error() && noexcept { return std::move(*check_error()); }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

private:
    T* check_value() const noexcept {
        auto* p = std::get_if<0>(&storage_);
        if (!p) detail::bad_result_access();
        return const_cast<T*>(p);
    }
    dbserve::error* check_error() const noexcept {
        auto* p = std::get_if<1>(&storage_);
        if (!p) detail::bad_result_access();
        return const_cast<dbserve::error*>(p);
    }

    std::variant<T, dbserve::error> storage_;
};

// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;
    result() = default;
    result(unexpected u) : error_(std::move(u.value)) {}
    result(dbserve::error e) : error_(std::move(e)) {}

    bool has_value() const noexcept { return !error_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }
    void value() const noexcept {
        if (error_) detail::bad_result_access();
    }
    const dbserve::error& error() const& noexcept {
        if (!error_) detail::bad_result_access();
        return *error_;
    }
    dbserve::error&& error() && noexcept {
        if (!error_) detail::bad_result_access();
        return std::move(*error_);
    }

private:
    std::optional<dbserve::error> error_;
};

DBSERVE_END_NAMESPACE
