// The response parsers: no crash on any body; the lenient parse agrees with a strict parse
// whenever the strict one succeeds within the nesting limit, and refuses deeper bodies as too
// deep (so NaN-looking text inside strings is never touched);
// every typed view either parses or says why.
#include "fuzz_check.hpp"

#include <dbserve/payload/responses.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace dbserve;

namespace {
// How many arrays and objects deep the value goes (recursion is fine: inputs are small).
std::size_t nesting(const nlohmann::json& value) {
    std::size_t deepest = 0;
    if (value.is_array() || value.is_object())
        for (const auto& item : value) deepest = std::max(deepest, nesting(item));
    return value.is_array() || value.is_object() ? deepest + 1 : 0;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);

    auto lenient = parse_response_json(body);
    auto strict = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    if (!strict.is_discarded() && !detail::starts_like_html(body)) {
        if (nesting(strict) <= detail::max_json_depth) {
            FUZZ_CHECK(lenient.has_value());
            FUZZ_CHECK(*lenient == strict);
        } else {
            FUZZ_CHECK(!lenient.has_value());
            FUZZ_CHECK(lenient.error().message.find("levels deep") != std::string::npos);
        }
    }
    if (lenient) {
        // What was accepted survives a round trip through dump() (NaN/inf become null).
        auto again = nlohmann::json::parse(lenient->dump(), nullptr, false);
        FUZZ_CHECK(!again.is_discarded());
    } else {
        FUZZ_CHECK(!lenient.error().message.empty());
    }

    if (auto p = parse_predictions(body)) {
        (void)p->size();
        (void)p->as_doubles();
        (void)p->column("score");
    } else {
        FUZZ_CHECK(!p.error().message.empty());
    }
    if (auto o = parse_outputs(body)) (void)o->column("x");
    if (auto c = parse_completion_response(body)) (void)c->content();
    if (auto e = parse_embeddings_response(body)) {
        for (std::size_t i = 1; i < e->data.size(); ++i) FUZZ_CHECK(e->data[i - 1].index <= e->data[i].index);
    }
    if (auto chunk = parse_chat_chunk(body)) {
        (void)chunk->content();
        (void)chunk->finish_reason();
    } else {
        FUZZ_CHECK(!chunk.error().message.empty());
    }
    return 0;
}
