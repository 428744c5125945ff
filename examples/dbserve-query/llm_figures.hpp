// Load mode's figures for streamed LLM queries (--chat/--data with --stream), the ones LLM
// endpoints are benchmarked by: time to first token (from the query's start to the first
// chunk with content), inter-token latency (between consecutive chunks with content),
// output tokens per second of each stream (its usage.completion_tokens over its whole
// time) and of the run (every stream's completion tokens over the run's time), and the
// sum of every stream's usage. Thread safe: the streams of a run report from the
// transport's threads.
#pragma once

#include "latency_histogram.hpp"

#include <dbserve/client/query_response.hpp>
#include <dbserve/payload/responses.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

namespace dbserve_query {

// One stream's times, fed by its chunk callback (one thread at a time).
struct stream_timing {
    using clock = std::chrono::steady_clock;
    explicit stream_timing(clock::time_point start) : started(start) {}

    clock::time_point started;
    clock::time_point last_token{};
    bool any_token = false;
    // Filled as chunks arrive, read once the stream ended.
    double time_to_first_token_ms = 0;
    std::vector<double> inter_token_ms;

    void on_chunk(const dbserve::chat_chunk& chunk, clock::time_point at) {
        if (chunk.content().empty()) return;
        if (!any_token) {
            any_token = true;
            time_to_first_token_ms = std::chrono::duration<double, std::milli>(at - started).count();
        } else {
            inter_token_ms.push_back(std::chrono::duration<double, std::milli>(at - last_token).count());
        }
        last_token = at;
    }
};

class llm_figures {
public:
    // A stream that ended well at `ended`, with its summary.
    void record(const stream_timing& t, const dbserve::stream_summary& summary, stream_timing::clock::time_point ended) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++streams_;
        if (t.any_token) time_to_first_token_.record_ms(t.time_to_first_token_ms);
        for (double ms : t.inter_token_ms) inter_token_.record_ms(ms);
        if (summary.usage) {
            prompt_tokens_ += static_cast<std::uint64_t>(summary.usage->prompt_tokens);
            completion_tokens_ += static_cast<std::uint64_t>(summary.usage->completion_tokens);
            total_tokens_ += static_cast<std::uint64_t>(summary.usage->total_tokens);
            const double seconds = std::chrono::duration<double>(ended - t.started).count();
            // Kept in the histogram's unit: one "ms" per token a second.
            if (seconds > 0)
                tokens_per_second_.record_ms(static_cast<double>(summary.usage->completion_tokens) / seconds);
        } else {
            ++without_usage_;
        }
    }

    nlohmann::json to_json(double elapsed_s) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto percentiles = [](const latency_histogram& h) {
            return nlohmann::json{{"p50", h.percentile_ms(50)},
                                  {"p90", h.percentile_ms(90)},
                                  {"p99", h.percentile_ms(99)},
                                  {"count", h.count()}};
        };
        return {
            {"streams", streams_},
            {"time_to_first_token_ms", percentiles(time_to_first_token_)},
            {"inter_token_latency_ms", percentiles(inter_token_)},
            {"output_tokens_per_second_per_stream", percentiles(tokens_per_second_)},
            {"output_tokens_per_second", elapsed_s > 0 ? static_cast<double>(completion_tokens_) / elapsed_s : 0.0},
            {"usage",
             {{"prompt_tokens", prompt_tokens_},
              {"completion_tokens", completion_tokens_},
              {"total_tokens", total_tokens_}}},
            {"streams_without_usage", without_usage_},
        };
    }

    void print_text(std::FILE* out, double elapsed_s) const {
        const auto j = to_json(elapsed_s);
        auto line = [out](const char* label, const nlohmann::json& p) {
            std::fprintf(out, "%s p50 %.3f  p90 %.3f  p99 %.3f\n", label, p["p50"].get<double>(),
                         p["p90"].get<double>(), p["p99"].get<double>());
        };
        line("time to first token (ms):  ", j["time_to_first_token_ms"]);
        line("inter-token latency (ms):  ", j["inter_token_latency_ms"]);
        line("output tokens/s per stream:", j["output_tokens_per_second_per_stream"]);
        std::fprintf(out, "output tokens/s (total):    %.1f\n", j["output_tokens_per_second"].get<double>());
        const auto& u = j["usage"];
        std::fprintf(out, "usage (tokens):             prompt %llu  completion %llu  total %llu\n",
                     static_cast<unsigned long long>(u["prompt_tokens"].get<std::uint64_t>()),
                     static_cast<unsigned long long>(u["completion_tokens"].get<std::uint64_t>()),
                     static_cast<unsigned long long>(u["total_tokens"].get<std::uint64_t>()));
        if (without_usage_ != 0)
            std::fprintf(out, "streams without usage:      %zu (not in the token figures)\n", without_usage_);
    }

private:
    mutable std::mutex mutex_;
    std::size_t streams_ = 0;
    std::size_t without_usage_ = 0;
    latency_histogram time_to_first_token_;
    latency_histogram inter_token_;
    latency_histogram tokens_per_second_;
    std::uint64_t prompt_tokens_ = 0, completion_tokens_ = 0, total_tokens_ = 0;
};

}  // namespace dbserve_query
