#include <dbserve/client/request_builders.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace dbserve;

namespace {
const char* token_endpoint = "https://adb-1.2.azuredatabricks.net/oidc/v1/token";
const char* details = R"([{"type":"workspace_permission","object_path":"/serving-endpoints/abc"}])";
const char* invocations =
    "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
}  // namespace

TEST_CASE("the discovery request is a GET with the control-plane bearer token") {
    auto r = make_discovery_request("https://adb-1.2.azuredatabricks.net", "my-ep", "cp");
    REQUIRE(r);
    CHECK(r->method == http_method::get);
    CHECK(r->url == "https://adb-1.2.azuredatabricks.net/api/2.0/serving-endpoints/my-ep");
    CHECK(r->headers.get("Authorization") == "Bearer cp");
    CHECK(r->headers.get("Accept") == "application/json");
}

TEST_CASE("a discovery request for a name that is no endpoint name is refused") {
    CHECK_FALSE(make_discovery_request("https://adb-1.2.azuredatabricks.net", "a/b", "cp"));
}

TEST_CASE("a control-plane token request is client credentials with scope all-apis and no details") {
    auto r = detail::client_credentials_token_request(token_endpoint, "client", "secret");
    CHECK(r.method == http_method::post);
    CHECK(r.url == token_endpoint);
    CHECK(r.headers.get("Authorization") == basic_authorization("client", "secret"));
    CHECK(r.headers.get("Content-Type") == "application/x-www-form-urlencoded");
    CHECK(r.headers.get("Accept") == "application/json");
    CHECK(r.body == "grant_type=client_credentials&scope=all-apis");
}

TEST_CASE("a data-plane token request by client credentials carries the authorization_details form-encoded") {
    auto r = detail::client_credentials_token_request(token_endpoint, "client", "secret", details);
    std::string expected = "grant_type=client_credentials&scope=all-apis";
    append_form_field(expected, "authorization_details", details);
    CHECK(r.body == expected);
    CHECK(r.body.find('"') == std::string::npos);
}

TEST_CASE("a token exchange sends the control-plane token as the assertion and no client authentication") {
    auto r = detail::token_exchange_token_request(token_endpoint, "cp-token", details);
    CHECK(r.method == http_method::post);
    CHECK(r.url == token_endpoint);
    CHECK_FALSE(r.headers.contains("Authorization"));
    CHECK(r.headers.get("Content-Type") == "application/x-www-form-urlencoded");
    std::string expected;
    append_form_field(expected, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    append_form_field(expected, "assertion", "cp-token");
    append_form_field(expected, "authorization_details", details);
    CHECK(r.body == expected);
}

TEST_CASE("invocation headers ask for JSON, or for events when streamed, and name the workspace when known") {
    auto plain = detail::invocation_headers("", false);
    CHECK(plain.size() == 2);
    CHECK(plain.get("Content-Type") == "application/json");
    CHECK(plain.get("Accept") == "application/json");
    CHECK_FALSE(plain.contains("X-Databricks-Workspace-Id"));
    auto streamed = detail::invocation_headers("1234567890123456", true);
    CHECK(streamed.get("Accept") == "text/event-stream");
    CHECK(streamed.get("X-Databricks-Workspace-Id") == "1234567890123456");
}

TEST_CASE("an invocation request is a POST of the body to the endpoint, replacing what the slot held") {
    http_request slot;
    slot.url = token_endpoint;
    slot.headers.add_unchecked("Authorization", "Basic old");
    slot.body = "grant_type=client_credentials";
    auto built = detail::build_invocation_request(slot, invocations, detail::invocation_headers("", false),
                                                  R"({"inputs":[1]})", "", false);
    REQUIRE(built);
    CHECK(slot.method == http_method::post);
    CHECK(slot.url == invocations);
    CHECK(slot.body == R"({"inputs":[1]})");
    CHECK_FALSE(slot.headers.contains("Authorization"));
    CHECK(slot.headers.get("Content-Type") == "application/json");
}

TEST_CASE("the client_request_id goes first into the body's object") {
    http_request r;
    REQUIRE(detail::build_invocation_request(r, invocations, {}, R"( {"inputs":[1]})", "req-7", false));
    CHECK(r.body == R"( {"client_request_id":"req-7","inputs":[1]})");
    http_request empty;
    REQUIRE(detail::build_invocation_request(empty, invocations, {}, "{ }", "req-7", false));
    CHECK(empty.body == R"({"client_request_id":"req-7" })");
}

TEST_CASE("a client_request_id that would break the JSON, or a body that is no object, is refused") {
    http_request r;
    auto quoted = detail::build_invocation_request(r, invocations, {}, "{}", "a\"b", false);
    REQUIRE_FALSE(quoted);
    CHECK(quoted.error().code == errc::invalid_argument);
    auto array = detail::build_invocation_request(r, invocations, {}, "[1]", "id", false);
    REQUIRE_FALSE(array);
    CHECK(array.error().code == errc::invalid_argument);
}

TEST_CASE("a streamed invocation says stream: true, keeps a stream: true already there, refuses another value") {
    http_request r;
    REQUIRE(detail::build_invocation_request(r, invocations, {}, R"({"messages":[]})", "", true));
    CHECK(r.body == R"({"stream":true,"messages":[]})");
    std::string kept = R"({"stream": true})";
    REQUIRE(detail::add_stream_flag(kept));
    CHECK(kept == R"({"stream": true})");
    std::string refused = R"({"stream": false})";
    auto result = detail::add_stream_flag(refused);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == errc::invalid_argument);
}

TEST_CASE("an invocation sent again to a moved endpoint gets the new URL and workspace") {
    http_request r;
    REQUIRE(detail::build_invocation_request(r, invocations, detail::invocation_headers("111", false), "{}", "",
                                             false));
    detail::retarget_invocation_request(r, "https://new.serving.cloud.databricks.com/222/serving-endpoints/e/invocations",
                                        "222");
    CHECK(r.url == "https://new.serving.cloud.databricks.com/222/serving-endpoints/e/invocations");
    CHECK(r.headers.get("X-Databricks-Workspace-Id") == "222");
    CHECK(r.headers.size() == 3);
}

TEST_CASE("the bearer token is added once, and replaced when a new token is sent") {
    http_request r;
    detail::set_invocation_bearer(r, "Bearer one", false);
    CHECK(r.headers.get("Authorization") == "Bearer one");
    detail::set_invocation_bearer(r, "Bearer two", true);
    CHECK(r.headers.get("Authorization") == "Bearer two");
    CHECK(r.headers.size() == 1);
}

TEST_CASE("headers kept for every invocation are copied into it, not consumed") {
    const header_list kept = detail::invocation_headers("1234567890123456", false);
    http_request r;
    REQUIRE(detail::build_invocation_request(r, invocations, kept, std::string("{}"), "", false));
    CHECK(kept.size() == 3);
    CHECK(r.headers.size() == 3);
    CHECK(r.headers.get("X-Databricks-Workspace-Id") == "1234567890123456");
}
