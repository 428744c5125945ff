// The ~/.databrickscfg format: an INI file of named profiles. Pure parsing, no I/O.
//
// Accepted, as the Databricks CLI and SDKs write and read it:
// - `[name]` section headers (spaces inside the brackets are trimmed; a comment may follow);
// - `key = value` or `key: value` lines, split at the first '=' or ':'; keys are matched
//   exactly as written (lower case: host, client_id, ...); values are trimmed;
// - whole-line comments starting with '#' or ';' (after optional whitespace). There are
//   no inline comments: a secret may contain '#' or ';';
// - blank lines, tabs and spaces anywhere around tokens, CRLF or LF line ends, a UTF-8 BOM;
// - a repeated key or section: the last value wins.
// Anything else is an error naming the line number, never the line (it may hold a secret).
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct ini_section {
    std::string name;
    std::vector<std::pair<std::string, std::string>> entries;  // in file order, keys unique

    // The value of `key`, or nullptr.
    const std::string* find(std::string_view key) const noexcept {
        for (const auto& e : entries)
            if (e.first == key) return &e.second;
        return nullptr;
    }
    void set(std::string key, std::string value) {
        for (auto& e : entries)
            if (e.first == key) {
                if (!e.second.empty()) secure_zero(&e.second[0], e.second.size());
                e.second = std::move(value);
                return;
            }
        entries.emplace_back(std::move(key), std::move(value));
    }
};

// Values may be secrets: they are zeroed when the file is destroyed.
struct ini_file {
    std::vector<ini_section> sections;  // in order of first appearance, names unique

    ini_file() = default;
    ini_file(const ini_file&) = default;
    ini_file(ini_file&&) noexcept = default;
    ini_file& operator=(const ini_file& other) {
        if (this != &other) {
            wipe();
            sections = other.sections;
        }
        return *this;
    }
    ini_file& operator=(ini_file&& other) noexcept {
        if (this != &other) {
            wipe();
            sections = std::move(other.sections);
        }
        return *this;
    }
    ~ini_file() { wipe(); }

    const ini_section* find(std::string_view name) const noexcept {
        for (const auto& s : sections)
            if (s.name == name) return &s;
        return nullptr;
    }
    void wipe() noexcept {
        for (auto& s : sections)
            for (auto& e : s.entries)
                if (!e.second.empty()) secure_zero(&e.second[0], e.second.size());
    }
    ini_section& get_or_add(std::string_view name) {
        for (auto& s : sections)
            if (s.name == name) return s;
        sections.push_back(ini_section{std::string(name), {}});
        return sections.back();
    }
};

constexpr bool is_ini_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

constexpr std::string_view trim_ini(std::string_view s) noexcept {
    while (!s.empty() && is_ini_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ini_space(s.back())) s.remove_suffix(1);
    return s;
}

// Parses INI text; `source` names the file in error messages.
inline result<ini_file> parse_ini(std::string_view text, std::string_view source) {
    ini_file file;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    ini_section* current = nullptr;
    std::size_t line_number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = trim_ini(text.substr(pos, end - pos));  // drops a CRLF's CR
        pos = end + 1;
        ++line_number;
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            const std::size_t close = line.rfind(']');
            const std::string_view after = close == std::string_view::npos ? line : trim_ini(line.substr(close + 1));
            if (close == std::string_view::npos || !(after.empty() || after.front() == '#' || after.front() == ';'))
                return unexpected(errc::configuration,
                                  "line " + std::to_string(line_number) + " of " + std::string(source) +
                                      " starts a [section] header but does not end with ']'");
            const std::string_view name = trim_ini(line.substr(1, close - 1));
            if (name.empty())
                return unexpected(errc::configuration, "line " + std::to_string(line_number) + " of " +
                                                           std::string(source) + " has an empty [] section name");
            current = &file.get_or_add(name);
            continue;
        }
        const std::size_t split = line.find_first_of("=:");
        if (split == std::string_view::npos || split == 0)
            return unexpected(errc::configuration,
                              "line " + std::to_string(line_number) + " of " + std::string(source) +
                                  " is not a 'key = value' line, a [section] header or a comment");
        if (current == nullptr)
            return unexpected(errc::configuration,
                              "line " + std::to_string(line_number) + " of " + std::string(source) +
                                  " sets a key before any [section] header; put it under [DEFAULT] or "
                                  "a named profile");
        current->set(std::string(trim_ini(line.substr(0, split))),
                     std::string(trim_ini(line.substr(split + 1))));
    }
    return file;
}

// Names of the profiles in a file, for messages: "a, b, c" or "(none)".
inline std::string ini_profile_names(const ini_file& file) {
    std::string out;
    for (const auto& s : file.sections) {
        if (s.name == "__settings__") continue;
        if (!out.empty()) out += ", ";
        out += s.name;
    }
    return out.empty() ? std::string("(none)") : out;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
