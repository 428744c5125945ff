// No credential in an error, whatever a server echoes: the client secret (raw, form-encoded,
// in the Basic value), the tokens the client holds or held, the assertion of an exchange and
// a supplied token; and no terminal control sequence from a server's text.
#include <dbserve/client/client.hpp>
#include <dbserve/client/detail/known_secrets.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
constexpr const char* url =
    "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
constexpr const char* workspace = "https://adb-1234567890123456.7.azuredatabricks.net";

// Characters that form encoding (RFC 6749 section 2.3.1) changes: '+' '/' '=' '&' '%' and a space.
constexpr const char* secret = "dose+Sec/ret=&%41 x";
// The same, as this client sends it inside the Basic pair, written out by hand.
constexpr const char* secret_form_encoded = "dose%2BSec%2Fret%3D%26%2541+x";
// base64("my-client:dose%2BSec%2Fret%3D%26%2541+x"), the Basic value, written out by hand.
constexpr const char* basic_value = "bXktY2xpZW50OmRvc2UlMkJTZWMlMkZyZXQlM0QlMjYlMjU0MSt4";

struct fixture {
    manual_clock clock;
    testing::script replies;
    client_config config;
    credentials creds = testing::service_principal(workspace, "my-client", secret);

    fixture() {
        config.url = url;
        config.jitter = [] { return 0.0; };
        config.retry.max_attempts = 1;
    }

    result<query_response> run() {
        basic_client<testing::traits> client(config, testing::fake_transport(replies), clock,
                                             static_secret_source{creds});
        return client.query(std::string("{}"));
    }
};

// Every field of the error a caller can print, together.
std::string shown(const dbserve::error& e) {
    return e.to_string() + "|" + e.service_code + "|" + e.request_id + "|" + e.native_message;
}

void check_no_client_secret(const std::string& text) {
    INFO(text);
    CHECK(text.find(secret) == std::string::npos);
    CHECK(text.find(secret_form_encoded) == std::string::npos);
    CHECK(text.find(basic_value) == std::string::npos);
    CHECK(text.find("dose+Sec") == std::string::npos);  // any run of the secret's first 8 bytes
    CHECK(text.find("dose%2BS") == std::string::npos);
}

std::string text_of(const result<query_response>& r) {
    REQUIRE_FALSE(r.has_value());
    return shown(r.error());
}
}  // namespace

TEST_CASE("the forms of the client secret a server could echo are written out by hand") {
    // The fixture's literals are what the client really sends.
    CHECK(basic_authorization("my-client", secret) == std::string("Basic ") + basic_value);
    CHECK(form_urlencode(secret) == secret_form_encoded);
}

TEST_CASE("an invalid_client text quoting the raw client secret does not show it") {
    fixture f;
    f.replies.on("/oidc/v1/token").always(testing::json_response(
        401, std::string(R"({"error":"invalid_client","error_description":"client my-client with secret ')") + secret +
                 R"(' is unknown"})"));
    const std::string text = text_of(f.run());
    check_no_client_secret(text);
    CHECK(text.find("(redacted)") != std::string::npos);
    CHECK(text.find("invalid_client") != std::string::npos);
}

TEST_CASE("a token endpoint echoing the form-encoded pair, the Basic value or its header does not show them") {
    for (std::string echo : {std::string("credentials my-client:") + secret_form_encoded + " refused",
                             std::string("bad Authorization: Basic ") + basic_value,
                             std::string("bad value ") + basic_value + " given",
                             std::string("secret was ") + secret_form_encoded}) {
        for (bool json : {true, false}) {
            fixture f;
            if (json) {
                f.replies.on("/oidc/v1/token").always(testing::oauth_error_reply(401, "invalid_client", echo));
            } else {
                http_response r;
                r.status = 401;
                r.headers.add_unchecked("Content-Type", "text/plain");
                r.body = echo;
                f.replies.on("/oidc/v1/token").always(r);
            }
            const std::string text = text_of(f.run());
            INFO(echo);
            check_no_client_secret(text);
        }
    }
}

TEST_CASE("a data-plane 401 quoting the bearer token it got, twice, does not show either token") {
    fixture f;
    f.replies.on("/oidc/v1/token").reply(testing::token_reply("eyJfirst.token.value")).always(
        testing::token_reply("eyJsecond.token.value"));
    std::vector<std::string> seen;
    f.replies.on("/invocations").respond([&seen](const http_request& r) -> result<http_response> {
        seen.emplace_back(r.headers.get("Authorization"));
        std::string all;
        for (const auto& s : seen) all += s + "; ";
        return testing::error_reply(401, "UNAUTHENTICATED", "refused " + all, {{"x-request-id", seen.back()}});
    });
    const auto r = f.run();
    REQUIRE(seen.size() == 2);  // a 401, a new token, a 401 again
    const std::string text = text_of(r);
    INFO(text);
    CHECK(r.error().code == errc::authentication);
    CHECK(text.find("eyJfirst") == std::string::npos);   // a token the client held before
    CHECK(text.find("eyJsecond") == std::string::npos);  // the token it holds
    CHECK(text.find("refused Bearer (redacted)") != std::string::npos);
}

TEST_CASE("a 403 whose request id and code quote the token do not show it") {
    fixture f;
    f.replies.on("/oidc/v1/token").always(testing::token_reply("eyJtoken+with/chars="));
    f.replies.on("/invocations").always(testing::error_reply(
        403, "eyJtoken+with/chars=", "no access for eyJtoken%2Bwith%2Fchars%3D", {{"x-request-id", "eyJtoken+with/chars="}}));
    const auto r = f.run();
    const std::string text = text_of(r);
    INFO(text);
    CHECK(r.error().code == errc::permission);
    CHECK(text.find("eyJtoken") == std::string::npos);
}

TEST_CASE("a ready token given as the credential is not shown when a server quotes it") {
    fixture f;
    f.creds = credentials{};
    f.creds.host = workspace;
    f.creds.token = secret_string("eyJready.oauth.token");
    f.replies.on("/invocations").always(testing::error_reply(401, "UNAUTHENTICATED", "bad eyJready.oauth.token"));
    const std::string text = text_of(f.run());
    INFO(text);
    CHECK(text.find("eyJready") == std::string::npos);
}

TEST_CASE("a supplied token is not shown when the data plane quotes it") {
    fixture f;
    f.config.auth = token_path::supplied;
    const auto expiry = f.clock.wall_now() + 10min;
    f.config.supply_token = [expiry]() -> result<supplied_token> {
        return supplied_token{secret_string("supplied-secret-token"), expiry};
    };
    f.creds = credentials{};
    f.replies.on("/invocations").always(testing::error_reply(500, "INTERNAL_ERROR", "saw supplied-secret-token"));
    const std::string text = text_of(f.run());
    INFO(text);
    CHECK(text.find("supplied-secret-token") == std::string::npos);
    CHECK(text.find("saw (redacted)") != std::string::npos);
}

TEST_CASE("the exchange's assertion (the control-plane token) is not shown when the exchange quotes it") {
    fixture f;
    f.config = client_config{};
    f.config.endpoint_name = "my-ep";
    f.config.jitter = [] { return 0.0; };
    f.config.retry.max_attempts = 1;
    constexpr const char* details =
        R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/abc123","actions":["query_inference_endpoint"]}])";
    f.replies.on("/oidc/v1/token").respond([](const http_request& r) -> result<http_response> {
        if (r.body.find("grant_type=client_credentials") != std::string::npos)
            return testing::token_reply("cp+control/plane=token");
        // The exchange: echo the form-encoded body, assertion included.
        return testing::oauth_error_reply(400, "invalid_grant", "cannot use " + r.body);
    });
    f.replies.on("/api/2.0/serving-endpoints/my-ep").always(testing::discovery_reply("my-ep", url, details));
    const auto r = f.run();
    const std::string text = text_of(r);
    INFO(text);
    CHECK(text.find("assertion=") != std::string::npos);  // the echo is there...
    CHECK(text.find("cp%2Bcontrol%2Fplane%3Dtoken") == std::string::npos);  // ...without the assertion
    CHECK(text.find("cp+control") == std::string::npos);
    CHECK(text.find("cp%2Bcont") == std::string::npos);
}

TEST_CASE("terminal control sequences a server sends come out escaped in every field") {
    fixture f;
    f.replies.on("/oidc/v1/token").always(testing::token_reply("eyJtoken"));
    // OSC 0 (window title) in its C1 form, a C1 CSI, and a raw ESC in a header.
    http_response r = testing::error_reply(500, "INTERNAL_ERROR", "x\\u009d0;owned\\u009c y\\u009b31m",
                                           {{"x-request-id", "id\x1b[2J"}});
    f.replies.on("/invocations").always(r);
    const auto outcome = f.run();
    const std::string text = text_of(outcome);
    INFO(text);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find("\xc2\x9b") == std::string::npos);
    CHECK(text.find("\xc2\x9d") == std::string::npos);
    CHECK(outcome.error().message.find("x\\u009d0;owned\\u009c y\\u009b31m") != std::string::npos);
    CHECK(outcome.error().request_id == "id\\x1b[2J");
}

TEST_CASE("an error event inside a stream comes out with its controls escaped") {
    fixture f;
    f.replies.on("/oidc/v1/token").always(testing::token_reply("eyJtoken"));
    f.replies.on("/invocations").always(
        testing::sse_reply({R"({"error":{"message":"boom \u001b]0;owned\u0007 done","type":"server_error"}})"}));
    basic_client<testing::traits> client(f.config, testing::fake_transport(f.replies), f.clock,
                                         static_secret_source{f.creds});
    auto r = client.stream(std::string(R"({"messages":[]})"), [](const chat_chunk&) {});
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().message.find('\x1b') == std::string::npos);
    CHECK(r.error().message.find('\x07') == std::string::npos);
    CHECK(r.error().message.find("boom \\x1b]0;owned\\x07 done") != std::string::npos);
}

TEST_CASE("known_secrets keeps the last few tokens per key and a bounded number of keys") {
    detail::known_secrets secrets;
    // Distinct first bytes: a run of a token's first 8 bytes counts as that token.
    auto token = [](int key, int n) { return std::to_string(key) + "-" + std::to_string(n) + "-token-abcdefgh"; };
    for (int n = 0; n < 10; ++n) secrets.add_token("key-0", token(0, n));
    auto shows = [&](const std::string& value) {
        dbserve::error e(errc::authentication, "quoted " + value);
        secrets.scrub(e);
        return e.message.find(value) != std::string::npos;
    };
    for (int n = 0; n < 10; ++n) {
        INFO(n);
        // The last tokens_per_key are blanked; older ones are forgotten.
        CHECK(shows(token(0, n)) == (n < 10 - static_cast<int>(detail::known_secrets::tokens_per_key)));
    }
    const std::size_t per_key = secrets.size();
    for (int key = 1; key < 100; ++key) secrets.add_token("key-" + std::to_string(key), token(key, 0));
    CHECK(secrets.size() <= detail::known_secrets::max_keys * per_key);
    CHECK_FALSE(shows(token(99, 0)));
    // The same token again takes no more room.
    const std::size_t before = secrets.size();
    secrets.add_token("key-99", token(99, 0));
    CHECK(secrets.size() == before);
}

TEST_CASE("a replacement that joins text into the secret again drops the whole message") {
    detail::known_secrets secrets;
    secrets.add_client_credentials("id", "abcdabcdabcd");
    // Blanking the inner copy would join "abcdabcd" + "abcd" into the secret's head again.
    dbserve::error e(errc::authentication, "abcdabcdabcdabcdabcdabcd");
    e.http_status = 401;
    secrets.scrub(e);
    CHECK(e.message.find("abcdabcd") == std::string::npos);
}

TEST_CASE("known_secrets: a form that shares its first bytes with another is blanked whole, not cut to its tail") {
    detail::known_secrets secrets;
    secrets.add_client_credentials("id", "abcdefghij/klmnop");
    dbserve::error e(errc::authentication, "bad secret abcdefghij%2Fklmnop, or abcdefghij%2fklmnop");
    secrets.scrub(e);
    CHECK(e.message.find("klmnop") == std::string::npos);
}
