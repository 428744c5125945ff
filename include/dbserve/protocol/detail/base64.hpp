// Base64 (RFC 4648 section 4: standard alphabet, '=' padding), for HTTP Basic
// credentials and binary payload values.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

inline std::string base64_encode(std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t n = (std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                                std::uint32_t(static_cast<unsigned char>(bytes[i + 2]));
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest != 0) {
        std::uint32_t n = std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
        if (rest == 2) n |= std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8;
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// Strict: standard alphabet only, no whitespace, and padding is optional but, when
// present, must be complete. Bits left over in the last character must be zero, so
// every byte string has exactly one accepted encoding.
inline result<std::string> base64_decode(std::string_view text) {
    auto value_of = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::size_t length = text.size();
    if (length % 4 == 0 && length >= 4) {
        if (text[length - 1] == '=') --length;
        if (text[length - 1] == '=') --length;
    }
    if (length % 4 == 1)
        return unexpected(errc::invalid_argument, "invalid base64: the length " + std::to_string(text.size()) +
                                                      " cannot be a complete encoding");
    std::string out;
    out.reserve(length / 4 * 3 + 2);
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (std::size_t i = 0; i < length; ++i) {
        const int v = value_of(text[i]);
        if (v < 0)
            return unexpected(errc::invalid_argument, "invalid base64: unexpected character at position " +
                                                          std::to_string(i + 1) +
                                                          (text[i] == '=' ? " ('=' padding only at the end)" : ""));
        accumulator = (accumulator << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((accumulator >> bits) & 0xff);
        }
    }
    if (bits > 0 && (accumulator & ((1u << bits) - 1u)) != 0)
        return unexpected(errc::invalid_argument, "invalid base64: the last character has non-zero unused bits");
    return out;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
