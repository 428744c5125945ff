#include <dbserve/payload/tensor.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace dbserve;

namespace {
std::string body_of(result<model_input> input) {
    auto body = model_request(std::move(input)).body();
    REQUIRE(body.has_value());
    return *body;
}
std::string error_of(result<model_input> input) {
    REQUIRE_FALSE(input.has_value());
    return input.error().message;
}
}  // namespace

TEST_CASE("instances from a matrix are rows in either layout") {
    const int row_major[] = {1, 2, 3, 4, 5, 6};
    const int column_major[] = {1, 4, 2, 5, 3, 6};
    CHECK(body_of(write_instances(matrix(row_major, 2, 3))) == R"({"instances":[[1,2,3],[4,5,6]]})");
    CHECK(body_of(write_instances(matrix(column_major, 2, 3, layout::column_major))) ==
          R"({"instances":[[1,2,3],[4,5,6]]})");
    CHECK(body_of(write_inputs(matrix(row_major, 3, 2))) == R"({"inputs":[[1,2],[3,4],[5,6]]})");
}

TEST_CASE("nested tensors follow their shape") {
    std::vector<double> v(12);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) + 0.5;
    CHECK(body_of(write_instances(tensor(v, {2, 2, 3}))) ==
          R"({"instances":[[[0.5,1.5,2.5],[3.5,4.5,5.5]],[[6.5,7.5,8.5],[9.5,10.5,11.5]]]})");
    CHECK(body_of(write_inputs(tensor(v, {1, 2, 3, 2}))) ==
          R"({"inputs":[[[[0.5,1.5],[2.5,3.5],[4.5,5.5]],[[6.5,7.5],[8.5,9.5],[10.5,11.5]]]]})");
    CHECK(body_of(write_instances(tensor(v))) ==
          R"({"instances":[0.5,1.5,2.5,3.5,4.5,5.5,6.5,7.5,8.5,9.5,10.5,11.5]})");
    std::vector<double> none;
    CHECK(body_of(write_inputs(tensor(none, {2, 0}))) == R"({"inputs":[[],[]]})");
    CHECK(body_of(write_inputs(tensor(none, {1, 2, 0}))) == R"({"inputs":[[[],[]]]})");
}

TEST_CASE("a tensor whose buffer does not match its shape is refused") {
    std::vector<double> v(5);
    CHECK(error_of(write_instances(tensor(v, {2, 3}))).find("holds 5 values but the shape needs 6") != std::string::npos);
    CHECK(error_of(write_instances(tensor(v, {0, 3}))).find("at least one instance") != std::string::npos);
}

TEST_CASE("a NaN in a tensor names its element") {
    std::vector<float> v{1, 2, 3, std::nanf("")};
    auto message = error_of(write_instances(tensor(v, {2, 2})));
    CHECK(message.find("element [1,1]") != std::string::npos);
    write_options nulls;
    nulls.non_finite = non_finite_policy::write_null;
    CHECK(body_of(write_instances(tensor(v, {2, 2}), nulls)) == R"({"instances":[[1.0,2.0],[3.0,null]]})");
}

TEST_CASE("named tensors in column form") {
    std::vector<std::int64_t> ids{7, 8, 9};
    std::vector<float> mask{1, 0, 1, 1};
    named_tensors_writer w;
    w.add("ids", tensor(ids)).add("mask", tensor(mask, {2, 2})).add("text", nlohmann::json{"a", "b"});
    CHECK(body_of(w.finish()) == R"({"inputs":{"ids":[7,8,9],"mask":[[1.0,0.0],[1.0,1.0]],"text":["a","b"]}})");
    named_tensors_writer dup;
    dup.add("x", tensor(ids)).add("x", tensor(ids));
    CHECK(error_of(dup.finish()).find("given twice") != std::string::npos);
    CHECK(error_of(named_tensors_writer().finish()).find("no named tensors") != std::string::npos);
}

TEST_CASE("instances from JSON: row form and named rows with the same keys") {
    CHECK(body_of(write_instances(nlohmann::json{"a", "b"})) == R"({"instances":["a","b"]})");
    CHECK(body_of(write_instances(nlohmann::json::parse(R"([{"a":1,"b":2},{"a":3,"b":4}])"))) ==
          R"({"instances":[{"a":1,"b":2},{"a":3,"b":4}]})");
    CHECK(error_of(write_instances(nlohmann::json::parse(R"([{"a":1,"b":2},{"a":3}])")))
              .find("row 1") != std::string::npos);
    CHECK(error_of(write_instances(nlohmann::json::array())).find("non-empty") != std::string::npos);
    CHECK(error_of(write_inputs(nlohmann::json())).find("null") != std::string::npos);
}

TEST_CASE("instances as records of named tensors") {
    records_writer w(input_format::instances, {"a", "b"});
    w.add_row({1, "x"});
    CHECK(body_of(w.finish()) == R"({"instances":[{"a":1,"b":"x"}]})");
}
