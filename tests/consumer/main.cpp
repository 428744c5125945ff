// A consumer of dbserve: uses a few core types and checks they behave, whatever way the
// library was brought in (installed package, add_subdirectory, FetchContent, Meson,
// pkg-config, single header).
#include <dbserve/dbserve.hpp>

#include <cstdio>
#include <string>

namespace {

dbserve::result<int> parse_port(const std::string& text) {
    if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
        return dbserve::unexpected(dbserve::errc::invalid_argument, "port '" + text + "' is not a number");
    return std::stoi(text);
}

}  // namespace

int main() {
    int failures = 0;
    auto expect = [&](bool ok, const char* what) {
        if (!ok) {
            std::printf("FAILED: %s\n", what);
            ++failures;
        }
    };

    auto port = parse_port("8443");
    expect(port.has_value() && *port == 8443, "a result holds its value");
    auto bad = parse_port("eighty");
    expect(!bad && bad.error().code == dbserve::errc::invalid_argument, "a result holds its error");
    expect(dbserve::to_string(dbserve::errc::throttled) == "throttled", "errc has a stable name");

    dbserve::http_request request;
    request.method = dbserve::http_method::post;
    request.url = "https://example.invalid/serving-endpoints/e/invocations";
    expect(request.headers.add("Content-Type", "application/json").has_value(), "a valid header is added");
    expect(!request.headers.add("Bad Name", "x").has_value(), "an invalid header name is refused");
    expect(request.headers.get("content-type") == "application/json", "header lookup ignores case");

    dbserve::secret_string secret("s3cr3t");
    expect(dbserve::to_string(secret) == "(redacted)", "a secret is never shown");
    expect(secret.reveal() == "s3cr3t", "a secret can be revealed on purpose");

    if (failures != 0) return 1;
    std::printf("dbserve consumer ok: version %d.%d.%d\n", DBSERVE_VERSION_MAJOR, DBSERVE_VERSION_MINOR,
                DBSERVE_VERSION_PATCH);
    return 0;
}
