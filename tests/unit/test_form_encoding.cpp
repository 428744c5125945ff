#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/form_encoding.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace dbserve;

namespace {
// Decodes application/x-www-form-urlencoded text, the way a server reads it.
std::string form_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size()) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// What a server does with a Basic header: base64-decode, split at the first ':', decode each half.
std::pair<std::string, std::string> server_reads_basic(const std::string& header) {
    REQUIRE(header.rfind("Basic ", 0) == 0);
    auto decoded = detail::base64_decode(std::string_view(header).substr(6));
    REQUIRE(decoded);
    const auto colon = decoded->find(':');
    REQUIRE(colon != std::string::npos);
    return {form_decode(decoded->substr(0, colon)), form_decode(decoded->substr(colon + 1))};
}
}  // namespace

TEST_CASE("form encoding keeps letters, digits and *-._ and turns a space into '+'") {
    CHECK(form_urlencode("abcXYZ0189*-._") == "abcXYZ0189*-._");
    CHECK(form_urlencode("a b  c") == "a+b++c");
    CHECK(form_urlencode("").empty());
}

TEST_CASE("form encoding percent-encodes reserved characters, '~', '+' and '%' in upper-case hex") {
    CHECK(form_urlencode("+") == "%2B");
    CHECK(form_urlencode("%") == "%25");
    CHECK(form_urlencode("&=?/:#[]@!$'()~,;") == "%26%3D%3F%2F%3A%23%5B%5D%40%21%24%27%28%29%7E%2C%3B");
    CHECK(form_urlencode("\xC3\xA9\xE2\x82\xAC") == "%C3%A9%E2%82%AC");
    CHECK(form_urlencode(std::string_view("\0\n\r\x7f\xff", 5)) == "%00%0A%0D%7F%FF");
}

TEST_CASE("every byte survives a form encode and decode") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    const std::string encoded = form_urlencode(all);
    for (char c : encoded) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           std::string_view("*-._+%").find(c) != std::string_view::npos;
        CHECK(plain);
    }
    CHECK(form_decode(encoded) == all);
}

TEST_CASE("the authorization_details JSON is form-encoded so the token endpoint reads it back intact") {
    const std::string json =
        R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/abc","actions":["query_inference_endpoint"]}])";
    const std::string encoded = form_urlencode(json);
    CHECK(encoded.find('"') == std::string::npos);
    CHECK(encoded.find('/') == std::string::npos);
    CHECK(encoded.rfind("%5B%7B%22type%22%3A%22workspace_permission%22", 0) == 0);
    CHECK(form_decode(encoded) == json);
}

TEST_CASE("append_form_field adds '&' only between fields and encodes name and value") {
    std::string body;
    append_form_field(body, "grant_type", "client_credentials");
    CHECK(body == "grant_type=client_credentials");
    append_form_field(body, "scope", "all-apis");
    append_form_field(body, "assertion", "a+b c=d&e");
    CHECK(body == "grant_type=client_credentials&scope=all-apis&assertion=a%2Bb+c%3Dd%26e");
    std::string weird;
    append_form_field(weird, "a b", "");
    CHECK(weird == "a+b=");
}

TEST_CASE("Basic credentials are base64 of the form-encoded id and secret joined by ':'") {
    // RFC 6749 section 2.3.1 with plain values: nothing to encode.
    CHECK(basic_authorization("client", "secret") == "Basic Y2xpZW50OnNlY3JldA==");
    CHECK(basic_authorization("", "") == "Basic Og==");
}

TEST_CASE("Basic credentials encode ':' '%' '+' space and non-ASCII before base64 (RFC 6749 2.3.1)") {
    const std::string id = "svc:principal+1";
    const std::string secret = "p%s:s w+rd\xC3\xA9/=";
    const std::string header = basic_authorization(id, secret);
    auto decoded = detail::base64_decode(std::string_view(header).substr(6));
    REQUIRE(decoded);
    CHECK(*decoded == "svc%3Aprincipal%2B1:p%25s%3As+w%2Brd%C3%A9%2F%3D");
    // Exactly one raw ':' remains: the separator, so a strict server splits correctly.
    CHECK(decoded->find(':') == decoded->rfind(':'));
    const auto [read_id, read_secret] = server_reads_basic(header);
    CHECK(read_id == id);
    CHECK(read_secret == secret);
}

TEST_CASE("Basic credentials differ from the raw curl -u form when a secret needs encoding") {
    const std::string raw = "Basic " + detail::base64_encode("id:a+b");
    CHECK(basic_authorization("id", "a+b") != raw);
    CHECK(basic_authorization("id", "ab") == "Basic " + detail::base64_encode("id:ab"));
}
