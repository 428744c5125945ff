// parse_token_response: any status, content type and body gives a token or an error,
// never a crash; no credential of the body is ever quoted in an error.
#include "fuzz_check.hpp"

#include <dbserve/protocol/token_response.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace dbserve;

namespace {
// A value long and odd enough that no fixed message text could contain it by chance.
bool distinctive(std::string_view s) {
    if (s.size() < 16) return false;
    bool letter = false, digit = false;
    for (char c : s) {
        letter = letter || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        digit = digit || (c >= '0' && c <= '9');
    }
    return letter && digit;
}

bool names_credential(std::string key) {
    for (char& c : key) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (key.size() >= 5 && key.compare(key.size() - 5, 5, "_type") == 0) return false;
    for (const char* word : {"token", "secret", "password", "assertion"})
        if (key.find(word) != std::string::npos) return true;
    return false;
}

void collect_credentials(const nlohmann::json& value, bool credential, std::vector<std::string>& out) {
    if (value.is_string() && credential) out.push_back(value.get<std::string>());
    if (value.is_object())
        for (auto it = value.begin(); it != value.end(); ++it)
            collect_credentials(*it, credential || names_credential(it.key()), out);
    if (value.is_array())
        for (const auto& item : value) collect_credentials(item, credential, out);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    http_response response;
    response.status = 100 + ((data[0] << 8) | data[1]) % 500;
    const std::uint8_t flags = data[2];
    static const char* types[] = {"", "application/json", "text/html", "text/plain"};
    if ((flags & 3) != 0) response.headers.add_unchecked("Content-Type", types[flags & 3]);
    if (flags & 4) response.headers.add_unchecked("Retry-After", "5");
    if (flags & 8) response.reason = "Reason Phrase";
    if (flags & 16) response.status = 200;
    response.body.assign(reinterpret_cast<const char*>(data + 3), size - 3);

    auto result = (flags & 32) ? parse_token_response(response)
                               : parse_token_response(response, std::chrono::system_clock::time_point{});
    if (result) {
        FUZZ_CHECK(response.status >= 200 && response.status < 300);
        FUZZ_CHECK(!result->access_token.empty());
        FUZZ_CHECK(result->expires_in.count() >= 1 && result->expires_in.count() <= 365LL * 24 * 3600);
        FUZZ_CHECK(result->token_type.size() == 6);
        return 0;
    }
    const dbserve::error& e = result.error();
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.message.size() <= 2048);
    FUZZ_CHECK(!has_control(e.message) && !has_control(e.service_code) && !has_control(e.request_id));
    FUZZ_CHECK(e.http_status == response.status);
    FUZZ_CHECK(e.code != errc::invalid_argument && e.code != errc::configuration);
    // No credential the body holds (a string under a key naming a token, secret, password or
    // assertion, at any depth, however the key is spelt) may appear in the error.
    const auto parsed = dbserve::detail::parse_lenient_json(response.body);
    std::vector<std::string> credentials;
    collect_credentials(parsed, false, credentials);
    for (const std::string& value : credentials)
        if (distinctive(value)) {
            FUZZ_CHECK(e.message.find(value) == std::string::npos);
            FUZZ_CHECK(e.service_code.find(value) == std::string::npos);
            FUZZ_CHECK(e.request_id.find(value) == std::string::npos);
        }
    return 0;
}
