#include <dbserve/client/credentials.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace dbserve;

namespace {

constexpr std::string_view pat = "dapi0123456789abcdef0123456789abcdef-2";
constexpr std::string_view oauth_token = "eyJhbGciOiJSUzI1NiJ9.payload-of-an-oauth-token.signature";
constexpr std::string_view client_secret = "dose-very-secret-client-secret-value";

credentials with_pat() {
    credentials c;
    c.host = "https://adb-1.2.azuredatabricks.net";
    c.token.assign(pat);
    return c;
}

credentials with_client() {
    credentials c;
    c.host = "https://adb-1.2.azuredatabricks.net";
    c.client_id = "6f1b2c3d-client-id";
    c.client_secret.assign(client_secret);
    return c;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// No message may hold a secret, or a recognisable piece of one.
void check_no_secret(const dbserve::error& e) {
    CHECK_FALSE(contains(e.message, pat));
    CHECK_FALSE(contains(e.message, pat.substr(4, 12)));
    CHECK_FALSE(contains(e.message, oauth_token));
    CHECK_FALSE(contains(e.message, oauth_token.substr(0, 12)));
    CHECK_FALSE(contains(e.message, client_secret));
    CHECK_FALSE(contains(e.message, client_secret.substr(5, 12)));
    CHECK_FALSE(contains(e.to_string(), client_secret));
    CHECK_FALSE(contains(e.to_string(), pat));
}

}  // namespace

TEST_CASE("a personal access token is recognised by its dapi prefix") {
    CHECK(is_personal_access_token(pat));
    CHECK(is_personal_access_token("dapi"));
    CHECK_FALSE(is_personal_access_token(oauth_token));
    CHECK_FALSE(is_personal_access_token(""));
    CHECK_FALSE(is_personal_access_token("dap"));
    CHECK_FALSE(is_personal_access_token("DAPI0123"));
    CHECK_FALSE(is_personal_access_token(" dapi0123"));
}

TEST_CASE("client credentials are accepted for a route optimized endpoint") {
    CHECK(check_credentials_for_route_optimized(with_client()));
    auto method = select_credential_method(with_client());
    REQUIRE(method);
    CHECK(*method == credential_method::client_credentials);
}

TEST_CASE("an OAuth token supplied alone is accepted") {
    credentials c;
    c.token.assign(oauth_token);
    CHECK(check_credentials_for_route_optimized(c));
    CHECK(*select_credential_method(c) == credential_method::token);
}

TEST_CASE("a personal access token is refused with directions to OAuth") {
    auto r = check_credentials_for_route_optimized(with_pat());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    const std::string& m = r.error().message;
    CHECK(contains(m, "personal access token"));
    CHECK(contains(m, "route optimized"));
    CHECK(contains(m, "OAuth"));
    CHECK(contains(m, "service principal"));
    CHECK(contains(m, "DATABRICKS_CLIENT_ID"));
    CHECK(contains(m, "DATABRICKS_CLIENT_SECRET"));
    CHECK(contains(m, "Serving UI"));
    CHECK(contains(m, "broker"));
    check_no_secret(r.error());
}

TEST_CASE("a personal access token together with client credentials is a configuration error") {
    credentials c = with_client();
    c.token.assign(pat);
    auto r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(contains(r.error().message, "auth_type"));
    CHECK(contains(r.error().message, "oauth-m2m"));
    check_no_secret(r.error());
}

TEST_CASE("auth_type oauth-m2m picks the client credentials over a personal access token") {
    credentials c = with_client();
    c.token.assign(pat);
    c.auth_type = "oauth-m2m";
    CHECK(check_credentials_for_route_optimized(c));
    CHECK(*select_credential_method(c) == credential_method::client_credentials);
}

TEST_CASE("auth_type pat still refuses a personal access token for route optimized endpoints") {
    credentials c = with_client();
    c.token.assign(pat);
    c.auth_type = "pat";
    auto r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "OAuth"));
    check_no_secret(r.error());
}

TEST_CASE("auth_type pat or oauth-token picks an OAuth token over client credentials") {
    for (const char* type : {"pat", "oauth-token"}) {
        CAPTURE(type);
        credentials c = with_client();
        c.token.assign(oauth_token);
        c.auth_type = type;
        CHECK(check_credentials_for_route_optimized(c));
        CHECK(*select_credential_method(c) == credential_method::token);
    }
}

TEST_CASE("an OAuth token together with client credentials is ambiguous without auth_type") {
    credentials c = with_client();
    c.token.assign(oauth_token);
    auto r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "auth_type"));
    check_no_secret(r.error());
}

TEST_CASE("auth_type naming a method that has no values is an error") {
    credentials c;
    c.auth_type = "oauth-m2m";
    auto r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "oauth-m2m"));

    c.auth_type = "oauth-token";
    r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "no token"));
}

TEST_CASE("an unsupported auth_type is named in the error") {
    credentials c = with_client();
    c.auth_type = "azure-cli";
    auto r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "'azure-cli'"));
    CHECK(contains(r.error().message, "oauth-m2m"));
}

TEST_CASE("a client id without a secret, or a secret without an id, is an error naming what is missing") {
    credentials c;
    c.client_id = "my-sp";
    auto r = check_credentials_for_route_optimized(c);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "DATABRICKS_CLIENT_SECRET"));
    CHECK(contains(r.error().message, "'my-sp'"));

    credentials s;
    s.client_secret.assign(client_secret);
    r = check_credentials_for_route_optimized(s);
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "DATABRICKS_CLIENT_ID"));
    check_no_secret(r.error());
}

TEST_CASE("no credentials at all is an error that says how to configure them") {
    auto r = check_credentials_for_route_optimized(credentials{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(contains(r.error().message, "DATABRICKS_CLIENT_ID"));
    CHECK(contains(r.error().message, "OAuth"));
}

TEST_CASE("fill_missing takes each empty field from the fallback, field by field") {
    credentials high;
    high.client_id = "from-code";
    credentials low = with_client();
    low.token.assign(oauth_token);
    low.workspace_id = "1234";
    low.auth_type = "oauth-m2m";
    fill_missing(high, low);
    CHECK(high.client_id == "from-code");
    CHECK(high.host == low.host);
    CHECK(high.client_secret == low.client_secret);
    CHECK(high.token == low.token);
    CHECK(high.workspace_id == "1234");
    CHECK(high.auth_type == "oauth-m2m");
}

TEST_CASE("describe shows which fields are set and never a secret") {
    credentials c = with_client();
    c.token.assign(pat);
    const std::string d = describe(c);
    CHECK(contains(d, "host=https://adb-1.2.azuredatabricks.net"));
    CHECK(contains(d, "client_id=6f1b2c3d-client-id"));
    CHECK(contains(d, "client_secret=(redacted)"));
    CHECK(contains(d, "personal access token"));
    CHECK(contains(d, "workspace_id=(unset)"));
    CHECK_FALSE(contains(d, client_secret));
    CHECK_FALSE(contains(d, pat));
}

TEST_CASE("a supplied token carries its expiry") {
    supplied_token t{secret_string(oauth_token), std::chrono::system_clock::time_point(std::chrono::seconds(100))};
    CHECK(t.access_token.reveal() == oauth_token);
    CHECK(t.expires_at.time_since_epoch() == std::chrono::seconds(100));
}
