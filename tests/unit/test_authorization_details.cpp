#include <dbserve/protocol/authorization_details.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

using namespace dbserve;

TEST_CASE("the serving endpoint permission encodes exactly as the service documents it") {
    const auto details = authorization_details::for_serving_endpoint("a1b2c3");
    CHECK(details.json() ==
          R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/a1b2c3","actions":["query_inference_endpoint"]}])");
    CHECK_FALSE(details.empty());
}

TEST_CASE("the manage action can be asked for instead of query") {
    const auto details =
        authorization_details::for_serving_endpoint("e-1", endpoint_action::manage_inference_endpoint);
    CHECK(details.json() ==
          R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/e-1","actions":["manage_inference_endpoint"]}])");
    CHECK(to_string(endpoint_action::query_inference_endpoint) == "query_inference_endpoint");
    CHECK(to_string(endpoint_action::manage_inference_endpoint) == "manage_inference_endpoint");
}

TEST_CASE("the encoding is byte-for-byte stable, so it can key a token cache") {
    const auto a = authorization_details::for_serving_endpoint("abc");
    const auto b = authorization_details::for_serving_endpoint("abc");
    CHECK(a.json() == b.json());
    CHECK(a == b);
    CHECK(a != authorization_details::for_serving_endpoint("abd"));
}

TEST_CASE("an empty endpoint id or one with characters not allowed is refused") {
    auto empty = authorization_details::try_for_serving_endpoint("");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().code == errc::invalid_argument);
    CHECK(empty.error().message.find("empty") != std::string::npos);
    auto slash = authorization_details::try_for_serving_endpoint("abc/../other");
    REQUIRE_FALSE(slash);
    CHECK(slash.error().message.find("'/'") != std::string::npos);
    CHECK(slash.error().message.find("position 4") != std::string::npos);
    auto quote = authorization_details::try_for_serving_endpoint("abc\",\"x");
    REQUIRE_FALSE(quote);
    CHECK(quote.error().message.find("'\"'") != std::string::npos);
    auto newline = authorization_details::try_for_serving_endpoint("a\nb");
    REQUIRE_FALSE(newline);
    CHECK(newline.error().message.find("0x0A") != std::string::npos);
    CHECK_FALSE(authorization_details::try_for_serving_endpoint("a.b"));
    CHECK_FALSE(authorization_details::try_for_serving_endpoint(std::string(64, 'a')));
    CHECK(authorization_details::try_for_serving_endpoint(std::string(63, 'a')));
    CHECK(validate_endpoint_id("A-z_9"));
    CHECK_FALSE(validate_endpoint_id(" "));
}

TEST_CASE("for_serving_endpoint with a refused id gives empty details rather than a wrong value") {
    const auto details = authorization_details::for_serving_endpoint("");
    CHECK(details.empty());
    CHECK(details.json().empty());
    CHECK(authorization_details::for_serving_endpoint("x y").empty());
}

TEST_CASE("try_for_serving_endpoint gives the same bytes as for_serving_endpoint") {
    auto checked = authorization_details::try_for_serving_endpoint("abc", endpoint_action::manage_inference_endpoint);
    REQUIRE(checked);
    CHECK(checked->json() ==
          authorization_details::for_serving_endpoint("abc", endpoint_action::manage_inference_endpoint).json());
}

TEST_CASE("any number of details of any type with extra fields and actions: type, fields in order, actions") {
    authorization_details details;
    CHECK(details.empty());
    authorization_detail first;
    first.type = "workspace_permission";
    first.fields.emplace_back("object_type", "serving-endpoints");
    first.fields.emplace_back("object_path", "/serving-endpoints/x");
    first.actions = {"query_inference_endpoint"};
    authorization_detail second;
    second.type = "unity_catalog_permission";
    second.fields.emplace_back("securable_type", "table");
    second.fields.emplace_back("securable_object_name", "main.default.t");
    second.fields.emplace_back("zeta", 1);
    second.fields.emplace_back("alpha", nlohmann::json::array({"x", 2, true, nullptr}));
    second.actions = {"SELECT", "READ_VOLUME"};
    details.add(first).add(second);
    CHECK(details.json() ==
          R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/x","actions":["query_inference_endpoint"]},)"
          R"({"type":"unity_catalog_permission","securable_type":"table","securable_object_name":"main.default.t","zeta":1,"alpha":["x",2,true,null],"actions":["SELECT","READ_VOLUME"]}])");
    CHECK_FALSE(details.empty());
    // The result is valid JSON that reads back as the same structure.
    const auto parsed = nlohmann::json::parse(details.json());
    REQUIRE(parsed.is_array());
    CHECK(parsed.size() == 2);
    CHECK(parsed[1]["actions"][1] == "READ_VOLUME");
}

TEST_CASE("a detail without actions leaves the actions member out") {
    authorization_details details;
    authorization_detail d;
    d.type = "custom";
    d.fields.emplace_back("locations", nlohmann::json::array({"https://example.com"}));
    details.add(d);
    CHECK(details.json() == R"([{"type":"custom","locations":["https://example.com"]}])");
    authorization_details bare;
    bare.add(authorization_detail{"t", {}, {}});
    CHECK(bare.json() == R"([{"type":"t"}])");
}

TEST_CASE("nested objects encode with sorted keys so the bytes never depend on insertion order") {
    authorization_detail d;
    d.type = "t";
    nlohmann::json nested;
    nested["b"] = 1;
    nested["a"] = 2;
    d.fields.emplace_back("nested", nested);
    authorization_details details;
    details.add(d);
    CHECK(details.json() == R"([{"type":"t","nested":{"a":2,"b":1}}])");
}

TEST_CASE("fields named type or actions are skipped; a repeated field keeps its first place and last value") {
    authorization_detail d;
    d.type = "real";
    d.fields.emplace_back("type", "fake");
    d.fields.emplace_back("a", 1);
    d.fields.emplace_back("actions", nlohmann::json::array({"evil"}));
    d.fields.emplace_back("b", 2);
    d.fields.emplace_back("a", 3);
    d.actions = {"ok"};
    authorization_details details;
    details.add(d);
    CHECK(details.json() == R"([{"type":"real","a":3,"b":2,"actions":["ok"]}])");
}

TEST_CASE("strings are JSON-escaped, UTF-8 is kept and invalid UTF-8 is replaced instead of aborting") {
    authorization_detail d;
    d.type = "q\"uote\\";
    d.fields.emplace_back("line\nbreak", "caf\xC3\xA9");
    d.fields.emplace_back("bad", std::string("\xFF\xFE"));
    d.actions = {"tab\there"};
    authorization_details details;
    details.add(d);
    CHECK(details.json() ==
          "[{\"type\":\"q\\\"uote\\\\\",\"line\\nbreak\":\"caf\xC3\xA9\",\"bad\":\"\xEF\xBF\xBD\xEF\xBF\xBD\","
          "\"actions\":[\"tab\\there\"]}]");
    CHECK_FALSE(nlohmann::json::parse(details.json(), nullptr, false).is_discarded());
}

TEST_CASE("a discovered authorization_details string is passed through byte for byte") {
    const std::string raw =
        "[ {\"object_path\": \"/serving-endpoints/abc\", \"type\" : \"workspace_permission\",\n"
        "  \"actions\": [\"query_inference_endpoint\"], \"object_type\":\"serving-endpoints\"} ]";
    const auto details = authorization_details::from_discovered(raw);
    CHECK(details.json() == raw);
    CHECK_FALSE(details.empty());
    // Even text that is not valid JSON is the service's business, not ours.
    CHECK(authorization_details::from_discovered("not json").json() == "not json");
}

TEST_CASE("empty discovered values and empty arrays count as empty") {
    CHECK(authorization_details::from_discovered("").empty());
    CHECK(authorization_details::from_discovered("[]").empty());
    CHECK(authorization_details::from_discovered(" [ \n ] ").empty());
    CHECK(authorization_details::from_discovered("  ").empty());
    CHECK_FALSE(authorization_details::from_discovered("[1]").empty());
    CHECK_FALSE(authorization_details::from_discovered("[ ] x").empty());
    CHECK_FALSE(authorization_details::from_discovered("{}").empty());
}

TEST_CASE("adding to discovered details splices the new element in and keeps the discovered bytes") {
    const std::string raw = "[ {\"type\" : \"workspace_permission\"} ]\n";
    auto details = authorization_details::from_discovered(raw);
    details.add(authorization_detail{"unity_catalog_permission", {}, {"SELECT"}});
    CHECK(details.json() ==
          "[ {\"type\" : \"workspace_permission\"} ,{\"type\":\"unity_catalog_permission\",\"actions\":[\"SELECT\"]}]\n");
    CHECK(nlohmann::json::parse(details.json(), nullptr, false).size() == 2);

    auto empty_array = authorization_details::from_discovered("[ ]");
    empty_array.add(authorization_detail{"t", {}, {}});
    CHECK(empty_array.json() == R"([ {"type":"t"}])");

    auto single_object = authorization_details::from_discovered(R"({"type":"a"})");
    single_object.add(authorization_detail{"b", {}, {}});
    CHECK(single_object.json() == R"([{"type":"a"},{"type":"b"}])");

    auto garbage = authorization_details::from_discovered("nonsense");
    garbage.add(authorization_detail{"b", {}, {}});
    CHECK(garbage.json() == R"([{"type":"b"}])");
}
