// A fast JSON text writer that appends straight into a std::string: the request payload
// builders write large numeric tables through it without building a JSON tree.
//  - Numbers: std::to_chars, the shortest form that reads back to the same value. A double
//    that prints as an integer gets ".0" so it stays a float on the server (pandas and
//    MLflow schema enforcement tell 1 from 1.0); floats print as the shortest float.
//  - Non-finite numbers: JSON has none. Policy: refuse (default) or write null.
//  - Strings: RFC 8259 escaping ('"', '\\', control characters). Invalid UTF-8 (overlong
//    forms, surrogates, code points past U+10FFFF, truncated sequences) is refused by
//    default; the replace policy writes U+FFFD for each maximal invalid subsequence, as the
//    Unicode standard recommends (the same as a browser's decoder).
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

DBSERVE_BEGIN_NAMESPACE

// What to do with NaN and +/-infinity, which JSON cannot represent.
enum class non_finite_policy {
    error,       // refuse the body, naming the row and column (the default)
    write_null,  // write null: a missing value for pandas and MLflow
};

// What to do with a string that is not valid UTF-8 (the service accepts only UTF-8).
enum class invalid_utf8_policy {
    error,    // refuse the body, naming the field and byte offset (the default)
    replace,  // write U+FFFD for each maximal invalid subsequence
};

struct write_options {
    non_finite_policy non_finite = non_finite_policy::error;
    invalid_utf8_policy invalid_utf8 = invalid_utf8_policy::error;
};

class json_writer {
public:
    // Appends after whatever `out` already holds. Call finish() (or destroy the writer)
    // before reading `out`: the writer over-allocates and trims at the end.
    explicit json_writer(std::string& out) : out_(out), start_(out.size()) {
        cur_ = out_.data() + start_;
        end_ = cur_;
    }
    json_writer(const json_writer&) = delete;
    json_writer& operator=(const json_writer&) = delete;
    ~json_writer() { finish(); }

    // Trims the buffer to what was written; the writer may be used again afterwards.
    std::string& finish() {
        if (cur_ != nullptr) {
            out_.resize(size());
            cur_ = end_ = nullptr;
        }
        return out_;
    }
    std::size_t size() const noexcept {
        return cur_ != nullptr ? static_cast<std::size_t>(cur_ - out_.data()) : out_.size();
    }
    // Reserves room for `bytes` more (a hint; writing grows the buffer anyway).
    void reserve(std::size_t bytes) { ensure(bytes); }

    void put(char c) {
        ensure(1);
        *cur_++ = c;
    }
    // Writes JSON text as is (structural characters, keys known to need no escaping).
    void raw(std::string_view text) {
        ensure(text.size());
        std::memcpy(cur_, text.data(), text.size());
        cur_ += text.size();
    }
    void null() { raw("null"); }
    void boolean(bool b) { raw(b ? std::string_view("true") : std::string_view("false")); }

    // Writes a finite double; returns false (writing nothing) for NaN or infinity unless the
    // policy is write_null.
    bool number(double v, non_finite_policy policy = non_finite_policy::error) { return floating(v, policy); }
    bool number(float v, non_finite_policy policy = non_finite_policy::error) { return floating(v, policy); }
    template <class Integer,
              std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
    void number(Integer v) {
        ensure(24);
        cur_ = std::to_chars(cur_, cur_ + 24, v).ptr;
    }

    // Writes a quoted, escaped string. Returns false (and sets *bad_offset to the byte
    // offset of the first invalid UTF-8 sequence) when the text is not UTF-8 and the policy
    // is error; what was written is then incomplete and the caller discards the body.
    bool string(std::string_view text, invalid_utf8_policy policy = invalid_utf8_policy::error,
                std::size_t* bad_offset = nullptr) {
        ensure(text.size() + 2);
        *cur_++ = '"';
        bool ok = string_body(text, policy, bad_offset);
        put('"');
        return ok;
    }

    // Low-level, for the hot loops of the table writers: room for `bytes` more characters,
    // then write through cursor() and advance().
    char* cursor(std::size_t bytes) {
        ensure(bytes);
        return cur_;
    }
    void advance_to(char* p) noexcept { cur_ = p; }

    // The longest text to_chars writes for a double plus the ".0" suffix.
    static constexpr std::size_t max_double_chars = 32;

    // Writes a finite double at p and advances p; false for NaN or infinity. p must have
    // max_double_chars of room.
    static bool write_double(char*& p, double v) noexcept { return write_floating(p, v); }
    // A float is written through its own to_chars overload: the shortest text that reads
    // back as the same float ("0.1", not the double "0.10000000149011612").
    static bool write_float(char*& p, float v) noexcept { return write_floating(p, v); }

private:
    template <class Float>
    static bool write_floating(char*& p, Float v) noexcept {
        if (!std::isfinite(v)) return false;
        char* end = std::to_chars(p, p + max_double_chars, v).ptr;
        add_point_zero(p, end);
        p = end;
        return true;
    }
    template <class Float>
    bool floating(Float v, non_finite_policy policy) {
        ensure(max_double_chars);
        char* p = cur_;
        if (!write_floating(p, v)) {
            if (policy == non_finite_policy::error) return false;
            std::memcpy(cur_, "null", 4);
            cur_ += 4;
            return true;
        }
        cur_ = p;
        return true;
    }

    // "3" -> "3.0", "-0" -> "-0.0": the value stays a float for the reader.
    static void add_point_zero(const char* begin, char*& end) noexcept {
        for (const char* q = begin; q != end; ++q)
            if (*q == '.' || *q == 'e') return;
        end[0] = '.';
        end[1] = '0';
        end += 2;
    }

    void ensure(std::size_t bytes) {
        if (static_cast<std::size_t>(end_ - cur_) >= bytes) return;
        grow(bytes);
    }
    // Doubles what this writer has written so far (not the whole string: a long prefix or a
    // large spare capacity is not zero-filled again and again).
    void grow(std::size_t bytes) {
        std::size_t used = size();
        std::size_t wanted = used + bytes;
        std::size_t next = start_ + 2 * (out_.size() - start_);
        if (next < wanted) next = wanted;
        if (next < used + 256) next = used + 256;
        out_.resize(next);
        cur_ = out_.data() + used;
        end_ = out_.data() + out_.size();
    }

    static constexpr bool needs_escape(unsigned char c) noexcept {
        return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
    }

    // Length of the valid UTF-8 sequence at s[i], or 0 when invalid; on invalid, *skip is the
    // length of the maximal invalid subsequence (at least 1).
    static std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t* skip) noexcept {
        auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
        unsigned char c = at(i);
        std::size_t length;
        unsigned char low = 0x80, high = 0xBF;  // range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            if (c == 0xE0) low = 0xA0;          // no overlong forms
            else if (c == 0xED) high = 0x9F;    // no surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            if (c == 0xF0) low = 0x90;          // no overlong forms
            else if (c == 0xF4) high = 0x8F;    // nothing past U+10FFFF
        } else {
            *skip = 1;
            return 0;
        }
        std::size_t k = 1;
        for (; k < length; ++k) {
            if (i + k >= s.size()) break;
            unsigned char b = at(i + k);
            if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
        }
        if (k == length) return length;
        *skip = k;
        return 0;
    }

    bool string_body(std::string_view s, invalid_utf8_policy policy, std::size_t* bad_offset) {
        static constexpr char hex[] = "0123456789abcdef";
        std::size_t i = 0;
        const std::size_t n = s.size();
        while (i < n) {
            // Copy the run of characters that need no attention in one go.
            std::size_t run = i;
            while (run < n && !needs_escape(static_cast<unsigned char>(s[run]))) ++run;
            if (run != i) {
                ensure(run - i);
                std::memcpy(cur_, s.data() + i, run - i);
                cur_ += run - i;
                i = run;
                if (i == n) break;
            }
            unsigned char c = static_cast<unsigned char>(s[i]);
            if (c >= 0x80) {
                std::size_t skip = 0;
                std::size_t length = utf8_sequence(s, i, &skip);
                if (length != 0) {
                    raw(s.substr(i, length));
                    i += length;
                } else {
                    if (policy == invalid_utf8_policy::error) {
                        if (bad_offset) *bad_offset = i;
                        return false;
                    }
                    raw("\xEF\xBF\xBD");
                    i += skip;
                }
                continue;
            }
            ensure(6);
            *cur_++ = '\\';
            switch (c) {
                case '"': *cur_++ = '"'; break;
                case '\\': *cur_++ = '\\'; break;
                case '\b': *cur_++ = 'b'; break;
                case '\f': *cur_++ = 'f'; break;
                case '\n': *cur_++ = 'n'; break;
                case '\r': *cur_++ = 'r'; break;
                case '\t': *cur_++ = 't'; break;
                default:
                    *cur_++ = 'u';
                    *cur_++ = '0';
                    *cur_++ = '0';
                    *cur_++ = hex[c >> 4];
                    *cur_++ = hex[c & 15];
            }
            ++i;
        }
        return true;
    }

    std::string& out_;
    std::size_t start_;  // out_.size() when the writer was made
    char* cur_ = nullptr;
    char* end_ = nullptr;
};

// Where a value failed to write: "params.temperature", "row 3, column 'x'". Built only on
// the error path.
struct json_write_failure {
    std::string path;
    std::string reason;
};

namespace detail {
// Writes an nlohmann::json value with the same number, non-finite and UTF-8 rules as the
// table writers (nlohmann's dump() silently writes null for NaN and aborts on invalid UTF-8
// when exceptions are off). On failure, failure.path is relative: ".key[3]..." built while
// unwinding, so the success path never builds strings.
inline bool write_json_value_relative(json_writer& w, const nlohmann::json& v, const write_options& options,
                                      json_write_failure& failure) {
    using value_t = nlohmann::json::value_t;
    switch (v.type()) {
        case value_t::null:
        case value_t::discarded: w.null(); return true;
        case value_t::boolean: w.boolean(v.get<bool>()); return true;
        case value_t::number_integer: w.number(v.get<std::int64_t>()); return true;
        case value_t::number_unsigned: w.number(v.get<std::uint64_t>()); return true;
        case value_t::number_float:
            if (!w.number(v.get<double>(), options.non_finite)) {
                failure = {std::string(), std::string("is ") + (std::isnan(v.get<double>()) ? "NaN" : "infinite") +
                                              ", which JSON cannot represent; use null for a missing value "
                                              "or choose non_finite_policy::write_null"};
                return false;
            }
            return true;
        case value_t::string: {
            std::size_t bad = 0;
            if (!w.string(v.get_ref<const std::string&>(), options.invalid_utf8, &bad)) {
                failure = {std::string(), "is not valid UTF-8 (byte " + std::to_string(bad) +
                                              "); fix the text or choose invalid_utf8_policy::replace"};
                return false;
            }
            return true;
        }
        case value_t::binary:
            failure = {std::string(), "is a binary value; send binary data as a base64 string"};
            return false;
        case value_t::array: {
            w.put('[');
            std::size_t i = 0;
            for (const auto& element : v) {
                if (i != 0) w.put(',');
                if (!write_json_value_relative(w, element, options, failure)) {
                    failure.path.insert(0, "[" + std::to_string(i) + "]");
                    return false;
                }
                ++i;
            }
            w.put(']');
            return true;
        }
        case value_t::object: {
            w.put('{');
            bool first = true;
            for (const auto& item : v.items()) {
                if (!first) w.put(',');
                first = false;
                std::size_t bad = 0;
                if (!w.string(item.key(), options.invalid_utf8, &bad)) {
                    failure = {std::string(), "has a key that is not valid UTF-8 (byte " + std::to_string(bad) + ")"};
                    return false;
                }
                w.put(':');
                if (!write_json_value_relative(w, item.value(), options, failure)) {
                    failure.path.insert(0, "." + item.key());
                    return false;
                }
            }
            w.put('}');
            return true;
        }
    }
    return true;
}

// The same; on failure, failure.path is `path` followed by the place inside the value
// ("params.a.b[1]").
inline bool write_json_value(json_writer& w, const nlohmann::json& v, const write_options& options,
                             const std::string& path, json_write_failure& failure) {
    if (write_json_value_relative(w, v, options, failure)) return true;
    if (path.empty() && !failure.path.empty() && failure.path[0] == '.') failure.path.erase(0, 1);
    failure.path.insert(0, path);
    return false;
}
}  // namespace detail

DBSERVE_END_NAMESPACE
