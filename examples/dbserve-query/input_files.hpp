// Reading what the command line points at: a body file, standard input, a CSV file, a
// secret or token file. Errors name the file and the flag, never the content.
#pragma once

#include <dbserve/client/detail/bounded_read.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <sys/stat.h>

namespace dbserve_query {

// The whole file ("-" is standard input). Files over `limit` bytes are refused.
inline dbserve::result<std::string> read_input_file(const std::string& path, std::string_view flag,
                                                    std::size_t limit = 64u * 1024u * 1024u) {
    const bool from_stdin = path == "-";
    errno = 0;
    std::FILE* f = from_stdin ? stdin : std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        const int err = errno;
        return dbserve::unexpected(dbserve::errc::configuration,
                                   std::string(flag) + ": cannot open '" + path + "': " +
                                       std::generic_category().message(err) + "; check the path");
    }
    dbserve::detail::bounded_read read = dbserve::detail::read_bounded(f, limit);
    if (!from_stdin) std::fclose(f);
    const std::string what = from_stdin ? std::string("standard input") : "'" + path + "'";
    if (read.too_large)
        return dbserve::unexpected(dbserve::errc::configuration,
                                   std::string(flag) + ": " + what + " is larger than " + std::to_string(limit) +
                                       " bytes; give a smaller file");
    if (read.failed)
        return dbserve::unexpected(dbserve::errc::configuration,
                                   std::string(flag) + ": reading " + what + " failed (is it a directory?)");
    return std::move(read.text);
}

// The whole file in one buffer of its own size (a large --csv is read once, not grown
// chunk by chunk); standard input and anything that is not a regular file as above.
inline dbserve::result<std::string> read_whole_file(const std::string& path, std::string_view flag,
                                                   std::size_t limit = 64u * 1024u * 1024u) {
    struct stat info {};
    if (path == "-" || ::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode) ||
        static_cast<std::size_t>(info.st_size) > limit)
        return read_input_file(path, flag, limit);  // its errors and limits
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return read_input_file(path, flag, limit);
    std::string text(static_cast<std::size_t>(info.st_size), '\0');
    const std::size_t got = text.empty() ? 0 : std::fread(&text[0], 1, text.size(), f);
    const bool more = std::fgetc(f) != EOF;  // grew while being read
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (got != text.size() || more || failed) return read_input_file(path, flag, limit);
    return text;
}

// A one-value secret file (client secret, token): surrounding whitespace is dropped; an
// empty file or one with several lines is refused. The buffer is zeroed.
inline dbserve::result<dbserve::secret_string> read_secret_file(const std::string& path, std::string_view flag,
                                                                std::string_view what) {
    auto text = read_input_file(path, flag, 64u * 1024u);
    if (!text) return std::move(text).error();
    std::string& raw = *text;
    std::string_view value = raw;
    while (!value.empty() && std::strchr(" \t\r\n", value.front())) value.remove_prefix(1);
    while (!value.empty() && std::strchr(" \t\r\n", value.back())) value.remove_suffix(1);
    dbserve::result<dbserve::secret_string> out = dbserve::secret_string(value);
    bool inner_break = false;
    for (char c : value)
        if (c == '\n' || c == '\r' || c == '\0') inner_break = true;
    if (!raw.empty()) dbserve::detail::secure_zero(&raw[0], raw.size());
    if (out->empty())
        return dbserve::unexpected(dbserve::errc::configuration,
                                   std::string(flag) + ": '" + path + "' is empty; put the " + std::string(what) +
                                       " in it (one line)");
    if (inner_break)
        return dbserve::unexpected(dbserve::errc::configuration,
                                   std::string(flag) + ": '" + path + "' holds more than one line; it must hold only the " +
                                       std::string(what));
    return out;
}

}  // namespace dbserve_query
