// --csv shaping streams from the file's bytes; its bodies and its errors must be exactly what
// the former table-in-memory shaping (csv_reference_body.hpp) produced for the same file.
#include "cli_options.hpp"
#include "csv_reference_body.hpp"
#include "request_body.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace dbserve_query;

namespace {

cli_options csv_options(csv_format format, bool nan_as_null = false) {
    cli_options o;
    o.csv_file = "table.csv";
    o.format = format;
    o.nan_as_null = nan_as_null;
    return o;
}

std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

// Numbers of many shapes, written the way people and programs write them.
std::string random_number(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> pick(0, 15);
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    char buffer[64];
    switch (pick(rng)) {
        case 0: return std::to_string(static_cast<std::int64_t>(rng()));  // full 64-bit range
        case 1: return std::to_string(static_cast<int>(rng() % 2000) - 1000);
        case 2: return "-0";
        case 3: return "-0.0";
        case 4: return "+" + std::to_string(rng() % 100);
        case 5: return "00" + std::to_string(rng() % 100);
        case 6: std::snprintf(buffer, sizeof buffer, "%.17g", unit(rng) * 1e6); return buffer;
        case 7: std::snprintf(buffer, sizeof buffer, "%.3e", unit(rng) * 1e200); return buffer;
        case 8: std::snprintf(buffer, sizeof buffer, "%.6E", unit(rng) * 1e-300); return buffer;
        case 9: return "0.1000000000000000055511151231257827021181583404541015625";  // a long mantissa
        case 10: return "123456789012345678901234567890";  // beyond int64: a double
        case 11: return std::to_string(rng() % 10) + "e" + std::to_string(static_cast<int>(rng() % 40) - 20);
        case 12: std::snprintf(buffer, sizeof buffer, "%a", unit(rng)); return buffer;  // hex: not a number
        case 13: return ".5";
        case 14: return "5.";
        default: {
            const double v = unit(rng);
            std::snprintf(buffer, sizeof buffer, "%.*g", static_cast<int>(rng() % 17) + 1, v);
            return buffer;
        }
    }
}

std::string random_text(std::mt19937_64& rng) {
    static const char* const pieces[] = {"a",  "b c", ",",     "\"",   "\"\"", "\n",     "\r\n", "caf\xC3\xA9",
                                         "\t", "\\",  "x,\"y\"", "nan", "1e5",  " 12 ",  "\xE2\x82\xAC", ""};
    std::string out;
    const int count = static_cast<int>(rng() % 4);
    for (int k = 0; k < count; ++k) out += pieces[rng() % (sizeof pieces / sizeof pieces[0])];
    return out;
}

// Kinds of columns: numbers only (with empty cells), text only, and numbers mixed with
// text, where the spellings of NaN and infinity are text as well.
std::string random_csv(std::mt19937_64& rng, std::size_t rows, std::size_t cols) {
    std::string out;
    std::vector<int> kind(cols);
    for (std::size_t c = 0; c < cols; ++c) {
        kind[c] = static_cast<int>(rng() % 3);
        if (c) out += ',';
        out += rng() % 4 == 0 ? quoted("col, " + std::to_string(c)) : "c" + std::to_string(c);
    }
    out += "\n";
    static const char* const non_finite[] = {"nan", "NaN", "inf", "-inf", "Infinity", "-INFINITY", "+nan"};
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c) {
            if (c) out += ',';
            const auto roll = rng() % 20;
            if (roll == 0) continue;  // empty: null
            if (kind[c] == 0) {
                out += random_number(rng);
            } else if (kind[c] == 1) {
                const std::string text = random_text(rng);
                const bool needs_quotes = text.find_first_of(",\"\r\n") != std::string::npos || text.empty();
                out += needs_quotes || roll < 5 ? quoted(text) : text;
            } else if (r == 0) {
                out += quoted(random_text(rng));  // text in the first row: the column is mixed
            } else if (roll < 3) {
                out += non_finite[rng() % 7];
            } else if (roll < 8) {
                out += quoted(random_text(rng));
            } else {
                out += random_number(rng);
            }
        }
        const auto end = rng() % 10;
        out += end == 0 ? "\r\n" : end == 1 ? "\r" : end == 2 ? "\n\n" : "\n";
    }
    return out;
}

std::string outcome(const dbserve::result<std::string>& body) {
    return body ? "body " + *body : "error " + body.error().message;
}

void check_same(const std::string& csv, const nlohmann::json& params = nlohmann::json()) {
    for (auto format : {csv_format::split, csv_format::records}) {
        const auto o = csv_options(format);
        const auto before = outcome(csv_reference::csv_body(o, csv, params));
        const auto now = outcome(csv_text_body(o, csv, params));
        REQUIRE(before == now);
    }
}

}  // namespace

TEST_CASE("CSV shaping: random tables give byte for byte the former bodies, in both formats") {
    std::mt19937_64 rng(20261207);
    for (int round = 0; round < 40; ++round) {
        CAPTURE(round);
        const std::string csv = random_csv(rng, 1 + rng() % 300, 1 + rng() % 12);
        REQUIRE(csv_text_body(csv_options(csv_format::records), csv, nlohmann::json()));  // a table, not an error
        check_same(csv);
    }
    const std::string large = random_csv(rng, 20000, 24);
    REQUIRE(large.size() > 2000000);
    check_same(large, {{"scale", 2}});  // one large table, with params
}

TEST_CASE("CSV shaping: every number reads back bit-identical") {
    std::mt19937_64 rng(7);
    std::string csv = "x\n";
    std::vector<double> values;
    for (int k = 0; k < 20000; ++k) {
        double v;
        do {
            const std::uint64_t bits = rng();
            std::memcpy(&v, &bits, sizeof v);
        } while (!std::isfinite(v));
        values.push_back(v);
        char buffer[40];
        std::snprintf(buffer, sizeof buffer, "%.17g", v);
        csv += buffer;
        csv += '\n';
    }
    auto body = csv_text_body(csv_options(csv_format::split), csv, nlohmann::json());
    REQUIRE(body);
    const auto doc = nlohmann::json::parse(*body);
    const auto& data = doc["dataframe_split"]["data"];
    REQUIRE(data.size() == values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
        const double back = data[k][0].get<double>();
        CHECK(std::memcmp(&back, &values[k], sizeof back) == 0);
    }
}

TEST_CASE("CSV shaping: broken files give the former errors, the first in the file first") {
    std::mt19937_64 rng(99);
    static const char* const damage[] = {"\"", ",", "\n", "x\"", "\"x", "\xff", "\r", ""};
    for (int round = 0; round < 300; ++round) {
        CAPTURE(round);
        std::string csv = random_csv(rng, 1 + rng() % 30, 1 + rng() % 5);
        const int hits = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < hits; ++k) {
            const std::size_t at = rng() % (csv.size() + 1);
            csv.insert(at, damage[rng() % (sizeof damage / sizeof damage[0])]);
        }
        // The former shaping sent nan in a numeric column as text; that is refused now.
        const auto o = csv_options(csv_format::split);
        const auto now = csv_text_body(o, csv, nlohmann::json());
        if (!now && now.error().message.find("NaN or infinite") != std::string::npos) continue;
        check_same(csv);
    }
    for (const char* csv : {"", "\xEF\xBB\xBF", "\n\n", "a\n", "a,,c\n1,2,3\n", "a\n\"open\n", "a,a\n1,2\n",
                            "a,b\n1\n\"x", "\"\"\n1\n"})
        check_same(csv);
}

TEST_CASE("CSV columns: NaN and infinity in a numeric column are refused with row and column, or null") {
    const std::string csv = "id,score,label\n1,0.5,a\n2,NaN,b\n3,-inf,nan\n";
    auto refused = csv_text_body(csv_options(csv_format::split), csv, nlohmann::json());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == dbserve::errc::invalid_argument);
    CHECK(refused.error().message ==
          "--csv table.csv: CSV line 3 (data row 2), column 'score' (1): 'NaN' in a numeric column is NaN or "
          "infinite, which JSON cannot carry; fix the cell, or give --nan null to send such cells as null (a "
          "missing value)");
    auto split = csv_text_body(csv_options(csv_format::split, true), csv, nlohmann::json());
    REQUIRE(split);
    CHECK(*split == R"({"dataframe_split":{"columns":["id","score","label"],"data":[[1,0.5,"a"],[2,null,"b"],)"
                    R"([3,null,"nan"]]}})");
    auto records = csv_text_body(csv_options(csv_format::records, true), csv, nlohmann::json());
    REQUIRE(records);
    CHECK(*records == R"({"dataframe_records":[{"id":1,"score":0.5,"label":"a"},{"id":2,"score":null,"label":"b"},)"
                      R"({"id":3,"score":null,"label":"nan"}]})");
    // Every spelling, any case, any sign; the first by row is named, whatever its column.
    for (const char* cell : {"nan", "NAN", "inf", "-Inf", "+inf", "Infinity", "-infinity", "iNfInItY"}) {
        CAPTURE(cell);
        auto r = csv_text_body(csv_options(csv_format::split), std::string("a,b\n1,2\n3,") + cell + "\n",
                               nlohmann::json());
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find("CSV line 3 (data row 2), column 'b' (1): '" + std::string(cell) + "'") !=
              std::string::npos);
    }
    auto first = csv_text_body(csv_options(csv_format::split), "a,b\n1,inf\nnan,2\n", nlohmann::json());
    REQUIRE_FALSE(first);
    CHECK(first.error().message.find("(data row 1), column 'b'") != std::string::npos);
}

TEST_CASE("CSV columns: a column with text (or a quoted cell) keeps nan as text; empty cells do not count") {
    auto mixed = csv_text_body(csv_options(csv_format::split), "a,b\nnan,\"1\"\nx,inf\n,\n", nlohmann::json());
    REQUIRE(mixed);
    CHECK(*mixed == R"({"dataframe_split":{"columns":["a","b"],"data":[["nan","1"],["x","inf"],[null,null]]}})");
    auto gaps = csv_text_body(csv_options(csv_format::split, true), "a,b\n1,\n,nan\n", nlohmann::json());
    REQUIRE(gaps);
    CHECK(*gaps == R"({"dataframe_split":{"columns":["a","b"],"data":[[1,null],[null,null]]}})");
}

TEST_CASE("command line: --nan takes error or null and goes with --csv") {
    auto with = [](std::vector<std::string_view> extra) {
        std::vector<std::string_view> args = {"--url", "https://h.example/serving-endpoints/m/invocations"};
        args.insert(args.end(), extra.begin(), extra.end());
        return parse_command_line(args);
    };
    auto o = with({"--csv", "t.csv", "--nan", "null"});
    REQUIRE(o);
    CHECK(o->nan_as_null);
    o = with({"--csv", "t.csv", "--nan", "error"});
    REQUIRE(o);
    CHECK_FALSE(o->nan_as_null);
    CHECK(with({"--csv", "t.csv", "--nan", "zero"}).error().message.find("--nan expects error or null") !=
          std::string::npos);
    CHECK(with({"--data", "{}", "--nan", "null"}).error().message.find("--nan goes with --csv") != std::string::npos);
}
