// Reading an open stream to its end with a size cap, for files that may hold secrets
// (a profile file, a client secret file): nothing read is left behind in memory when the
// read is given up. Opening the file and wording the error stay with the caller, which
// knows what the file is for.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/secret.hpp>

#include <cstddef>
#include <cstdio>
#include <string>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct bounded_read {
    std::string text;        // empty (and zeroed) when too_large or failed
    bool too_large = false;  // more than the cap was there; reading stopped at the cap
    bool failed = false;     // the stream reported an error (a directory, an I/O error)
};

// Reads `file` (left open) until its end or until more than `limit` bytes.
inline bounded_read read_bounded(std::FILE* file, std::size_t limit) {
    bounded_read out;
    char buffer[4096];
    for (;;) {
        const std::size_t n = std::fread(buffer, 1, sizeof buffer, file);
        if (n == 0) break;
        if (out.text.size() + n > limit) {
            out.too_large = true;
            break;
        }
        out.text.append(buffer, n);
    }
    out.failed = std::ferror(file) != 0;
    secure_zero(buffer, sizeof buffer);
    if (out.too_large || out.failed) {
        if (!out.text.empty()) secure_zero(&out.text[0], out.text.size());
        out.text.clear();
    }
    return out;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
