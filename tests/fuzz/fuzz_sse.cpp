// sse_parser: no crash on any bytes, and the events do not depend on how the bytes are
// split into chunks (the first input byte picks the chunk sizes: pieces of 1 to 7 bytes, or,
// with its high bit set, of 1 to 1,500 bytes so that pieces also straddle the 1,024-byte cap).
#include "fuzz_check.hpp"

#include <dbserve/payload/sse.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace dbserve;

namespace {
struct run {
    std::vector<sse_event> events;
    bool done = false;
    bool not_a_stream = false;
    bool ok = false;
};

run parse(std::string_view input, std::size_t seed, std::size_t max_piece) {
    run out;
    sse_parser parser(1024);
    auto on_event = [&](const sse_event& e) {
        FUZZ_CHECK(e.data != "[DONE]");
        FUZZ_CHECK(e.event.find_first_of("\r\n") == std::string::npos);
        FUZZ_CHECK(e.data.find('\r') == std::string::npos);
        FUZZ_CHECK(e.id.find_first_of("\r\n") == std::string::npos);
        out.events.push_back(e);
    };
    if (seed == 0) {
        parser.feed(input, on_event);
    } else {
        std::size_t i = 0, step = seed;
        while (i < input.size()) {
            std::size_t n = step % max_piece + 1;
            parser.feed(input.substr(i, n), on_event);
            i += n;
            step = step * 31 + 7;
        }
    }
    parser.finish(on_event);
    out.done = parser.done();
    out.not_a_stream = parser.is_not_a_stream();
    auto outcome = parser.outcome();
    out.ok = outcome.has_value();
    if (!outcome) FUZZ_CHECK(!outcome.error().message.empty());
    if (out.not_a_stream) FUZZ_CHECK(out.events.empty());
    return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t seed = data[0] + 1u;
    const std::size_t max_piece = (data[0] & 0x80) ? 1500 : 7;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    run whole = parse(input, 0, max_piece);
    run pieces = parse(input, seed, max_piece);
    FUZZ_CHECK(whole.done == pieces.done);
    FUZZ_CHECK(whole.ok == pieces.ok);
    FUZZ_CHECK(whole.not_a_stream == pieces.not_a_stream);
    FUZZ_CHECK(whole.events.size() == pieces.events.size());
    for (std::size_t i = 0; i < whole.events.size(); ++i) {
        FUZZ_CHECK(whole.events[i].data == pieces.events[i].data);
        FUZZ_CHECK(whole.events[i].event == pieces.events[i].event);
        FUZZ_CHECK(whole.events[i].id == pieces.events[i].id);
    }
    return 0;
}
