#include <dbserve/payload/dataframe.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <list>
#include <random>
#include <string>
#include <vector>

using namespace dbserve;

namespace {
// The finished body of a request with only this input.
std::string body_of(result<model_input> input) {
    auto body = model_request(std::move(input)).body();
    REQUIRE(body.has_value());
    return *body;
}
std::string error_of(result<model_input> input) {
    REQUIRE_FALSE(input.has_value());
    CHECK(input.error().code == errc::invalid_argument);
    return input.error().message;
}

struct order {
    double amount;
    std::string country;
    std::optional<int> items;
    bool gift;
};
}  // namespace

TEST_CASE("a dataframe_split table writes columns and rows of mixed values") {
    dataframe_split_writer w({"age", "name", "vip", "score"});
    CHECK(w.add_row({42, "Ann", true, 1.5}));
    CHECK(w.add_row({std::nullopt, "B\"o", false, nullptr}));
    CHECK(w.row_count() == 2);
    CHECK(body_of(w.finish()) ==
          R"({"dataframe_split":{"columns":["age","name","vip","score"],"data":[[42,"Ann",true,1.5],[null,"B\"o",false,null]]}})");
}

TEST_CASE("a dataframe_split table without column names only needs rows of equal length") {
    dataframe_split_writer w;
    w.add_row({1, 2});
    w.add_row({3, 4});
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"data":[[1,2],[3,4]]}})");
    dataframe_split_writer uneven;
    uneven.add_row({1, 2});
    CHECK_FALSE(uneven.add_row({3}));
    CHECK(error_of(uneven.finish()) == "dataframe_split row 1: has 1 values but the rows before have 2");
}

TEST_CASE("a row that does not match the columns is refused, naming the row") {
    dataframe_split_writer w({"a", "b", "c"});
    CHECK(w.add_row({1, 2, 3}));
    CHECK_FALSE(w.add_row({1, 2}));
    CHECK_FALSE(w.ok());
    CHECK_FALSE(w.add_row({1, 2, 3}));  // the first error sticks
    CHECK(error_of(w.finish()) == "dataframe_split row 1: has 2 values but there are 3 columns");
}

TEST_CASE("NaN is refused naming the row and column, or written as null by policy") {
    dataframe_split_writer w({"x", "y"});
    w.add_row({1.0, 2.0});
    CHECK_FALSE(w.add_row({3.0, std::nan("")}));
    auto message = error_of(w.finish());
    CHECK(message.find("row 1, column 'y' (1)") != std::string::npos);
    CHECK(message.find("NaN") != std::string::npos);

    write_options nulls;
    nulls.non_finite = non_finite_policy::write_null;
    dataframe_split_writer lenient({"x"}, nulls);
    lenient.add_row({INFINITY});
    CHECK(body_of(lenient.finish()) == R"({"dataframe_split":{"columns":["x"],"data":[[null]]}})");
}

TEST_CASE("an index is written when given and must have one entry per row") {
    dataframe_split_writer w({"a"});
    w.add_row({1});
    w.add_row({2});
    w.index({"r1", "r2"});
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["a"],"data":[[1],[2]],"index":["r1","r2"]}})");
    dataframe_split_writer short_index({"a"});
    short_index.add_row({1});
    short_index.index({1, 2});
    CHECK(error_of(short_index.finish()).find("one entry per row") != std::string::npos);
}

TEST_CASE("duplicate column names and empty tables are refused") {
    dataframe_split_writer dup({"a", "a"});
    CHECK(error_of(dup.finish()).find("\"a\" is named twice") != std::string::npos);
    dataframe_split_writer empty({"a"});
    CHECK(error_of(empty.finish()).find("no rows") != std::string::npos);
    CHECK(error_of(dataframe_records_writer({}).finish()).find("column names") != std::string::npos);
}

TEST_CASE("strings that are not UTF-8 are refused, or replaced by policy") {
    dataframe_split_writer w({"text"});
    CHECK_FALSE(w.add_row({"bad \xC3"}));
    auto message = error_of(w.finish());
    CHECK(message.find("row 0, column 'text'") != std::string::npos);
    CHECK(message.find("UTF-8") != std::string::npos);
    write_options replace;
    replace.invalid_utf8 = invalid_utf8_policy::replace;
    dataframe_split_writer lenient({"text"}, replace);
    lenient.add_row({"bad \xC3"});
    CHECK(body_of(lenient.finish()).find("bad \xEF\xBF\xBD") != std::string::npos);
}

TEST_CASE("binary values are written as base64 strings") {
    dataframe_split_writer w({"image"});
    const char bytes[] = {'\x00', '\xFF', 'a'};
    w.add_row({binary{std::string_view(bytes, 3)}});
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["image"],"data":[["AP9h"]]}})");
}

TEST_CASE("any nlohmann::json value can be a cell") {
    nlohmann::json nested = {{"k", {1, 2}}};
    dataframe_split_writer w({"j"});
    w.add_row({nested});
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["j"],"data":[[{"k":[1,2]}]]}})");
}

TEST_CASE("rows from vectors, arrays and cell vectors") {
    dataframe_split_writer w({"a", "b"});
    std::vector<double> v{1.25, 2};
    std::array<int, 2> a{3, 4};
    std::vector<cell> cells{"x", true};
    w.add_row(v);
    w.add_row(a);
    w.add_row(cells);
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["a","b"],"data":[[1.25,2.0],[3,4],["x",true]]}})");
}

TEST_CASE("rows of strings and optionals are written as cells") {
    dataframe_split_writer w({"a", "b"});
    std::vector<std::string> words{"x", "y\n"};
    std::vector<std::optional<double>> maybe{1.5, std::nullopt};
    CHECK(w.add_row(words));
    CHECK(w.add_row(maybe));
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["a","b"],"data":[["x","y\n"],[1.5,null]]}})");
}

TEST_CASE("a row-major and a column-major buffer give the same table") {
    const double row_major[] = {1, 2, 3, 4, 5, 6};     // 2 rows x 3 cols
    const double column_major[] = {1, 4, 2, 5, 3, 6};  // the same, by column
    auto a = body_of(write_dataframe_split({"a", "b", "c"}, matrix(row_major, 2, 3)));
    auto b = body_of(write_dataframe_split({"a", "b", "c"}, matrix(column_major, 2, 3, layout::column_major)));
    CHECK(a == b);
    CHECK(a == R"({"dataframe_split":{"columns":["a","b","c"],"data":[[1.0,2.0,3.0],[4.0,5.0,6.0]]}})");
    std::vector<float> floats{0.1f, 0.2f};
    CHECK(body_of(write_dataframe_records({"p", "q"}, matrix(floats, 1, 2))) ==
          R"({"dataframe_records":[{"p":0.1,"q":0.2}]})");
}

TEST_CASE("a buffer whose size is not rows x cols is refused") {
    std::vector<double> values(5, 1.0);
    auto message = error_of(write_dataframe_split({"a", "b"}, matrix(values, 3, 2)));
    CHECK(message.find("holds 5 values") != std::string::npos);
}

TEST_CASE("column names must match the matrix width") {
    std::vector<double> values(4, 1.0);
    CHECK(error_of(write_dataframe_split({"a", "b", "c"}, matrix(values, 2, 2))).find("3 column names") != std::string::npos);
    CHECK(error_of(write_dataframe_records({"a"}, matrix(values, 2, 2))).find("1 column names") != std::string::npos);
}

TEST_CASE("a NaN inside a numeric buffer names its row and column") {
    std::vector<double> values{1, 2, 3, 4, std::nan(""), 6};
    auto message = error_of(write_dataframe_split({"a", "b"}, matrix(values, 3, 2)));
    CHECK(message.find("row 2, column 'a' (0)") != std::string::npos);
    auto records = error_of(write_dataframe_records({"a", "b"}, matrix(values, 3, 2)));
    CHECK(records.find("row 2, column 'a' (0)") != std::string::npos);
    write_options nulls;
    nulls.non_finite = non_finite_policy::write_null;
    auto body = body_of(write_dataframe_records({"a", "b"}, matrix(values, 3, 2), nulls));
    CHECK(body == R"({"dataframe_records":[{"a":1.0,"b":2.0},{"a":3.0,"b":4.0},{"a":null,"b":6.0}]})");
}

TEST_CASE("records write one object per row with escaped keys") {
    dataframe_records_writer w({"a\"b", "c"});
    w.add_row({1, "x"});
    w.add_row({2, nullptr});
    CHECK(body_of(w.finish()) == R"({"dataframe_records":[{"a\"b":1,"c":"x"},{"a\"b":2,"c":null}]})");
}

TEST_CASE("vectors of structs are written through a column mapping") {
    std::vector<order> orders{{9.5, "NL", 3, false}, {12.0, "DE", std::nullopt, true}};
    column_mapping<order> columns;
    columns.add("amount", &order::amount)
        .add("country", [](const order& o) { return o.country + "!"; })  // a temporary string
        .add("items", &order::items)
        .add("gift", &order::gift);
    CHECK(body_of(write_dataframe_split(orders, columns)) ==
          R"({"dataframe_split":{"columns":["amount","country","items","gift"],"data":[[9.5,"NL!",3,false],[12.0,"DE!",null,true]]}})");
    CHECK(body_of(write_dataframe_records(orders, columns)) ==
          R"({"dataframe_records":[{"amount":9.5,"country":"NL!","items":3,"gift":false},{"amount":12.0,"country":"DE!","items":null,"gift":true}]})");
    orders[1].amount = std::nan("");
    CHECK(error_of(write_dataframe_split(orders, columns)).find("row 1, column 'amount'") != std::string::npos);
}

TEST_CASE("every number of a large random table reads back bit-identical") {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> uniform(-1e6, 1e6);
    const std::size_t rows = 2000, cols = 8;
    std::vector<double> values(rows * cols);
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i % 3 == 0) {
            std::uint64_t b = rng();
            double v;
            std::memcpy(&v, &b, sizeof v);
            values[i] = std::isfinite(v) ? v : 0.5;
        } else {
            values[i] = uniform(rng);
        }
    }
    std::vector<std::string> names;
    for (std::size_t c = 0; c < cols; ++c) names.push_back("c" + std::to_string(c));
    auto split = nlohmann::json::parse(body_of(write_dataframe_split(names, matrix(values, rows, cols))));
    auto records = nlohmann::json::parse(body_of(write_dataframe_records(names, matrix(values, rows, cols))));
    const auto& data = split["dataframe_split"]["data"];
    const auto& recs = records["dataframe_records"];
    REQUIRE(data.size() == rows);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            double expected = values[r * cols + c];
            double a = data[r][c].get<double>();
            double b = recs[r][names[c]].get<double>();
            REQUIRE(std::memcmp(&a, &expected, sizeof a) == 0);
            REQUIRE(std::memcmp(&b, &expected, sizeof b) == 0);
        }
}

TEST_CASE("a lent buffer's capacity is reused and its old content discarded") {
    std::string buffer = "old content";
    buffer.reserve(4096);
    dataframe_split_writer w({"a"}, {}, std::move(buffer));
    w.add_row({1});
    auto input = w.finish();
    REQUIRE(input.has_value());
    CHECK(input->text() == R"({"dataframe_split":{"columns":["a"],"data":[[1]]})");
}

TEST_CASE("a writer can be moved while writing") {
    dataframe_split_writer w({"a"});
    w.add_row({1});
    dataframe_split_writer moved = std::move(w);
    moved.add_row({2});
    CHECK(body_of(moved.finish()) == R"({"dataframe_split":{"columns":["a"],"data":[[1],[2]]}})");
}

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
TEST_CASE("rows and matrices from std::span") {
    std::vector<double> storage{1, 2, 3, 4};
    std::span<const double> all(storage);
    dataframe_split_writer w({"a", "b"});
    w.add_row(all.first(2));
    w.add_rows(matrix(all.subspan(2), 1, 2));
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["a","b"],"data":[[1.0,2.0],[3.0,4.0]]}})");
}
#endif

TEST_CASE("rows from ranges without contiguous storage") {
    dataframe_split_writer w({"a", "b"});
    std::vector<bool> flags{true, false};
    std::list<int> numbers{1, 2};
    CHECK(w.add_row(flags));
    CHECK(w.add_row(numbers));
    CHECK(body_of(w.finish()) == R"({"dataframe_split":{"columns":["a","b"],"data":[[true,false],[1,2]]}})");
}
