#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <type_traits>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";

client_config configured() {
    client_config c;
    c.url = url;
    c.jitter = [] { return 0.0; };
    return c;
}

testing::fake_transport scripted() {
    testing::fake_transport t;
    t.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    t.replies().on("/invocations").always(
        testing::json_response(200, R"({"predictions":[NaN, 1.5]})", {{"served-model-name", "model-a"}, {"x-request-id", "req-1"}}));
    return t;
}

// A transport type of the user's own.
struct counting_transport {
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    result<http_response> send(const http_request& r, const send_options&) {
        ++*calls;
        if (r.url.find("/oidc/") != std::string::npos) return testing::token_reply("x");
        return testing::json_response(200, "{}");
    }
};
struct my_traits : default_traits {
    using transport = counting_transport;
    using clock = manual_clock;
    using secret_source = static_secret_source;
};
}  // namespace

TEST_CASE("a user overrides one policy by deriving from default_traits") {
    static_assert(std::is_same_v<basic_client<my_traits>::transport_type, counting_transport>);
    static_assert(std::is_same_v<basic_client<>::clock_type, system_clock_policy>);
    static_assert(std::is_same_v<basic_client<>::secret_source_type, default_secret_source>);
    static_assert(std::is_same_v<basic_client<traits_for<counting_transport>>::transport_type, counting_transport>);
    counting_transport transport;
    basic_client<my_traits> client(configured(), transport, manual_clock{},
                                   static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    CHECK(*transport.calls == 2);
}

TEST_CASE("a blocking query returns the status, served model, request id and the JSON parsed leniently") {
    auto transport = scripted();
    basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    auto r = client.query(nlohmann::json{{"inputs", {1, 2}}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->served_model_name == "model-a");
    CHECK(r->request_id == "req-1");
    CHECK(r->json()["predictions"][1] == 1.5);
    CHECK(r->json()["predictions"][0].is_number());  // NaN
    auto requests = transport.replies().requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[1].body == R"({"inputs":[1,2]})");
}

TEST_CASE("the invocation carries the bearer token, JSON content type and the workspace id") {
    auto transport = scripted();
    auto config = configured();
    config.workspace_id = "999";
    basic_client<testing::traits> client(config, transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    auto r = transport.replies().requests().back();
    CHECK(r.method == http_method::post);
    CHECK(r.url == url);
    CHECK(r.headers.get("Authorization") == "Bearer tok");
    CHECK(r.headers.get("Content-Type") == "application/json");
    CHECK(r.headers.get("Accept") == "application/json");
    CHECK(r.headers.get("X-Databricks-Workspace-Id") == "999");
}

TEST_CASE("the client-credentials token request follows RFC 6749 with authorization_details") {
    auto transport = scripted();
    credentials c = testing::service_principal();
    c.client_id = "id with space";
    c.client_secret = secret_string("s&cr:t");
    basic_client<testing::traits> client(configured(), transport, manual_clock{}, static_secret_source{c});
    REQUIRE(client.query(std::string("{}")));
    auto r = transport.replies().requests().front();
    CHECK(r.url == "https://adb-1234567890123456.7.azuredatabricks.net/oidc/v1/token");
    CHECK(r.headers.get("Content-Type") == "application/x-www-form-urlencoded");
    // base64("id+with+space:s%26cr%3At"): each part form-encoded before base64 (RFC 6749 section 2.3.1).
    CHECK(r.headers.get("Authorization") == "Basic aWQrd2l0aCtzcGFjZTpzJTI2Y3IlM0F0");
    CHECK(r.body.rfind("grant_type=client_credentials&scope=all-apis&authorization_details=", 0) == 0);
    CHECK(r.body.find("%22object_path%22%3A%22%2Fserving-endpoints%2Fabc123%22") != std::string::npos);
}

TEST_CASE("a client request id is added to the body as client_request_id") {
    auto transport = scripted();
    basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    query_options options;
    options.client_request_id = "abc-1";
    REQUIRE(client.query(std::string(R"({"inputs":[1]})"), options));
    CHECK(transport.replies().requests().back().body == R"({"client_request_id":"abc-1","inputs":[1]})");
    REQUIRE(client.query(std::string("{ }"), options));
    CHECK(transport.replies().requests().back().body == R"({"client_request_id":"abc-1" })");
    auto bad = client.query(std::string("[1]"), options);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == errc::invalid_argument);
}

TEST_CASE("a served model is queried on its own URL") {
    auto transport = scripted();
    auto config = configured();
    config.served_model = "model-b";
    basic_client<testing::traits> client(config, transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    REQUIRE(client.query(std::string("{}")));
    CHECK(transport.replies().requests().back().url.find("/served-models/model-b/invocations") != std::string::npos);
}

TEST_CASE("configuration errors are reported by check_configuration and by every query, without requests") {
    auto transport = scripted();
    client_config empty;
    basic_client<testing::traits> client(empty, transport, manual_clock{}, static_secret_source{});
    auto check = client.check_configuration();
    REQUIRE_FALSE(check);
    CHECK(check.error().code == errc::configuration);
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(transport.replies().request_count() == 0);

    client_config supplied = configured();
    supplied.auth = token_path::supplied;
    basic_client<testing::traits> no_supplier(supplied, transport, manual_clock{}, static_secret_source{});
    CHECK_FALSE(no_supplier.check_configuration());
}

TEST_CASE("missing client credentials are a configuration error that says what to set") {
    auto transport = scripted();
    credentials c;
    c.host = "https://adb-1.2.azuredatabricks.net";
    basic_client<testing::traits> client(configured(), transport, manual_clock{}, static_secret_source{c});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(r.error().message.find("DATABRICKS_CLIENT_ID") != std::string::npos);
    CHECK(transport.replies().request_count() == 0);
}

TEST_CASE("a missing workspace host is a configuration error") {
    auto transport = scripted();
    credentials c = testing::service_principal();
    c.host.clear();
    basic_client<testing::traits> client(configured(), transport, manual_clock{}, static_secret_source{c});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(r.error().message.find("DATABRICKS_HOST") != std::string::npos);
}

TEST_CASE("an OAuth token given as the credential is used as the bearer token") {
    auto transport = scripted();
    credentials c;
    c.host = "https://adb-1.2.azuredatabricks.net";
    c.token = secret_string("eyJ.oauth.token");
    basic_client<testing::traits> client(configured(), transport, manual_clock{}, static_secret_source{c});
    REQUIRE(client.query(std::string("{}")));
    auto requests = transport.replies().requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].headers.get("Authorization") == "Bearer eyJ.oauth.token");
}

TEST_CASE("statistics count token requests, invocations and queries") {
    auto transport = scripted();
    basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    for (int i = 0; i < 3; ++i) REQUIRE(client.query(std::string("{}")));
    auto s = client.statistics();
    CHECK(s.token_requests == 1);
    CHECK(s.control_plane_token_requests == 0);
    CHECK(s.invocations == 3);
    CHECK(s.queries_started == 3);
    CHECK(s.queries_succeeded == 3);
    CHECK(s.queries_failed == 0);
    CHECK(client.data_token_state() == token_state::fresh);
}

TEST_CASE("the data token state follows the clock") {
    auto transport = scripted();
    manual_clock clock;
    basic_client<testing::traits> client(configured(), transport, clock,
                                         static_secret_source{testing::service_principal()});
    CHECK(client.data_token_state() == token_state::missing);
    REQUIRE(client.query(std::string("{}")));
    clock.advance(45min);
    CHECK(client.data_token_state() == token_state::stale);
    clock.advance(15min);
    CHECK(client.data_token_state() == token_state::expired);
}

TEST_CASE("an HTML page with status 200 is a bad response, not a result") {
    testing::fake_transport transport;
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    http_response login;
    login.status = 200;
    login.headers.add_unchecked("Content-Type", "text/html");
    login.body = "<html><body>Sign in</body></html>";
    transport.replies().on("/invocations").always(login);
    basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_response);
}

TEST_CASE("one client serves many threads with one token") {
    auto transport = scripted();
    basic_client<testing::traits> client(configured(), transport, manual_clock{},
                                         static_secret_source{testing::service_principal()});
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i)
                if (client.query(std::string("{}"))) ++ok;
        });
    for (auto& t : threads) t.join();
    CHECK(ok == 200);
    CHECK(client.statistics().token_requests == 1);
}

TEST_CASE("an async query completes inside async_send when the transport answers at once") {
    testing::fake_async_transport transport(testing::script(), testing::fake_async_transport::mode::immediate);
    transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    basic_client<testing::async_traits> client(configured(), transport, manual_clock{},
                                               static_secret_source{testing::service_principal()});
    int called = 0;
    client.async_query(std::string("{}"), [&](result<query_response> r) {
        CHECK(r);
        ++called;
    });
    CHECK(called == 1);
}

// ---------------------------------------------------------------- the client goes away

namespace {
struct async_fixture {
    testing::fake_async_transport transport;  // deferred: the test completes each request
    std::unique_ptr<basic_client<testing::async_traits>> client;
    std::vector<result<query_response>> outcomes[3];

    async_fixture() {
        transport.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
        transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
        client = std::make_unique<basic_client<testing::async_traits>>(
            configured(), transport, manual_clock{}, static_secret_source{testing::service_principal()});
    }
    void start(int i) {
        client->async_query(std::string("{}"), [this, i](result<query_response> r) { outcomes[i].push_back(std::move(r)); });
    }
};
}  // namespace

TEST_CASE("destroying a client calls the handler of each async query waiting for another's token, with cancelled") {
    async_fixture f;
    for (int i = 0; i < 3; ++i) f.start(i);
    // Query 0 fetches the token; 1 and 2 wait for it.
    REQUIRE(f.transport.pending_urls() == std::vector<std::string>{"https://adb-1234567890123456.7.azuredatabricks.net/oidc/v1/token"});
    f.client.reset();
    for (int i : {1, 2}) {
        REQUIRE(f.outcomes[i].size() == 1);
        REQUIRE_FALSE(f.outcomes[i][0].has_value());
        CHECK(f.outcomes[i][0].error().code == errc::cancelled);
        CHECK(f.outcomes[i][0].error().message.find("client was destroyed") != std::string::npos);
    }
    CHECK(f.outcomes[0].empty());  // its request is still in flight
    // The token arrives: query 0 does not go on to send its query, it is cancelled.
    CHECK(f.transport.complete_all() == 1);
    REQUIRE(f.outcomes[0].size() == 1);
    REQUIRE_FALSE(f.outcomes[0][0].has_value());
    CHECK(f.outcomes[0][0].error().code == errc::cancelled);
    CHECK(f.transport.replies().count("/invocations") == 0);
    for (auto& o : f.outcomes) CHECK(o.size() == 1);
}

TEST_CASE("an async query whose request is in flight when the client goes away still gets its answer") {
    async_fixture f;
    f.start(0);
    REQUIRE(f.transport.complete_next());  // the token; the query is sent
    REQUIRE(f.transport.pending() == 1);
    f.client.reset();
    CHECK(f.outcomes[0].empty());
    REQUIRE(f.transport.complete_next());
    REQUIRE(f.outcomes[0].size() == 1);
    CHECK(f.outcomes[0][0].has_value());
}

TEST_CASE("poll operations hold the client's state and run to their end after the client is gone") {
    manual_clock clock;
    auto client = std::make_unique<basic_client<testing::poll_traits>>(configured(), no_transport{}, clock,
                                                                      static_secret_source{testing::service_principal()});
    REQUIRE(client->load_credentials());
    auto a = client->start_query(std::string("{}"));
    auto b = client->start_query(std::string("{}"));
    auto token = a.next();
    REQUIRE(token.kind == operation_step::send);
    auto waiting = b.next();
    REQUIRE(waiting.kind == operation_step::idle);
    REQUIRE(waiting.waiting_for_others);
    client.reset();
    a.on_response(token.request_id, testing::token_reply("tok"));
    for (query_operation* op : {&a, &b}) {
        auto query = op->next();
        REQUIRE(query.kind == operation_step::send);
        CHECK(query.request->headers.get("Authorization") == "Bearer tok");
        op->on_response(query.request_id, testing::json_response(200, "{}"));
        auto done = op->next();
        REQUIRE(done.kind == operation_step::done);
        CHECK(done.outcome->has_value());
    }
}
