// The pieces of dbserve-query that need no network: command line, CSV, redaction, the
// load report, token file expiry and exit codes.
#include "cli_options.hpp"
#include "csv.hpp"
#include "exit_codes.hpp"
#include "load_report.hpp"
#include "redaction.hpp"
#include "token_file.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace dbserve_query;

namespace {
dbserve::result<cli_options> parse(std::vector<std::string_view> args) { return parse_command_line(args); }
}  // namespace

TEST_CASE("CSV: quoted fields keep commas, doubled quotes and line breaks; CRLF and a BOM are accepted") {
    auto t = parse_csv("\xEF\xBB\xBFname,note\r\n\"a, b\",\"say \"\"hi\"\"\"\r\nc,\"two\nlines\"\r\n");
    REQUIRE(t);
    CHECK(t->columns == std::vector<std::string>{"name", "note"});
    REQUIRE(t->rows.size() == 2);
    CHECK(t->rows[0][0].text == "a, b");
    CHECK(t->rows[0][1].text == "say \"hi\"");
    CHECK(t->rows[1][1].text == "two\nlines");
    CHECK(t->rows[1][1].quoted);
}

TEST_CASE("CSV: a ragged row names its line, counting line breaks inside quotes") {
    auto t = parse_csv("a,b\n\"x\ny\",1\n2\n");
    REQUIRE_FALSE(t);
    CHECK(t.error().message.find("CSV line 4 (data row 2) has 1 fields") != std::string::npos);
}

TEST_CASE("CSV: bad quoting is refused with the line and the fix") {
    CHECK(parse_csv("a\n\"open\n").error().message.find("line 2: a quoted field is never closed") != std::string::npos);
    CHECK(parse_csv("a\nx\"y\n").error().message.find("quote inside an unquoted field") != std::string::npos);
    CHECK(parse_csv("a\n\"x\"y\n").error().message.find("after a closing quote") != std::string::npos);
    CHECK(parse_csv("").error().message.find("empty") != std::string::npos);
}

TEST_CASE("CSV: only unquoted finite decimals are numbers") {
    double v = 0;
    CHECK(csv_cell_number({"1.5e3", false}, v));
    CHECK(v == 1500);
    CHECK_FALSE(csv_cell_number({"1.5", true}, v));
    CHECK_FALSE(csv_cell_number({"nan", false}, v));
    CHECK_FALSE(csv_cell_number({"inf", false}, v));
    CHECK_FALSE(csv_cell_number({"12abc", false}, v));
    CHECK_FALSE(csv_cell_number({"", false}, v));
}

TEST_CASE("command line: a secret as an argument is refused, in both spellings") {
    CHECK(parse({"--url", "https://x", "--data", "{}", "--client-secret", "s"}).error().message.find("not accepted") !=
          std::string::npos);
    CHECK(parse({"--url", "https://x", "--data", "{}", "--token=abc"}).error().message.find("not accepted") !=
          std::string::npos);
}

TEST_CASE("command line: combinations are checked before anything else happens") {
    CHECK_FALSE(parse({"--url", "u", "--endpoint", "e", "--data", "{}"}));
    CHECK_FALSE(parse({"--url", "u"}));
    CHECK_FALSE(parse({"--url", "u", "--data", "{}", "--concurrency", "2"}));
    CHECK_FALSE(parse({"--url", "u", "--data", "{}", "--summary", "json"}));
    CHECK_FALSE(parse({"--url", "u", "--data", "{}", "--format", "records"}));
    CHECK_FALSE(parse({"--url", "u", "--chat", "hi", "--stream", "--repeat", "2"}));
    CHECK_FALSE(parse({"--url", "u", "--data", "{}", "--dry-run", "--duration", "1"}));
    CHECK_FALSE(parse({"--url", "u", "--data", "{}", "--token-file", "f", "--auth", "client-credentials"}));
    auto ok = parse({"--url", "u", "--data", "{}", "--repeat", "5", "--concurrency", "2", "--summary", "json",
                     "--resolve", "h.example:8443:[::1]", "--max-time=2.5"});
    REQUIRE(ok);
    CHECK(*ok->repeat == 5);
    CHECK(ok->concurrency == 2);
    CHECK(ok->summary == summary_format::json);
    REQUIRE(ok->resolve.size() == 1);
    CHECK(ok->resolve[0].port == 8443);
    CHECK(ok->resolve[0].address == "::1");
    CHECK(*ok->max_time_s == 2.5);
}

TEST_CASE("redaction: authorization values keep only their scheme; token-like headers go entirely") {
    CHECK(redact_header_value("Authorization", "Bearer abc.def") == "Bearer <redacted>");
    CHECK(redact_header_value("authorization", "Basic eHk6eg==") == "Basic <redacted>");
    CHECK(redact_header_value("X-Upstream-Token", "t") == "<redacted>");
    CHECK(redact_header_value("Set-Cookie", "a=b") == "<redacted>");
    CHECK(redact_header_value("Content-Type", "application/json") == "application/json");
}

TEST_CASE("redaction: a form body keeps only known harmless fields") {
    CHECK(redact_form_body("grant_type=client_credentials&scope=all-apis&client_secret=s3cr3t") ==
          "grant_type=client_credentials&scope=all-apis&client_secret=<redacted>");
    CHECK(redact_form_body("grant_type=x&assertion=eyJabc&authorization_details=%5B%5D") ==
          "grant_type=x&assertion=<redacted>&authorization_details=%5B%5D");
    CHECK(redact_form_body("password=p") == "password=<redacted>");
}

TEST_CASE("a form body is made readable for display, control characters masked") {
    CHECK(form_decode_for_display("scope=all-apis&details=%5B%7B%22a%22%3A1%7D%5D&x=a+b") ==
          "scope=all-apis&details=[{\"a\":1}]&x=a b");
    CHECK(form_decode_for_display("x=%0Ay%2") == "x=?y%2");
}

TEST_CASE("redaction: token members of a JSON body are replaced at any depth") {
    const std::string out =
        redact_json_body(R"({"access_token":"AAA","token_type":"Bearer","nested":[{"refresh_token":"BBB"}]})", false);
    CHECK(out.find("AAA") == std::string::npos);
    CHECK(out.find("BBB") == std::string::npos);
    CHECK(out.find("\"token_type\":\"Bearer\"") != std::string::npos);
    CHECK(redact_json_body("not json with a token", false).find("token") == std::string::npos);
    CHECK(redact_json_body("<html>error</html>", true) == "<html>error</html>");
}

TEST_CASE("load report: nearest-rank percentiles, failures by kind, throughput") {
    load_report r;
    for (int i = 1; i <= 100; ++i) r.record_success(i);
    r.record_failure("timeout", 500);
    r.elapsed_s = 2;
    r.token_requests = 3;
    auto j = r.to_json();
    CHECK(j["queries"] == 101);
    CHECK(j["failures"] == 1);
    CHECK(j["failures_by_kind"]["timeout"] == 1);
    CHECK(j["latency_ms"]["p50"] == 51.0);
    CHECK(j["latency_ms"]["max"] == 500.0);
    CHECK(j["queries_per_second"] == 50.5);
    CHECK(j["token_requests"] == 3);
    CHECK(load_report::percentile({}, 99) == 0);
}

TEST_CASE("token file: a JWT's exp claim is its expiry; other tokens have none") {
    // {"alg":"none"} . {"exp":2000000000}
    auto exp = jwt_expiry("eyJhbGciOiJub25lIn0.eyJleHAiOjIwMDAwMDAwMDB9.c2ln");
    REQUIRE(exp);
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(exp->time_since_epoch()).count() == 2000000000);
    CHECK_FALSE(jwt_expiry("opaque-token"));
    CHECK_FALSE(jwt_expiry("a.!!!.c"));
}

TEST_CASE("exit codes follow the documented table") {
    using dbserve::errc;
    CHECK(exit_code_for({errc::configuration, ""}) == 2);
    CHECK(exit_code_for({errc::invalid_argument, ""}) == 2);
    CHECK(exit_code_for({errc::authentication, ""}) == 3);
    CHECK(exit_code_for({errc::permission, ""}) == 3);
    CHECK(exit_code_for({errc::bad_request, ""}) == 4);
    CHECK(exit_code_for({errc::throttled, ""}) == 4);
    CHECK(exit_code_for({errc::service, ""}) == 4);
    CHECK(exit_code_for({errc::connection, ""}) == 5);
    CHECK(exit_code_for({errc::timeout, ""}) == 5);
    CHECK(exit_code_for({errc::name_resolution, ""}) == 5);
    CHECK(exit_code_for({errc::tls, ""}) == 6);
}
