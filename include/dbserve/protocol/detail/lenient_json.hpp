// Parsing JSON that may hold the bare tokens NaN, Infinity and -Infinity, which Python's
// json encoder (and so the serving containers) writes for non-finite floats. nlohmann/json
// refuses them, so:
//   1. a memchr for 'N' and 'I' rules them out for most bodies (one fast pass, no copy);
//   2. otherwise a string-aware scan looks for the tokens outside strings; a body where the
//      letters only occur inside strings is parsed as is;
//   3. otherwise the tokens are rewritten to the number 0 in a copy, remembering the ordinal
//      of each among all number tokens, and a SAX handler wrapping nlohmann's DOM builder puts
//      NaN/inf into exactly those numbers. Tokens inside strings are never touched.
// Nesting is limited to max_json_depth: nlohmann parses iteratively, but dump(), copies and
// comparisons recurse, so a body of a few hundred KB of '[' would overflow the stack later.
// Never throws: a SAX parse and is_discarded().
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct non_finite_token {
    std::size_t number_ordinal;  // index among all number tokens of the document
    double value;
};

// Far deeper than any response the service sends (a batch of images is 4 or 5 levels).
constexpr std::size_t max_json_depth = 512;

inline bool is_identifier_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Scans `text`; when it holds bare NaN/Infinity/-Infinity outside strings, writes a copy with
// each replaced by "0" into `rewritten`, fills `tokens` and returns true.
inline bool rewrite_non_finite_tokens(std::string_view text, std::string& rewritten,
                                      std::vector<non_finite_token>& tokens) {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    constexpr double inf = std::numeric_limits<double>::infinity();
    const std::size_t n = text.size();
    std::size_t copied = 0;  // text[0, copied) is already in `rewritten`
    std::size_t ordinal = 0;
    bool in_number = false;
    for (std::size_t i = 0; i < n; ++i) {
        char c = text[i];
        if (c == '"') {
            in_number = false;
            // Skip the string, honouring backslash escapes.
            for (++i; i < n; ++i) {
                if (text[i] == '\\') {
                    ++i;
                } else if (text[i] == '"') {
                    break;
                }
            }
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            bool negative_infinity = c == '-' && text.compare(i, 9, "-Infinity") == 0 &&
                                     (i + 9 == n || !is_identifier_char(text[i + 9]));
            if (!negative_infinity) {
                if (!in_number) ++ordinal;
                in_number = true;
                continue;
            }
        }
        bool number_continuation = c == '.' || c == 'e' || c == 'E' || c == '+';
        if (in_number && number_continuation) continue;
        in_number = false;
        std::size_t length = 0;
        double value = 0;
        if (c == 'N' && text.compare(i, 3, "NaN") == 0) {
            length = 3;
            value = nan;
        } else if (c == 'I' && text.compare(i, 8, "Infinity") == 0) {
            length = 8;
            value = inf;
        } else if (c == '-' && text.compare(i, 9, "-Infinity") == 0) {
            length = 9;
            value = -inf;
        }
        // A token glued to a neighbour ("1NaN", "NaNx") is left for the parser to refuse.
        if (length == 0 || (i + length < n && is_identifier_char(text[i + length])) ||
            (i > 0 && (is_identifier_char(text[i - 1]) || text[i - 1] == '.' ||
                       text[i - 1] == '-' || text[i - 1] == '+')))
            continue;
        if (rewritten.empty()) rewritten.reserve(n);
        rewritten.append(text.data() + copied, i - copied);
        rewritten.push_back('0');
        tokens.push_back({ordinal, value});
        ++ordinal;
        i += length - 1;
        copied = i + 1;
    }
    if (tokens.empty()) return false;
    rewritten.append(text.data() + copied, n - copied);
    return true;
}

// Builds the tree with nlohmann's own DOM builder, putting NaN/inf into the numbers that
// were rewritten (counted in document order) and stopping at max_json_depth. As fast as a
// plain parse.
class bounded_dom_sax {
public:
    using json = nlohmann::json;
    bounded_dom_sax(json& root, const std::vector<non_finite_token>& tokens) : dom_(root, false), tokens_(tokens) {}

    bool null() { return dom_.null(); }
    bool boolean(bool v) { return dom_.boolean(v); }
    bool number_integer(json::number_integer_t v) {
        return restore() ? dom_.number_float(value_, std::string()) : dom_.number_integer(v);
    }
    bool number_unsigned(json::number_unsigned_t v) {
        return restore() ? dom_.number_float(value_, std::string()) : dom_.number_unsigned(v);
    }
    bool number_float(json::number_float_t v, const json::string_t& s) {
        return restore() ? dom_.number_float(value_, s) : dom_.number_float(v, s);
    }
    bool string(json::string_t& v) { return dom_.string(v); }
    bool binary(json::binary_t& v) { return dom_.binary(v); }
    bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
    bool key(json::string_t& v) { return dom_.key(v); }
    bool end_object() { return leave() && dom_.end_object(); }
    bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
    bool end_array() { return leave() && dom_.end_array(); }
    template <class Exception>
    bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
        failed_ = true;
        return dom_.parse_error(position, token, e);
    }
    bool failed() const noexcept { return failed_ || too_deep_ || dom_.is_errored(); }
    bool too_deep() const noexcept { return too_deep_; }

private:
    bool enter() noexcept {
        too_deep_ = ++depth_ > max_json_depth;
        return !too_deep_;
    }
    bool leave() noexcept {
        --depth_;
        return true;
    }

    // True when the current number is one of the rewritten tokens; value_ is then its value.
    bool restore() {
        bool hit = next_ < tokens_.size() && tokens_[next_].number_ordinal == ordinal_;
        if (hit) value_ = tokens_[next_++].value;
        ++ordinal_;
        return hit;
    }

    nlohmann::detail::json_sax_dom_parser<json> dom_;
    const std::vector<non_finite_token>& tokens_;
    std::size_t ordinal_ = 0;
    std::size_t next_ = 0;
    double value_ = 0;
    std::size_t depth_ = 0;
    bool failed_ = false;
    bool too_deep_ = false;
};

// What a body nested deeper than max_json_depth is reported as; `what` names the body.
inline dbserve::error too_deep_error(const std::string& what) {
    return dbserve::error(errc::bad_response, what + " nests JSON arrays or objects more than " +
                                                  std::to_string(max_json_depth) +
                                                  " levels deep, which no serving endpoint sends; it was not read");
}

// Builds the tree of [first, last) with NaN/inf put back per `tokens`; discarded when the text
// is not JSON or nests deeper than max_json_depth, and then *too_deep (when given) says which.
inline nlohmann::json build_bounded(const char* first, const char* last, const std::vector<non_finite_token>& tokens,
                                    bool* too_deep) {
    nlohmann::json root;
    bounded_dom_sax sax(root, tokens);
    const bool ok = nlohmann::json::sax_parse(first, last, &sax);
    if (too_deep != nullptr) *too_deep = sax.too_deep();
    if (!ok || sax.failed()) return nlohmann::json(nlohmann::json::value_t::discarded);
    return root;
}

// Parses strict JSON, nesting at most max_json_depth deep. Makes no copy of the text, so it
// suits bodies that hold credentials.
inline nlohmann::json parse_bounded_json(std::string_view text, bool* too_deep = nullptr) {
    return build_bounded(text.data(), text.data() + text.size(), {}, too_deep);
}

// The same, also accepting bare NaN, Infinity and -Infinity.
inline nlohmann::json parse_lenient_json(std::string_view text, bool* too_deep = nullptr) {
    std::string rewritten;
    std::vector<non_finite_token> tokens;
    const bool may_hold_tokens = std::memchr(text.data(), 'N', text.size()) != nullptr ||
                                 std::memchr(text.data(), 'I', text.size()) != nullptr;
    if (!may_hold_tokens || !rewrite_non_finite_tokens(text, rewritten, tokens))
        return parse_bounded_json(text, too_deep);
    return build_bounded(rewritten.data(), rewritten.data() + rewritten.size(), tokens, too_deep);
}

}  // namespace detail
DBSERVE_END_NAMESPACE
