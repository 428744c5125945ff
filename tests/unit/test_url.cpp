#include <dbserve/protocol/url.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace dbserve;

namespace {
bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}
std::string message_of(const result<parsed_url>& r) { return r ? std::string() : r.error().message; }
}  // namespace

// ---------------------------------------------------------------- parse_url

TEST_CASE("parse_url splits an https URL into scheme, host, default port and path") {
    auto r = parse_url("https://adb-123.4.azuredatabricks.net/api/2.0/serving-endpoints/x");
    REQUIRE(r);
    CHECK(r->scheme == "https");
    CHECK(r->host == "adb-123.4.azuredatabricks.net");
    CHECK(r->port == 443);
    CHECK(r->path == "/api/2.0/serving-endpoints/x");
    CHECK(r->origin() == "https://adb-123.4.azuredatabricks.net");
    CHECK(r->authority() == "adb-123.4.azuredatabricks.net");
}

TEST_CASE("parse_url keeps the query in the path and gives '/' to an empty path") {
    auto r = parse_url("https://h.example.com?a=1&b=%20");
    REQUIRE(r);
    CHECK(r->path == "/?a=1&b=%20");
    auto bare = parse_url("https://h.example.com");
    REQUIRE(bare);
    CHECK(bare->path == "/");
    auto q = parse_url("https://h.example.com/p?x=y");
    REQUIRE(q);
    CHECK(q->path == "/p?x=y");
}

TEST_CASE("parse_url lower-cases scheme and host but not the path") {
    auto r = parse_url("HTTPS://ADB-1.Azuredatabricks.NET/Serving-Endpoints/MyModel");
    REQUIRE(r);
    CHECK(r->scheme == "https");
    CHECK(r->host == "adb-1.azuredatabricks.net");
    CHECK(r->path == "/Serving-Endpoints/MyModel");
}

TEST_CASE("parse_url reads explicit ports and leaves the default out of origin") {
    auto r = parse_url("https://h.example.com:8443/x");
    REQUIRE(r);
    CHECK(r->port == 8443);
    CHECK(r->origin() == "https://h.example.com:8443");
    CHECK(r->authority() == "h.example.com:8443");
    auto d = parse_url("https://h.example.com:443/x");
    REQUIRE(d);
    CHECK(d->port == 443);
    CHECK(d->origin() == "https://h.example.com");
    auto max = parse_url("https://h.example.com:65535");
    REQUIRE(max);
    CHECK(max->port == 65535);
}

TEST_CASE("plain http is parsed with port 80 as its default (the client decides whether to allow it)") {
    auto r = parse_url("http://localhost/x");
    REQUIRE(r);
    CHECK(r->scheme == "http");
    CHECK(r->port == 80);
    CHECK(r->origin() == "http://localhost");
    auto p = parse_url("http://127.0.0.1:8080/x");
    REQUIRE(p);
    CHECK(p->port == 8080);
    CHECK(p->origin() == "http://127.0.0.1:8080");
    auto https_on_80 = parse_url("https://h.example.com:80/");
    REQUIRE(https_on_80);
    CHECK(https_on_80->origin() == "https://h.example.com:80");
}

TEST_CASE("IPv6 literals in brackets parse; the host is kept without brackets, origin puts them back") {
    auto r = parse_url("https://[::1]:8443/invocations");
    REQUIRE(r);
    CHECK(r->host == "::1");
    CHECK(r->port == 8443);
    CHECK(r->origin() == "https://[::1]:8443");
    CHECK(r->authority() == "[::1]:8443");
    auto full = parse_url("https://[2001:DB8:0:0:8:800:200C:417A]/");
    REQUIRE(full);
    CHECK(full->host == "2001:db8:0:0:8:800:200c:417a");
    CHECK(full->origin() == "https://[2001:db8:0:0:8:800:200c:417a]");
    CHECK(parse_url("https://[::ffff:192.0.2.1]/"));
    CHECK(parse_url("https://[fe80::]/"));
    CHECK(parse_url("https://[::]/"));
}

TEST_CASE("malformed IPv6 literals are refused") {
    CHECK_FALSE(parse_url("https://[::1/"));
    CHECK_FALSE(parse_url("https://[1:2:3:4:5:6:7:8:9]/"));
    CHECK_FALSE(parse_url("https://[1::2::3]/"));
    CHECK_FALSE(parse_url("https://[12345::]/"));
    CHECK_FALSE(parse_url("https://[:1]/"));
    CHECK_FALSE(parse_url("https://[1:]/"));
    CHECK_FALSE(parse_url("https://[g::1]/"));
    CHECK_FALSE(parse_url("https://[]/"));
    CHECK_FALSE(parse_url("https://[1:2:3:4:5:6:7]/"));
    // "::" stands for at least one zero group, so eight groups leave no room for it.
    CHECK_FALSE(parse_url("https://[1:2:3:4::5:6:7:8]/"));
    CHECK_FALSE(parse_url("https://[1:2:3:4:5:6:7:8::]/"));
    CHECK(parse_url("https://[1:2:3:4::5:6:7]/"));
    CHECK_FALSE(parse_url("https://[::1]x/"));
    CHECK_FALSE(parse_url("https://[::1.2.3.256]/"));
    auto zone = parse_url("https://[fe80::1%25eth0]/");
    REQUIRE_FALSE(zone);
    CHECK(contains(zone.error().message, "zone"));
}

TEST_CASE("parse_url refuses other schemes and relative URLs with a message saying what to use") {
    auto ftp = parse_url("ftp://h.example.com/");
    REQUIRE_FALSE(ftp);
    CHECK(ftp.error().code == errc::invalid_argument);
    CHECK(contains(ftp.error().message, "'ftp'"));
    CHECK(contains(ftp.error().message, "https://"));
    auto relative = parse_url("h.example.com/path");
    REQUIRE_FALSE(relative);
    CHECK(contains(relative.error().message, "https://"));
    CHECK_FALSE(parse_url("https:/h.example.com"));
    CHECK_FALSE(parse_url("//h.example.com/"));
    auto empty = parse_url("");
    REQUIRE_FALSE(empty);
    CHECK(contains(empty.error().message, "empty"));
}

TEST_CASE("parse_url refuses user-info without repeating it (it may be a password)") {
    auto r = parse_url("https://user:hunter2@h.example.com/");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "user-info"));
    CHECK_FALSE(contains(r.error().message, "hunter2"));
    CHECK_FALSE(parse_url("https://@h.example.com/"));
}

TEST_CASE("parse_url refuses fragments") {
    auto r = parse_url("https://h.example.com/x#frag");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "fragment"));
    CHECK_FALSE(parse_url("https://h.example.com#"));
}

TEST_CASE("parse_url refuses whitespace and control characters and says where they are") {
    auto space = parse_url("https://h.example.com/a b");
    REQUIRE_FALSE(space);
    CHECK(contains(space.error().message, "a space"));
    CHECK(contains(space.error().message, "position 24"));
    auto newline = parse_url("https://h.example.com/x\r\nHost: evil");
    REQUIRE_FALSE(newline);
    CHECK(contains(newline.error().message, "line break"));
    CHECK_FALSE(parse_url("https://h.example.com/x\t"));
    CHECK_FALSE(parse_url(std::string_view("https://h.example.com/\0", 23)));
    auto del = parse_url("https://h.example.com/\x7f");
    REQUIRE_FALSE(del);
    CHECK(contains(del.error().message, "0x7F"));
    CHECK_FALSE(parse_url(" https://h.example.com/"));
}

TEST_CASE("a backslash is refused so no parser can read a different host out of the URL") {
    CHECK_FALSE(parse_url("https://evil.example\\@good.example/"));
    CHECK_FALSE(parse_url("https://good.example/\\evil"));
}

TEST_CASE("host names: letters, digits, '-', '_' and non-empty labels only") {
    CHECK(parse_url("https://under_score.example.com/"));
    CHECK(parse_url("https://localhost/"));
    auto percent = parse_url("https://h%41.example.com/");
    REQUIRE_FALSE(percent);
    CHECK(contains(percent.error().message, "'%'"));
    auto idn = parse_url("https://b\xC3\xBC" "cher.example/");
    REQUIRE_FALSE(idn);
    CHECK(contains(idn.error().message, "punycode"));
    auto empty_label = parse_url("https://a..example.com/");
    REQUIRE_FALSE(empty_label);
    CHECK(contains(empty_label.error().message, "empty label"));
    CHECK_FALSE(parse_url("https://.example.com/"));
    CHECK_FALSE(parse_url("https://example.com./"));
    CHECK_FALSE(parse_url("https:///path"));
    CHECK_FALSE(parse_url("https://:443/"));
    CHECK_FALSE(parse_url("https://" + std::string(64, 'a') + ".example.com/"));
    CHECK(parse_url("https://" + std::string(63, 'a') + ".example.com/"));
    std::string long_host;
    for (int i = 0; i < 26; ++i) long_host += "abcdefghi.";
    long_host += "com";
    CHECK_FALSE(parse_url("https://" + long_host + "/"));
}

TEST_CASE("ports must be decimal numbers from 1 to 65535") {
    CHECK_FALSE(parse_url("https://h.example.com:/"));
    CHECK_FALSE(parse_url("https://h.example.com:0/"));
    CHECK_FALSE(parse_url("https://h.example.com:65536/"));
    CHECK_FALSE(parse_url("https://h.example.com:99999999999999999999/"));
    CHECK_FALSE(parse_url("https://h.example.com:12a/"));
    CHECK_FALSE(parse_url("https://h.example.com:-1/"));
    CHECK_FALSE(parse_url("https://h.example.com:443:443/"));
    auto r = parse_url("https://h.example.com:x/");
    REQUIRE_FALSE(r);
    CHECK(contains(message_of(r), "port"));
}

TEST_CASE("paths accept RFC 3986 characters and valid percent escapes only") {
    CHECK(parse_url("https://h.example.com/a-b._~!$&'()*+,;=:@/%2F%e2%82%AC?x=/y"));
    CHECK_FALSE(parse_url("https://h.example.com/%"));
    CHECK_FALSE(parse_url("https://h.example.com/%2"));
    CHECK_FALSE(parse_url("https://h.example.com/%zz"));
    for (char c : std::string_view("\"<>^`{|}")) {
        auto r = parse_url(std::string("https://h.example.com/a") + c);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "percent-encode"));
    }
    auto utf8 = parse_url("https://h.example.com/caf\xC3\xA9");
    REQUIRE_FALSE(utf8);
    CHECK(contains(utf8.error().message, "non-ASCII"));
}

// ---------------------------------------------------------------- is_loopback_host

TEST_CASE("loopback hosts: localhost, 127.0.0.0/8 and ::1 in its spellings") {
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("LocalHost"));
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("127.255.3.4"));
    CHECK(is_loopback_host("::1"));
    CHECK(is_loopback_host("[::1]"));
    CHECK(is_loopback_host("0:0:0:0:0:0:0:1"));
    CHECK(is_loopback_host("::ffff:127.0.0.1"));
    CHECK(is_loopback_host("[::ffff:127.0.0.1]"));
    CHECK(is_loopback_host("[0::1]"));
    CHECK(is_loopback_host("127.0.0.2"));
    CHECK(is_loopback_host("localhost."));  // the absolute form of the name (RFC 6761)
}

TEST_CASE("the loopback rule applied to parsed URLs: what parse_url reads is what is checked") {
    for (const char* url : {"http://localhost/", "http://127.0.0.2:8080/", "http://[::1]/", "http://[0::1]:1/",
                            "http://[::ffff:127.0.0.1]/", "http://[0:0:0:0:0:0:0:1]/", "https://example.com/"}) {
        CAPTURE(url);
        auto parsed = parse_url(url);
        REQUIRE(parsed);
        CHECK(may_carry_credentials(*parsed));
    }
    for (const char* url : {"http://localhost.example.com/", "http://127.0.0.1.example.com/", "http://example.com/",
                            "http://[::2]/", "http://[::ffff:10.0.0.1]/", "http://127.0.0.1.nip.io/"}) {
        CAPTURE(url);
        auto parsed = parse_url(url);
        REQUIRE(parsed);
        CHECK_FALSE(may_carry_credentials(*parsed));
    }
    // A trailing dot is refused by the parser in every host name, "localhost." included.
    CHECK_FALSE(parse_url("http://localhost./"));
}

TEST_CASE("names and addresses that only look local are not loopback") {
    CHECK_FALSE(is_loopback_host(""));
    CHECK_FALSE(is_loopback_host("localhost.evil.com"));
    CHECK_FALSE(is_loopback_host("127.0.0.1.nip.io"));
    CHECK_FALSE(is_loopback_host("evil-localhost"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
    CHECK_FALSE(is_loopback_host("10.0.0.1"));
    CHECK_FALSE(is_loopback_host("127.0.0.256"));
    CHECK_FALSE(is_loopback_host("127.1"));
    CHECK_FALSE(is_loopback_host("0127.0.0.1"));
    // Leading zeros read as octal in some resolvers: such a dotted quad is not ours to trust.
    CHECK_FALSE(is_loopback_host("127.0.0.01"));
    CHECK_FALSE(is_loopback_host("127.00.0.1"));
    CHECK_FALSE(is_loopback_host("::2"));
    CHECK_FALSE(is_loopback_host("::"));
    CHECK_FALSE(is_loopback_host("1::1"));
    CHECK_FALSE(is_loopback_host("::ffff:10.0.0.1"));
    CHECK_FALSE(is_loopback_host("[::1"));
    CHECK_FALSE(is_loopback_host("localhost.example.com"));
    CHECK_FALSE(is_loopback_host("localhost.."));
    CHECK_FALSE(is_loopback_host(".localhost"));
    CHECK_FALSE(is_loopback_host("127.0.0.1."));
}

// ---------------------------------------------------------------- normalize_workspace_host

TEST_CASE("a workspace host without a scheme gets https:// and loses a trailing slash") {
    auto r = normalize_workspace_host("adb-1.2.azuredatabricks.net/");
    REQUIRE(r);
    CHECK(*r == "https://adb-1.2.azuredatabricks.net");
    CHECK(normalize_workspace_host("dbc-ab12.cloud.databricks.com").value() == "https://dbc-ab12.cloud.databricks.com");
    CHECK(normalize_workspace_host("https://x.gcp.databricks.com/").value() == "https://x.gcp.databricks.com");
}

TEST_CASE("normalising drops :443, keeps other ports and lower-cases the host") {
    CHECK(normalize_workspace_host("https://ADB-1.2.AzureDatabricks.net:443/").value() ==
          "https://adb-1.2.azuredatabricks.net");
    CHECK(normalize_workspace_host("adb-1.2.azuredatabricks.net:443").value() == "https://adb-1.2.azuredatabricks.net");
    CHECK(normalize_workspace_host("localhost:8443").value() == "https://localhost:8443");
    CHECK(normalize_workspace_host("HTTPS://h.example.com").value() == "https://h.example.com");
}

TEST_CASE("normalising keeps http:// and drops its default port 80") {
    CHECK(normalize_workspace_host("http://localhost:80/").value() == "http://localhost");
    CHECK(normalize_workspace_host("http://127.0.0.1:8080").value() == "http://127.0.0.1:8080");
    CHECK(normalize_workspace_host("[::1]:8443").value() == "https://[::1]:8443");
}

TEST_CASE("normalising is idempotent") {
    for (const char* host : {"adb-1.2.azuredatabricks.net/", "HTTPS://X.example.com:443", "localhost:9000",
                             "http://[::1]:80/"}) {
        auto once = normalize_workspace_host(host);
        REQUIRE(once);
        auto twice = normalize_workspace_host(*once);
        REQUIRE(twice);
        CHECK(*once == *twice);
    }
}

TEST_CASE("an empty workspace host is a configuration error naming DATABRICKS_HOST") {
    auto r = normalize_workspace_host("");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(contains(r.error().message, "DATABRICKS_HOST"));
}

TEST_CASE("a workspace host with user-info is refused and the value is not echoed") {
    auto r = normalize_workspace_host("https://token:dapi123secret@adb-1.2.azuredatabricks.net");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(contains(r.error().message, "user-info"));
    CHECK_FALSE(contains(r.error().message, "dapi123secret"));
    CHECK_FALSE(normalize_workspace_host("me@adb-1.2.azuredatabricks.net"));
}

TEST_CASE("a workspace host with a fragment, a query or a path is refused with the fix in the message") {
    auto fragment = normalize_workspace_host("https://adb-1.2.azuredatabricks.net/#workspace");
    REQUIRE_FALSE(fragment);
    CHECK(contains(fragment.error().message, "fragment"));
    auto query = normalize_workspace_host("https://adb-1.2.azuredatabricks.net/?o=1234");
    REQUIRE_FALSE(query);
    CHECK(contains(query.error().message, "query"));
    CHECK(contains(query.error().message, "DATABRICKS_WORKSPACE_ID"));
    auto path = normalize_workspace_host("https://adb-1.2.azuredatabricks.net/api/2.0");
    REQUIRE_FALSE(path);
    CHECK(contains(path.error().message, "'/api/2.0'"));
    CHECK(contains(path.error().message, "https://adb-1.2.azuredatabricks.net"));
    CHECK_FALSE(normalize_workspace_host("https://adb-1.2.azuredatabricks.net//"));
}

TEST_CASE("a workspace host with whitespace or control characters is refused, naming the position") {
    auto trailing_newline = normalize_workspace_host("adb-1.2.azuredatabricks.net\n");
    REQUIRE_FALSE(trailing_newline);
    CHECK(contains(trailing_newline.error().message, "line break"));
    CHECK(contains(trailing_newline.error().message, "position 28"));
    // The echoed value escapes the control character instead of printing it.
    CHECK(contains(trailing_newline.error().message, "\\x0A"));
    CHECK_FALSE(contains(trailing_newline.error().message, "\n"));
    auto leading_space = normalize_workspace_host(" adb-1.2.azuredatabricks.net");
    REQUIRE_FALSE(leading_space);
    CHECK(contains(leading_space.error().message, "position 1"));
    CHECK_FALSE(normalize_workspace_host("adb-1.2.azure databricks.net"));
    CHECK_FALSE(normalize_workspace_host("adb\t.net"));
    CHECK_FALSE(normalize_workspace_host(std::string_view("adb\0.net", 8)));
}

TEST_CASE("a workspace host with a mangled or foreign scheme is refused") {
    auto mangled = normalize_workspace_host("https:/adb-1.2.azuredatabricks.net");
    REQUIRE_FALSE(mangled);
    CHECK(contains(mangled.error().message, "://"));
    CHECK_FALSE(normalize_workspace_host("http:adb"));
    CHECK_FALSE(normalize_workspace_host("ftp://adb-1.2.azuredatabricks.net"));
    auto bad_port = normalize_workspace_host("adb-1.2.azuredatabricks.net:44x3");
    REQUIRE_FALSE(bad_port);
    CHECK(contains(bad_port.error().message, "invalid workspace host"));
    CHECK(contains(bad_port.error().message, "port"));
}

// ---------------------------------------------------------------- endpoint names

TEST_CASE("endpoint names of letters, digits, '-' and '_' up to 63 characters are valid") {
    CHECK(validate_endpoint_name("my-endpoint_2"));
    CHECK(validate_endpoint_name("A"));
    CHECK(validate_endpoint_name(std::string(63, 'x')));
    CHECK(validate_endpoint_name("-_-"));
}

TEST_CASE("an invalid endpoint name is refused, naming the bad character and where it is") {
    auto dot = validate_endpoint_name("my.endpoint");
    REQUIRE_FALSE(dot);
    CHECK(dot.error().code == errc::invalid_argument);
    CHECK(contains(dot.error().message, "'.'"));
    CHECK(contains(dot.error().message, "position 3"));
    CHECK(contains(dot.error().message, "'my.endpoint'"));
    auto slash = validate_endpoint_name("a/../b");
    REQUIRE_FALSE(slash);
    CHECK(contains(slash.error().message, "'/'"));
    CHECK(contains(slash.error().message, "position 2"));
    auto space = validate_endpoint_name("my endpoint");
    REQUIRE_FALSE(space);
    CHECK(contains(space.error().message, "a space"));
    auto utf8 = validate_endpoint_name("caf\xC3\xA9");
    REQUIRE_FALSE(utf8);
    CHECK(contains(utf8.error().message, "non-ASCII byte 0xC3"));
    CHECK(contains(utf8.error().message, "position 4"));
    auto control = validate_endpoint_name("a\nb");
    REQUIRE_FALSE(control);
    CHECK_FALSE(contains(control.error().message, "\n"));
    CHECK_FALSE(validate_endpoint_name("a%20b"));
    CHECK_FALSE(validate_endpoint_name("a?b"));
}

TEST_CASE("an empty or over-long endpoint name is refused with the limit in the message") {
    auto empty = validate_endpoint_name("");
    REQUIRE_FALSE(empty);
    CHECK(contains(empty.error().message, "empty"));
    auto too_long = validate_endpoint_name(std::string(64, 'a'));
    REQUIRE_FALSE(too_long);
    CHECK(contains(too_long.error().message, "64"));
    CHECK(contains(too_long.error().message, "63"));
}

// ---------------------------------------------------------------- percent encoding

TEST_CASE("path segments keep unreserved characters and percent-encode everything else") {
    CHECK(percent_encode_path_segment("abcXYZ019-._~") == "abcXYZ019-._~");
    CHECK(percent_encode_path_segment("a b") == "a%20b");
    CHECK(percent_encode_path_segment("a/b") == "a%2Fb");
    CHECK(percent_encode_path_segment("?#%+&=:@") == "%3F%23%25%2B%26%3D%3A%40");
    CHECK(percent_encode_path_segment("\xC3\xA9") == "%C3%A9");
    CHECK(percent_encode_path_segment(std::string_view("\0\x7f", 2)) == "%00%7F");
    CHECK(percent_encode_path_segment("").empty());
}

TEST_CASE("dot segments are encoded so a segment cannot climb the path") {
    CHECK(percent_encode_path_segment(".") == "%2E");
    CHECK(percent_encode_path_segment("..") == "%2E%2E");
    CHECK(percent_encode_path_segment("...") == "...");
    CHECK(percent_encode_path_segment("a..") == "a..");
}

// ---------------------------------------------------------------- control plane URLs

TEST_CASE("the token URL is the workspace host plus /oidc/v1/token") {
    CHECK(token_url("https://adb-1.2.azuredatabricks.net") == "https://adb-1.2.azuredatabricks.net/oidc/v1/token");
    CHECK(token_url("https://h.example.com:8443/") == "https://h.example.com:8443/oidc/v1/token");
}

TEST_CASE("the serving-endpoints URL names the endpoint and refuses an invalid name") {
    auto r = serving_endpoint_url("https://adb-1.2.azuredatabricks.net", "my-model_1");
    REQUIRE(r);
    CHECK(*r == "https://adb-1.2.azuredatabricks.net/api/2.0/serving-endpoints/my-model_1");
    CHECK(serving_endpoint_url("https://h.example.com/", "x").value() == "https://h.example.com/api/2.0/serving-endpoints/x");
    auto bad = serving_endpoint_url("https://h.example.com", "../../api/2.0/secrets");
    REQUIRE_FALSE(bad);
    CHECK(contains(bad.error().message, "'.'"));
}

// ---------------------------------------------------------------- route optimized URLs

TEST_CASE("an Azure route optimized URL is taken apart: endpoint id, workspace id, endpoint name") {
    auto r = parse_route_optimized_url(
        "https://a1b2c3d4e5f6.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-endpoint/invocations");
    REQUIRE(r);
    CHECK(r->provider == cloud::azure);
    CHECK(r->endpoint_id == "a1b2c3d4e5f6");
    CHECK(r->workspace_id == "1234567890123456");
    CHECK(r->endpoint_name == "my-endpoint");
    CHECK(r->served_model.empty());
    CHECK(r->host == "a1b2c3d4e5f6.7.serving.azuredatabricks.net");
    CHECK(r->port == 443);
    CHECK(r->url ==
          "https://a1b2c3d4e5f6.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-endpoint/invocations");
}

TEST_CASE("AWS and GCP route optimized URLs are recognised") {
    auto aws = parse_route_optimized_url("https://abc123.serving.cloud.databricks.com/42/serving-endpoints/e/invocations");
    REQUIRE(aws);
    CHECK(aws->provider == cloud::aws);
    CHECK(aws->endpoint_id == "abc123");
    CHECK(aws->workspace_id == "42");
    auto gcp = parse_route_optimized_url("https://def456.serving.gcp.databricks.com/7/serving-endpoints/e_2/invocations");
    REQUIRE(gcp);
    CHECK(gcp->provider == cloud::gcp);
    CHECK(gcp->endpoint_id == "def456");
    CHECK(gcp->endpoint_name == "e_2");
    CHECK(to_string(cloud::azure) == "azure");
    CHECK(to_string(cloud::aws) == "aws");
    CHECK(to_string(cloud::gcp) == "gcp");
    CHECK(to_string(cloud::unknown) == "unknown");
}

TEST_CASE("a served model in the route optimized URL is read") {
    auto r = parse_route_optimized_url(
        "https://abc.1.serving.azuredatabricks.net/99/serving-endpoints/ep/served-models/model-3/invocations");
    REQUIRE(r);
    CHECK(r->endpoint_name == "ep");
    CHECK(r->served_model == "model-3");
    auto bad = parse_route_optimized_url(
        "https://abc.1.serving.azuredatabricks.net/99/serving-endpoints/ep/served-models/m.x/invocations");
    REQUIRE_FALSE(bad);
    CHECK(contains(bad.error().message, "served model name"));
}

TEST_CASE("any https host with the route optimized path shape is accepted with provider unknown") {
    auto r = parse_route_optimized_url("https://ep-1.privatelink.example.com:8443/5/serving-endpoints/x/invocations");
    REQUIRE(r);
    CHECK(r->provider == cloud::unknown);
    CHECK(r->endpoint_id == "ep-1");
    CHECK(r->port == 8443);
    CHECK(r->url == "https://ep-1.privatelink.example.com:8443/5/serving-endpoints/x/invocations");
    // A look-alike suffix is not Azure.
    auto lookalike = parse_route_optimized_url("https://x.evilserving.azuredatabricks.net/5/serving-endpoints/x/invocations");
    REQUIRE(lookalike);
    CHECK(lookalike->provider == cloud::unknown);
}

TEST_CASE("the parsed route optimized URL is normalised") {
    auto r = parse_route_optimized_url("HTTPS://ABC.1.Serving.AzureDatabricks.net:443/5/serving-endpoints/Ep/invocations");
    REQUIRE(r);
    CHECK(r->url == "https://abc.1.serving.azuredatabricks.net/5/serving-endpoints/Ep/invocations");
    CHECK(r->endpoint_id == "abc");
    CHECK(r->provider == cloud::azure);
    CHECK(r->endpoint_name == "Ep");
}

TEST_CASE("plain http route optimized URLs are accepted only for loopback hosts") {
    auto local = parse_route_optimized_url("http://localhost:8080/5/serving-endpoints/x/invocations");
    REQUIRE(local);
    CHECK(local->endpoint_id == "localhost");
    CHECK(local->port == 8080);
    auto remote = parse_route_optimized_url("http://abc.serving.cloud.databricks.com/5/serving-endpoints/x/invocations");
    REQUIRE_FALSE(remote);
    CHECK(contains(remote.error().message, "https://"));
}

TEST_CASE("an IP address cannot be a route optimized host: the endpoint id is a host name label") {
    auto v4 = parse_route_optimized_url("https://10.0.0.1/5/serving-endpoints/x/invocations");
    REQUIRE_FALSE(v4);
    CHECK(contains(v4.error().message, "endpoint id"));
    CHECK_FALSE(parse_route_optimized_url("https://[::1]/5/serving-endpoints/x/invocations"));
}

TEST_CASE("the workspace-host form of an invocations URL is refused with the way to the right URL") {
    auto r = parse_route_optimized_url("https://adb-1.2.azuredatabricks.net/serving-endpoints/my-ep/invocations");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "dedicated host"));
    CHECK(contains(r.error().message, "/api/2.0/serving-endpoints/my-ep"));
}

TEST_CASE("route optimized URLs of the wrong shape are refused with the expected shape") {
    const char* bad[] = {
        "https://a.serving.cloud.databricks.com/",
        "https://a.serving.cloud.databricks.com/5/serving-endpoints/x",
        "https://a.serving.cloud.databricks.com/5/serving-endpoints/x/invocations/",
        "https://a.serving.cloud.databricks.com/5/serving-endpoint/x/invocations",
        "https://a.serving.cloud.databricks.com/5/serving-endpoints/x/predict",
        "https://a.serving.cloud.databricks.com/5/serving-endpoints/x/served-models/invocations",
        "https://a.serving.cloud.databricks.com/5/serving-endpoints/x/served-model/m/invocations",
        "https://a.serving.cloud.databricks.com/5/serving-endpoints//invocations",
        "https://a.serving.cloud.databricks.com//serving-endpoints/x/invocations",
        "https://a.serving.cloud.databricks.com/5/6/serving-endpoints/x/invocations",
    };
    for (const char* url : bad) {
        CAPTURE(url);
        auto r = parse_route_optimized_url(url);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == errc::invalid_argument);
    }
    auto shape = parse_route_optimized_url("https://a.serving.cloud.databricks.com/x/y");
    REQUIRE_FALSE(shape);
    CHECK(contains(shape.error().message, "/<workspace-id>/serving-endpoints/<endpoint-name>"));
}

TEST_CASE("a route optimized URL with a non-numeric workspace id, a bad name or a query is refused") {
    auto ws = parse_route_optimized_url("https://a.serving.cloud.databricks.com/12a/serving-endpoints/x/invocations");
    REQUIRE_FALSE(ws);
    CHECK(contains(ws.error().message, "workspace id"));
    CHECK(contains(ws.error().message, "'a'"));
    auto name = parse_route_optimized_url("https://a.serving.cloud.databricks.com/1/serving-endpoints/x%20y/invocations");
    REQUIRE_FALSE(name);
    CHECK(contains(name.error().message, "endpoint name"));
    auto query = parse_route_optimized_url("https://a.serving.cloud.databricks.com/1/serving-endpoints/x/invocations?a=b");
    REQUIRE_FALSE(query);
    CHECK(contains(query.error().message, "query"));
    auto not_url = parse_route_optimized_url("a.serving.cloud.databricks.com/1/serving-endpoints/x/invocations");
    REQUIRE_FALSE(not_url);
    CHECK(contains(not_url.error().message, "route optimized endpoint URL"));
}

TEST_CASE("building a route optimized URL joins host, workspace id, name and served model") {
    auto r = build_route_optimized_url("https://abc.1.serving.azuredatabricks.net", "1234", "my-ep");
    REQUIRE(r);
    CHECK(*r == "https://abc.1.serving.azuredatabricks.net/1234/serving-endpoints/my-ep/invocations");
    auto served = build_route_optimized_url("abc.serving.cloud.databricks.com/", "1", "ep", "m-1");
    REQUIRE(served);
    CHECK(*served == "https://abc.serving.cloud.databricks.com/1/serving-endpoints/ep/served-models/m-1/invocations");
}

TEST_CASE("a built route optimized URL parses back into the same parts") {
    auto built = build_route_optimized_url("https://xyz.serving.gcp.databricks.com:8443", "77", "e_1", "s");
    REQUIRE(built);
    auto parsed = parse_route_optimized_url(*built);
    REQUIRE(parsed);
    CHECK(parsed->url == *built);
    CHECK(parsed->endpoint_id == "xyz");
    CHECK(parsed->workspace_id == "77");
    CHECK(parsed->endpoint_name == "e_1");
    CHECK(parsed->served_model == "s");
    CHECK(parsed->port == 8443);
    CHECK(parsed->provider == cloud::gcp);
}

TEST_CASE("building a route optimized URL refuses bad parts, saying which") {
    auto ws = build_route_optimized_url("https://abc.serving.cloud.databricks.com", "", "ep");
    REQUIRE_FALSE(ws);
    CHECK(contains(ws.error().message, "workspace id"));
    CHECK_FALSE(build_route_optimized_url("https://abc.serving.cloud.databricks.com", "12 3", "ep"));
    CHECK_FALSE(build_route_optimized_url("https://abc.serving.cloud.databricks.com", std::string(20, '1'), "ep"));
    auto name = build_route_optimized_url("https://abc.serving.cloud.databricks.com", "1", "e/p");
    REQUIRE_FALSE(name);
    CHECK(contains(name.error().message, "endpoint name"));
    auto served = build_route_optimized_url("https://abc.serving.cloud.databricks.com", "1", "ep", "a b");
    REQUIRE_FALSE(served);
    CHECK(contains(served.error().message, "served model name"));
    auto host_path = build_route_optimized_url("https://abc.serving.cloud.databricks.com/x", "1", "ep");
    REQUIRE_FALSE(host_path);
    CHECK(contains(host_path.error().message, "data plane host"));
    auto empty_host = build_route_optimized_url("", "1", "ep");
    REQUIRE_FALSE(empty_host);
    CHECK(contains(empty_host.error().message, "data plane host is empty"));
    auto ip = build_route_optimized_url("https://10.1.2.3", "1", "ep");
    REQUIRE_FALSE(ip);
    CHECK(contains(ip.error().message, "IP address"));
    auto http = build_route_optimized_url("http://abc.example.com", "1", "ep");
    REQUIRE_FALSE(http);
    CHECK(contains(http.error().message, "https://"));
}

TEST_CASE("positions in a workspace host error count from the value as configured, not with https:// added") {
    auto r = normalize_workspace_host("adb.example.com/a^b");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "'^' at position 18"));
    auto with_scheme = normalize_workspace_host("https://adb.example.com/a^b");
    REQUIRE_FALSE(with_scheme);
    CHECK(contains(with_scheme.error().message, "'^' at position 26"));
    auto fragment = normalize_workspace_host("adb.example.com#x");
    REQUIRE_FALSE(fragment);
    CHECK(contains(fragment.error().message, "position 16"));
}

TEST_CASE("'://' later in the value is not mistaken for a scheme") {
    auto r = normalize_workspace_host("adb.example.com/login?next=https://evil.example");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "query"));
    auto url = parse_url("adb.example.com/x?u=https://y");
    REQUIRE_FALSE(url);
    CHECK(contains(url.error().message, "not absolute"));
    CHECK_FALSE(parse_url("1http://x.example.com/"));
    CHECK_FALSE(parse_url("://x.example.com/"));
    auto foreign = parse_url("git+ssh://x.example.com/");
    REQUIRE_FALSE(foreign);
    CHECK(contains(foreign.error().message, "'git+ssh'"));
}

TEST_CASE("a malformed IPv6 literal is named in the message with odd bytes escaped") {
    auto r = parse_url("https://[::1\xC3\xA9]/");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "'[::1\\xC3\\xA9]'"));
}
