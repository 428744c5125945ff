#include <dbserve/payload/body_limits.hpp>

#include <doctest/doctest.h>

using namespace dbserve;

TEST_CASE("bodies up to the limit pass and larger ones are refused with size and limit") {
    CHECK(check_body_size(0, default_body_limit).has_value());
    CHECK(check_body_size(default_body_limit, default_body_limit).has_value());
    auto over = check_body_size(default_body_limit + 1, default_body_limit);
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error().code == errc::invalid_argument);
    CHECK(over.error().message.find("16777217 bytes") != std::string::npos);
    CHECK(over.error().message.find("16777216 bytes (16.0 MB)") != std::string::npos);
}

TEST_CASE("LLM, external-model and agent endpoints allow 4 MB, others 16 MB") {
    CHECK(body_limit_for(endpoint_kind::custom_model) == 16u * 1024 * 1024);
    CHECK(body_limit_for(endpoint_kind::feature_serving) == 16u * 1024 * 1024);
    CHECK(body_limit_for(endpoint_kind::foundation_model) == 4u * 1024 * 1024);
    CHECK(body_limit_for(endpoint_kind::external_model) == 4u * 1024 * 1024);
    CHECK(body_limit_for(endpoint_kind::agent) == 4u * 1024 * 1024);
    CHECK_FALSE(check_body_size(5u * 1024 * 1024, body_limit_for(endpoint_kind::agent)).has_value());
}
