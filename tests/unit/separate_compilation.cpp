// Checks under DBSERVE_SEPARATE_COMPILATION (built with src/dbserve.cpp, see
// tests/unit/CMakeLists.txt): the client whose members src/dbserve.cpp compiles
// (basic_client<default_traits>) links and runs a query through the declared-only entry
// points of query_operation, and behaves as in header-only use.
#include <dbserve/dbserve.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#if !defined(DBSERVE_SEPARATE_COMPILATION) || DBSERVE_HEADER_DEFINITIONS
#error "this file checks separate compilation: build it with DBSERVE_SEPARATE_COMPILATION"
#endif

using namespace dbserve;

TEST_CASE("with separate compilation a default client runs a poll query to its end") {
    client_config config;
    config.url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
    config.jitter = [] { return 0.0; };
    basic_client<> client(config, policies<default_traits>().with_secret_source({testing::service_principal()}));
    REQUIRE(client.check_configuration());
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/invocations").always(testing::json_response(200, R"({"predictions":[4]})"));
    auto op = client.start_query(nlohmann::json{{"inputs", {1}}});
    result<query_response>* outcome = nullptr;
    for (int i = 0; i < 10 && !outcome; ++i) {
        operation_step step = op.next();
        if (step.kind == operation_step::send) op.on_response(step.request_id, transport.send(*step.request, step.options()));
        else if (step.kind == operation_step::load_credentials) op.load_credentials();
        else if (step.kind == operation_step::done) outcome = step.outcome;
    }
    REQUIRE(outcome);
    REQUIRE(*outcome);
    CHECK((*outcome)->json()["predictions"][0] == 4);
    CHECK(transport.replies().requests().back().body == R"({"inputs":[1]})");
}
