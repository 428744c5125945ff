// One value of a request table: what a row given as `{1.5, "text", true, nullptr}` holds.
// A cell refers to the caller's data (strings, bytes, JSON values) without copying it, so it
// lives only as long as the expression that writes it.
#pragma once

#include <dbserve/payload/json_writer.hpp>
#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

DBSERVE_BEGIN_NAMESPACE

// Bytes for a binary column: written as a base64 string, as the service expects.
struct binary {
    std::string_view bytes;
};

class cell {
public:
    enum class kind : unsigned char { null, boolean, signed_integer, unsigned_integer, floating,
                                      single_float, string, binary, json };

    cell() noexcept = default;
    cell(std::nullptr_t) noexcept {}
    cell(std::nullopt_t) noexcept {}
    cell(bool b) noexcept : kind_(kind::boolean) { u_.b = b; }
    template <class Integer, std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
    cell(Integer v) noexcept {
        if constexpr (std::is_signed_v<Integer>) {
            kind_ = kind::signed_integer;
            u_.i = v;
        } else {
            kind_ = kind::unsigned_integer;
            u_.u = v;
        }
    }
    cell(double v) noexcept : kind_(kind::floating) { u_.d = v; }
    cell(float v) noexcept : kind_(kind::single_float) { u_.f = v; }
    cell(const char* s) noexcept : kind_(s ? kind::string : kind::null), text_(s ? s : "") {}
    cell(std::string_view s) noexcept : kind_(kind::string), text_(s) {}
    cell(const std::string& s) noexcept : kind_(kind::string), text_(s) {}
    cell(binary b) noexcept : kind_(kind::binary), text_(b.bytes) {}
    cell(const nlohmann::json& j) noexcept : kind_(kind::json) { u_.j = &j; }
    template <class T>
    cell(const std::optional<T>& v) noexcept : cell() {
        if (v) *this = cell(*v);
    }

    kind type() const noexcept { return kind_; }

    // Writes the value; on failure fills `reason` (no path: the caller knows where it is).
    bool write(json_writer& w, const write_options& options, std::string& reason) const {
        switch (kind_) {
            case kind::null: w.null(); return true;
            case kind::boolean: w.boolean(u_.b); return true;
            case kind::signed_integer: w.number(u_.i); return true;
            case kind::unsigned_integer: w.number(u_.u); return true;
            case kind::floating:
                if (w.number(u_.d, options.non_finite)) return true;
                reason = non_finite_reason(std::isnan(u_.d));
                return false;
            case kind::single_float:
                if (w.number(u_.f, options.non_finite)) return true;
                reason = non_finite_reason(std::isnan(u_.f));
                return false;
            case kind::string: {
                std::size_t bad = 0;
                if (w.string(text_, options.invalid_utf8, &bad)) return true;
                reason = "is not valid UTF-8 (byte " + std::to_string(bad) +
                         "); fix the text, send bytes as dbserve::binary (base64), or choose "
                         "invalid_utf8_policy::replace";
                return false;
            }
            case kind::binary:
                w.put('"');
                w.raw(detail::base64_encode(text_));
                w.put('"');
                return true;
            case kind::json: {
                json_write_failure failure;
                if (detail::write_json_value(w, *u_.j, options, std::string(), failure)) return true;
                reason = failure.path.empty() ? failure.reason : failure.path + " " + failure.reason;
                return false;
            }
        }
        return true;
    }

    static std::string non_finite_reason(bool nan) {
        return std::string("is ") + (nan ? "NaN" : "infinite") +
               ", which JSON cannot represent; send null (nullptr or std::nullopt) for a missing "
               "value or choose non_finite_policy::write_null";
    }

private:
    kind kind_ = kind::null;
    union {
        bool b;
        std::int64_t i;
        std::uint64_t u;
        double d;
        float f;
        const nlohmann::json* j;
    } u_{};
    std::string_view text_;
};

DBSERVE_END_NAMESPACE
