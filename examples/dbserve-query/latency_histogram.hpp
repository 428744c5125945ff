// Load mode's latency record: an HDR-style log-linear histogram with fixed memory, however
// long the run (256 KiB). Values are whole microseconds up to 2^41 us (25 days): below
// 2048 us each has its own bucket; above, each doubling is split into 1024 linear buckets,
// so any value is known to within 1/1024 (0.1 %, three significant digits). A percentile
// reads back as the upper edge of its bucket: at most that much above the true value.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace dbserve_query {

class latency_histogram {
public:
    static constexpr int sub_bucket_bits = 11;  // 2048 linear steps per doubling
    static constexpr std::uint64_t sub_bucket_count = std::uint64_t(1) << sub_bucket_bits;
    static constexpr int magnitudes = 30;  // doublings above 2048 us: 2^11 .. 2^41 us
    static constexpr std::size_t bucket_count = sub_bucket_count + magnitudes * (sub_bucket_count / 2);
    static constexpr std::uint64_t highest_us = (sub_bucket_count << magnitudes) - 1;
    // The relative width of a bucket: the precision of every value read back.
    static constexpr double relative_precision = 1.0 / static_cast<double>(sub_bucket_count / 2);

    latency_histogram() : counts_(bucket_count, 0) {}

    void record_ms(double ms) { record_us(ms <= 0 ? 0 : static_cast<std::uint64_t>(std::llround(ms * 1000.0))); }

    void record_us(std::uint64_t us) {
        us = std::min(us, highest_us);
        ++counts_[index_of(us)];
        ++total_;
        max_us_ = std::max(max_us_, us);
        min_us_ = total_ == 1 ? us : std::min(min_us_, us);
    }

    void merge(const latency_histogram& other) {
        for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
        if (other.total_ != 0) {
            min_us_ = total_ == 0 ? other.min_us_ : std::min(min_us_, other.min_us_);
            max_us_ = std::max(max_us_, other.max_us_);
        }
        total_ += other.total_;
    }

    std::uint64_t count() const { return total_; }
    double max_ms() const { return static_cast<double>(max_us_) / 1000.0; }
    double min_ms() const { return total_ == 0 ? 0 : static_cast<double>(min_us_) / 1000.0; }

    // Nearest rank: the smallest recorded value with at least p % of the values at or
    // below it, read back as its bucket's upper edge (capped by the largest value seen).
    double percentile_ms(double p) const {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
        rank = std::min(total_, std::max<std::uint64_t>(rank, 1));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < bucket_count; ++i) {
            seen += counts_[i];
            if (seen >= rank) return static_cast<double>(std::min(upper_edge(i), max_us_)) / 1000.0;
        }
        return max_ms();
    }

    // The non-empty buckets as [lower_ms, upper_ms, count], in order.
    nlohmann::json buckets_json() const {
        nlohmann::json out = nlohmann::json::array();
        for (std::size_t i = 0; i < bucket_count; ++i)
            if (counts_[i] != 0)
                out.push_back({static_cast<double>(lower_edge(i)) / 1000.0, static_cast<double>(upper_edge(i)) / 1000.0,
                               counts_[i]});
        return out;
    }

    // A few rows for people: counts between doubling latencies from the fastest to the
    // slowest value, with a bar scaled to the fullest row.
    void print_text(std::FILE* out, int width = 40) const {
        if (total_ == 0) return;
        std::uint64_t low = std::max<std::uint64_t>(min_us_, 1);
        std::uint64_t edge = std::uint64_t(1);
        while (edge * 2 <= low) edge *= 2;
        struct row { std::uint64_t from, to, n; };
        std::array<row, 64> rows{};
        std::size_t n_rows = 0;
        for (std::uint64_t from = edge; n_rows < rows.size(); from *= 2) {
            rows[n_rows++] = {from, from * 2, 0};
            if (from * 2 > max_us_) break;
        }
        for (std::size_t i = 0; i < bucket_count; ++i) {
            if (counts_[i] == 0) continue;
            const std::uint64_t v = lower_edge(i);
            std::size_t r = 0;
            while (r + 1 < n_rows && v >= rows[r].to) ++r;
            rows[r].n += counts_[i];
        }
        std::uint64_t fullest = 1;
        for (std::size_t r = 0; r < n_rows; ++r) fullest = std::max(fullest, rows[r].n);
        for (std::size_t r = 0; r < n_rows; ++r) {
            const int bar = static_cast<int>((rows[r].n * static_cast<std::uint64_t>(width) + fullest - 1) / fullest);
            std::fprintf(out, "  %10.3f - %10.3f ms %10llu |%s\n", static_cast<double>(rows[r].from) / 1000.0,
                         static_cast<double>(rows[r].to) / 1000.0, static_cast<unsigned long long>(rows[r].n),
                         std::string(static_cast<std::size_t>(bar), '#').c_str());
        }
    }

    // Fixed at construction: the same whatever was recorded.
    std::size_t memory_bytes() const { return sizeof(*this) + counts_.capacity() * sizeof(std::uint64_t); }

private:
    // Values below 2048 us have a bucket each; magnitude m >= 1 covers [2^(10+m), 2^(11+m))
    // in 1024 steps of 2^m us, after the 2048 direct buckets and the 1024 of each lower m.
    static std::size_t index_of(std::uint64_t v) {
        if (v < sub_bucket_count) return static_cast<std::size_t>(v);
        int m = 0;
        while ((v >> m) >= sub_bucket_count) ++m;
        // v >> m is in [1024, 2048): 1024 steps per magnitude.
        return static_cast<std::size_t>(sub_bucket_count + (m - 1) * (sub_bucket_count / 2) +
                                        ((v >> m) - sub_bucket_count / 2));
    }
    static std::uint64_t lower_edge(std::size_t i) {
        if (i < sub_bucket_count) return i;
        const std::size_t half = sub_bucket_count / 2;
        const int m = static_cast<int>((i - sub_bucket_count) / half) + 1;
        const std::uint64_t step = (i - sub_bucket_count) % half + half;
        return step << m;
    }
    static std::uint64_t upper_edge(std::size_t i) {
        if (i < sub_bucket_count) return i;
        const int m = static_cast<int>((i - sub_bucket_count) / (sub_bucket_count / 2)) + 1;
        return lower_edge(i) + (std::uint64_t(1) << m) - 1;
    }

    std::vector<std::uint64_t> counts_;  // bucket_count, allocated once
    std::uint64_t total_ = 0;
    std::uint64_t min_us_ = 0;
    std::uint64_t max_us_ = 0;
};

}  // namespace dbserve_query
