// W3C Trace Context (https://www.w3.org/TR/trace-context/) for the requests of a query:
// the `traceparent` and `tracestate` headers, checked before anything is sent, and the ids
// of a trace the client starts itself when the caller brings none.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>

DBSERVE_BEGIN_NAMESPACE

// A W3C trace context as sent in the headers of the same names.
struct trace_context {
    std::string traceparent;
    std::string tracestate;  // optional
};

// How a client starts a trace for a query whose options carry no trace context.
struct trace_options {
    // Start a trace per query (a random trace id and span id); false: only a caller's
    // query_options::trace is sent.
    bool generate = true;
    // The sampled flag of a generated traceparent (trace-flags 01, else 00).
    bool sampled = false;
};

namespace detail {

inline bool is_lower_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

inline bool all_lower_hex_not_zero(std::string_view text) noexcept {
    bool nonzero = false;
    for (char c : text) {
        if (!is_lower_hex(c)) return false;
        if (c != '0') nonzero = true;
    }
    return nonzero;
}

inline dbserve::error trace_error(std::string_view header, std::string_view why) {
    return dbserve::error(errc::invalid_argument, "query_options::trace." + std::string(header) +
                                                      " is not a valid W3C " + std::string(header) + ": " +
                                                      std::string(why));
}

// splitmix64: one step of a well-mixed 64-bit sequence. Ids need to be unique, not secret.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// A seed from random_device, the time and the thread: two processes or threads started at
// once still draw different ids. Never zero (zero marks a generator not yet seeded).
inline std::uint64_t trace_seed() noexcept {
    std::uint64_t seed = 0;
#if DBSERVE_HAS_EXCEPTIONS
    try {  // a random_device without a source throws; the time and thread still seed
        std::random_device device;
        seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    } catch (...) {
    }
#else
    std::random_device device;
    seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
#endif
    seed ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id())) << 1;
    return seed == 0 ? 1 : seed;
}

// A per-thread generator, no lock. Its state starts at zero (no dynamic initialisation,
// so no guard on each use) and is seeded on the first draw.
inline std::uint64_t random_trace_word() noexcept {
    thread_local std::uint64_t state = 0;
    if (state == 0) state = trace_seed();
    std::uint64_t word;
    do word = splitmix64(state);
    while (word == 0);  // W3C forbids all-zero ids; a nonzero word makes the id nonzero
    return word;
}

// 8 lowercase hex digits of the low 32 bits of `v`, all at once: each nibble spread into
// its own byte, then '0'..'9' or 'a'..'f' added to every byte in one addition.
inline void write_hex32(char* out, std::uint64_t v) noexcept {
    std::uint64_t x = v & 0xffffffffULL;
    x = (x | (x << 16)) & 0x0000ffff0000ffffULL;
    x = (x | (x << 8)) & 0x00ff00ff00ff00ffULL;
    x = (x | (x << 4)) & 0x0f0f0f0f0f0f0f0fULL;  // byte i holds nibble i, lowest first
    const std::uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
    x += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x);  // highest nibble first, in one store
    std::memcpy(out, &x, sizeof x);
#else
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(x >> (8 * (7 - i)));  // highest nibble first
#endif
}

// 16 lowercase hex digits of `word`.
inline void write_hex(char* out, std::uint64_t word) noexcept {
    write_hex32(out, word >> 32);
    write_hex32(out + 8, word);
}

// The 55 characters of a new version-00 traceparent, written into `text`.
inline void write_traceparent(char (&text)[55], bool sampled) noexcept {
    text[0] = '0';
    text[1] = '0';
    text[2] = text[35] = text[52] = '-';
    write_hex(text + 3, random_trace_word());
    write_hex(text + 19, random_trace_word());
    write_hex(text + 36, random_trace_word());
    text[53] = '0';
    text[54] = sampled ? '1' : '0';
}

}  // namespace detail

// A new traceparent (version 00): a random trace id and parent (span) id, never all zero.
inline std::string generate_traceparent(bool sampled) {
    char text[55];
    detail::write_traceparent(text, sampled);
    return std::string(text, sizeof text);
}

// Checks a traceparent as the spec's parser does: version 00 is exactly
// 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase, ids not all zero;
// a later version starts the same way and may go on after a '-'; version ff is invalid.
inline result<void> check_traceparent(std::string_view value) {
    if (value.size() < 55)
        return detail::trace_error("traceparent", "it is " + std::to_string(value.size()) +
                                                      " characters long; version 00 has 55 "
                                                      "(00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)");
    const std::string_view version = value.substr(0, 2);
    if (!detail::is_lower_hex(version[0]) || !detail::is_lower_hex(version[1]))
        return detail::trace_error("traceparent", "the version is not two lowercase hex digits");
    if (version == "ff") return detail::trace_error("traceparent", "version ff is invalid");
    if (value[2] != '-' || value[35] != '-' || value[52] != '-')
        return detail::trace_error("traceparent", "the fields are not separated by '-' at the expected places");
    if (!detail::all_lower_hex_not_zero(value.substr(3, 32)))
        return detail::trace_error("traceparent", "the trace id is not 32 lowercase hex digits, or is all zero");
    if (!detail::all_lower_hex_not_zero(value.substr(36, 16)))
        return detail::trace_error("traceparent", "the parent id is not 16 lowercase hex digits, or is all zero");
    if (!detail::is_lower_hex(value[53]) || !detail::is_lower_hex(value[54]))
        return detail::trace_error("traceparent", "the trace flags are not two lowercase hex digits");
    if (value.size() > 55) {
        if (version == "00") return detail::trace_error("traceparent", "version 00 has exactly 55 characters");
        if (value[55] != '-') return detail::trace_error("traceparent", "a later version's extra fields follow a '-'");
        for (char c : value.substr(55))
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
                return detail::trace_error("traceparent", "it contains a character outside printable ASCII");
    }
    return {};
}

// Checks a tracestate: at most 32 comma-separated members key=value (empty members
// allowed), keys lowercase [a-z0-9_-*/] with an optional tenant@system form, values of
// printable ASCII without ',' or '=' (spaces around a member are optional white space),
// at most 512 characters.
inline result<void> check_tracestate(std::string_view value) {
    if (value.size() > 512)
        return detail::trace_error("tracestate", "it is longer than 512 characters");
    auto key_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
    };
    int members = 0;
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t end = value.find(',', start);
        if (end == std::string_view::npos) end = value.size();
        std::string_view member = value.substr(start, end - start);
        while (!member.empty() && (member.front() == ' ' || member.front() == '\t')) member.remove_prefix(1);
        while (!member.empty() && (member.back() == ' ' || member.back() == '\t')) member.remove_suffix(1);
        if (!member.empty()) {
            if (++members > 32) return detail::trace_error("tracestate", "it has more than 32 members");
            const std::size_t eq = member.find('=');
            if (eq == std::string_view::npos || eq == 0)
                return detail::trace_error("tracestate", "a member is not key=value");
            const std::string_view key = member.substr(0, eq);
            const std::string_view val = member.substr(eq + 1);
            const std::size_t at = key.find('@');
            const std::string_view tenant = key.substr(0, at);
            const bool key_ok = [&] {
                if (key.size() > 256 || tenant.empty()) return false;
                if (!((tenant[0] >= 'a' && tenant[0] <= 'z') || (tenant[0] >= '0' && tenant[0] <= '9'))) return false;
                for (char c : tenant)
                    if (!key_char(c)) return false;
                if (at == std::string_view::npos) return true;
                const std::string_view system = key.substr(at + 1);
                if (system.empty() || system.size() > 14 || !(system[0] >= 'a' && system[0] <= 'z')) return false;
                for (char c : system)
                    if (!key_char(c)) return false;
                return true;
            }();
            if (!key_ok) return detail::trace_error("tracestate", "a key is not a lowercase W3C tracestate key");
            if (val.empty() || val.size() > 256)
                return detail::trace_error("tracestate", "a value is empty or longer than 256 characters");
            for (char c : val)
                if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
                    return detail::trace_error("tracestate",
                                               "a value holds a character other than printable ASCII without ',' and '='");
        }
        start = end + 1;
    }
    return {};
}

// The trace id (32 hex digits) of a checked traceparent.
inline std::string_view trace_id_of(std::string_view traceparent) noexcept {
    return traceparent.size() >= 35 ? traceparent.substr(3, 32) : std::string_view();
}

DBSERVE_END_NAMESPACE
