// secret_string: holds a client secret or a token. Its memory is zeroed when it is
// overwritten or destroyed, and it has no stream operator, so a secret cannot end up in
// a log line or an error message by accident; reveal() is the one, greppable, way out.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
// Writes through a volatile pointer so the compiler cannot drop the stores as dead.
inline void secure_zero(void* data, std::size_t size) noexcept {
    volatile unsigned char* p = static_cast<volatile unsigned char*>(data);
    while (size--) *p++ = 0;
}
}  // namespace detail

class secret_string {
public:
    secret_string() = default;
    explicit secret_string(std::string_view value) { assign(value); }
    explicit secret_string(const char* value) { assign(value ? std::string_view(value) : std::string_view()); }
    secret_string(const secret_string& other) { assign(other.reveal()); }
    secret_string(secret_string&& other) noexcept { swap(other); }
    secret_string& operator=(const secret_string& other) {
        if (this != &other) assign(other.reveal());
        return *this;
    }
    secret_string& operator=(secret_string&& other) noexcept {
        if (this != &other) {
            clear();
            swap(other);
        }
        return *this;
    }
    ~secret_string() { clear(); }

    void assign(std::string_view value) {
        clear();
        // Reserve first so the bytes are written once and never left behind by a
        // reallocation.
        value_.reserve(value.size());
        value_.assign(value.data(), value.size());
    }
    void clear() noexcept {
        // Zero the whole capacity: a shorter earlier value may have left bytes past size().
        if (value_.capacity() != 0) {
            value_.resize(value_.capacity());
            detail::secure_zero(&value_[0], value_.size());
        }
        value_.clear();
    }
    void swap(secret_string& other) noexcept { value_.swap(other.value_); }

    // The secret itself: only for the few places that must send it.
    std::string_view reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }
    std::size_t size() const noexcept { return value_.size(); }

    friend bool operator==(const secret_string& a, const secret_string& b) noexcept {
        return a.value_ == b.value_;
    }
    friend bool operator!=(const secret_string& a, const secret_string& b) noexcept {
        return !(a == b);
    }

private:
    std::string value_;
};

// What a secret looks like wherever it must be shown: never the value itself.
inline std::string_view to_string(const secret_string& s) noexcept {
    return s.empty() ? "(empty)" : "(redacted)";
}

DBSERVE_END_NAMESPACE
