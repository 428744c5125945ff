// The small codecs the workspace declares (form bodies, base64, HTTP dates) and header
// look-up on requests and replies.
#include "workspace.hpp"
#include "workspace_support.hpp"

#include <dbserve/protocol/detail/base64.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace emulator {

using namespace detail;
using std::chrono::system_clock;

bool form_urldecode(std::string_view text, std::string& out) {
    std::string plus_as_space(text);
    std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
    return percent_decode(plus_as_space, out);
}

bool parse_form(std::string_view body, std::map<std::string, std::string>& out, std::string& error) {
    out.clear();
    std::size_t start = 0;
    while (start <= body.size()) {
        auto amp = body.find('&', start);
        auto pair = body.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (!pair.empty()) {
            auto eq = pair.find('=');
            std::string name, value;
            if (!form_urldecode(pair.substr(0, eq), name) ||
                !form_urldecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), value)) {
                error = "the form body holds a malformed percent escape";
                return false;
            }
            if (out.count(name)) {
                error = "parameter '" + name + "' is included more than once";
                return false;
            }
            out.emplace(std::move(name), std::move(value));
        }
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    return true;
}

std::string base64_encode(std::string_view bytes, bool url_safe) {
    std::string out = dbserve::detail::base64_encode(bytes);
    if (url_safe) {
        // base64url as JWTs carry it (RFC 7515 section 2): '-' and '_', no padding.
        while (!out.empty() && out.back() == '=') out.pop_back();
        for (char& c : out) {
            if (c == '+') c = '-';
            else if (c == '/') c = '_';
        }
    }
    return out;
}

bool base64_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 != 0) return false;
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        int padding = 0;
        for (int k = 0; k < 4; ++k) {
            char c = text[i + static_cast<std::size_t>(k)];
            if (c == '=') {
                // Padding only at the very end, and at most two.
                if (i + 4 != text.size() || k < 2) return false;
                v[k] = 0;
                ++padding;
            } else {
                if (padding) return false;
                v[k] = value(c);
                if (v[k] < 0) return false;
            }
        }
        unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
        out += static_cast<char>((n >> 16) & 0xff);
        if (padding < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (padding < 1) out += static_cast<char>(n & 0xff);
    }
    return true;
}

std::string http_date(system_clock::time_point when) {
    std::time_t t = system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buffer;
}

const std::string* http_request::header(std::string_view name) const {
    for (const auto& h : headers)
        if (iequals(h.first, name)) return &h.second;
    return nullptr;
}

std::string http_reply::header(std::string_view name) const {
    for (const auto& h : headers)
        if (iequals(h.first, name)) return h.second;
    return {};
}

}  // namespace emulator
