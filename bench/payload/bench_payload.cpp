// Writing a 10,000 x 32 table of random full-precision doubles as a dataframe_split body and
// as a dataframe_records body, four ways side by side in one binary:
//   dbserve   - this library's writer (write_dataframe_split / _records + model_request);
//   nlohmann  - build an nlohmann::json tree, then dump();
//   rapidjson - rapidjson::Writer into a StringBuffer;
//   floor     - a bare loop of std::to_chars into a preallocated buffer with the separators,
//               no checks: the cost of the bytes themselves.
// bytes_per_second is the size of the body written.
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/model_request.hpp>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#if DBSERVE_BENCH_RAPIDJSON
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#endif

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t rows = 10000;
constexpr std::size_t cols = 32;

struct table {
    std::vector<double> values;  // row-major
    std::vector<std::string> names;
    table() {
        std::mt19937_64 rng(2024);
        std::normal_distribution<double> normal(0.0, 1000.0);
        values.resize(rows * cols);
        for (auto& v : values) v = normal(rng);
        for (std::size_t c = 0; c < cols; ++c) names.push_back("feature_" + std::to_string(c));
    }
};

const table& data() {
    static const table t;
    return t;
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "benchmark setup failed: %s\n", what);
        std::abort();
    }
}

// ---------------------------------------------------------------- dataframe_split

void split_dbserve(benchmark::State& state) {
    const auto& t = data();
    std::string buffer;
    std::size_t bytes = 0;
    for (auto _ : state) {
        dbserve::dataframe_split_writer w(t.names, {}, std::move(buffer));
        w.add_rows(dbserve::matrix(t.values, rows, cols));
        auto body = dbserve::model_request(w.finish()).body();
        check(body.has_value(), "dbserve split");
        bytes = body->size();
        benchmark::DoNotOptimize(body->data());
        buffer = std::move(*body);  // the next request reuses the capacity
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

void split_dbserve_fresh_buffer(benchmark::State& state) {
    const auto& t = data();
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto body = dbserve::model_request(dbserve::write_dataframe_split(t.names, dbserve::matrix(t.values, rows, cols))).body();
        check(body.has_value(), "dbserve split");
        bytes = body->size();
        benchmark::DoNotOptimize(body->data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

void split_nlohmann(benchmark::State& state) {
    const auto& t = data();
    std::size_t bytes = 0;
    for (auto _ : state) {
        nlohmann::json data = nlohmann::json::array();
        for (std::size_t r = 0; r < rows; ++r) {
            nlohmann::json row = nlohmann::json::array();
            for (std::size_t c = 0; c < cols; ++c) row.push_back(t.values[r * cols + c]);
            data.push_back(std::move(row));
        }
        nlohmann::json body = {{"dataframe_split", {{"columns", t.names}, {"data", std::move(data)}}}};
        std::string text = body.dump();
        bytes = text.size();
        benchmark::DoNotOptimize(text.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

#if DBSERVE_BENCH_RAPIDJSON
void split_rapidjson(benchmark::State& state) {
    const auto& t = data();
    std::size_t bytes = 0;
    for (auto _ : state) {
        rapidjson::StringBuffer out;
        rapidjson::Writer<rapidjson::StringBuffer> w(out);
        w.StartObject();
        w.Key("dataframe_split");
        w.StartObject();
        w.Key("columns");
        w.StartArray();
        for (const auto& name : t.names) w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
        w.EndArray();
        w.Key("data");
        w.StartArray();
        for (std::size_t r = 0; r < rows; ++r) {
            w.StartArray();
            for (std::size_t c = 0; c < cols; ++c) w.Double(t.values[r * cols + c]);
            w.EndArray();
        }
        w.EndArray();
        w.EndObject();
        w.EndObject();
        bytes = out.GetSize();
        benchmark::DoNotOptimize(out.GetString());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}
#endif

void split_floor(benchmark::State& state) {
    const auto& t = data();
    std::vector<char> buffer(rows * cols * 26 + 4096);
    std::size_t bytes = 0;
    for (auto _ : state) {
        char* p = buffer.data();
        const char head[] = "{\"dataframe_split\":{\"data\":[";
        std::memcpy(p, head, sizeof head - 1);
        p += sizeof head - 1;
        for (std::size_t r = 0; r < rows; ++r) {
            *p++ = '[';
            for (std::size_t c = 0; c < cols; ++c) {
                p = std::to_chars(p, p + 26, t.values[r * cols + c]).ptr;
                *p++ = ',';
            }
            p[-1] = ']';
            *p++ = ',';
        }
        p[-1] = ']';
        *p++ = '}';
        *p++ = '}';
        bytes = static_cast<std::size_t>(p - buffer.data());
        benchmark::DoNotOptimize(buffer.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

// ---------------------------------------------------------------- dataframe_records

void records_dbserve(benchmark::State& state) {
    const auto& t = data();
    std::string buffer;
    std::size_t bytes = 0;
    for (auto _ : state) {
        dbserve::dataframe_records_writer w(t.names, {}, std::move(buffer));
        w.add_rows(dbserve::matrix(t.values, rows, cols));
        auto body = dbserve::model_request(w.finish()).body();
        check(body.has_value(), "dbserve records");
        bytes = body->size();
        benchmark::DoNotOptimize(body->data());
        buffer = std::move(*body);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

void records_nlohmann(benchmark::State& state) {
    const auto& t = data();
    std::size_t bytes = 0;
    for (auto _ : state) {
        nlohmann::json records = nlohmann::json::array();
        for (std::size_t r = 0; r < rows; ++r) {
            nlohmann::json record = nlohmann::json::object();
            for (std::size_t c = 0; c < cols; ++c) record[t.names[c]] = t.values[r * cols + c];
            records.push_back(std::move(record));
        }
        nlohmann::json body = {{"dataframe_records", std::move(records)}};
        std::string text = body.dump();
        bytes = text.size();
        benchmark::DoNotOptimize(text.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

#if DBSERVE_BENCH_RAPIDJSON
void records_rapidjson(benchmark::State& state) {
    const auto& t = data();
    std::size_t bytes = 0;
    for (auto _ : state) {
        rapidjson::StringBuffer out;
        rapidjson::Writer<rapidjson::StringBuffer> w(out);
        w.StartObject();
        w.Key("dataframe_records");
        w.StartArray();
        for (std::size_t r = 0; r < rows; ++r) {
            w.StartObject();
            for (std::size_t c = 0; c < cols; ++c) {
                w.Key(t.names[c].data(), static_cast<rapidjson::SizeType>(t.names[c].size()));
                w.Double(t.values[r * cols + c]);
            }
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        bytes = out.GetSize();
        benchmark::DoNotOptimize(out.GetString());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}
#endif

void records_floor(benchmark::State& state) {
    const auto& t = data();
    std::vector<std::string> keys;
    for (std::size_t c = 0; c < cols; ++c) keys.push_back((c ? ",\"" : "\"") + t.names[c] + "\":");
    std::vector<char> buffer(rows * cols * 40 + 4096);
    std::size_t bytes = 0;
    for (auto _ : state) {
        char* p = buffer.data();
        const char head[] = "{\"dataframe_records\":[";
        std::memcpy(p, head, sizeof head - 1);
        p += sizeof head - 1;
        for (std::size_t r = 0; r < rows; ++r) {
            *p++ = '{';
            for (std::size_t c = 0; c < cols; ++c) {
                std::memcpy(p, keys[c].data(), keys[c].size());
                p += keys[c].size();
                p = std::to_chars(p, p + 26, t.values[r * cols + c]).ptr;
            }
            *p++ = '}';
            *p++ = ',';
        }
        p[-1] = ']';
        *p++ = '}';
        bytes = static_cast<std::size_t>(p - buffer.data());
        benchmark::DoNotOptimize(buffer.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

}  // namespace

BENCHMARK(split_dbserve)->Unit(benchmark::kMillisecond);
BENCHMARK(split_dbserve_fresh_buffer)->Unit(benchmark::kMillisecond);
BENCHMARK(split_nlohmann)->Unit(benchmark::kMillisecond);
#if DBSERVE_BENCH_RAPIDJSON
BENCHMARK(split_rapidjson)->Unit(benchmark::kMillisecond);
#endif
BENCHMARK(split_floor)->Unit(benchmark::kMillisecond);
BENCHMARK(records_dbserve)->Unit(benchmark::kMillisecond);
BENCHMARK(records_nlohmann)->Unit(benchmark::kMillisecond);
#if DBSERVE_BENCH_RAPIDJSON
BENCHMARK(records_rapidjson)->Unit(benchmark::kMillisecond);
#endif
BENCHMARK(records_floor)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
