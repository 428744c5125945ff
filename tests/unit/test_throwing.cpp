#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>
#include <dbserve/client/throwing.hpp>

#include <doctest/doctest.h>

using namespace dbserve;

namespace {
client_config configured() {
    client_config c;
    c.url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
    return c;
}
}  // namespace

TEST_CASE("query_or_throw returns the response on success") {
    testing::fake_transport t;
    t.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    t.replies().on("/invocations").always(testing::json_response(200, R"({"predictions":[7]})"));
    basic_client<testing::traits> client(configured(), t, manual_clock{}, static_secret_source{testing::service_principal()});
    auto r = query_or_throw(client, std::string("{}"));
    CHECK(r.json()["predictions"][0] == 7);
}

TEST_CASE("query_or_throw throws dbserve::exception carrying the error, never the secret") {
    testing::fake_transport t;
    t.replies().on("/oidc/v1/token").always(testing::oauth_error_reply(401, "invalid_client", "bad client"));
    basic_client<testing::traits> client(configured(), t, manual_clock{}, static_secret_source{testing::service_principal()});
    try {
        (void)query_or_throw(client, std::string("{}"));
        FAIL("no exception");
    } catch (const dbserve::exception& e) {
        CHECK(e.details().code == errc::authentication);
        CHECK(e.code() == errc::authentication);
        CHECK(std::string(e.what()).find("bad client") != std::string::npos);
        CHECK(std::string(e.what()).find("client-secret") == std::string::npos);
    }
}

TEST_CASE("check_configuration_or_throw throws for a client with no endpoint") {
    testing::fake_transport t;
    basic_client<testing::traits> client(client_config{}, t, manual_clock{}, static_secret_source{});
    CHECK_THROWS_AS(check_configuration_or_throw(client), dbserve::exception);
}
