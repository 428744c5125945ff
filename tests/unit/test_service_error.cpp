#include <dbserve/protocol/service_error.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>

using namespace dbserve;
using namespace std::chrono;

namespace {
const system_clock::time_point now = system_clock::time_point(seconds(1'700'000'000));  // Tue, 14 Nov 2023 22:13:20 GMT

http_response reply(int status, std::string body, std::string content_type = "application/json") {
    http_response r;
    r.status = status;
    r.body = std::move(body);
    if (!content_type.empty()) r.headers.add_unchecked("Content-Type", content_type);
    return r;
}
bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}
}  // namespace

TEST_CASE("HTTP statuses map to the categories a caller acts on") {
    CHECK(error_category_for_status(400) == errc::bad_request);
    CHECK(error_category_for_status(409) == errc::bad_request);
    CHECK(error_category_for_status(413) == errc::bad_request);
    CHECK(error_category_for_status(415) == errc::bad_request);
    CHECK(error_category_for_status(422) == errc::bad_request);
    CHECK(error_category_for_status(401) == errc::authentication);
    CHECK(error_category_for_status(403) == errc::permission);
    CHECK(error_category_for_status(404) == errc::not_found);
    CHECK(error_category_for_status(410) == errc::not_found);
    CHECK(error_category_for_status(408) == errc::timeout);
    CHECK(error_category_for_status(429) == errc::throttled);
    CHECK(error_category_for_status(503) == errc::unavailable);
    CHECK(error_category_for_status(500) == errc::service);
    CHECK(error_category_for_status(501) == errc::service);
    CHECK(error_category_for_status(502) == errc::service);
    CHECK(error_category_for_status(504) == errc::service);
    CHECK(error_category_for_status(599) == errc::service);
    CHECK(error_category_for_status(200) == errc::bad_response);
    CHECK(error_category_for_status(302) == errc::bad_response);
    CHECK(error_category_for_status(0) == errc::bad_response);
    CHECK(error_category_for_status(600) == errc::bad_response);
    CHECK(error_category_for_status(-1) == errc::bad_response);
}

TEST_CASE("the Databricks error body gives code, message and status") {
    const auto e = parse_service_error(
        reply(400, R"({"error_code":"BAD_REQUEST","message":"The input must be a JSON dictionary with exactly one of the input fields","details":[]})"),
        now);
    CHECK(e.code == errc::bad_request);
    CHECK(e.http_status == 400);
    CHECK(e.service_code == "BAD_REQUEST");
    CHECK(e.message == "The input must be a JSON dictionary with exactly one of the input fields");
    CHECK(e.to_string() ==
          "bad_request (HTTP 400, BAD_REQUEST): The input must be a JSON dictionary with exactly one of the input fields");
}

TEST_CASE("REQUEST_LIMIT_EXCEEDED and RESOURCE_EXHAUSTED are throttled whatever the status") {
    CHECK(parse_service_error(reply(429, R"({"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"})"), now).code ==
          errc::throttled);
    CHECK(parse_service_error(reply(400, R"({"error_code":"REQUEST_LIMIT_EXCEEDED","message":"x"})"), now).code ==
          errc::throttled);
    CHECK(parse_service_error(reply(500, R"({"error_code":"RESOURCE_EXHAUSTED","message":"x"})"), now).code ==
          errc::throttled);
    CHECK(parse_service_error(reply(200, R"({"error_code":"RESOURCE_EXHAUSTED","message":"x"})"), now).code ==
          errc::throttled);
    CHECK(parse_service_error(reply(403, "RESOURCE_EXHAUSTED: quota", "text/plain"), now).code == errc::throttled);
}

TEST_CASE("other error codes do not override the status") {
    CHECK(parse_service_error(reply(500, R"({"error_code":"NOT_FOUND","message":"x"})"), now).code == errc::service);
    CHECK(parse_service_error(reply(404, R"({"error_code":"INTERNAL_ERROR","message":"x"})"), now).code ==
          errc::not_found);
}

TEST_CASE("an error body in a 2xx is categorised by its code") {
    CHECK(parse_service_error(reply(200, R"({"error_code":"PERMISSION_DENIED","message":"x"})"), now).code ==
          errc::permission);
    CHECK(parse_service_error(reply(200, R"({"error_code":"UNAUTHENTICATED","message":"x"})"), now).code ==
          errc::authentication);
    CHECK(parse_service_error(reply(200, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"x"})"), now).code ==
          errc::not_found);
    CHECK(parse_service_error(reply(200, R"({"error_code":"INVALID_PARAMETER_VALUE","message":"x"})"), now).code ==
          errc::bad_request);
    CHECK(parse_service_error(reply(200, R"({"error_code":"TEMPORARILY_UNAVAILABLE","message":"x"})"), now).code ==
          errc::unavailable);
    CHECK(parse_service_error(reply(200, R"({"error_code":"INTERNAL_ERROR","message":"x"})"), now).code ==
          errc::service);
    CHECK(parse_service_error(reply(200, R"({"error_code":"SOMETHING_NEW","message":"x"})"), now).code ==
          errc::bad_response);
}

TEST_CASE("an error code without a message still gives a message naming status and code") {
    const auto e = parse_service_error(reply(409, R"({"error_code":"RESOURCE_CONFLICT"})"), now);
    CHECK(e.service_code == "RESOURCE_CONFLICT");
    CHECK(contains(e.message, "HTTP 409 Conflict"));
    CHECK(contains(e.message, "RESOURCE_CONFLICT"));
}

TEST_CASE("{\"error\": \"...\"} with a sentence is the message; with a code word it is the code") {
    const auto sentence = parse_service_error(reply(500, R"({"error":"Model crashed while loading"})"), now);
    CHECK(sentence.message == "Model crashed while loading");
    CHECK(sentence.service_code.empty());
    const auto code = parse_service_error(reply(401, R"({"error":"invalid_token"})"), now);
    CHECK(code.service_code == "invalid_token");
    CHECK(contains(code.message, "HTTP 401 Unauthorized"));
    const auto oauth = parse_service_error(
        reply(401, R"({"error":"invalid_client","error_description":"Client authentication failed"})"), now);
    CHECK(oauth.service_code == "invalid_client");
    CHECK(oauth.message == "Client authentication failed");
    CHECK(oauth.code == errc::authentication);
}

TEST_CASE("{\"error\": {...}} (OpenAI style) gives code and message") {
    const auto e = parse_service_error(
        reply(429, R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}})"),
        now);
    CHECK(e.code == errc::throttled);
    CHECK(e.service_code == "rate_limit_exceeded");
    CHECK(e.message == "Rate limit reached");
    const auto typed = parse_service_error(reply(400, R"({"error":{"message":"bad","type":"invalid_request_error"}})"), now);
    CHECK(typed.service_code == "invalid_request_error");
    const auto numeric = parse_service_error(reply(400, R"({"error":{"message":"bad","code":400}})"), now);
    CHECK(numeric.service_code == "400");
}

TEST_CASE("{\"errorCode\",\"errorSummary\"}, {\"message\"} and {\"detail\"} are read too") {
    const auto okta = parse_service_error(reply(403, R"({"errorCode":"E0000006","errorSummary":"You do not have permission"})"), now);
    CHECK(okta.service_code == "E0000006");
    CHECK(okta.message == "You do not have permission");
    CHECK(okta.code == errc::permission);
    CHECK(parse_service_error(reply(500, R"({"message":"boom"})"), now).message == "boom");
    CHECK(parse_service_error(reply(422, R"({"detail":"field required"})"), now).message == "field required");
    CHECK(parse_service_error(reply(500, R"("just a string")"), now).message == "just a string");
}

TEST_CASE("a JSON body of an unknown shape becomes a short message with the status") {
    const auto e = parse_service_error(reply(502, R"({"status":"bad", "n": [1, 2]})"), now);
    CHECK(e.code == errc::service);
    CHECK(e.message == R"(HTTP 502 Bad Gateway: {"n":[1,2],"status":"bad"})");
    CHECK(parse_service_error(reply(500, "[1,2]"), now).message == "HTTP 500 Internal Server Error: [1,2]");
}

TEST_CASE("plain text 'CODE: message' gives a code and a message") {
    const auto e = parse_service_error(reply(429, "REQUEST_LIMIT_EXCEEDED: Too many requests, retry later", "text/plain"), now);
    CHECK(e.service_code == "REQUEST_LIMIT_EXCEEDED");
    CHECK(e.message == "Too many requests, retry later");
    CHECK(e.code == errc::throttled);
}

TEST_CASE("plain text without a code is the message as it is") {
    const auto envoy = parse_service_error(
        reply(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", "text/plain"),
        now);
    CHECK(envoy.service_code.empty());
    CHECK(envoy.message == "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
    CHECK(envoy.code == errc::unavailable);
    const auto lower = parse_service_error(reply(500, "error: something", ""), now);
    CHECK(lower.service_code.empty());
    CHECK(lower.message == "error: something");
}

TEST_CASE("an HTML page becomes a short message about a login page or proxy, with its title") {
    std::string page = "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>";
    page += std::string(100'000, 'x');
    page += "</body></html>";
    const auto e = parse_service_error(reply(200, page, "text/html; charset=utf-8"), now);
    CHECK(e.code == errc::bad_response);
    CHECK(contains(e.message, "HTML page"));
    CHECK(contains(e.message, "'Sign in to your account'"));
    CHECK(contains(e.message, "login page"));
    CHECK(contains(e.message, "Private Link"));
    CHECK(e.message.size() < 400);
    const auto gateway = parse_service_error(reply(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", ""), now);
    CHECK(gateway.code == errc::service);
    CHECK(contains(gateway.message, "HTTP 502 Bad Gateway"));
    CHECK(contains(gateway.message, "HTML page"));
}

TEST_CASE("looks_like_html recognises HTML by content type or by its first bytes") {
    CHECK(looks_like_html(reply(200, "{}", "text/html")));
    CHECK(looks_like_html(reply(200, "{}", "TEXT/HTML ; charset=utf-8")));
    CHECK(looks_like_html(reply(200, "", "application/xhtml+xml")));
    CHECK(looks_like_html(reply(200, "  \n<!doctype HTML><html>", "")));
    CHECK(looks_like_html(reply(200, "\xEF\xBB\xBF<html lang=en>", "application/octet-stream")));
    CHECK(looks_like_html(reply(200, "<HEAD><title>x</title>", "")));
    CHECK(looks_like_html(reply(200, "<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">", "")));
    CHECK(looks_like_html(reply(200, "<!-- proxy --><html>", "")));
    CHECK_FALSE(looks_like_html(reply(200, R"({"predictions":["<html>"]})", "application/json")));
    CHECK_FALSE(looks_like_html(reply(200, "<?xml version=\"1.0\"?><feed/>", "application/xml")));
    CHECK_FALSE(looks_like_html(reply(200, "", "")));
    CHECK_FALSE(looks_like_html(reply(200, "plain", "text/plain")));
    CHECK_FALSE(looks_like_html(reply(200, "<", "")));
}

TEST_CASE("a JSON error body sent as text/html is still read as JSON") {
    const auto e = parse_service_error(reply(404, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no"})", "text/html"), now);
    CHECK(e.service_code == "RESOURCE_DOES_NOT_EXIST");
    CHECK(e.message == "no");
}

TEST_CASE("an empty body gives the status reason, the peer's or the standard one") {
    auto with_reason = reply(503, "", "");
    with_reason.reason = "Service Temporarily Unavailable";
    const auto a = parse_service_error(with_reason, now);
    CHECK(a.code == errc::unavailable);
    CHECK(a.message == "HTTP 503 Service Temporarily Unavailable with an empty body");
    const auto b = parse_service_error(reply(403, "", ""), now);
    CHECK(b.message == "HTTP 403 Forbidden with an empty body");
    const auto c = parse_service_error(reply(429, " \r\n ", ""), now);
    CHECK(c.message == "HTTP 429 Too Many Requests with an empty body");
    const auto unknown = parse_service_error(reply(599, "", ""), now);
    CHECK(unknown.message == "HTTP 599 with an empty body");
}

TEST_CASE("Retry-After is read in seconds or as an HTTP date against the given now") {
    auto seconds_form = reply(429, "", "");
    seconds_form.headers.add_unchecked("Retry-After", "17");
    CHECK(parse_service_error(seconds_form, now).retry_after == milliseconds(17'000));
    auto date_form = reply(503, "", "");
    date_form.headers.add_unchecked("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT");
    CHECK(parse_service_error(date_form, now).retry_after == milliseconds(30'000));
    CHECK(parse_service_error(date_form, now + seconds(40)).retry_after == milliseconds(0));
    auto garbage = reply(503, "", "");
    garbage.headers.add_unchecked("Retry-After", "soon");
    CHECK_FALSE(parse_service_error(garbage, now).retry_after.has_value());
    CHECK_FALSE(parse_service_error(reply(503, "", ""), now).retry_after.has_value());
}

TEST_CASE("the request id comes from x-request-id, x-databricks-request-id or a RequestInfo detail") {
    auto a = reply(500, "{}");
    a.headers.add_unchecked("X-Request-Id", "req-1");
    CHECK(parse_service_error(a, now).request_id == "req-1");
    auto b = reply(500, "oops", "text/plain");
    b.headers.add_unchecked("x-databricks-request-id", "req-2");
    CHECK(parse_service_error(b, now).request_id == "req-2");
    auto c = reply(500,
                   R"({"error_code":"INTERNAL_ERROR","message":"m","details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"req-3","serving_data":""}]})");
    CHECK(parse_service_error(c, now).request_id == "req-3");
    c.headers.add_unchecked("x-request-id", "req-4");
    CHECK(parse_service_error(c, now).request_id == "req-4");
    CHECK(parse_service_error(reply(500, "", ""), now).request_id.empty());
    auto d = reply(500, "");
    d.headers.add_unchecked("x-request-id", "bad\x01id\nx");
    CHECK(parse_service_error(d, now).request_id == "bad\\x01id x");
}

TEST_CASE("a huge body never becomes a huge message") {
    const auto text = parse_service_error(reply(500, std::string(1'000'000, 'a'), "text/plain"), now);
    CHECK(text.message.size() <= 1024 + 3);
    CHECK(text.message.substr(text.message.size() - 3) == "...");
    const auto json = parse_service_error(
        reply(500, R"({"error_code":"X","message":")" + std::string(50'000, 'b') + R"("})"), now);
    CHECK(json.message.size() <= 1024 + 3);
    const auto unknown = parse_service_error(reply(500, "[" + std::string(10'000, '1') + "]"), now);
    CHECK(unknown.message.size() <= 1100);
}

TEST_CASE("a cut message never ends inside a UTF-8 character") {
    std::string euro_text;
    for (int i = 0; i < 600; ++i) euro_text += "\xE2\x82\xAC";  // three bytes each
    const auto e = parse_service_error(reply(500, euro_text, "text/plain"), now);
    const std::string& m = e.message;
    REQUIRE(m.size() > 3);
    const std::string body = m.substr(0, m.size() - 3);
    CHECK(body.size() % 3 == 0);
    CHECK(body.size() <= 1024);
    for (std::size_t k = 1; k <= 2; ++k) {
        std::string shifted = std::string(k, 'a') + euro_text;
        const auto cut = parse_service_error(reply(500, shifted, "text/plain"), now).message;
        CHECK((cut.size() - 3 - k) % 3 == 0);
    }
}

TEST_CASE("line breaks become spaces and terminal controls in a service message are escaped") {
    const auto e = parse_service_error(
        reply(400, "{\"error_code\":\"BAD_REQUEST\",\"message\":\"line one\\r\\nINJECTED: yes\\u0000\\u001b[31m  end\"}"), now);
    CHECK(e.message == "line one INJECTED: yes\\x00\\x1b[31m end");
    const auto text = parse_service_error(reply(400, "A\nB\tC\x07", "text/plain"), now);
    CHECK(text.message == "A B C\\x07");
}

TEST_CASE("C1 controls, DEL and bytes that are not UTF-8 are escaped; other characters stay") {
    // OSC 0 (set the window title) in its 7-bit and C1 forms, a C1 CSI, DEL, a lone byte.
    const auto e = parse_service_error(
        reply(400, "\x1b]0;owned\x07 \xc2\x9d" "0;t\xc2\x9c \xc2\x9b" "31m \x7f \x9b \xff caf\xc3\xa9 \xe2\x82\xac", "text/plain"), now);
    CHECK(e.message == "\\x1b]0;owned\\x07 \\u009d0;t\\u009c \\u009b31m \\x7f \\x9b \\xff caf\xc3\xa9 \xe2\x82\xac");
    const auto json = parse_service_error(reply(400, R"({"error_code":"X\u009b1m","message":"a\u009bb"})"), now);
    CHECK(json.message == "a\\u009bb");
    CHECK(json.service_code == "X\\u009b1m");
}

TEST_CASE("a body of only control characters is shown escaped") {
    const auto e = parse_service_error(reply(500, "\x01\x02\x03", "text/plain"), now);
    CHECK(e.message == "\\x01\\x02\\x03");
}

TEST_CASE("an error_code without a message takes the message from an \"error\" string beside it") {
    const auto e = parse_service_error(reply(400, R"({"error_code":"BAD_REQUEST","error":"missing field inputs"})"), now);
    CHECK(e.service_code == "BAD_REQUEST");
    CHECK(e.message == "missing field inputs");
}

TEST_CASE("an HTML title with attributes is found; a <titlebar> element is not a title") {
    const auto e = parse_service_error(reply(403, "<html><titlebar>no</titlebar><title lang=\"en\">Access denied</title>", "text/html"), now);
    CHECK(contains(e.message, "('Access denied')"));
    const auto none = parse_service_error(reply(403, "<html><titlebar>no</titlebar></html>", "text/html"), now);
    CHECK_FALSE(contains(none.message, "('"));
}

TEST_CASE("text that starts with a number is not read as 'CODE: message'") {
    const auto e = parse_service_error(reply(404, "404: page not found", "text/plain"), now);
    CHECK(e.service_code.empty());
    CHECK(e.message == "404: page not found");
}

TEST_CASE("a message cut after a space ends with the word before it and the mark") {
    std::string text = std::string(1023, 'w') + " tail that is cut off";
    const auto e = parse_service_error(reply(500, text, "text/plain"), now);
    CHECK(e.message == std::string(1023, 'w') + "...");
}

TEST_CASE("an error body nested too deeply is reported by its status, not shown or walked") {
    http_response r;
    r.status = 502;
    r.body = std::string(300000, '[') + std::string(300000, ']');
    const auto e = parse_service_error(r, {});
    CHECK(e.code == errc::service);
    CHECK(e.message.find("HTTP 502") != std::string::npos);
    CHECK(e.message.find("nested more than 512 levels deep") != std::string::npos);
    CHECK(e.message.size() < 200);
}
