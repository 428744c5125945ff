// parse_url, normalize_workspace_host, parse_route_optimized_url and their friends: no
// crash on any input, and what they accept comes back unchanged when fed to them again.
#include "fuzz_check.hpp"

#include <dbserve/protocol/url.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace dbserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    if (auto url = parse_url(input)) {
        FUZZ_CHECK(url->scheme == "https" || url->scheme == "http");
        FUZZ_CHECK(!url->host.empty() && url->port != 0);
        FUZZ_CHECK(!url->path.empty() && url->path[0] == '/');
        auto again = parse_url(url->origin() + url->path);
        FUZZ_CHECK(again);
        FUZZ_CHECK(again->scheme == url->scheme && again->host == url->host && again->port == url->port &&
                   again->path == url->path);
        (void)is_loopback_host(url->host);
    } else {
        FUZZ_CHECK(!url.error().message.empty());
    }

    if (auto host = normalize_workspace_host(input)) {
        auto again = normalize_workspace_host(*host);
        FUZZ_CHECK(again && *again == *host);
        auto parsed = parse_url(*host);
        FUZZ_CHECK(parsed && parsed->path == "/" && parsed->origin() == *host);
        FUZZ_CHECK(token_url(*host) == *host + "/oidc/v1/token");
    }
    // A value holding user-info may hold a password: it is refused and never echoed.
    {
        const std::string with_password = "https://user:Pw9Secret7Marker@" + std::string(input);
        auto refused = normalize_workspace_host(with_password);
        FUZZ_CHECK(!refused);
        FUZZ_CHECK(refused.error().message.find("Pw9Secret7Marker") == std::string::npos);
        auto refused_url = parse_url(with_password);
        FUZZ_CHECK(!refused_url);
        FUZZ_CHECK(refused_url.error().message.find("Pw9Secret7Marker") == std::string::npos);
    }

    if (auto ro = parse_route_optimized_url(input)) {
        FUZZ_CHECK(!ro->endpoint_id.empty() && !ro->workspace_id.empty() && !ro->endpoint_name.empty());
        FUZZ_CHECK(validate_endpoint_name(ro->endpoint_name));
        auto again = parse_route_optimized_url(ro->url);
        FUZZ_CHECK(again);
        FUZZ_CHECK(again->url == ro->url && again->endpoint_id == ro->endpoint_id &&
                   again->workspace_id == ro->workspace_id && again->endpoint_name == ro->endpoint_name &&
                   again->served_model == ro->served_model && again->provider == ro->provider &&
                   again->port == ro->port && again->host == ro->host);
        auto origin = parse_url(ro->url);
        FUZZ_CHECK(origin);
        auto built = build_route_optimized_url(origin->origin(), ro->workspace_id, ro->endpoint_name, ro->served_model);
        FUZZ_CHECK(built && *built == ro->url);
    }

    if (validate_endpoint_name(input)) {
        FUZZ_CHECK(percent_encode_path_segment(input) == input);
        FUZZ_CHECK(serving_endpoint_url("https://h.example.com", input));
    }

    const std::string encoded = percent_encode_path_segment(input);
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        const char c = encoded[i];
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        FUZZ_CHECK(unreserved || c == '%' || (i >= 1 && (encoded[i - 1] == '%' || (i >= 2 && encoded[i - 2] == '%'))));
    }
    FUZZ_CHECK(encoded != "." && encoded != "..");
    (void)is_loopback_host(input);
    return 0;
}
