#include <doctest/doctest.h>

#include "certs.hpp"
#include "workspace.hpp"

#include <memory>

using emulator::http_reply;
using emulator::http_request;
using emulator::json;
using emulator::workspace;

namespace {

const char* const details_denied = "User is not authorized to the requested authorizations";

// The library's form encoding, re-done here so these tests stay independent of it.
std::string form_encode(std::string_view value) {
    std::string out;
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            char buffer[4];
            std::snprintf(buffer, sizeof buffer, "%%%02X", c);
            out += buffer;
        }
    }
    return out;
}

std::string basic(std::string_view id, std::string_view secret, bool encode = true) {
    std::string pair = encode ? form_encode(id) + ":" + form_encode(secret) : std::string(id) + ":" + std::string(secret);
    return "Basic " + emulator::base64_encode(pair);
}

struct fixture {
    std::shared_ptr<std::chrono::system_clock::time_point> clock =
        std::make_shared<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
    std::unique_ptr<workspace> ws;

    fixture() {
        emulator::workspace_options options;
        options.port = 8443;
        auto c = clock;
        options.now = [c] { return *c; };
        ws = std::make_unique<workspace>(options);
    }

    std::string host() const { return ws->info()["workspace_host"].get<std::string>(); }
    const emulator::principal& sp(const char* name) const { return ws->principal_named(name); }

    http_reply post(std::string host_name, std::string target, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
        http_request r;
        r.method = "POST";
        r.host = std::move(host_name);
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers = std::move(headers);
        return ws->serve(r);
    }

    http_reply get(std::string host_name, std::string target, std::string token) {
        http_request r;
        r.method = "GET";
        r.host = std::move(host_name);
        r.target = std::move(target);
        if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
        return ws->serve(r);
    }

    http_reply token_request(const std::string& authorization, const std::string& body) {
        std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/x-www-form-urlencoded"}};
        if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
        return post(host(), "/oidc/v1/token", body, headers);
    }

    http_reply client_credentials(const char* principal_name, const std::string& details = {}) {
        const auto& p = sp(principal_name);
        std::string body = "grant_type=client_credentials&scope=all-apis";
        if (!details.empty()) body += "&authorization_details=" + form_encode(details);
        return token_request(basic(p.client_id, p.client_secret), body);
    }

    std::string token_for(const char* principal_name, const std::string& details = {}) {
        auto r = client_credentials(principal_name, details);
        REQUIRE(r.status == 200);
        return json::parse(r.body)["access_token"].get<std::string>();
    }

    std::string data_plane_token(const char* endpoint_name) {
        return token_for("sp-main", ws->authorization_details_for(ws->endpoint_named(endpoint_name)));
    }

    http_reply invoke(const char* endpoint_name, const std::string& token, std::string body = R"({"instances":[[1,2]]})",
                      std::string served_model = {}) {
        const auto& e = ws->endpoint_named(endpoint_name);
        std::string target = "/6051921418418893/serving-endpoints/" + e.name;
        if (!served_model.empty()) target += "/served-models/" + served_model;
        target += "/invocations";
        std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
        if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
        return post(ws->data_plane_host(e), target, body, headers);
    }
};

json body_of(const http_reply& r) { return json::parse(r.body); }

}  // namespace

TEST_CASE("form decoding, base64 and HTTP dates behave like the RFCs say") {
    std::string out;
    CHECK(emulator::form_urldecode("a+b%2Fc%25", out));
    CHECK(out == "a b/c%");
    CHECK_FALSE(emulator::form_urldecode("bad%zz", out));
    CHECK_FALSE(emulator::form_urldecode("bad%2", out));
    std::map<std::string, std::string> form;
    std::string error;
    CHECK(emulator::parse_form("a=1&b=x+y&c=", form, error));
    CHECK(form["b"] == "x y");
    CHECK_FALSE(emulator::parse_form("a=1&a=2", form, error));
    CHECK(emulator::base64_encode("ab") == "YWI=");
    CHECK(emulator::base64_decode("YWI=", out));
    CHECK(out == "ab");
    CHECK_FALSE(emulator::base64_decode("YW=I", out));
    CHECK_FALSE(emulator::base64_decode("YWI", out));
    CHECK(emulator::http_date(std::chrono::system_clock::from_time_t(784111777)) == "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("client credentials with Basic authentication issue a bearer token with the configured lifetime") {
    fixture f;
    auto r = f.client_credentials("sp-main");
    REQUIRE(r.status == 200);
    auto body = body_of(r);
    CHECK(body["token_type"] == "Bearer");
    CHECK(body["expires_in"] == 3600);
    CHECK(body["scope"] == "all-apis");
    CHECK(r.header("Cache-Control") == "no-store");
    auto token = body["access_token"].get<std::string>();
    CHECK(std::count(token.begin(), token.end(), '.') == 2);
    f.ws->configure(json{{"token_lifetime_seconds", 5}});
    CHECK(body_of(f.client_credentials("sp-main"))["expires_in"] == 5);
}

TEST_CASE("credentials must be form-urlencoded before base64 (RFC 6749 section 2.3.1)") {
    fixture f;
    const auto& p = f.sp("sp-encoded");
    const std::string body = "grant_type=client_credentials&scope=all-apis";
    auto raw = f.token_request(basic(p.client_id, p.client_secret, false), body);
    CHECK(raw.status == 401);
    CHECK(body_of(raw)["error"] == "invalid_client");
    CHECK(raw.header("WWW-Authenticate").rfind("Basic", 0) == 0);
    CHECK(f.token_request(basic(p.client_id, p.client_secret), body).status == 200);
    CHECK(f.token_request(basic(p.client_id, "wrong"), body).status == 401);
    CHECK(f.token_request("", body).status == 401);
    CHECK(f.token_request("Basic not-base64!", body).status == 401);
}

TEST_CASE("client_secret_post also authenticates, but not together with Basic") {
    fixture f;
    const auto& p = f.sp("sp-main");
    std::string body = "grant_type=client_credentials&client_id=" + form_encode(p.client_id) +
                       "&client_secret=" + form_encode(p.client_secret);
    CHECK(f.token_request("", body).status == 200);
    CHECK(f.token_request(basic(p.client_id, p.client_secret), body).status == 400);
}

TEST_CASE("token requests with a bad shape get invalid_request, unsupported_grant_type or invalid_scope") {
    fixture f;
    const auto& p = f.sp("sp-main");
    auto auth = basic(p.client_id, p.client_secret);
    CHECK(body_of(f.token_request(auth, "scope=all-apis"))["error"] == "invalid_request");
    CHECK(body_of(f.token_request(auth, "grant_type=client_credentials&grant_type=client_credentials"))["error"] ==
          "invalid_request");
    CHECK(body_of(f.token_request(auth, "grant_type=password"))["error"] == "unsupported_grant_type");
    CHECK(body_of(f.token_request(auth, "grant_type=client_credentials&scope=admin"))["error"] == "invalid_scope");
    auto wrong_type = f.post(f.host(), "/oidc/v1/token", "grant_type=client_credentials",
                             {{"Content-Type", "application/json"}, {"Authorization", auth}});
    CHECK(wrong_type.status == 400);
    CHECK(body_of(wrong_type)["error"] == "invalid_request");
}

TEST_CASE("authorization_details are checked against real endpoint ids and the principal's permissions") {
    fixture f;
    const auto& sum = f.ws->endpoint_named("sum-model");
    const auto details = f.ws->authorization_details_for(sum);
    CHECK(f.client_credentials("sp-main", details).status == 200);
    CHECK(f.client_credentials("sp-encoded", details).status == 200);

    auto denied = f.client_credentials("sp-no-query", details);
    CHECK(denied.status == 400);
    CHECK(body_of(denied)["error"] == "invalid_authorization_details");
    CHECK(body_of(denied)["error_description"] == details_denied);
    CHECK(f.client_credentials("sp-no-query", f.ws->authorization_details_for(f.ws->endpoint_named("chat-model"))).status == 200);

    std::string manage = details;
    manage.replace(manage.find("query_inference_endpoint"), 24, "manage_inference_endpoint");
    CHECK(body_of(f.client_credentials("sp-encoded", manage))["error_description"] == details_denied);
    CHECK(f.client_credentials("sp-main", manage).status == 200);

    auto by_name = f.client_credentials(
        "sp-main",
        R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/sum-model","actions":["query_inference_endpoint"]}])");
    CHECK(body_of(by_name)["error"] == "invalid_authorization_details");
    CHECK(body_of(f.client_credentials("sp-main", "{}"))["error"] == "invalid_authorization_details");
    CHECK(body_of(f.client_credentials("sp-main", "not json"))["error"] == "invalid_authorization_details");
    CHECK(body_of(f.client_credentials("sp-main", R"([{"type":"other"}])"))["error"] == "invalid_authorization_details");
    std::string bad_action = details;
    bad_action.replace(bad_action.find("query_inference_endpoint"), 24, "delete_everything");
    CHECK(body_of(f.client_credentials("sp-main", bad_action))["error"] == "invalid_authorization_details");
    // The vector search client's extra item is accepted beside the workspace permission.
    std::string with_uc = details.substr(0, details.size() - 1) + R"(,{"type":"unity_catalog_permission","securable_type":"table"}])";
    CHECK(f.client_credentials("sp-main", with_uc).status == 200);
}

TEST_CASE("discovery needs a workspace token and describes route optimized endpoints") {
    fixture f;
    const std::string target = "/api/2.0/serving-endpoints/sum-model";
    auto missing = f.get(f.host(), target, "");
    CHECK(missing.status == 401);
    CHECK(body_of(missing)["error_code"] == "UNAUTHENTICATED");

    auto r = f.get(f.host(), target, f.token_for("sp-main"));
    REQUIRE(r.status == 200);
    auto body = body_of(r);
    const auto& e = f.ws->endpoint_named("sum-model");
    CHECK(body["route_optimized"] == true);
    CHECK(body["id"] == e.id);
    CHECK(body["state"]["ready"] == "READY");
    CHECK(body["state"]["config_update"] == "NOT_UPDATING");
    const auto& query_info = body["data_plane_info"]["query_info"];
    CHECK(query_info["endpoint_url"] == "https://" + e.id +
                                            ".eastus2.serving.azuredatabricks.net:8443/6051921418418893/"
                                            "serving-endpoints/sum-model/invocations");
    CHECK(body["endpoint_url"] == query_info["endpoint_url"]);
    REQUIRE(query_info["authorization_details"].is_string());
    CHECK(json::parse(query_info["authorization_details"].get<std::string>())[0]["object_path"] ==
          "/serving-endpoints/" + e.id);

    CHECK(f.get(f.host(), target, f.ws->personal_access_token()).status == 200);
    CHECK(f.get(f.host(), target, "dapi0000").status == 401);
    auto data_plane = f.get(f.host(), target, f.data_plane_token("sum-model"));
    CHECK(data_plane.status == 403);

    auto unknown = f.get(f.host(), "/api/2.0/serving-endpoints/nope", f.ws->personal_access_token());
    CHECK(unknown.status == 404);
    CHECK(body_of(unknown)["error_code"] == "RESOURCE_DOES_NOT_EXIST");

    auto classic = body_of(f.get(f.host(), "/api/2.0/serving-endpoints/classic-model", f.ws->personal_access_token()));
    CHECK(classic["route_optimized"] == false);
    CHECK_FALSE(classic.contains("data_plane_info"));
    CHECK_FALSE(classic.contains("endpoint_url"));

    auto not_ready = body_of(f.get(f.host(), "/api/2.0/serving-endpoints/not-ready-model", f.ws->personal_access_token()));
    CHECK(not_ready["state"]["ready"] == "NOT_READY");
    CHECK(not_ready["state"]["config_update"] == "IN_PROGRESS");
}

TEST_CASE("an invocation with an endpoint-scoped token predicts row sums and names the served model") {
    fixture f;
    auto r = f.invoke("sum-model", f.data_plane_token("sum-model"), R"({"dataframe_split":{"data":[[1,2],[3,4]]}})");
    REQUIRE(r.status == 200);
    CHECK(r.body == R"({"predictions":[3,7]})");
    CHECK(r.header("served-model-name") == "sum-v1");
    auto served = f.invoke("sum-model", f.data_plane_token("sum-model"), R"({"instances":[1]})", "sum-v2");
    CHECK(served.status == 200);
    CHECK(served.header("served-model-name") == "sum-v2");
    CHECK(f.invoke("sum-model", f.data_plane_token("sum-model"), R"({"instances":[1]})", "nope").status == 404);
}

TEST_CASE("the data plane refuses missing, malformed, unknown, expired, wrongly scoped and personal tokens") {
    fixture f;
    auto missing = f.invoke("sum-model", "");
    CHECK(missing.status == 401);
    CHECK(body_of(missing)["error_code"] == "UNAUTHENTICATED");
    CHECK(f.invoke("sum-model", "garbage").status == 401);
    CHECK(f.invoke("sum-model", "aaa.bbb.ccc").status == 401);
    auto pat = f.invoke("sum-model", f.ws->personal_access_token());
    CHECK(pat.status == 401);
    CHECK(body_of(pat)["message"].get<std::string>().find("Personal access tokens are not supported") == 0);
    auto control_plane = f.invoke("sum-model", f.token_for("sp-main"));
    CHECK(control_plane.status == 403);
    CHECK(body_of(control_plane)["error_code"] == "PERMISSION_DENIED");
    CHECK(f.invoke("sum-model", f.data_plane_token("chat-model")).status == 403);

    f.ws->configure(json{{"token_lifetime_seconds", 60}});
    auto token = f.data_plane_token("sum-model");
    *f.clock += std::chrono::seconds(59);
    CHECK(f.invoke("sum-model", token).status == 200);
    *f.clock += std::chrono::seconds(1);
    auto expired = f.invoke("sum-model", token);
    CHECK(expired.status == 401);
    CHECK(body_of(expired)["message"] == "The access token has expired.");
}

TEST_CASE("tokens with too little time left are refused when configured like Azure") {
    fixture f;
    f.ws->configure(json{{"token_lifetime_seconds", 60}, {"reject_expiring_within_seconds", 30}});
    auto token = f.data_plane_token("sum-model");
    *f.clock += std::chrono::seconds(29);
    CHECK(f.invoke("sum-model", token).status == 200);
    *f.clock += std::chrono::seconds(1);
    CHECK(f.invoke("sum-model", token).status == 401);
}

TEST_CASE("the jwt-bearer exchange turns a workspace token into an endpoint-scoped one") {
    fixture f;
    auto control = f.token_for("sp-main");
    auto discovered = body_of(f.get(f.host(), "/api/2.0/serving-endpoints/sum-model", control));
    const auto details = discovered["data_plane_info"]["query_info"]["authorization_details"].get<std::string>();
    std::string body = "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                       "&assertion=" + control + "&authorization_details=" + form_encode(details);
    auto exchanged = f.token_request("", body);
    REQUIRE(exchanged.status == 200);
    auto token = body_of(exchanged)["access_token"].get<std::string>();
    CHECK(f.invoke("sum-model", token).status == 200);
    // Go sends the control-plane token as a bearer header too.
    CHECK(f.token_request("Bearer " + control, body).status == 200);

    auto with = [&](const std::string& assertion) {
        return body_of(f.token_request("", "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                                               "&assertion=" + assertion + "&authorization_details=" + form_encode(details)));
    };
    CHECK(with(f.ws->personal_access_token())["error"] == "invalid_grant");
    CHECK(with("nope")["error"] == "invalid_grant");
    CHECK(with(token)["error"] == "invalid_grant");
    auto no_details = f.token_request("", "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                                              "&assertion=" + control);
    CHECK(body_of(no_details)["error"] == "invalid_request");
    auto no_query = f.token_for("sp-no-query");
    CHECK(with(no_query)["error_description"] == details_denied);
}

TEST_CASE("the workspace path answers only endpoints created before 2025-09-22") {
    fixture f;
    auto call = [&](const char* name, const std::string& token) {
        return f.post(f.host(), std::string("/serving-endpoints/") + name + "/invocations", R"({"instances":[1]})",
                      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
    };
    const auto pat = f.ws->personal_access_token();
    CHECK(call("sum-model", pat).status == 400);
    CHECK(call("legacy-sum-model", pat).status == 200);
    CHECK(call("classic-model", pat).status == 200);
    CHECK(call("legacy-sum-model", f.token_for("sp-main")).status == 200);
    f.ws->configure(json{{"endpoints", json{{"sum-model", json{{"created_before_2025_09_22", true}}}}}});
    CHECK(call("sum-model", pat).status == 200);
    CHECK(f.ws->counters()["legacy_invocations"] == 5);
}

TEST_CASE("faults fire on the next matching requests only, after the ones they skip") {
    fixture f;
    auto token = f.data_plane_token("sum-model");
    auto admin = [&](const json& spec) {
        return f.post("127.0.0.1", "/admin/faults", spec.dump(), {{"Content-Type", "application/json"}});
    };
    REQUIRE(admin(json{{"route", "invocations"}, {"status", 429}, {"retry_after", 2}, {"count", 2}, {"skip", 1}}).status == 200);
    CHECK(f.invoke("sum-model", token).status == 200);
    auto limited = f.invoke("sum-model", token);
    CHECK(limited.status == 429);
    CHECK(limited.header("Retry-After") == "2");
    CHECK(body_of(limited)["error_code"] == "REQUEST_LIMIT_EXCEEDED");
    CHECK(f.invoke("sum-model", token).status == 429);
    CHECK(f.invoke("sum-model", token).status == 200);

    REQUIRE(admin(json{{"route", "invocations"}, {"endpoint", "chat-model"}, {"status", 503}}).status == 200);
    CHECK(f.invoke("sum-model", token).status == 200);
    REQUIRE(admin(json{{"route", "invocations"}, {"status", 503}, {"retry_after_date_in", 10}}).status == 200);
    auto dated = f.invoke("sum-model", token);
    CHECK(dated.status == 503);
    CHECK(dated.header("Retry-After") == emulator::http_date(*f.clock + std::chrono::seconds(10)));

    auto counters = f.ws->counters();
    CHECK(counters["invocations"]["429"] == 2);
    CHECK(counters["invocations"]["200"] == 3);
    CHECK(counters["faults_fired"] == 3);
}

TEST_CASE("connection faults are reported as decisions for the server to carry out") {
    fixture f;
    emulator::fault_spec drop;
    drop.route = "token";
    drop.kind = "drop_before";
    f.ws->add_fault(drop);
    drop.kind = "drop_after";
    drop.delay_ms = 20;
    f.ws->add_fault(drop);
    http_request head;
    head.method = "POST";
    head.host = f.host();
    head.target = "/oidc/v1/token";
    CHECK(f.ws->begin(head).action == emulator::fault_action::drop_before);
    auto second = f.ws->begin(head);
    CHECK(second.action == emulator::fault_action::drop_after);
    CHECK(second.delay.count() == 20);
    CHECK(f.ws->begin(head).action == emulator::fault_action::none);
    CHECK(f.ws->counters()["connections_dropped"] == 2);
}

TEST_CASE("a token endpoint that is down or answers garbage, until the faults are cleared") {
    fixture f;
    auto add = [&](const json& spec) {
        return f.post(f.host(), "/admin/faults", spec.dump(), {{"Content-Type", "application/json"}});
    };
    REQUIRE(add(json{{"route", "token"}, {"status", 503}, {"count", -1}}).status == 200);
    CHECK(f.client_credentials("sp-main").status == 503);
    CHECK(f.client_credentials("sp-main").status == 503);
    REQUIRE(f.post(f.host(), "/admin/faults/clear", "", {}).status == 200);
    REQUIRE(add(json{{"route", "token"}, {"kind", "garbage"}}).status == 200);
    auto garbage = f.client_credentials("sp-main");
    CHECK(garbage.status == 200);
    CHECK(garbage.header("Content-Type").rfind("text/html", 0) == 0);
    CHECK(f.client_credentials("sp-main").status == 200);
    auto counters = f.ws->counters();
    CHECK(counters["token_requests"]["client_credentials"] == 4);
    CHECK(counters["token_requests"]["total"] == 4);
    CHECK(counters["token_responses"]["503"] == 2);
    CHECK(add(json{{"route", "nowhere"}}).status == 400);
    CHECK(add(json{{"kind", "status"}, {"surprise", 1}}).status == 400);
}

TEST_CASE("a recreated endpoint gets a new id: the old host answers 404 and discovery gives the new URL") {
    fixture f;
    auto old_token = f.data_plane_token("sum-model");
    const auto old = f.ws->endpoint_named("sum-model");
    auto recreated = f.post("127.0.0.1", "/admin/endpoints/sum-model", R"({"recreate":true})", {});
    REQUIRE(recreated.status == 200);
    const auto now = f.ws->endpoint_named("sum-model");
    CHECK(now.id != old.id);
    CHECK(body_of(recreated)["host"] == f.ws->data_plane_host(now));
    CHECK(f.ws->info()["endpoints"]["sum-model"]["next_host"] != body_of(recreated)["host"]);

    auto on_old_host = f.post(f.ws->data_plane_host(old), "/6051921418418893/serving-endpoints/sum-model/invocations",
                              R"({"instances":[1]})", {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + old_token}});
    CHECK(on_old_host.status == 404);
    CHECK(f.invoke("sum-model", old_token).status == 403);
    CHECK(f.invoke("sum-model", f.data_plane_token("sum-model")).status == 200);
    auto discovered = body_of(f.get(f.host(), "/api/2.0/serving-endpoints/sum-model", f.ws->personal_access_token()));
    CHECK(discovered["data_plane_info"]["query_info"]["endpoint_url"].get<std::string>().find(now.id) != std::string::npos);

    REQUIRE(f.post("127.0.0.1", "/admin/reset", "", {}).status == 200);
    CHECK(f.ws->endpoint_named("sum-model").id == old.id);
    CHECK(f.ws->counters()["invocations_total"] == 0);
}

TEST_CASE("an endpoint that is not ready answers 503") {
    fixture f;
    auto token = f.token_for("sp-main", f.ws->authorization_details_for(f.ws->endpoint_named("not-ready-model")));
    auto r = f.invoke("not-ready-model", token);
    CHECK(r.status == 503);
    CHECK(body_of(r)["error_code"] == "TEMPORARILY_UNAVAILABLE");
    REQUIRE(f.post("localhost", "/admin/endpoints/not-ready-model", R"({"ready":true})", {}).status == 200);
    CHECK(f.invoke("not-ready-model", token).status == 200);
}

TEST_CASE("the admin clock offset expires tokens without waiting") {
    fixture f;
    auto token = f.data_plane_token("sum-model");
    REQUIRE(f.post("localhost", "/admin/config", R"({"advance_clock_seconds":3600})", {}).status == 200);
    CHECK(f.invoke("sum-model", token).status == 401);
    CHECK(f.post("localhost", "/admin/config", R"({"bogus":1})", {}).status == 400);
    CHECK(f.post("localhost", "/admin/config", R"({"token_lifetime_seconds":0})", {}).status == 400);
    auto revoke = f.post("localhost", "/admin/tokens/revoke", "", {});
    CHECK(revoke.status == 200);
}

TEST_CASE("the self-description lists principals, endpoints and resolve entries") {
    fixture f;
    auto info = f.ws->info();
    CHECK(info["port"] == 8443);
    CHECK(info["workspace_url"] == "https://adb-6051921418418893.13.azuredatabricks.net:8443");
    CHECK(info["token_url"] == "https://adb-6051921418418893.13.azuredatabricks.net:8443/oidc/v1/token");
    CHECK(info["service_principal"]["client_id"] == f.sp("sp-main").client_id);
    CHECK(info["principals"]["sp-encoded"]["client_secret"] == "dose:se+cr%t/with space");
    CHECK(info["personal_access_token"].get<std::string>().rfind("dapi", 0) == 0);
    const auto& sum = info["endpoints"]["sum-model"];
    CHECK(sum["url"] == f.ws->invocations_url(f.ws->endpoint_named("sum-model")));
    CHECK(info["resolve"][sum["host"].get<std::string>()] == "127.0.0.1:8443");
    CHECK(info["resolve"].contains("adb-6051921418418893.13.azuredatabricks.net"));
    CHECK_FALSE(info["endpoints"]["classic-model"].contains("url"));
}

TEST_CASE("unknown hosts and paths get a 404 in the service's error shape") {
    fixture f;
    auto r = f.get("example.com", "/", "");
    CHECK(r.status == 404);
    CHECK(body_of(r)["error_code"] == "ENDPOINT_NOT_FOUND");
    CHECK(f.get(f.host(), "/api/2.0/clusters/list", "").status == 404);
    CHECK(f.get(f.host(), "/%zz", "").status == 404);
}

TEST_CASE("generated certificates hold the CA and a chain for every name") {
    auto certs = emulator::generate_certificates({"*.eastus2.serving.azuredatabricks.net", "localhost"}, {"127.0.0.1"});
    CHECK(certs.ca_pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
    CHECK(certs.server_cert_pem.find(certs.ca_pem) != std::string::npos);
    CHECK(certs.server_key_pem.find("PRIVATE KEY") != std::string::npos);
}

TEST_CASE("faults that would break HTTP framing are refused") {
    fixture f;
    auto add = [&](const json& spec) { return f.post("127.0.0.1", "/admin/faults", spec.dump(), {}).status; };
    CHECK(add(json{{"status", 204}}) == 400);
    CHECK(add(json{{"status", 101}}) == 400);
    CHECK(add(json{{"status", 503}, {"retry_after", "1\r\nX-Injected: 1"}}) == 400);
    CHECK(add(json{{"status", 503}, {"retry_after", "@5"}}) == 200);
}

TEST_CASE("a traceparent is echoed on the reply and counted, well-formed or not") {
    fixture f;
    const std::string good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    auto token = f.client_credentials("sp-main");
    CHECK(token.header("traceparent-received").empty());
    auto traced = f.post(f.host(), "/oidc/v1/token", "grant_type=client_credentials&scope=all-apis",
                         {{"Content-Type", "application/x-www-form-urlencoded"},
                          {"Authorization", basic(f.sp("sp-main").client_id, f.sp("sp-main").client_secret)},
                          {"traceparent", good},
                          {"tracestate", "rojo=1"}});
    CHECK(traced.status == 200);
    CHECK(traced.header("traceparent-received") == good);
    CHECK(traced.header("tracestate-received") == "rojo=1");
    auto bad = f.post(f.host(), "/oidc/v1/token", "grant_type=client_credentials&scope=all-apis",
                      {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}});
    CHECK(bad.header("traceparent-received").substr(0, 3) == "00-");
    auto counters = f.ws->counters();
    CHECK(counters["traceparent"]["received"] == 2);
    CHECK(counters["traceparent"]["valid"] == 1);
    CHECK(counters["traceparent"]["invalid"] == 1);
}

TEST_CASE("stream_chunk_delay_ms sets the wait between a streamed answer's chunks") {
    fixture f;
    f.ws->configure(json{{"stream_chunk_delay_ms", 25}});
    auto token = f.data_plane_token("chat-model");
    auto r = f.invoke("chat-model", token, R"({"messages":[{"role":"user","content":"a b c"}],"stream":true})");
    REQUIRE(r.status == 200);
    CHECK(r.chunks.size() > 2);
    CHECK(r.chunk_delay == std::chrono::milliseconds(25));
    CHECK(f.post("localhost", "/admin/config", R"({"stream_chunk_delay_ms":-1})", {}).status == 400);
}
