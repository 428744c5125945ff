// A feature serving lookup: send the primary keys (and any context values on-demand
// features need) as dataframe_records, get back one record of feature values per key.
//
// Feature serving endpoints are queried like model endpoints (same discovery, same
// endpoint-scoped token, same invocations URL) but answer {"outputs": [...]} instead of
// {"predictions": ...}; parse_outputs reads that shape.
//
//   feature_serving --endpoint customer-features --key customer_id 17 42
#include <example_options.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>
#include <dbserve/payload/feature_lookup.hpp>
#include <dbserve/payload/responses.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
const char* const usage =
    "usage: feature_serving [--endpoint NAME] [--cacert FILE] [--resolve HOST:PORT:ADDRESS]...\n"
    "                       [--key COLUMN] [KEY VALUE]...\n"
    "Looks feature values up on a feature serving endpoint (DATABRICKS_FEATURE_ENDPOINT or\n"
    "--endpoint), one record per key value (default key column customer_id, values 17 42),\n"
    "with DATABRICKS_HOST, DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET.\n";
}

int main(int argc, char** argv) {
    int exit_code = 0;
    auto options = examples::parse_example_options(argc, argv, "DATABRICKS_FEATURE_ENDPOINT", usage, exit_code);
    if (!options) return exit_code;
    std::string key_column = "customer_id";
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < options->arguments.size(); ++i) {
        const std::string& arg = options->arguments[i];
        if (arg == "--key") {
            if (i + 1 == options->arguments.size()) {
                std::fprintf(stderr, "--key needs a column name\n%s", usage);
                return 2;
            }
            key_column = options->arguments[++i];
        } else if (arg.rfind("--", 0) == 0) {
            std::fprintf(stderr, "unknown argument '%s'\n%s", arg.c_str(), usage);
            return 2;
        } else keys.push_back(arg);
    }
    if (keys.empty()) keys = {"17", "42"};

    // Every record must carry the lookup key with a scalar value: a record without it
    // would fail on the server, so the builder refuses it here, naming the record.
    dbserve::feature_lookup_request lookup({key_column});
    for (const auto& key : keys) {
        char* end = nullptr;
        const long long number = std::strtoll(key.c_str(), &end, 10);
        nlohmann::json record;
        if (*end == '\0' && !key.empty()) record[key_column] = number;  // numeric keys stay numbers
        else record[key_column] = key;
        // A context value for on-demand features (a function of the request, not stored).
        record["basket_total"] = 20.5 * static_cast<double>(lookup.size() + 1);
        lookup.add(std::move(record));
    }
    auto body = lookup.to_body();
    if (!body) {
        std::fprintf(stderr, "feature_serving: the lookup was refused: %s\n", body.error().to_string().c_str());
        return 2;
    }

    dbserve::client_config config;
    config.endpoint_name = options->endpoint;
    config.auth = dbserve::token_path::client_credentials;
    dbserve::basic_client<dbserve::traits_for<dbserve::curl::blocking_transport, dbserve::system_clock_policy,
                                              dbserve::environment_secret_source>>
        client(std::move(config), dbserve::curl::blocking_transport(options->transport));

    auto response = client.query(std::move(*body));
    if (!response) {
        const dbserve::error& failure = response.error();
        std::fprintf(stderr, "feature_serving: the lookup failed: %s\n", failure.to_string().c_str());
        return examples::exit_code_for(failure);
    }
    auto outputs = dbserve::parse_outputs(response->body());
    if (!outputs) {
        std::fprintf(stderr, "feature_serving: the answer is not feature outputs: %s\n",
                     outputs.error().to_string().c_str());
        return 1;
    }
    std::printf("feature values from '%s' (%zu records):\n", options->endpoint.c_str(), outputs->size());
    const nlohmann::json& records = outputs->outputs();
    if (records.is_array())
        for (const auto& record : records) std::printf("  %s\n", record.dump().c_str());
    else
        std::printf("  %s\n", records.dump().c_str());
    return 0;
}
