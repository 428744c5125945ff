// What the fuzz targets share: a check that stops the run (libFuzzer then saves the
// input) when a property of the code under test does not hold, and the properties more
// than one target checks.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition)                                                                     \
    do {                                                                                          \
        if (!(condition)) {                                                                       \
            std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                         \
        }                                                                                         \
    } while (false)

// True when the text holds an ASCII control character: what reaches an error message must
// be printable, whatever bytes the network sent.
inline bool has_control(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}
