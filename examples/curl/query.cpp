// Queries a route optimized serving endpoint with the blocking libcurl transport.
//
//   export DATABRICKS_HOST=adb-....azuredatabricks.net DATABRICKS_CLIENT_ID=... DATABRICKS_CLIENT_SECRET=...
//   curl-query <endpoint name | invocations URL> '{"inputs": [[1, 2, 3]]}'
// Optional: DBSERVE_CA_FILE=ca.pem to trust a private CA instead of the system store.
#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <endpoint name | invocations URL> '<JSON body>'\n", argv[0]);
        return 2;
    }
    dbserve::transport_options options;  // system trust store, 10 s connect, 5 min per request
    options.request_timeout = std::chrono::seconds(60);
    if (const char* ca = std::getenv("DBSERVE_CA_FILE")) options.tls.ca_file = ca;

    dbserve::client_config config;
    const std::string_view target = argv[1];
    if (target.substr(0, 8) == "https://") config.url = std::string(target);
    else config.endpoint_name = std::string(target);

    // One transport for the token host and the data-plane host: each keeps its
    // keep-alive connection across queries.
    dbserve::basic_client<dbserve::traits_for<dbserve::curl::blocking_transport>> client(
        std::move(config), dbserve::curl::blocking_transport(std::move(options)));
    auto response = client.query(std::string(argv[2]));
    if (!response) {
        std::fprintf(stderr, "query failed: %s\n", response.error().to_string().c_str());
        return 1;
    }
    std::printf("HTTP %d%s%s\n%s\n", response->status, response->served_model_name.empty() ? "" : " from ",
                response->served_model_name.c_str(), std::string(response->body()).c_str());
    return 0;
}
