// Reading what endpoints answer: a 10,000-row {"predictions": ...} response and a streamed
// chat of 10,000 SSE chunks. bytes_per_second is the size of the response text.
#include <dbserve/payload/responses.hpp>
#include <dbserve/payload/sse.hpp>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace {

constexpr std::size_t rows = 10000;

// {"predictions": [{"label": "class_3", "score": 0.12.., "p0": .., "p1": ..}, ...]}
std::string predictions_text(bool with_non_finite) {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    nlohmann::json predictions = nlohmann::json::array();
    for (std::size_t r = 0; r < rows; ++r)
        predictions.push_back({{"label", "class_" + std::to_string(r % 7)},
                               {"score", unit(rng)},
                               {"p0", unit(rng)},
                               {"p1", unit(rng)}});
    std::string text = nlohmann::json{{"predictions", predictions}}.dump();
    if (with_non_finite) {
        // Every 100th score becomes a bare NaN, as the serving container writes it.
        std::string out;
        std::size_t seen = 0, pos = 0;
        for (;;) {
            std::size_t at = text.find("\"score\":", pos);
            if (at == std::string::npos) break;
            at += 8;
            out.append(text, pos, at - pos);
            std::size_t end = text.find_first_of(",}", at);
            out += (seen++ % 100 == 0) ? "NaN" : text.substr(at, end - at);
            pos = end;
        }
        out.append(text, pos, std::string::npos);
        text = std::move(out);
    }
    return text;
}

std::string sse_stream() {
    std::string out;
    for (std::size_t i = 0; i < rows; ++i) {
        out += R"(data: {"id":"chatcmpl-7f3a","object":"chat.completion.chunk","created":1732780800,"model":"databricks-meta-llama-3-3-70b-instruct","choices":[{"index":0,"delta":{"content":"token )";
        out += std::to_string(i);
        out += R"( "},"finish_reason":null}]})";
        out += "\n\n";
    }
    out += "data: [DONE]\n\n";
    return out;
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "benchmark setup failed: %s\n", what);
        std::abort();
    }
}

void predictions_dbserve(benchmark::State& state) {
    static const std::string text = predictions_text(false);
    for (auto _ : state) {
        auto r = dbserve::parse_predictions(text);
        check(r.has_value() && r->size() == rows, "parse_predictions");
        benchmark::DoNotOptimize(r->raw);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

void predictions_dbserve_with_nan(benchmark::State& state) {
    static const std::string text = predictions_text(true);
    for (auto _ : state) {
        auto r = dbserve::parse_predictions(text);
        check(r.has_value() && r->size() == rows, "parse_predictions with NaN");
        benchmark::DoNotOptimize(r->raw);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

void predictions_nlohmann_parse(benchmark::State& state) {
    static const std::string text = predictions_text(false);
    for (auto _ : state) {
        auto j = nlohmann::json::parse(text, nullptr, false);
        check(!j.is_discarded(), "nlohmann parse");
        benchmark::DoNotOptimize(j);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

void predictions_column(benchmark::State& state) {
    static const std::string text = predictions_text(false);
    for (auto _ : state) {
        auto r = dbserve::parse_predictions(text);
        auto scores = r->column("score");
        check(scores.has_value() && scores->size() == rows, "column");
        benchmark::DoNotOptimize(scores->data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

// The stream arrives in network-sized pieces.
template <bool ParseChunks>
void sse(benchmark::State& state) {
    static const std::string text = sse_stream();
    const std::size_t piece = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        dbserve::sse_parser parser;
        std::size_t events = 0, characters = 0;
        auto on_event = [&](const dbserve::sse_event& e) {
            ++events;
            if constexpr (ParseChunks) {
                auto chunk = dbserve::parse_chat_chunk(e.data);
                check(chunk.has_value(), "parse_chat_chunk");
                characters += chunk->content().size();
            } else {
                characters += e.data.size();
            }
        };
        for (std::size_t i = 0; i < text.size(); i += piece)
            parser.feed(std::string_view(text).substr(i, piece), on_event);
        parser.finish(on_event);
        check(parser.done() && events == rows, "sse");
        benchmark::DoNotOptimize(characters);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

}  // namespace

BENCHMARK(predictions_dbserve)->Unit(benchmark::kMillisecond);
BENCHMARK(predictions_dbserve_with_nan)->Unit(benchmark::kMillisecond);
BENCHMARK(predictions_nlohmann_parse)->Unit(benchmark::kMillisecond);
BENCHMARK(predictions_column)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(sse, false)->Name("sse_events")->Arg(4096)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(sse, true)->Name("sse_events_and_chat_chunks")->Arg(4096)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
