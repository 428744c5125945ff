// HTTP request and response values: what the library hands a Transport and gets back.
// Plain data, no I/O. Header names compare case-insensitively; a header name or value
// holding CR, LF or NUL is refused so no caller value can inject a header.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/text.hpp>
#include <dbserve/protocol/result.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

enum class http_method { get, post };

constexpr std::string_view to_string(http_method m) noexcept {
    return m == http_method::get ? "GET" : "POST";
}

namespace detail {
// RFC 9110 token characters, the only ones allowed in a field name.
constexpr bool is_token_char(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
        case '-': case '.': case '^': case '_': case '`': case '|': case '~': return true;
        default: return false;
    }
}
}  // namespace detail

struct header {
    std::string name;
    std::string value;
};

// An ordered list of headers with case-insensitive lookup. Small (a handful of entries),
// so a vector beats a map.
class header_list {
public:
    using const_iterator = std::vector<header>::const_iterator;

    // Checks that the name is a token and the value holds no CR, LF or NUL.
    static result<void> validate(std::string_view name, std::string_view value) {
        if (name.empty())
            return unexpected(errc::invalid_argument, "a header name is empty");
        for (char c : name)
            if (!detail::is_token_char(c))
                return unexpected(errc::invalid_argument,
                                  "header name '" + printable(name) +
                                      "' contains a character not allowed in a header name");
        for (char c : value)
            if (c == '\r' || c == '\n' || c == '\0')
                return unexpected(errc::invalid_argument,
                                  "the value of header '" + std::string(name) +
                                      "' contains CR, LF or NUL; remove line breaks from it");
        return {};
    }

    // Adds a header after validating it; the list is unchanged on error.
    result<void> add(std::string_view name, std::string_view value) {
        auto ok = validate(name, value);
        if (!ok) return ok;
        headers_.push_back({std::string(name), std::string(value)});
        return {};
    }
    // Replaces every header of that name with one value.
    result<void> set(std::string_view name, std::string_view value) {
        auto ok = validate(name, value);
        if (!ok) return ok;
        remove(name);
        headers_.push_back({std::string(name), std::string(value)});
        return {};
    }
    // For transports filling in a response: no validation, the peer's bytes are kept.
    void add_unchecked(std::string name, std::string value) {
        headers_.push_back({std::move(name), std::move(value)});
    }
    // Appends a copy of every header of `other` (already checked when it was built).
    void append(const header_list& other) {
        headers_.insert(headers_.end(), other.headers_.begin(), other.headers_.end());
    }
    void remove(std::string_view name) {
        headers_.erase(std::remove_if(headers_.begin(), headers_.end(),
                                      [&](const header& h) { return detail::iequals(h.name, name); }),
                       headers_.end());
    }
    // Moves out the value of the last header of that name (left empty); "" when none.
    std::string take_last(std::string_view name) noexcept {
        for (auto h = headers_.rbegin(); h != headers_.rend(); ++h)
            if (detail::iequals(h->name, name)) return std::move(h->value);
        return std::string();
    }
    // The first value of that header, or nullptr.
    const std::string* find(std::string_view name) const noexcept {
        for (const auto& h : headers_)
            if (detail::iequals(h.name, name)) return &h.value;
        return nullptr;
    }
    std::string_view get(std::string_view name) const noexcept {
        const auto* v = find(name);
        return v ? std::string_view(*v) : std::string_view();
    }
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }

    const_iterator begin() const noexcept { return headers_.begin(); }
    const_iterator end() const noexcept { return headers_.end(); }
    std::size_t size() const noexcept { return headers_.size(); }
    bool empty() const noexcept { return headers_.empty(); }
    void clear() noexcept { headers_.clear(); }
    void reserve(std::size_t n) { headers_.reserve(n); }

private:
    static std::string printable(std::string_view s) {
        std::string out;
        for (char c : s) {
            if (c == '\r') out += "\\r";
            else if (c == '\n') out += "\\n";
            else if (c == '\0') out += "\\0";
            else out += c;
        }
        return out;
    }
    std::vector<header> headers_;
};

struct http_request {
    http_method method = http_method::get;
    std::string url;  // absolute https URL (http only to loopback)
    header_list headers;
    std::string body;
};

struct http_response {
    int status = 0;
    std::string reason;  // the status line's reason phrase, when the transport has it
    header_list headers;
    std::string body;
};

DBSERVE_END_NAMESPACE
