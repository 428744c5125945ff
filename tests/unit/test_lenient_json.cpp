// Every path on which a client reads JSON from the network goes through the bounded parser
// (detail/lenient_json.hpp): a body nested 100,000 levels deep is an error on each of them,
// never a stack overflow in nlohmann's recursive dump, copy, comparison or destructor.
#include <dbserve/client/client.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace dbserve;

namespace {
constexpr const char* url =
    "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
constexpr std::size_t depth = 100'000;

std::string deep_array() { return std::string(depth, '[') + "1" + std::string(depth, ']'); }
std::string deep_object() {
    std::string text;
    for (std::size_t i = 0; i < depth; ++i) text += "{\"a\":";
    text += "1";
    return text + std::string(depth, '}');
}

struct fixture {
    testing::script replies;
    client_config config;
    fixture() {
        config.url = url;
        config.jitter = [] { return 0.0; };
        config.retry.max_attempts = 1;
    }
    basic_client<testing::traits> client() {
        return basic_client<testing::traits>(config, testing::fake_transport(replies), manual_clock{},
                                             static_secret_source{testing::service_principal()});
    }
};
}  // namespace

TEST_CASE("the bounded parser refuses 100,000 levels and says so") {
    for (const std::string& text : {deep_array(), deep_object()}) {
        bool too_deep = false;
        CHECK(detail::parse_lenient_json(text, &too_deep).is_discarded());
        CHECK(too_deep);
        too_deep = false;
        CHECK(detail::parse_bounded_json(text, &too_deep).is_discarded());
        CHECK(too_deep);
    }
}

TEST_CASE("a token reply nested 100,000 levels deep is an error") {
    for (const std::string& body : {deep_array(), deep_object(), R"({"error":)" + deep_object() + "}"}) {
        fixture f;
        f.replies.on("/oidc/v1/token").always(testing::json_response(200, body));
        auto r = f.client().query(std::string("{}"));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code != errc::cancelled);
    }
}

TEST_CASE("an error reply from the data plane nested 100,000 levels deep is reported by its status") {
    for (int status : {400, 401, 403, 404, 500}) {
        fixture f;
        f.replies.on("/oidc/v1/token").always(testing::token_reply("tok"));
        f.replies.on("/invocations").always(testing::json_response(status, deep_object()));
        auto r = f.client().query(std::string("{}"));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().http_status == status);
    }
}

TEST_CASE("a successful reply nested 100,000 levels deep is returned raw and refused when parsed") {
    fixture f;
    f.replies.on("/oidc/v1/token").always(testing::token_reply("tok"));
    f.replies.on("/invocations").always(testing::json_response(200, deep_array()));
    auto r = f.client().query(std::string("{}"));
    REQUIRE(r.has_value());
    auto parsed = r->parse_json();
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().message.find("512 levels deep") != std::string::npos);
    CHECK(r->json().is_null());
}

TEST_CASE("a discovery reply nested 100,000 levels deep is an error") {
    for (const std::string& body : {deep_array(), deep_object()}) {
        fixture f;
        f.config = client_config{};
        f.config.endpoint_name = "my-ep";
        f.config.retry.max_attempts = 1;
        f.replies.on("/oidc/v1/token").always(testing::token_reply("cp-token"));
        f.replies.on("/api/2.0/serving-endpoints/my-ep").always(testing::json_response(200, body));
        auto r = f.client().query(std::string("{}"));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::bad_response);
        CHECK(f.replies.count("/invocations") == 0);
    }
}

TEST_CASE("a stream whose chunk, or whose whole JSON body, nests 100,000 levels deep is an error") {
    for (bool as_chunk : {true, false}) {
        fixture f;
        f.replies.on("/oidc/v1/token").always(testing::token_reply("tok"));
        if (as_chunk)
            f.replies.on("/invocations").always(testing::sse_reply({R"({"choices":[]})", deep_object()}));
        else
            f.replies.on("/invocations").always(testing::json_response(200, deep_object()));
        int chunks = 0;
        auto r = f.client().stream(std::string(R"({"messages":[]})"), [&](const chat_chunk&) { ++chunks; });
        INFO(as_chunk);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::bad_response);
    }
}
