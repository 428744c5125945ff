#include <dbserve/client/endpoint.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace dbserve;

namespace {
const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600));
const char* details =
    R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/abc123","actions":["query_inference_endpoint"]}])";
}  // namespace

TEST_CASE("a configured URL gives the endpoint id from the first host label and scoped details") {
    auto e = resolve_configured_endpoint(url);
    REQUIRE(e);
    CHECK(e->url == url);
    CHECK(e->id == "abc123");
    CHECK(e->name == "my-ep");
    CHECK(e->workspace_id == "1234567890123456");
    CHECK(e->authorization_details == details);
    CHECK(e->token_key == std::string(url) + "\n" + details);
    CHECK_FALSE(e->discovered);
}

TEST_CASE("a given endpoint id and action override the URL's") {
    auto e = resolve_configured_endpoint(url, "other-id", {}, endpoint_action::manage_inference_endpoint);
    REQUIRE(e);
    CHECK(e->id == "other-id");
    CHECK(e->authorization_details.find("/serving-endpoints/other-id") != std::string::npos);
    CHECK(e->authorization_details.find("manage_inference_endpoint") != std::string::npos);
}

TEST_CASE("a served model is put into the URL") {
    auto e = resolve_configured_endpoint(url, {}, "model-b");
    REQUIRE(e);
    CHECK(e->url ==
          "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/served-models/model-b/invocations");
    CHECK(e->served_model == "model-b");
}

TEST_CASE("two different served models in URL and configuration are refused") {
    auto e = resolve_configured_endpoint(
        "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/served-models/a/invocations",
        {}, "b");
    REQUIRE_FALSE(e);
    CHECK(e.error().code == errc::invalid_argument);
}

TEST_CASE("plain http to a remote host is a configuration error; loopback is allowed") {
    auto remote = resolve_configured_endpoint(
        "http://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations");
    REQUIRE_FALSE(remote);
    CHECK(remote.error().code == errc::configuration);
    CHECK(resolve_configured_endpoint("http://localhost:9/1234567890123456/serving-endpoints/my-ep/invocations"));
}

TEST_CASE("a discovery response gives the URL and the authorization_details byte for byte") {
    // Whitespace and key order in the service's string are kept exactly.
    const std::string odd = R"([ {"actions":["query_inference_endpoint"], "type":"workspace_permission"} ])";
    auto e = parse_discovery_response(testing::discovery_reply("my-ep", url, odd), "my-ep", "https://w", now);
    REQUIRE(e);
    CHECK(e->url == url);
    CHECK(e->authorization_details == odd);
    CHECK(e->id == "abc123");
    CHECK(e->discovered);
}

TEST_CASE("discovery failures say what is wrong with the endpoint") {
    SUBCASE("not found") {
        auto e = parse_discovery_response(testing::error_reply(404, "RESOURCE_DOES_NOT_EXIST", "no such endpoint"),
                                          "my-ep", "https://w", now);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == errc::not_found);
        CHECK(e.error().message.find("'my-ep'") != std::string::npos);
    }
    SUBCASE("no data_plane_info") {
        auto e = parse_discovery_response(
            testing::json_response(200, R"({"name":"my-ep","state":{"ready":"READY"}})"), "my-ep", "https://w", now);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == errc::configuration);
        CHECK(e.error().message.find("not route optimized") != std::string::npos);
    }
    SUBCASE("route optimized without query_info") {
        auto e = parse_discovery_response(
            testing::json_response(200, R"({"name":"my-ep","route_optimized":true,"state":{"ready":"READY"}})"),
            "my-ep", "https://w", now);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == errc::bad_response);
    }
    SUBCASE("not ready") {
        auto e = parse_discovery_response(testing::discovery_reply("my-ep", url, details, "NOT_READY"), "my-ep",
                                          "https://w", now);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == errc::unavailable);
        CHECK(e.error().message.find("NOT_READY") != std::string::npos);
    }
    SUBCASE("not JSON") {
        auto e = parse_discovery_response(testing::json_response(200, "oops"), "my-ep", "https://w", now);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == errc::bad_response);
    }
    SUBCASE("a discovered plain-http URL") {
        auto e = parse_discovery_response(
            testing::discovery_reply("my-ep",
                                     "http://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations",
                                     details),
            "my-ep", "https://w", now);
        REQUIRE_FALSE(e);
        CHECK(e.error().code == errc::configuration);
    }
}

TEST_CASE("the endpoint cache discovers once per name and forgets only the result it is told about") {
    endpoint_cache cache;
    auto a = cache.acquire("my-ep");
    REQUIRE(a.what == endpoint_cache::decision::fetch);
    auto b = cache.acquire("my-ep");
    REQUIRE(b.what == endpoint_cache::decision::wait);
    auto stored = cache.complete("my-ep", a.ticket, *resolve_configured_endpoint(url));
    auto b2 = cache.acquire("my-ep", b.ticket);
    REQUIRE(b2.what == endpoint_cache::decision::use);
    CHECK(b2.endpoint == stored);
    resolved_endpoint other;
    CHECK_FALSE(cache.invalidate("my-ep", &other));
    CHECK(cache.invalidate("my-ep", stored.get()));
    CHECK(cache.acquire("my-ep").what == endpoint_cache::decision::fetch);
}

TEST_CASE("a failed discovery fails the callers that waited for it") {
    endpoint_cache cache;
    auto a = cache.acquire("my-ep");
    auto b = cache.acquire("my-ep");
    cache.fail("my-ep", a.ticket, dbserve::error(errc::not_found, "gone"));
    auto b2 = cache.acquire("my-ep", b.ticket);
    REQUIRE(b2.what == endpoint_cache::decision::fail);
    CHECK(b2.failure->code == errc::not_found);
}

TEST_CASE("a discovered endpoint host must be on the serving domain of the workspace's cloud") {
    const std::vector<std::string> none;
    auto allowed = [&](const std::string& endpoint_host, const std::string& workspace,
                       const std::vector<std::string>& extra) {
        return static_cast<bool>(check_discovered_endpoint_host(
            "https://" + endpoint_host + "/1234567890123456/serving-endpoints/my-ep/invocations", workspace, extra));
    };
    const std::string azure = "https://adb-1234567890123456.7.azuredatabricks.net";
    const std::string aws = "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com";
    const std::string gcp = "https://1234567890123456.7.gcp.databricks.com";
    CHECK(allowed("abc123.7.serving.azuredatabricks.net", azure, none));
    CHECK(allowed("ABC123.7.Serving.AzureDatabricks.NET", azure, none));
    CHECK(allowed("abc123.serving.cloud.databricks.com", aws, none));
    CHECK(allowed("abc123.serving.gcp.databricks.com", gcp, none));
    // Another cloud's serving domain, a look-alike, the bare domain, another host.
    CHECK_FALSE(allowed("abc123.serving.cloud.databricks.com", azure, none));
    CHECK_FALSE(allowed("abc123.7.serving.azuredatabricks.net", gcp, none));
    CHECK_FALSE(allowed("abc123.serving.azuredatabricks.net.evil.com", azure, none));
    CHECK_FALSE(allowed("evilserving.azuredatabricks.net", azure, none));
    CHECK_FALSE(allowed("serving.azuredatabricks.net", azure, none));
    CHECK_FALSE(allowed("adb-1234567890123456.7.azuredatabricks.net", azure, none));
    // A workspace host that names no cloud (a private link name): any serving domain.
    CHECK(allowed("abc123.serving.cloud.databricks.com", "https://ws.internal.example", none));
    CHECK_FALSE(allowed("abc123.example.net", "https://ws.internal.example", none));
    // Loopback only beside a loopback workspace (a local emulator).
    CHECK(allowed("127.0.0.1:8443", "https://localhost:8443", none));
    CHECK_FALSE(allowed("127.0.0.1:8443", azure, none));
    // The user's list: exact names and dot-suffixes, nothing looser.
    CHECK(allowed("gw.example.net", azure, {"gw.example.net"}));
    CHECK(allowed("a.b.example.net", azure, {".example.net"}));
    CHECK_FALSE(allowed("example.net", azure, {".example.net"}));
    CHECK_FALSE(allowed("notexample.net", azure, {".example.net", "example"}));
    auto refused = check_discovered_endpoint_host("https://abc123.example.net/x/invocations", azure, none);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == errc::configuration);
    CHECK(refused.error().message.find("abc123.example.net") != std::string::npos);
    CHECK(refused.error().message.find("*.serving.azuredatabricks.net") != std::string::npos);
    CHECK(refused.error().message.find("allowed_endpoint_hosts") != std::string::npos);
}
