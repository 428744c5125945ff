#include <dbserve/payload/feature_lookup.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace dbserve;

TEST_CASE("a feature lookup writes records of lookup keys and context") {
    feature_lookup_request lookup({"customer_id"});
    lookup.add({{"customer_id", 17}, {"basket_total", 42.5}});
    lookup.add({{"customer_id", 18}});
    auto body = lookup.to_body();
    REQUIRE(body.has_value());
    CHECK(*body == R"({"dataframe_records":[{"basket_total":42.5,"customer_id":17},{"customer_id":18}]})");
}

TEST_CASE("every record must carry every lookup key with a scalar value") {
    feature_lookup_request missing({"id", "date"});
    missing.add({{"id", 1}});
    auto body = missing.to_body();
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().message.find("record 0 has no value for the lookup key \"date\"") != std::string::npos);
    feature_lookup_request null_key({"id"});
    null_key.add({{"id", nullptr}});
    CHECK(null_key.to_body().error().message.find("must be a string, number or boolean") != std::string::npos);
    feature_lookup_request not_object({"id"});
    not_object.add(3);
    CHECK_FALSE(not_object.to_body().has_value());
    CHECK_FALSE(feature_lookup_request({}).to_body().has_value());
    CHECK_FALSE(feature_lookup_request({"id"}).to_body().has_value());
}

TEST_CASE("a non-finite context value is refused, naming the record") {
    feature_lookup_request lookup({"id"});
    lookup.add({{"id", 1}});
    lookup.add({{"id", 2}, {"x", std::nan("")}});
    auto body = lookup.to_body();
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().message.find("row 1, column 'x'") != std::string::npos);
}

TEST_CASE("params and a client_request_id can be added to a lookup") {
    feature_lookup_request lookup({"id"});
    lookup.add({{"id", "a"}});
    auto body = lookup.to_request().client_request_id("r1").body();
    REQUIRE(body.has_value());
    CHECK(*body == R"({"dataframe_records":[{"id":"a"}],"client_request_id":"r1"})");
    CHECK_FALSE(lookup.to_body(10).has_value());
}
