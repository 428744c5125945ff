// Text a server sent, made safe to show in an error: credentials it quotes are blanked and
// terminal control characters are escaped, so an echo can neither leak a secret nor drive
// the terminal (colours, titles, cursor moves) of whoever reads the message.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

// Length of the valid UTF-8 sequence at text[at] (2 to 4 bytes), 0 when there is none.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t at) noexcept {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t length = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
    if (length == 0 || at + length > text.size()) return 0;
    for (std::size_t i = 1; i < length; ++i)
        if ((static_cast<unsigned char>(text[at + i]) & 0xC0) != 0x80) return 0;
    const auto second = static_cast<unsigned char>(text[at + 1]);
    if ((lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F) || (lead == 0xF0 && second < 0x90) ||
        (lead == 0xF4 && second > 0x8F))
        return 0;  // overlong, a surrogate, or beyond U+10FFFF
    return length;
}

// One character of a server's text: an ASCII byte, a whole UTF-8 sequence, or a byte that
// is neither; `control` when it could drive a terminal: C0 but tab, DEL, the C1 controls
// U+0080..U+009F (CSI, OSC...), or a byte that is not valid UTF-8.
struct text_unit {
    std::size_t length = 1;
    bool control = false;
};

inline text_unit text_unit_at(std::string_view text, std::size_t at) noexcept {
    const auto u = static_cast<unsigned char>(text[at]);
    if (u < 0x80) return {1, (u < 0x20 && u != '\t') || u == 0x7f};
    const std::size_t length = utf8_sequence_length(text, at);
    if (length == 0) return {1, true};
    if (u == 0xC2 && static_cast<unsigned char>(text[at + 1]) < 0xA0) return {2, true};
    return {length, false};
}

// Whether `text` holds anything escape_terminal_controls would change.
inline bool has_terminal_controls(std::string_view text) noexcept {
    for (std::size_t i = 0; i < text.size();) {
        const text_unit unit = text_unit_at(text, i);
        if (unit.control) return true;
        i += unit.length;
    }
    return false;
}

// C0 controls but tab, and DEL, become \xNN; the C1 controls become \u00NN; a byte that is
// not part of valid UTF-8 becomes \xNN. Everything else, multi-byte characters included,
// stays. The result holds no control character, so escaping it again changes nothing.
inline void append_escaped(std::string& out, std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    auto hex = [&](const char* prefix, unsigned value) {
        out += prefix;
        out += digits[(value >> 4) & 15];
        out += digits[value & 15];
    };
    for (std::size_t i = 0; i < text.size();) {
        const text_unit unit = text_unit_at(text, i);
        if (!unit.control) out.append(text.data() + i, unit.length);
        else if (unit.length == 2) hex("\\u00", static_cast<unsigned char>(text[i + 1]));  // C1, as U+00NN
        else hex("\\x", static_cast<unsigned char>(text[i]));
        i += unit.length;
    }
}

inline std::string escape_terminal_controls(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    append_escaped(out, text);
    return out;
}

// Escapes, in place, the fields of an error that can carry a server's words.
inline void escape_terminal_controls(dbserve::error& e) {
    for (std::string* text : {&e.message, &e.service_code, &e.request_id, &e.native_message})
        if (has_terminal_controls(*text)) *text = escape_terminal_controls(*text);
}

constexpr std::string_view redaction_mark = "(redacted)";

// Replaces each run of the secret's first `head` bytes, extended as far as the secret goes
// on (a quote may stop part-way), with `mark`; true if there was one.
inline bool redact_runs(std::string& text, std::string_view secret, std::size_t head_bytes,
                        std::string_view mark = redaction_mark) {
    const std::string_view head = secret.substr(0, head_bytes);
    if (head.empty()) return false;
    bool found = false;
    for (std::size_t at = text.find(head); at != std::string::npos; at = text.find(head, at + mark.size())) {
        std::size_t length = head.size();
        while (at + length < text.size() && length < secret.size() && text[at + length] == secret[length]) ++length;
        text.replace(at, length, mark.data(), mark.size());
        found = true;
    }
    return found;
}

// `secrets` ordered for redact_longest_first.
inline void order_longest_first(std::vector<std::string_view>& secrets) {
    std::stable_sort(secrets.begin(), secrets.end(),
                     [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
}

// Blanks in `text` each of `secrets` (ordered longest first) with `mark`: first every whole
// occurrence, then every run of a secret's first `head_bytes` bytes. Whole values go first so
// that a run of one form of a credential cannot cut another form sharing its beginning and
// leave that form's tail showing ("(redacted)%2Fklm" for a secret "abcdefghij/klm" quoted
// form-encoded). True if anything was blanked.
inline bool redact_longest_first(std::string& text, const std::vector<std::string_view>& secrets,
                                 std::size_t head_bytes, std::string_view mark = redaction_mark) {
    bool found = false;
    for (std::string_view secret : secrets) found = redact_runs(text, secret, secret.size(), mark) || found;
    for (std::string_view secret : secrets)
        if (secret.size() > head_bytes) found = redact_runs(text, secret, head_bytes, mark) || found;
    return found;
}

// Blanks every secret of [first, last) (each converts to std::string_view) in the fields of
// `e` a caller can show; a run of a secret's first `head_bytes` bytes counts as the secret.
// A code or request id that still shows one afterwards (the replacement joined the text
// around it into a secret again) is cleared. Returns true when the message still shows one:
// the caller must replace the message.
template <class Iterator>
bool redact_secrets(dbserve::error& e, Iterator first, Iterator last, std::size_t head_bytes) {
    std::string* const fields[] = {&e.message, &e.service_code, &e.request_id, &e.native_message};
    std::vector<std::string_view> secrets(first, last);
    order_longest_first(secrets);
    bool found = false;
    for (std::string* text : fields) found = redact_longest_first(*text, secrets, head_bytes) || found;
    if (!found) return false;
    bool message_shows = false;
    for (Iterator it = first; it != last; ++it) {
        const std::string_view head = std::string_view(*it).substr(0, head_bytes);
        if (head.empty()) continue;
        for (std::string* text : fields)
            if (text->find(head) != std::string::npos) {
                if (text == &e.message) message_shows = true;
                else text->clear();
            }
    }
    return message_shows;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
