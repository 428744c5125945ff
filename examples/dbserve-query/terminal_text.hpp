// Server-provided text made safe to print on a terminal, with the library's rule (see
// dbserve/protocol/detail/shown_text.hpp): control characters (ESC, which starts CSI and OSC
// sequences, BEL, CR, line breaks...) and bytes that are not UTF-8 become \xNN, C1 controls
// \u00NN, instead of being acted on. And where input that must be UTF-8 stops being so.
#pragma once

#include <dbserve/protocol/detail/shown_text.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace dbserve_query {

inline std::string escape_for_terminal(std::string_view text) {
    return dbserve::detail::escape_terminal_controls(text);
}

// The offset of the first byte of `text` that is not part of well-formed UTF-8, or npos.
inline std::size_t first_invalid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const std::size_t length = dbserve::detail::utf8_sequence_length(text, i);
        if (length == 0) return i;
        i += length;
    }
    return std::string_view::npos;
}

}  // namespace dbserve_query
