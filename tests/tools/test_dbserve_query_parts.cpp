// The pieces of dbserve-query that need no network: command line, CSV, request bodies,
// redaction and credential scrubbing, terminal escaping, the -v log, the load report and
// runner, token file expiry and exit codes.
#include "cli_options.hpp"
#include "cli_transport.hpp"
#include "credential_scrubber.hpp"
#include "csv.hpp"
#include "exit_codes.hpp"
#include "load_report.hpp"
#include "load_runner.hpp"
#include "redaction.hpp"
#include "request_body.hpp"
#include "terminal_text.hpp"
#include "token_file.hpp"
#include "verbose_log.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
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
    CHECK(parse({"--url", "u", "--chat", "hi", "--stream", "--repeat", "2"}));  // streamed load mode: LLM figures
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
    CHECK(j["latency_ms"]["p50"].get<double>() == doctest::Approx(51.0).epsilon(latency_histogram::relative_precision));
    CHECK(j["latency_ms"]["max"] == 500.0);
    CHECK(j["latency_ms"]["buckets"].size() == 101);
    CHECK(j["queries_per_second"] == 50.5);
    CHECK(j["token_requests"] == 3);
    CHECK(load_report{}.to_json()["latency_ms"]["p99"] == 0);
}

TEST_CASE("latency histogram: percentiles match a sorted list within the stated precision, memory is fixed") {
    latency_histogram h;
    const std::size_t memory = h.memory_bytes();
    std::vector<std::uint64_t> values;
    std::uint64_t x = 88172645463325252ull;  // xorshift: a spread from microseconds to minutes
    for (int i = 0; i < 200000; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const int magnitude = static_cast<int>(x % 27);  // 1 us .. ~134 s
        const std::uint64_t v = (x >> 8) % (std::uint64_t(1) << magnitude) + 1;
        values.push_back(v);
        h.record_us(v);
    }
    CHECK(h.memory_bytes() == memory);
    CHECK(h.count() == values.size());
    std::sort(values.begin(), values.end());
    for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
        const double exact_ms = static_cast<double>(values[std::max<std::size_t>(rank, 1) - 1]) / 1000.0;
        const double got = h.percentile_ms(p);
        INFO("p", p, " exact ", exact_ms, " got ", got);
        CHECK(got >= exact_ms);
        CHECK(got <= exact_ms * (1 + latency_histogram::relative_precision) + 0.001);
    }
    CHECK(h.max_ms() == static_cast<double>(values.back()) / 1000.0);
    // Recording a million more changes nothing in its size, and the extremes are clamped.
    for (int i = 0; i < 1000000; ++i) h.record_ms(3.5);
    h.record_us(~std::uint64_t(0));
    CHECK(h.memory_bytes() == memory);
    CHECK(h.count() == values.size() + 1000001);
    latency_histogram merged;
    merged.merge(h);
    CHECK(merged.count() == h.count());
    CHECK(merged.percentile_ms(50) == h.percentile_ms(50));
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

TEST_CASE("exit code 2 only when nothing was sent") {
    using dbserve::errc;
    CHECK(exit_code_for({errc::configuration, ""}, false) == 2);
    CHECK(exit_code_for({errc::invalid_argument, ""}, false) == 2);
    // Found in an answer: a discovered endpoint that is not route optimized, a discovered
    // URL that is plain http or carries user-info.
    CHECK(exit_code_for({errc::configuration, ""}, true) == 4);
    CHECK(exit_code_for({errc::invalid_argument, ""}, true) == 4);
    CHECK(exit_code_for({errc::timeout, ""}, true) == 5);
    CHECK(exit_code_for({errc::tls, ""}, true) == 6);
    CHECK(exit_code_for({errc::authentication, ""}, true) == 3);
}

TEST_CASE("command line: --resolve takes one IP literal, an IPv6 one in brackets") {
    auto resolve = [](std::string_view value) {
        return parse_command_line({"--url", "u", "--data", "{}", "--resolve", value});
    };
    for (std::string_view good : {"h.example:443:127.0.0.1", "h.example:443:0.0.0.0", "h.example:443:255.255.255.255",
                                  "h.example:443:[::1]", "h.example:443:[2001:db8::8:800:200c:417a]",
                                  "h.example:443:[::ffff:127.0.0.1]", "h.example:443:[1:2:3:4:5:6:7:8]"}) {
        CAPTURE(good);
        CHECK(resolve(good));
    }
    for (std::string_view bad :
         {"h.example:443:localhost", "h.example:443:999.1.1.1", "h.example:443:256.0.0.1", "h.example:443:0x7f.1",
          "h.example:443:127.1", "h.example:443:127.0.0.01", "h.example:443:127.0.0.1.", "h.example:443:[::1",
          "h.example:443:::1]", "h.example:443:::1", "h.example:443:127.0.0.1,127.0.0.2", "h.example:443:127.0.0.1\r\n",
          "h.example:443:garbage", "h.example:443:[127.0.0.1]", "h.example:443:[1:2:3:4:5:6:7:8:9]",
          "h.example:443:[1::2::3]", "h.example:443:[::1%eth0]", "h.example:443: 127.0.0.1"}) {
        CAPTURE(bad);
        auto r = resolve(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == dbserve::errc::invalid_argument);
        CHECK(r.error().message.rfind("--resolve", 0) == 0);
        CHECK(r.error().message.find('\n') == std::string::npos);
    }
}

TEST_CASE("check_resolve_override: the rule every transport applies") {
    CHECK(dbserve::check_resolve_override({"h", 443, "10.1.2.3"}));
    CHECK(dbserve::check_resolve_override({"h", 443, "::1"}));  // the library takes IPv6 bare too
    CHECK(dbserve::check_resolve_override({"h", 443, "[::1]"}));
    const auto name = dbserve::check_resolve_override({"h", 443, "localhost"});
    REQUIRE_FALSE(name);
    CHECK(name.error().code == dbserve::errc::configuration);
    CHECK_FALSE(dbserve::check_resolve_override({"h", 443, "1.2.3.4\r\nX: y"}));
    CHECK_FALSE(dbserve::check_resolve_override({"", 443, "127.0.0.1"}));
    CHECK_FALSE(dbserve::check_resolve_override({"h", 0, "127.0.0.1"}));
    CHECK_FALSE(dbserve::check_resolve_overrides({{"h", 443, "127.0.0.1"}, {"g", 443, "127.0.0.1,127.0.0.2"}}));
}

namespace {
std::string deep_json(std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); }

std::string contents(std::FILE* f) {
    std::string text;
    std::rewind(f);
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
    return text;
}

cli_options body_options(std::vector<std::string_view> args) {
    args.insert(args.begin(), {"--url", "https://x.example/1/serving-endpoints/e/invocations"});
    auto o = parse_command_line(args);
    REQUIRE(o);
    return *o;
}
}  // namespace

TEST_CASE("redaction: a body nested 100,000 levels deep is described, never walked") {
    const std::string out = redact_json_body(deep_json(100000), true);
    CHECK(out.find("nested more than 512 levels deep, not shown") != std::string::npos);
    std::string nested;
    for (int i = 0; i < 100000; ++i) nested += "{\"a\":";
    nested += "1" + std::string(100000, '}');
    CHECK(redact_json_body(nested, false).find("not shown") != std::string::npos);
}

TEST_CASE("redaction: credential members are found and blanked without recursion, counts stay") {
    nlohmann::json doc = nlohmann::json::parse(R"({"usage":{"completion_tokens":5},"a":[{"client_secret":"S"}]})");
    redact_json(doc);
    CHECK(doc["usage"]["completion_tokens"] == 5);
    CHECK(doc["a"][0]["client_secret"] == "<redacted>");
}

TEST_CASE("terminal text: escape sequences, C1 controls and bytes outside UTF-8 are shown, not acted on") {
    CHECK(escape_for_terminal("\x1b]0;title\x07\x1b[2Jok") == "\\x1b]0;title\\x07\\x1b[2Jok");
    CHECK(escape_for_terminal("a\rb\bc\x7f") == "a\\x0db\\x08c\\x7f");
    CHECK(escape_for_terminal("csi \xc2\x9b" "31m") == "csi \\u009b31m");
    CHECK(escape_for_terminal("bad \xff\xfe") == "bad \\xff\\xfe");
    CHECK(escape_for_terminal("caf\xc3\xa9 \xe2\x82\xac\ttab") == "caf\xc3\xa9 \xe2\x82\xac\ttab");
    CHECK(escape_for_terminal("two\nlines") == "two\\x0alines");
    CHECK(first_invalid_utf8("ok \xff") == 3);
    CHECK(first_invalid_utf8("\xed\xa0\x80") == 0);  // a UTF-16 surrogate is not UTF-8
    CHECK(first_invalid_utf8("caf\xc3\xa9") == std::string_view::npos);
}

TEST_CASE("credential scrubber: the secret, its form-encoded and JSON forms, and cut-short runs are removed") {
    credential_scrubber s;
    s.add_client_credentials("emulator:sp+2", "dose:se+cr%t/with space");
    const std::string text =
        "raw dose:se+cr%t/with space; form dose%3Ase%2Bcr%25t%2Fwith+space; pct dose%3Ase%2Bcr%25t%2Fwith%20space; "
        "lower dose%3ase%2bcr%25t%2fwith%20space; json dose:se+cr%t\\/with space; cut dose:se+cr%t/wi; "
        "basic ZW11bGF0b3IlM0FzcCUyQjI6ZG9zZSUzQXNlJTJCY3IlMjV0JTJGd2l0aCtzcGFjZQ==; "
        "raw basic ZW11bGF0b3I6c3ArMjpkb3NlOnNlK2NyJXQvd2l0aCBzcGFjZQ==; id emulator:sp+2";
    const std::string out = s.scrub(text);
    CHECK(out.find("dose") == std::string::npos);
    CHECK(out.find("ZW11bGF0b3") == std::string::npos);
    CHECK(out.find("id emulator:sp+2") != std::string::npos);  // the client id is not a secret
    CHECK(s.scrub("short words stay") == "short words stay");
}

TEST_CASE("credential scrubber: tokens are learned from requests and token responses") {
    credential_scrubber s;
    dbserve::http_request exchange;
    exchange.url = "https://w.example/oidc/v1/token";
    exchange.body = "grant_type=x&assertion=eyJcontrol.plane.token1&authorization_details=%5B%5D";
    exchange.headers.add_unchecked("Authorization", "Basic aWQ6c2VjcmV0LXNlY3JldA==");  // id:secret-secret
    s.learn_from_request(exchange, true);
    s.learn_from_token_response(R"({"access_token":"eyJdata.plane.token2","token_type":"Bearer"})");
    dbserve::http_request invocation;
    invocation.headers.add_unchecked("Authorization", "Bearer opaque-token-3");
    s.learn_from_request(invocation, false);
    const std::string out = s.scrub(
        "a eyJcontrol.plane.token1 b eyJdata.plane.token2 c opaque-token-3 d secret-secret e aWQ6c2VjcmV0LXNlY3JldA== "
        "f authorization_details");
    CHECK(out == "a <redacted> b <redacted> c <redacted> d <redacted> e <redacted> f authorization_details");
    s.learn_from_token_response(deep_json(100000));  // nothing to learn, nothing to crash on
}

TEST_CASE("-v: what a server sends is shown with credentials scrubbed and control characters escaped") {
    auto scrubber = std::make_shared<credential_scrubber>();
    std::FILE* out = std::tmpfile();
    REQUIRE(out != nullptr);
    auto log = std::make_shared<verbose_log>(scrubber, out);
    cli_transport transport(
        [](const dbserve::http_request& r, const dbserve::send_options&) -> dbserve::result<dbserve::http_response> {
            dbserve::http_response resp;
            if (r.url.find("/oidc/v1/token") != std::string::npos) {
                resp.status = 200;
                resp.body = R"({"access_token":"eyJheld.token.value","expires_in":3600})";
                return resp;
            }
            resp.status = 401;
            resp.reason = "No\x1b[2J";
            resp.headers.add_unchecked("X-Note", "\x1b]0;pwned\x07");
            resp.body = "invalid token eyJheld.token.value for client secret-of-the-client \x1b[31m" + deep_json(3);
            return resp;
        },
        log, scrubber);
    scrubber->add_client_credentials("id", "secret-of-the-client");
    dbserve::http_request token;
    token.method = dbserve::http_method::post;
    token.url = "https://w.example/oidc/v1/token";
    token.body = "grant_type=client_credentials";
    CHECK(transport.send(token, {}));
    dbserve::http_request query;
    query.method = dbserve::http_method::post;
    query.url = "https://e.example/1/serving-endpoints/e/invocations";
    query.headers.add_unchecked("Authorization", "Bearer eyJheld.token.value");
    CHECK(transport.send(query, {}));
    const std::string text = contents(out);
    std::fclose(out);
    CHECK(text.find("eyJheld") == std::string::npos);
    CHECK(text.find("secret-of-the-client") == std::string::npos);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\x07') == std::string::npos);
    CHECK(text.find("< X-Note: \\x1b]0;pwned\\x07") != std::string::npos);
    CHECK(text.find("< HTTP 401 No\\x1b[2J") != std::string::npos);
    CHECK(text.find("invalid token <redacted> for client <redacted> \\x1b[31m") != std::string::npos);
}

TEST_CASE("request body: numbers beyond a double, deep nesting and text that is not UTF-8 are refused, not thrown") {
    auto data = build_request_body(body_options({"--data", R"({"inputs":[1e309]})"}));
    REQUIRE_FALSE(data);
    CHECK(data.error().message.find("--data holds a number too large for a double") != std::string::npos);
    auto params = build_request_body(body_options({"--data", R"({"inputs":[1]})", "--params", R"({"scale":1e309})"}));
    REQUIRE_FALSE(params);
    CHECK(params.error().message.find("--params holds a number too large") != std::string::npos);
    auto chat = build_request_body(body_options({"--chat", "\xff\xfe"}));
    REQUIRE_FALSE(chat);
    CHECK(chat.error().message.find("--chat is not valid UTF-8 (byte 0") != std::string::npos);
    const std::string deep = "{\"inputs\":" + deep_json(100000) + "}";
    auto nested = build_request_body(body_options({"--data", deep, "--params", "{}"}));
    REQUIRE_FALSE(nested);
    CHECK(nested.error().message.find("more than 512 levels deep") != std::string::npos);
    CHECK(exit_code_for(data.error()) == exit_usage);
    auto not_utf8 = build_request_body(body_options({"--data", "{\"a\":\"\xff\"}"}));
    REQUIRE_FALSE(not_utf8);
    CHECK(not_utf8.error().message.find("--data is not valid JSON: parsing stopped at byte 7 (invalid string: "
                                        "ill-formed UTF-8 byte)") != std::string::npos);
}

TEST_CASE("load mode: each query's deadline is the time left, or --max-time when shorter") {
    using namespace std::chrono;
    const auto now = steady_clock::now();
    CHECK(detail::query_deadline_at(now, std::nullopt, milliseconds(0)) == milliseconds(0));
    CHECK(detail::query_deadline_at(now, std::nullopt, milliseconds(3000)) == milliseconds(3000));
    CHECK(detail::query_deadline_at(now, now + milliseconds(1500), milliseconds(0)) == milliseconds(1500));
    CHECK(detail::query_deadline_at(now, now + milliseconds(1500), milliseconds(700)) == milliseconds(700));
    CHECK(detail::query_deadline_at(now, now - milliseconds(5), milliseconds(0)) == milliseconds(1));
}

namespace {
// Load mode starts queries asynchronously: each blocking fake runs on a thread of its own.
template <class Blocking>
auto started_on_threads(Blocking blocking) {
    return [blocking](std::chrono::milliseconds deadline, auto done) {
        std::thread([blocking, deadline, done] { done(blocking(deadline)); }).detach();
    };
}
}  // namespace

TEST_CASE("load mode: a query that ignores its deadline is left behind and counted, the run still ends") {
    struct gate {
        std::mutex mutex;
        std::condition_variable changed;
        bool open = false;
        std::chrono::milliseconds deadline{0};
    };
    auto g = std::make_shared<gate>();
    auto o = parse_command_line({"--url", "u", "--data", "{}", "--duration", "1"});
    REQUIRE(o);
    auto hung = [g](std::chrono::milliseconds deadline) -> dbserve::result<int> {
        std::unique_lock<std::mutex> lock(g->mutex);
        g->deadline = deadline;
        g->changed.wait(lock, [&] { return g->open; });
        return dbserve::unexpected(dbserve::errc::timeout, "released");
    };
    auto outcome = run_load(*o, started_on_threads(hung), false);
    CHECK(outcome.abandoned == 1);
    CHECK(outcome.report.queries == 0);
    CHECK(outcome.report.unfinished == 1);
    CHECK(outcome.exit == exit_network);
    {
        std::lock_guard<std::mutex> lock(g->mutex);
        CHECK(g->deadline.count() > 0);
        CHECK(g->deadline <= std::chrono::milliseconds(1000));
        g->open = true;
    }
    g->changed.notify_all();
}

TEST_CASE("load mode: a query cut by the end of --duration is unfinished, not failed; a run where none finishes "
          "fails") {
    auto o = parse_command_line({"--url", "u", "--data", "{}", "--duration", "1", "--concurrency", "2"});
    REQUIRE(o);
    // Honours its deadline: succeeds at once when that leaves room, else times out at it.
    auto honest = [](std::chrono::milliseconds deadline) -> dbserve::result<int> {
        if (deadline > std::chrono::milliseconds(100)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            return 1;
        }
        std::this_thread::sleep_for(deadline);
        return dbserve::unexpected(dbserve::errc::timeout, "passed its total deadline");
    };
    auto healthy = run_load(*o, started_on_threads(honest), false);
    CHECK(healthy.exit == exit_success);
    CHECK(healthy.report.successes == healthy.report.queries);
    CHECK(healthy.report.successes > 0);
    CHECK(healthy.report.unfinished == 2);
    CHECK(healthy.abandoned == 0);

    auto hung = [](std::chrono::milliseconds deadline) -> dbserve::result<int> {
        std::this_thread::sleep_for(deadline);
        return dbserve::unexpected(dbserve::errc::timeout, "passed its total deadline");
    };
    auto none = run_load(*o, started_on_threads(hung), false);
    CHECK(none.exit == exit_network);
    CHECK(none.report.queries == 0);
    CHECK(none.report.unfinished == 2);
    CHECK(none.first_failure.find("no query finished before --duration ended; the first: timeout") == 0);
}

TEST_CASE("load mode: --repeat starts exactly N with at most --concurrency in flight") {
    auto o = parse_command_line({"--url", "u", "--data", "{}", "--repeat", "50", "--concurrency", "4"});
    REQUIRE(o);
    auto in_flight = std::make_shared<std::atomic<int>>(0);
    auto most = std::make_shared<std::atomic<int>>(0);
    auto counted = [in_flight, most](std::chrono::milliseconds) -> dbserve::result<int> {
        const int now = ++*in_flight;
        int seen = most->load();
        while (now > seen && !most->compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        --*in_flight;
        return 1;
    };
    auto outcome = run_load(*o, started_on_threads(counted), false);
    CHECK(outcome.exit == exit_success);
    CHECK(outcome.report.queries == 50);
    CHECK(outcome.report.successes == 50);
    CHECK(most->load() <= 4);
}

TEST_CASE("load mode: --rate measures latency from the scheduled time, so a slow server shows as latency") {
    // 200 a second for 1 s against a server that takes 50 ms and serves one at a time:
    // it falls behind, the queries wait for the single slot, and their latency grows.
    auto o = parse_command_line(
        {"--url", "u", "--data", "{}", "--duration", "1", "--rate", "200", "--concurrency", "1"});
    REQUIRE(o);
    auto slow = [](std::chrono::milliseconds) -> dbserve::result<int> {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return 1;
    };
    auto outcome = run_load(*o, started_on_threads(slow), false);
    CHECK(outcome.report.successes >= 5);
    CHECK(outcome.report.successes <= 21);
    // Closed loop it would be 50 ms each; open loop the later ones waited hundreds of ms.
    CHECK(outcome.report.latencies.max_ms() > 300);
    CHECK(outcome.report.latencies.percentile_ms(50) > 100);
}

TEST_CASE("credential scrubber: a token response with thousands of credential strings is learned only in part") {
    // The work per string learned grows with every string held: a server must not choose it.
    auto value = [](int i) { return std::to_string(1000000 + i) + "-token-value"; };
    std::string body = "{\"access_token\":[";
    for (int i = 0; i < 5000; ++i) body += (i == 0 ? "\"" : ",\"") + value(i) + "\"";
    body += "]}";
    credential_scrubber s;
    s.learn_from_token_response(body);
    CHECK(s.size() <= 64);  // a few tokens, each in its few forms
    int learned = 0;
    for (int i = 0; i < 5000; ++i) learned += s.scrub(value(i)) == "<redacted>" ? 1 : 0;
    CHECK(learned >= 1);
    CHECK(learned <= 8);
}
