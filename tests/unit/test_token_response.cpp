#include <dbserve/protocol/token_response.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <string>
#include <string_view>

using namespace dbserve;
using namespace std::chrono;

namespace {
const std::string token = "eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN-VALUE.sig";

http_response reply(int status, std::string body, std::string content_type = "application/json") {
    http_response r;
    r.status = status;
    r.body = std::move(body);
    if (!content_type.empty()) r.headers.add_unchecked("Content-Type", content_type);
    return r;
}
http_response success(std::string extra_fields, std::string token_type = "\"Bearer\"",
                      std::string expires = "3600") {
    std::string body = R"({"access_token":")" + token + R"(","token_type":)" + token_type;
    if (!expires.empty()) body += R"(,"expires_in":)" + expires;
    if (!extra_fields.empty()) body += "," + extra_fields;
    body += "}";
    return reply(200, body);
}
bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}
// Every failure is checked for the token: it must never reach a message.
void check_no_token(const dbserve::error& e) {
    CHECK_FALSE(contains(e.message, "SECRET-TOKEN-VALUE"));
    CHECK_FALSE(contains(e.to_string(), "SECRET-TOKEN-VALUE"));
}
}  // namespace

TEST_CASE("a successful token response gives the token, its type and lifetime") {
    auto r = parse_token_response(success(R"("scope":"all-apis")"));
    REQUIRE(r);
    CHECK(r->access_token.reveal() == token);
    CHECK(r->token_type == "Bearer");
    CHECK(r->expires_in == seconds(3600));
    CHECK(r->scope == "all-apis");
    CHECK(r->authorization_details.empty());
    CHECK_FALSE(r->has_refresh_token);
}

TEST_CASE("token_type bearer is accepted in any case and kept as sent") {
    for (const char* type : {"\"bearer\"", "\"BEARER\"", "\"BeArEr\""}) {
        auto r = parse_token_response(success("", type));
        REQUIRE(r);
        CHECK(r->token_type == std::string(type).substr(1, 6));
    }
}

TEST_CASE("a token type other than bearer, or none, is refused") {
    auto mac = parse_token_response(success("", "\"mac\""));
    REQUIRE_FALSE(mac);
    CHECK(mac.error().code == errc::bad_response);
    CHECK(contains(mac.error().message, "'mac'"));
    CHECK(contains(mac.error().message, "Bearer"));
    check_no_token(mac.error());
    auto dpop = parse_token_response(success("", "\"DPoP\""));
    REQUIRE_FALSE(dpop);
    auto missing = parse_token_response(reply(200, R"({"access_token":")" + token + R"(","expires_in":3600})"));
    REQUIRE_FALSE(missing);
    CHECK(contains(missing.error().message, "token_type"));
    check_no_token(missing.error());
    auto number = parse_token_response(success("", "1"));
    REQUIRE_FALSE(number);
    CHECK(contains(number.error().message, "token_type is number"));
    CHECK_FALSE(parse_token_response(success("", "null")));
    CHECK_FALSE(parse_token_response(success("", "\"bearer \"")));
}

TEST_CASE("expires_in may be a number or a string of digits") {
    CHECK(parse_token_response(success("", "\"Bearer\"", "600"))->expires_in == seconds(600));
    CHECK(parse_token_response(success("", "\"Bearer\"", "\"3600\""))->expires_in == seconds(3600));
    CHECK(parse_token_response(success("", "\"Bearer\"", "3599.9"))->expires_in == seconds(3599));
    CHECK(parse_token_response(success("", "\"Bearer\"", "1"))->expires_in == seconds(1));
}

TEST_CASE("missing, non-numeric, zero or negative expires_in is a clear error") {
    struct bad_case {
        const char* value;
        const char* says;
    };
    const bad_case cases[] = {
        {"", "no expires_in"},
        {"null", "no expires_in"},
        {"0", "positive"},
        {"-5", "positive"},
        {"-0.5", "positive"},
        {"0.4", "positive"},
        {"\"0\"", "positive"},
        {"\"\"", "empty string"},
        {"\"-5\"", "'-5'"},
        {"\"1h\"", "'1h'"},
        {"\" 60\"", "not a number"},
        {"\"3600.0\"", "not a number"},
        {"true", "boolean"},
        {"[3600]", "array"},
        {"{}", "object"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.value);
        auto r = parse_token_response(success("", "\"Bearer\"", c.value));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::bad_response);
        CHECK(contains(r.error().message, c.says));
        check_no_token(r.error());
    }
}

TEST_CASE("an absurd lifetime is capped at a year so expiry arithmetic cannot overflow") {
    const seconds year(365LL * 24 * 3600);
    CHECK(parse_token_response(success("", "\"Bearer\"", "99999999999999999999"))->expires_in == year);
    CHECK(parse_token_response(success("", "\"Bearer\"", "\"99999999999999999999999999\""))->expires_in == year);
    CHECK(parse_token_response(success("", "\"Bearer\"", "1e300"))->expires_in == year);
    CHECK(parse_token_response(success("", "\"Bearer\"", "9223372036854775807"))->expires_in == year);
    CHECK(parse_token_response(success("", "\"Bearer\"", "31536001"))->expires_in == year);
    CHECK(parse_token_response(success("", "\"Bearer\"", "31535999"))->expires_in == seconds(31535999));
}

TEST_CASE("authorization_details in the response: object or array as JSON text, a string as it is") {
    auto array = parse_token_response(success(R"("authorization_details":[{"type":"workspace_permission","actions":["query_inference_endpoint"]}])"));
    REQUIRE(array);
    CHECK(array->authorization_details ==
          R"([{"actions":["query_inference_endpoint"],"type":"workspace_permission"}])");
    auto object = parse_token_response(success(R"("authorization_details":{"type":"x"})"));
    REQUIRE(object);
    CHECK(object->authorization_details == R"({"type":"x"})");
    auto text = parse_token_response(success(R"("authorization_details":"[ {\"type\": \"x\"} ]")"));
    REQUIRE(text);
    CHECK(text->authorization_details == R"([ {"type": "x"} ])");
    auto other = parse_token_response(success(R"("authorization_details":42)"));
    REQUIRE(other);
    CHECK(other->authorization_details.empty());
}

TEST_CASE("a refresh token is noticed but not kept; a non-string scope is ignored") {
    auto r = parse_token_response(success(R"("refresh_token":"rt-123","scope":["a"])"));
    REQUIRE(r);
    CHECK(r->has_refresh_token);
    CHECK(r->scope.empty());
    CHECK_FALSE(parse_token_response(success(R"("refresh_token":"")"))->has_refresh_token);
    CHECK_FALSE(parse_token_response(success(R"("refresh_token":null)"))->has_refresh_token);
}

TEST_CASE("a token response with unknown extra fields and whitespace is accepted") {
    auto r = parse_token_response(reply(200, "\n  {\"id_token\":\"x\",\"access_token\":\"" + token +
                                                 "\", \"token_type\" : \"Bearer\", \"expires_in\" : 3600, \"x\":{\"y\":[1]}}\n",
                                         "application/json;charset=UTF-8"));
    REQUIRE(r);
    CHECK(r->access_token.reveal() == token);
}

TEST_CASE("any 2xx with a token is a success, and a missing Content-Type does not matter") {
    auto r = success("");
    r.status = 201;
    r.headers.clear();
    CHECK(parse_token_response(r));
}

TEST_CASE("a missing, null, empty or non-string access_token is refused without echoing the body") {
    for (const char* body : {R"({"token_type":"Bearer","expires_in":3600})",
                             R"({"access_token":null,"token_type":"Bearer","expires_in":3600})",
                             R"({"access_token":"","token_type":"Bearer","expires_in":3600})",
                             R"({"access_token":12345,"token_type":"Bearer","expires_in":3600})",
                             R"({"access_token":{"v":"SECRET-TOKEN-VALUE"},"token_type":"Bearer","expires_in":3600})"}) {
        CAPTURE(body);
        auto r = parse_token_response(reply(200, body));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::bad_response);
        CHECK(contains(r.error().message, "access_token"));
        check_no_token(r.error());
    }
}

TEST_CASE("an empty body in a 200 is a bad response, not a crash") {
    auto r = parse_token_response(reply(200, ""));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_response);
    CHECK(r.error().http_status == 200);
    CHECK(contains(r.error().message, "empty"));
}

TEST_CASE("a 200 that is not JSON is a bad response whose message never quotes the body") {
    auto r = parse_token_response(reply(200, "access_token=" + token + "&token_type=bearer", "application/x-www-form-urlencoded"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_response);
    CHECK(contains(r.error().message, "not JSON"));
    check_no_token(r.error());
    auto truncated = parse_token_response(reply(200, R"({"access_token":")" + token));
    REQUIRE_FALSE(truncated);
    check_no_token(truncated.error());
    auto array = parse_token_response(reply(200, R"([")" + token + R"("])"));
    REQUIRE_FALSE(array);
    CHECK(contains(array.error().message, "array"));
    check_no_token(array.error());
    auto string = parse_token_response(reply(200, "\"" + token + "\""));
    REQUIRE_FALSE(string);
    check_no_token(string.error());
}

TEST_CASE("a 200 login page is reported as a redirect to HTML") {
    auto r = parse_token_response(reply(200, "<!DOCTYPE html><html><title>Login</title></html>", "text/html"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_response);
    CHECK(contains(r.error().message, "HTML page"));
    CHECK(contains(r.error().message, "Private Link"));
}

TEST_CASE("RFC 6749 errors: invalid_client and invalid_grant are authentication errors") {
    auto r = parse_token_response(
        reply(401, R"({"error":"invalid_client","error_description":"Client authentication failed"})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(r.error().http_status == 401);
    CHECK(r.error().service_code == "invalid_client");
    CHECK(contains(r.error().message, "Client authentication failed"));
    CHECK(contains(r.error().message, "DATABRICKS_CLIENT_SECRET"));
    auto grant = parse_token_response(reply(400, R"({"error":"invalid_grant","error_description":"expired"})"));
    REQUIRE_FALSE(grant);
    CHECK(grant.error().code == errc::authentication);
    CHECK(grant.error().service_code == "invalid_grant");
}

TEST_CASE("invalid_authorization_details and access_denied are permission errors naming the fix") {
    auto r = parse_token_response(reply(
        400, R"({"error":"invalid_authorization_details","error_description":"User is not authorized to the requested authorizations"})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::permission);
    CHECK(r.error().service_code == "invalid_authorization_details");
    CHECK(contains(r.error().message, "User is not authorized to the requested authorizations"));
    CHECK(contains(r.error().message, "Query permission"));
    auto denied = parse_token_response(reply(403, R"({"error":"access_denied"})"));
    REQUIRE_FALSE(denied);
    CHECK(denied.error().code == errc::permission);
    CHECK(parse_token_response(reply(400, R"({"error":"unauthorized_client"})")).error().code == errc::permission);
}

TEST_CASE("request errors are bad_request whatever 4xx carries them") {
    for (const char* code : {"invalid_request", "unsupported_grant_type", "invalid_scope", "invalid_target"}) {
        CAPTURE(code);
        auto r = parse_token_response(reply(400, std::string(R"({"error":")") + code + R"("})"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::bad_request);
        CHECK(r.error().service_code == code);
    }
    // An unknown code falls back to the status.
    CHECK(parse_token_response(reply(400, R"({"error":"something_new"})")).error().code == errc::bad_request);
    CHECK(parse_token_response(reply(401, R"({"error":"something_new"})")).error().code == errc::authentication);
}

TEST_CASE("the errorCode / errorSummary variant is read like the RFC shape") {
    auto r = parse_token_response(reply(401, R"({"errorCode":"invalid_client","errorSummary":"Invalid value for 'client_id' parameter."})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(r.error().service_code == "invalid_client");
    CHECK(contains(r.error().message, "Invalid value for 'client_id' parameter."));
    auto summary_only = parse_token_response(reply(403, R"({"errorSummary":"Forbidden by policy"})"));
    REQUIRE_FALSE(summary_only);
    CHECK(summary_only.error().code == errc::permission);
    CHECK(contains(summary_only.error().message, "Forbidden by policy"));
}

TEST_CASE("an error body in a 200 is an error, even next to a token") {
    auto r = parse_token_response(reply(200, R"({"error":"invalid_client","access_token":")" + token + R"("})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    check_no_token(r.error());
    auto unknown = parse_token_response(reply(200, R"({"errorCode":"E123"})"));
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == errc::authentication);
}

TEST_CASE("a non-2xx is an error even when its body holds a token") {
    auto r = parse_token_response(reply(500, R"({"access_token":")" + token + R"(","token_type":"Bearer","expires_in":3600})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::service);
    // The generic reader shows an unknown JSON shape; it must not show this one's token.
    check_no_token(r.error());
}

TEST_CASE("a 403 with an empty body is a permission error with a useful message") {
    auto r = parse_token_response(reply(403, "", ""));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::permission);
    CHECK(r.error().http_status == 403);
    CHECK(contains(r.error().message, "empty body"));
    CHECK(contains(r.error().message, "permission"));
}

TEST_CASE("throttling and outages keep their status category and Retry-After") {
    auto throttled = reply(429, R"({"error":"invalid_request","error_description":"slow down"})");
    throttled.headers.add_unchecked("Retry-After", "7");
    auto r = parse_token_response(throttled);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::throttled);
    CHECK(r.error().retry_after == milliseconds(7000));
    CHECK(parse_token_response(reply(503, "", "")).error().code == errc::unavailable);
    CHECK(parse_token_response(reply(502, "Bad gateway", "text/plain")).error().code == errc::service);
    CHECK(parse_token_response(reply(500, R"({"error":"server_error"})")).error().code == errc::service);
    CHECK(parse_token_response(reply(400, R"({"error":"slow_down"})")).error().code == errc::throttled);
    CHECK(parse_token_response(reply(400, R"({"error":"temporarily_unavailable"})")).error().code == errc::unavailable);
}

TEST_CASE("a Retry-After date is read only when now is given") {
    auto resp = reply(503, "", "");
    resp.headers.add_unchecked("Retry-After", "Tue, 14 Nov 2023 22:13:50 GMT");
    CHECK_FALSE(parse_token_response(resp).error().retry_after.has_value());
    const auto now = system_clock::time_point(seconds(1'700'000'000));
    CHECK(parse_token_response(resp, now).error().retry_after == milliseconds(30'000));
}

TEST_CASE("a redirect from the token endpoint says the host or a proxy is wrong") {
    auto r = reply(302, "", "");
    r.headers.add_unchecked("Location", "https://login.microsoftonline.com/x");
    auto e = parse_token_response(r);
    REQUIRE_FALSE(e);
    CHECK(e.error().code == errc::bad_response);
    CHECK(contains(e.error().message, "redirected"));
    CHECK(contains(e.error().message, "login.microsoftonline.com"));
}

TEST_CASE("an HTML error page from the token endpoint is summarised, not dumped") {
    auto r = parse_token_response(reply(401, "<html><title>Unauthorized</title>" + std::string(100000, 'x') + "</html>", "text/html"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(contains(r.error().message, "HTML page"));
    CHECK(r.error().message.size() < 600);
}

TEST_CASE("the request id of a failed token request is kept") {
    auto r = reply(401, R"({"error":"invalid_client"})");
    r.headers.add_unchecked("x-request-id", "rid-9");
    CHECK(parse_token_response(r).error().request_id == "rid-9");
    auto ok_but_bad = reply(200, "");
    ok_but_bad.headers.add_unchecked("x-databricks-request-id", "rid-10");
    CHECK(parse_token_response(ok_but_bad).error().request_id == "rid-10");
}

TEST_CASE("a huge error_description is capped") {
    auto r = parse_token_response(reply(400, R"({"error":"invalid_request","error_description":")" + std::string(100000, 'd') + R"("})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message.size() < 1300);
}

TEST_CASE("a non-JSON error body that mentions a token is not quoted") {
    auto r = parse_token_response(reply(500, "access_token=" + token, "text/plain"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::service);
    CHECK(contains(r.error().message, "not shown"));
    check_no_token(r.error());
    // Other text bodies are quoted: they help.
    auto plain = parse_token_response(reply(500, "database is down", "text/plain"));
    CHECK(contains(plain.error().message, "database is down"));
}

TEST_CASE("the other fields of an error body that holds a token are still shown") {
    auto r = parse_token_response(reply(500, R"({"access_token":")" + token + R"(","note":"half-broken"})"));
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "half-broken"));
    check_no_token(r.error());
}

TEST_CASE("\"error\": null beside a token is not an error") {
    auto r = parse_token_response(success(R"("error":null,"errorCode":null)"));
    REQUIRE(r);
    CHECK(r->access_token.reveal() == token);
}

TEST_CASE("a throttling code is throttled even on a 5xx") {
    auto r = parse_token_response(reply(500, R"({"error":"REQUEST_LIMIT_EXCEEDED","error_description":"too many"})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::throttled);
    CHECK(parse_token_response(reply(503, R"({"errorCode":"slow_down"})")).error().code == errc::throttled);
}

TEST_CASE("a non-finite expires_in is refused, from the wire or from a JSON value built in code") {
    for (const char* value : {"NaN", "Infinity", "-Infinity"}) {
        auto wire = parse_token_response(success("", "\"Bearer\"", value));
        REQUIRE_FALSE(wire);
        CHECK(wire.error().code == errc::bad_response);
        check_no_token(wire.error());
    }
    auto inf = detail::tokens::read_expires_in(nlohmann::json(std::numeric_limits<double>::infinity()));
    REQUIRE_FALSE(inf);
    CHECK(contains(inf.error().message, "finite"));
    CHECK_FALSE(detail::tokens::read_expires_in(nlohmann::json(std::numeric_limits<double>::quiet_NaN())));
}

TEST_CASE("a Databricks-style error object in a 200 keeps the category of its code") {
    auto r = parse_token_response(reply(200, R"({"error_code":"PERMISSION_DENIED","message":"no","error":{"code":"x"}})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::permission);
    auto unknown = parse_token_response(reply(200, R"({"error":{"message":"odd"}})"));
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == errc::bad_response);
    CHECK(contains(unknown.error().message, "odd"));
}

TEST_CASE("a login page that mentions a CSRF token is still summarised by its title") {
    auto r = parse_token_response(reply(401, R"(<html><title>Sign in</title><input name="csrf_token" value="x"></html>)", "text/html"));
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "'Sign in'"));
    CHECK_FALSE(contains(r.error().message, "csrf"));
}

TEST_CASE("a credential under an escaped, differently cased or nested key is never shown") {
    const std::string bodies[] = {
        R"({"access_\u0074oken":")" + token + R"("})",
        R"({"Access_Token":")" + token + R"(","note":"half-broken"})",
        R"({"data":{"id_token":")" + token + R"("},"note":"half-broken"})",
        R"([{"refresh_token":")" + token + R"("}])",
        R"({"client_secret":")" + token + R"(","message":"half-broken"})",
        R"({"token":{"value":")" + token + R"("}})",
        R"("access_\u0074oken )" + token + R"(")",                  // a JSON string
        R"({"access_\u0074oken":")" + token,                         // cut short: not JSON
        "access_%74oken=" + token,                                   // percent-encoded text
    };
    for (int status : {200, 400, 401, 500}) {
        for (const std::string& body : bodies) {
            CAPTURE(status);
            CAPTURE(body.substr(0, 20));
            auto r = parse_token_response(reply(status, body));
            REQUIRE_FALSE(r);
            CHECK_FALSE(r.error().message.empty());
            check_no_token(r.error());
        }
    }
    // What is not a credential is still shown.
    auto r = parse_token_response(reply(500, R"({"Access_Token":")" + token + R"(","note":"half-broken"})"));
    CHECK(contains(r.error().message, "half-broken"));
    CHECK(contains(r.error().message, "(redacted)"));
}

TEST_CASE("a token echoed in an error description or code is redacted") {
    auto r = parse_token_response(reply(400, R"({"error":"invalid_request","error_description":"bad )" + token +
                                                 R"(","access_token":")" + token + R"("})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_request);
    CHECK(contains(r.error().message, "bad (redacted)"));
    check_no_token(r.error());
    auto in_code = parse_token_response(reply(401, R"({"error":")" + token + R"(","refresh_token":")" + token + R"("})"));
    REQUIRE_FALSE(in_code);
    CHECK_FALSE(contains(in_code.error().service_code, "SECRET-TOKEN-VALUE"));
    check_no_token(in_code.error());
    // Escaped differently in the two places, the token is still recognised.
    auto escaped = parse_token_response(reply(
        200, R"({"access_token":"eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN-VALU\u0045.sig","token_type":")" + token + R"("})"));
    REQUIRE_FALSE(escaped);
    check_no_token(escaped.error());
}

TEST_CASE("a redirect's Location is shown without its query and fragment") {
    auto r = reply(302, "", "");
    r.headers.add_unchecked("Location", "https://login.example.com/cb#access_token=" + token + "&state=1");
    auto e = parse_token_response(r);
    REQUIRE_FALSE(e);
    CHECK(contains(e.error().message, "(Location: https://login.example.com/cb)"));
    check_no_token(e.error());
    auto query = reply(307, "", "");
    query.headers.add_unchecked("Location", "https://proxy.example.com/auth?token=" + token);
    check_no_token(parse_token_response(query).error());
}

TEST_CASE("an HTML page whose title names a credential is not summarised by its title") {
    auto r = parse_token_response(reply(401, "<html><title>access_token=" + token + "</title></html>", "text/html"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(contains(r.error().message, "not shown"));
    check_no_token(r.error());
}

TEST_CASE("a token response nested too deeply is an error, not a stack overflow") {
    const std::string deep = std::string(300000, '[') + std::string(300000, ']');
    for (int status : {200, 400}) {
        auto r = parse_token_response(reply(status, deep));
        REQUIRE_FALSE(r);
        CHECK(r.error().message.size() < 300);
    }
    auto in_object = parse_token_response(reply(400, R"({"access_token":")" + token + R"(","x":)" + deep + "}"));
    REQUIRE_FALSE(in_object);
    check_no_token(in_object.error());
}

TEST_CASE("an access token too long for an Authorization header is a response too large") {
    const std::string longest(dbserve::detail::tokens::max_access_token_bytes, 'a');
    CHECK(parse_token_response(reply(200, R"({"access_token":")" + longest +
                                              R"(","token_type":"Bearer","expires_in":3600})")));
    const std::string huge(8u * 1024u * 1024u, 'a');
    auto r = parse_token_response(reply(200, R"({"access_token":")" + huge +
                                             R"(","token_type":"Bearer","expires_in":3600})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::response_too_large);
    CHECK(r.error().message.find("too large") != std::string::npos);
    CHECK(r.error().message.find("aaaaaaaa") == std::string::npos);  // the token is never quoted
}
