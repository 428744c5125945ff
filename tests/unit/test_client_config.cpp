#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

using namespace dbserve;

namespace {
const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";

client_config configured(std::string token_url) {
    client_config c;
    c.url = url;
    c.token_url = std::move(token_url);
    c.jitter = [] { return 0.0; };
    return c;
}
}  // namespace

TEST_CASE("token requests go to client_config::token_url when it is set") {
    testing::fake_transport transport;
    transport.replies().on("/private/token").always(testing::token_reply("tok"));
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    basic_client<testing::traits> client(configured("https://login.internal.example/private/token"), transport,
                                         manual_clock{}, static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    auto requests = transport.replies().requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests.front().url == "https://login.internal.example/private/token");
    CHECK(requests.front().body.find("authorization_details=") != std::string::npos);
}

TEST_CASE("without client_config::token_url the token endpoint is the workspace's /oidc/v1/token") {
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    basic_client<testing::traits> client(configured(""), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    CHECK(transport.replies().requests().front().url ==
          "https://adb-1234567890123456.7.azuredatabricks.net/oidc/v1/token");
}

TEST_CASE("a plain http token_url off loopback is refused before the secret is sent") {
    testing::fake_transport transport;
    basic_client<testing::traits> client(configured("http://login.example/token"), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(r.error().message.find("client_config::token_url") != std::string::npos);
    CHECK(transport.replies().requests().empty());
}

TEST_CASE("a failed token request names the configured token_url") {
    testing::fake_transport transport;
    transport.replies().on("/private/token").always(
        testing::json_response(401, R"({"error":"invalid_client","error_description":"nope"})"));
    basic_client<testing::traits> client(configured("https://login.internal.example/private/token"), transport,
                                         manual_clock{}, static_secret_source{testing::service_principal()});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(r.error().message.find("https://login.internal.example/private/token") != std::string::npos);
}
