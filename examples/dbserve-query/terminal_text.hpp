// Server-provided text made safe to print on a terminal: control characters (ESC, which
// starts CSI and OSC sequences, BEL, CR, backspace...), C1 controls and bytes that are not
// UTF-8 are shown as \xNN (\u0080..\u009f for C1 controls) instead of being acted on.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dbserve_query {

namespace detail {

// The length of the well-formed UTF-8 sequence starting at text[i] (>= 2), or 0.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead == 0xE0) { length = 3; low = 0xA0; }
    else if (lead >= 0xE1 && lead <= 0xEC) length = 3;
    else if (lead == 0xED) { length = 3; high = 0x9F; }  // no UTF-16 surrogates
    else if (lead >= 0xEE && lead <= 0xEF) length = 3;
    else if (lead == 0xF0) { length = 4; low = 0x90; }
    else if (lead >= 0xF1 && lead <= 0xF3) length = 4;
    else if (lead == 0xF4) { length = 4; high = 0x8F; }
    else return 0;
    if (i + length > text.size()) return 0;
    if (byte(i + 1) < low || byte(i + 1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return length;
}

inline void append_hex_escape(std::string& out, unsigned char c) {
    static constexpr char digits[] = "0123456789abcdef";
    out += "\\x";
    out += digits[c >> 4];
    out += digits[c & 15];
}

}  // namespace detail

// The offset of the first byte of `text` that is not part of well-formed UTF-8, or npos.
inline std::size_t first_invalid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t length = detail::utf8_sequence_length(text, i);
        if (length == 0) return i;
        i += length;
    }
    return std::string_view::npos;
}

// `text` with every control character and every byte outside well-formed UTF-8 escaped;
// tabs stay, and line breaks too when `keep_line_breaks` (for text printed on lines of its own).
inline std::string escape_for_terminal(std::string_view text, bool keep_line_breaks = false) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            const bool allowed = c == '\t' || (keep_line_breaks && c == '\n') || (c >= 0x20 && c != 0x7F);
            if (allowed) out += static_cast<char>(c);
            else detail::append_hex_escape(out, c);
            ++i;
            continue;
        }
        const std::size_t length = detail::utf8_sequence_length(text, i);
        if (length == 0) {
            detail::append_hex_escape(out, c);
            ++i;
            continue;
        }
        // U+0080..U+009F (C1 controls, e.g. U+009B CSI) are encoded as C2 80..C2 9F.
        const auto second = static_cast<unsigned char>(text[i + 1]);
        if (c == 0xC2 && second <= 0x9F) {
            static constexpr char digits[] = "0123456789abcdef";
            out += "\\u00";
            out += digits[second >> 4];
            out += digits[second & 15];
        } else {
            out.append(text.data() + i, length);
        }
        i += length;
    }
    return out;
}

}  // namespace dbserve_query
