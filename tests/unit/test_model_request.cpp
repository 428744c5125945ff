#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/model_request.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace dbserve;

namespace {
std::string error_of(const model_request& request) {
    auto body = request.body();
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().code == errc::invalid_argument);
    return body.error().message;
}
result<model_input> one_row() {
    dataframe_split_writer w({"a"});
    w.add_row({1});
    return w.finish();
}
}  // namespace

TEST_CASE("a body has its one input plus params, client_request_id and usage_context") {
    auto body = model_request(one_row())
                    .params({{"threshold", 0.5}})
                    .client_request_id("req-1")
                    .usage_context({{"end_user_to_charge", "team-a"}})
                    .body();
    REQUIRE(body.has_value());
    CHECK(*body ==
          R"({"dataframe_split":{"columns":["a"],"data":[[1]]},"params":{"threshold":0.5},"client_request_id":"req-1","usage_context":{"end_user_to_charge":"team-a"}})");
    CHECK(nlohmann::json::parse(*body).size() == 4);
}

TEST_CASE("params must be an object") {
    CHECK(error_of(model_request(one_row()).params(nlohmann::json::array({1}))).find("params must be a JSON object") !=
          std::string::npos);
    CHECK(error_of(model_request(one_row()).params(3)).find("not number") != std::string::npos);
    CHECK(error_of(model_request(one_row()).usage_context("x")).find("usage_context") != std::string::npos);
    CHECK(error_of(model_request(one_row()).params({{"t", std::nan("")}})).find("params.t") != std::string::npos);
}

TEST_CASE("an error in the input is reported by body()") {
    dataframe_split_writer w({"a", "b"});
    w.add_row({1});
    CHECK(error_of(model_request(w.finish())).find("row 0") != std::string::npos);
}

TEST_CASE("a whole JSON body must have exactly one input key") {
    CHECK(error_of(model_request::from_json({{"params", nlohmann::json::object()}})).find("no input") !=
          std::string::npos);
    auto two = nlohmann::json::parse(R"({"instances": [1], "inputs": [1]})");
    CHECK(error_of(model_request::from_json(two)).find("both \"instances\" and \"inputs\"") != std::string::npos);
    auto unknown = nlohmann::json::parse(R"({"inputs": [1], "input": [1]})");
    CHECK(error_of(model_request::from_json(unknown)).find("unknown field \"input\"") != std::string::npos);
    CHECK(error_of(model_request::from_json(nlohmann::json::array())).find("JSON object") != std::string::npos);
    auto good = nlohmann::json::parse(R"({"inputs": {"x": [1, 2]}, "params": {"k": "v"}, "client_request_id": "c"})");
    auto body = model_request::from_json(good).body();
    REQUIRE(body.has_value());
    CHECK(nlohmann::json::parse(*body) == good);
}

TEST_CASE("a JSON dataframe_split is checked like the written one") {
    auto extra = nlohmann::json::parse(R"({"dataframe_split": {"data": [[1]], "dtype": "x"}})");
    CHECK(error_of(model_request::from_json(extra)).find("\"dtype\"") != std::string::npos);
    auto uneven = nlohmann::json::parse(R"({"dataframe_split": {"columns": ["a","b"], "data": [[1,2],[3]]}})");
    CHECK(error_of(model_request::from_json(uneven)) == "dataframe_split row 1: has 1 values but there are 2 columns");
    auto no_data = nlohmann::json::parse(R"({"dataframe_split": {"columns": ["a"]}})");
    CHECK(error_of(model_request::from_json(no_data)).find("needs \"data\"") != std::string::npos);
    auto bad_index = nlohmann::json::parse(R"({"dataframe_split": {"data": [[1]], "index": [1, 2]}})");
    CHECK(error_of(model_request::from_json(bad_index)).find("index") != std::string::npos);
    auto records = nlohmann::json::parse(R"({"dataframe_records": [{"a": 1}, 2]})");
    CHECK(error_of(model_request::from_json(records)).find("row 1") != std::string::npos);
    auto split_nan = nlohmann::json{{"dataframe_split", {{"columns", {"a", "b"}}, {"data", {{1.0, 2.0}, {3.0, std::nan("")}}}}}};
    CHECK(error_of(model_request::from_json(split_nan)).find("row 1, column 'b' (1)") != std::string::npos);
    auto records_nan = nlohmann::json{{"dataframe_records", {{{"a", 1.0}}, {{"a", INFINITY}}}}};
    CHECK(error_of(model_request::from_json(records_nan)).find("row 1, column 'a'") != std::string::npos);
    auto nan = nlohmann::json{{"inputs", {1.0, std::nan("")}}};
    CHECK(error_of(model_request::from_json(nan)).find("[1]") != std::string::npos);
}

TEST_CASE("a body over the limit is refused before sending, giving size and limit") {
    auto too_big = model_request(one_row()).max_body_bytes(20).body();
    REQUIRE_FALSE(too_big.has_value());
    CHECK(too_big.error().message.find("over the endpoint's limit of 20 bytes") != std::string::npos);
    CHECK(too_big.error().message.find("is 50 bytes") != std::string::npos);
    CHECK(model_request(one_row()).max_body_bytes(50).body().has_value());
    CHECK_FALSE(model_request(one_row()).max_body_bytes(49).body().has_value());
}

TEST_CASE("the body can be appended to a caller's buffer, which is untouched on error") {
    std::string out = "GARBAGE";
    out.clear();
    out += "x";
    model_request request(one_row());
    REQUIRE(request.append_body_to(out));
    CHECK(out == R"(x{"dataframe_split":{"columns":["a"],"data":[[1]]}})");
    REQUIRE(request.append_body_to(out));  // the request can be used again
    request.max_body_bytes(10);
    std::string before = out;
    CHECK_FALSE(request.append_body_to(out));
    CHECK(out == before);
}

TEST_CASE("a body over 16 MB is refused by default") {
    std::vector<double> values(900000, 0.12345678901234567);  // about 20 MB of text
    auto body = model_request(write_dataframe_split({"x"}, matrix(values, values.size(), 1))).body();
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().message.find("16777216 bytes (16.0 MB)") != std::string::npos);
    auto allowed = model_request(write_dataframe_split({"x"}, matrix(values, values.size(), 1)))
                       .max_body_bytes(64u * 1024 * 1024)
                       .body();
    CHECK(allowed.has_value());
}
