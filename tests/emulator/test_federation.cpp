// Token federation in the emulator: policies (issuer, audience, subject, RS256 and ES256
// keys from a JWKS), the token-exchange grant with its refusals, the GitHub Actions
// ID-token stand-in, and secret rotation by the admin API.
#include <doctest/doctest.h>

#include "federation.hpp"
#include "workspace.hpp"

#include <memory>
#include <string>

using emulator::http_reply;
using emulator::http_request;
using emulator::json;
using emulator::jwt_signer;
using emulator::workspace;

namespace {

std::string form_encode(std::string_view value) {
    std::string out;
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*') {
            out += static_cast<char>(c);
        } else {
            char buffer[4];
            std::snprintf(buffer, sizeof buffer, "%%%02X", c);
            out += buffer;
        }
    }
    return out;
}

const char* const issuer = "https://idp.example";
const char* const audience = "https://adb-6051921418418893.13.azuredatabricks.net/oidc/v1/token";
const char* const subject = "system:serviceaccount:ml:scorer";

struct fixture {
    std::chrono::system_clock::time_point clock = std::chrono::system_clock::now();
    std::unique_ptr<workspace> ws;

    fixture() {
        emulator::workspace_options options;
        options.port = 8443;
        options.now = [this] { return clock; };
        ws = std::make_unique<workspace>(options);
    }
    std::string host() const { return ws->info()["workspace_host"].get<std::string>(); }

    http_reply request(std::string method, std::string target, std::string body,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
        http_request r;
        r.method = std::move(method);
        r.host = host();
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers = std::move(headers);
        return ws->serve(r);
    }
    http_reply admin(std::string target, const json& body) { return request("POST", "/admin/" + target, body.dump()); }

    json policy(const jwt_signer& signer, bool account_wide = false) const {
        return json{{"principal", "sp-main"}, {"account_wide", account_wide}, {"issuer", issuer},
                    {"audiences", {audience}}, {"subject", subject}, {"jwks", signer.public_jwks()}};
    }
    json claims(std::int64_t lifetime = 600) const {
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock.time_since_epoch()).count();
        return json{{"iss", issuer}, {"aud", audience}, {"sub", subject}, {"iat", now}, {"exp", now + lifetime}};
    }
    http_reply exchange(const std::string& jwt, const std::string& client_id) {
        std::string body = "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:token-exchange") +
                           "&subject_token=" + form_encode(jwt) +
                           "&subject_token_type=" + form_encode("urn:ietf:params:oauth:token-type:jwt") +
                           "&scope=all-apis";
        if (!client_id.empty()) body += "&client_id=" + form_encode(client_id);
        return request("POST", "/oidc/v1/token", body, {{"Content-Type", "application/x-www-form-urlencoded"}});
    }
    std::string main_client_id() const { return ws->principal_named("sp-main").client_id; }
};

json body_of(const http_reply& r) { return json::parse(r.body, nullptr, false); }

}  // namespace

TEST_CASE("a JWT satisfying a service principal's policy is exchanged for a workspace token, RS256 and ES256") {
    for (const char* algorithm : {"RS256", "ES256"}) {
        CAPTURE(algorithm);
        fixture f;
        jwt_signer signer(algorithm, "k1");
        REQUIRE(f.admin("federation-policies", f.policy(signer)).status == 200);
        const std::string jwt = signer.sign(f.claims());
        auto r = f.exchange(jwt, f.main_client_id());
        REQUIRE_MESSAGE(r.status == 200, r.body);
        const std::string token = body_of(r).at("access_token").get<std::string>();
        // The workspace token then goes through the jwt-bearer exchange like any other.
        const std::string details = f.ws->authorization_details_for(f.ws->endpoint_named("sum-model"));
        auto scoped = f.request("POST", "/oidc/v1/token",
                                "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                                    "&assertion=" + form_encode(token) +
                                    "&authorization_details=" + form_encode(details),
                                {{"Content-Type", "application/x-www-form-urlencoded"}});
        CHECK_MESSAGE(scoped.status == 200, scoped.body);
        CHECK(f.ws->counters()["federation"]["accepted"] == 1);
    }
}

TEST_CASE("a JWT with the wrong audience, issuer, subject, key or expiry is refused with invalid_grant, never echoed") {
    fixture f;
    jwt_signer signer("RS256", "k1");
    jwt_signer stranger("RS256", "k1");
    REQUIRE(f.admin("federation-policies", f.policy(signer)).status == 200);
    struct variant {
        const char* name;
        std::string jwt;
        const char* says;
    };
    json wrong_audience = f.claims(), wrong_issuer = f.claims(), wrong_subject = f.claims(), expired = f.claims(-10);
    wrong_audience["aud"] = "someone-else";
    wrong_issuer["iss"] = "https://other-idp.example";
    wrong_subject["sub"] = "system:serviceaccount:ml:intruder";
    const variant variants[] = {{"audience", signer.sign(wrong_audience), "audience"},
                                {"issuer", signer.sign(wrong_issuer), "issuer"},
                                {"subject", signer.sign(wrong_subject), "subject"},
                                {"key", stranger.sign(f.claims()), "signature"},
                                {"expiry", signer.sign(expired), "expired"}};
    for (const auto& v : variants) {
        CAPTURE(v.name);
        auto r = f.exchange(v.jwt, f.main_client_id());
        CHECK(r.status == 400);
        const json body = body_of(r);
        CHECK(body["error"] == "invalid_grant");
        CHECK(body["error_description"].get<std::string>().find(v.says) != std::string::npos);
        CHECK(r.body.find(v.jwt.substr(v.jwt.rfind('.') + 1)) == std::string::npos);
    }
    CHECK(f.ws->counters()["federation"]["refused"] == 5);
}

TEST_CASE("account-wide policies apply without client_id, service principal policies only with it") {
    fixture f;
    jwt_signer signer("ES256", "k1");
    REQUIRE(f.admin("federation-policies", f.policy(signer, false)).status == 200);
    const std::string jwt = signer.sign(f.claims());
    CHECK(f.exchange(jwt, "").status == 400);  // no account-wide policy
    CHECK(f.exchange(jwt, "no-such-client").status == 401);
    REQUIRE(f.admin("federation-policies", f.policy(signer, true)).status == 200);
    CHECK(f.exchange(jwt, "").status == 200);
}

TEST_CASE("a policy without keys, issuer or audiences is refused by the admin API") {
    fixture f;
    jwt_signer signer("RS256", "k1");
    json no_keys = f.policy(signer);
    no_keys["jwks"] = json{{"keys", json::array()}};
    CHECK(f.admin("federation-policies", no_keys).status == 400);
    json no_audience = f.policy(signer);
    no_audience.erase("audiences");
    CHECK(f.admin("federation-policies", no_audience).status == 400);
    json unknown = f.policy(signer);
    unknown["principal"] = "nobody";
    CHECK(f.admin("federation-policies", unknown).status == 400);
}

TEST_CASE("the GitHub Actions stand-in issues an ES256 JWT for the audience asked, to the request token only") {
    fixture f;
    const json gh = f.ws->info()["github_actions"];
    const std::string request_url = gh["request_url"].get<std::string>();
    const std::string target = request_url.substr(request_url.find("/github-actions")) + "&audience=" + form_encode(audience);
    auto refused = f.request("GET", target, "", {{"Authorization", "Bearer wrong"}});
    CHECK(refused.status == 401);
    auto r = f.request("GET", target, "", {{"Authorization", "Bearer " + gh["request_token"].get<std::string>()}});
    REQUIRE(r.status == 200);
    const std::string jwt = body_of(r)["value"].get<std::string>();
    json policy{{"principal", "sp-main"}, {"issuer", gh["issuer"]}, {"audiences", {audience}},
                {"subject", gh["subject"]}, {"jwks", gh["jwks"]}};
    REQUIRE(f.admin("federation-policies", policy).status == 200);
    CHECK(f.exchange(jwt, f.main_client_id()).status == 200);
}

TEST_CASE("a rotated secret works at once and the old one stops working") {
    fixture f;
    const auto& sp = f.ws->principal_named("sp-main");
    const std::string old_secret = sp.client_secret;
    auto rotated = f.admin("principals/sp-main", json{{"rotate_secret", true}});
    REQUIRE(rotated.status == 200);
    const std::string new_secret = body_of(rotated)["client_secret"].get<std::string>();
    CHECK(new_secret != old_secret);
    auto token_with = [&](const std::string& secret) {
        return f.request("POST", "/oidc/v1/token", "grant_type=client_credentials&scope=all-apis",
                         {{"Content-Type", "application/x-www-form-urlencoded"},
                          {"Authorization", "Basic " + emulator::base64_encode(form_encode(sp.client_id) + ":" +
                                                                                  form_encode(secret))}});
    };
    CHECK(token_with(old_secret).status == 401);
    CHECK(token_with(new_secret).status == 200);
    CHECK(f.admin("principals/sp-main", json{{"client_secret", "chosen-secret"}}).status == 200);
    CHECK(token_with("chosen-secret").status == 200);
    CHECK(f.admin("principals/nobody", json{{"rotate_secret", true}}).status == 404);
    CHECK(f.ws->counters()["secret_rotations"] == 2);
    f.request("POST", "/admin/reset", "");
    CHECK(token_with(old_secret).status == 200);  // reset restores the secrets of the start
}
