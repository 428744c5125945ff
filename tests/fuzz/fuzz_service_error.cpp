// parse_service_error and looks_like_html: any response gives a short, printable error
// with the status it came with.
#include "fuzz_check.hpp"

#include <dbserve/protocol/service_error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace dbserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    http_response response;
    response.status = ((data[0] << 8) | data[1]) % 700;
    const std::uint8_t flags = data[2];
    static const char* types[] = {"", "application/json", "text/html; charset=utf-8", "text/plain"};
    if ((flags & 3) != 0) response.headers.add_unchecked("Content-Type", types[flags & 3]);
    // The rest: Retry-After value, NUL, request id, NUL, reason, NUL, body (missing parts are empty).
    std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
    auto take = [&rest]() {
        const std::size_t nul = rest.find('\0');
        const std::string_view part = rest.substr(0, nul);
        rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
        return std::string(part);
    };
    if (flags & 4) response.headers.add_unchecked("Retry-After", take());
    if (flags & 8) response.headers.add_unchecked((flags & 16) ? "x-request-id" : "x-databricks-request-id", take());
    if (flags & 32) response.reason = take();
    response.body = std::string(rest);

    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    const dbserve::error e = parse_service_error(response, now);
    FUZZ_CHECK(e.http_status == response.status);
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.message.size() <= 1024 + 512);
    FUZZ_CHECK(e.service_code.size() <= 110 && e.request_id.size() <= 210);
    FUZZ_CHECK(!has_control(e.message) && !has_control(e.service_code) && !has_control(e.request_id));
    if (e.retry_after) FUZZ_CHECK(e.retry_after->count() >= 0);
    if (e.code != errc::throttled) {
        const errc by_status = error_category_for_status(response.status);
        FUZZ_CHECK(by_status == errc::bad_response || e.code == by_status);
    }
    (void)looks_like_html(response);
    return 0;
}
