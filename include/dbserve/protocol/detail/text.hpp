// ASCII text helpers shared by the protocol headers: case-insensitive comparison (header
// names, codes, HTML markers and hosts all compare one way) and whitespace trimming.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <cstddef>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    // Names mostly arrive in the case they are looked up in: an exact match (one memcmp) is
    // cheaper than folding byte by byte.
    if (a == b) return true;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}
// Whether `word` occurs in `text`, ASCII case folded.
constexpr bool icontains(std::string_view text, std::string_view word) noexcept {
    for (std::size_t i = 0; i + word.size() <= text.size(); ++i)
        if (iequals(text.substr(i, word.size()), word)) return true;
    return false;
}
// Whether `text` ends with `suffix`, ASCII case folded.
constexpr bool iends_with(std::string_view text, std::string_view suffix) noexcept {
    return text.size() >= suffix.size() && iequals(text.substr(text.size() - suffix.size()), suffix);
}
// Whether `s` starts with `prefix`, ASCII case folded.
inline bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}
// `s` without leading and trailing ASCII whitespace.
inline std::string_view trim(std::string_view s) noexcept {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}
}  // namespace detail

DBSERVE_END_NAMESPACE
