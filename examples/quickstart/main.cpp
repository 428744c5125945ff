// The quickstart: one query to a route optimized model serving endpoint, the documented way.
//
//   1. find the endpoint's route optimized URL (GET /api/2.0/serving-endpoints/{name},
//      with a workspace token);
//   2. fetch an OAuth token for that endpoint alone: client credentials with
//      authorization_details (RFC 9396) naming the endpoint;
//   3. POST a dataframe_split table to the invocations URL and print the predictions.
// The client does all three inside one query() call and caches the URL and the tokens for
// the next ones; the traced transport prints each request so the flow can be seen.
//
//   export DATABRICKS_HOST=https://adb-1234567890123456.7.azuredatabricks.net
//   export DATABRICKS_CLIENT_ID=<service principal application id> DATABRICKS_CLIENT_SECRET=<its OAuth secret>
//   quickstart --endpoint my-model --columns age,income --row 42,5100.5 --row 37,3900
#include "traced_transport.hpp"

#include <example_options.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/payload/responses.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

const char* const usage =
    "usage: quickstart [--endpoint NAME] [--cacert FILE] [--resolve HOST:PORT:ADDRESS]...\n"
    "                  [--auth client-credentials|token-exchange] [--columns A,B,...] [--row V,V,...]...\n"
    "Queries a route optimized model serving endpoint with a dataframe_split table and prints\n"
    "the predictions. Reads DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET and\n"
    "DATABRICKS_SERVING_ENDPOINT (or --endpoint); DBSERVE_CA_FILE and DBSERVE_RESOLVE as --cacert\n"
    "and --resolve. Without --row it sends a sample table (columns a,b,c).\n";

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const auto comma = text.find(',', start);
        out.push_back(text.substr(start, comma - start));
        if (comma == std::string::npos) return out;
        start = comma + 1;
    }
}

// One table cell from the command line: a number, an empty value (null), or a string.
nlohmann::json cell_value(const std::string& text) {
    if (text.empty()) return nullptr;
    char* end = nullptr;
    const double number = std::strtod(text.c_str(), &end);
    if (*end == '\0' && std::isfinite(number)) return number;
    return text;
}

}  // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto options = examples::parse_example_options(argc, argv, "DATABRICKS_SERVING_ENDPOINT", usage, exit_code);
    if (!options) return exit_code;

    // The seed's flow is client credentials with authorization_details; the SDKs' token
    // exchange (a workspace token traded for an endpoint-scoped one) is the alternative.
    dbserve::token_path auth = dbserve::token_path::client_credentials;
    std::vector<std::string> columns = {"a", "b", "c"};
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < options->arguments.size(); ++i) {
        const std::string& arg = options->arguments[i];
        const bool has_value = i + 1 < options->arguments.size();
        if ((arg == "--auth" || arg == "--columns" || arg == "--row") && !has_value) {
            std::fprintf(stderr, "%s needs a value\n%s", arg.c_str(), usage);
            return 2;
        }
        if (arg == "--auth") {
            const std::string& value = options->arguments[++i];
            if (value == "client-credentials") auth = dbserve::token_path::client_credentials;
            else if (value == "token-exchange") auth = dbserve::token_path::token_exchange;
            else {
                std::fprintf(stderr, "--auth %s: use client-credentials or token-exchange\n", value.c_str());
                return 2;
            }
        } else if (arg == "--columns") {
            columns = split(options->arguments[++i]);
        } else if (arg == "--row") {
            rows.push_back(split(options->arguments[++i]));
        } else {
            std::fprintf(stderr, "unknown argument '%s'\n%s", arg.c_str(), usage);
            return 2;
        }
    }
    if (rows.empty()) rows = {{"1", "2", "3"}, {"4.5", "5.5", "6"}, {"7", "", "9"}};  // "" is a missing value

    // The table, written straight into the body text; a row of the wrong width or a NaN is
    // refused here, naming the row and column, instead of by the service.
    dbserve::dataframe_split_writer table(columns);
    for (const auto& row : rows) {
        std::vector<nlohmann::json> cells;
        for (const auto& text : row) cells.push_back(cell_value(text));
        table.add_row(cells);
    }
    auto body = dbserve::model_request(table.finish()).body();
    if (!body) {
        std::fprintf(stderr, "quickstart: the table was refused: %s\n", body.error().to_string().c_str());
        return 2;
    }

    // Credentials come from the environment only (environment_secret_source), so what
    // runs is exactly what was exported; default_secret_source would also read
    // ~/.databrickscfg.
    dbserve::client_config config;
    config.endpoint_name = options->endpoint;  // discovered: no URL to copy by hand
    config.auth = auth;
    using transport = examples::traced_transport<dbserve::curl::blocking_transport>;
    dbserve::basic_client<dbserve::traits_for<transport, dbserve::system_clock_policy, dbserve::environment_secret_source>>
        client(std::move(config), transport(dbserve::curl::blocking_transport(options->transport)));

    const char* host = std::getenv("DATABRICKS_HOST");
    std::printf("dbserve quickstart: endpoint '%s' in workspace %s\n", options->endpoint.c_str(),
                host ? host : "(DATABRICKS_HOST is not set)");
    std::printf("token path: %s%s\n", std::string(dbserve::to_string(auth)).c_str(),
                auth == dbserve::token_path::client_credentials
                    ? " (service principal id and secret, authorization_details for this endpoint)"
                    : " (workspace token exchanged for an endpoint-scoped one)");
    std::fflush(stdout);

    auto response = client.query(std::move(*body));
    if (!response) {
        const dbserve::error& failure = response.error();
        std::fprintf(stderr, "quickstart: the query failed: %s\n", failure.to_string().c_str());
        return examples::exit_code_for(failure);
    }
    std::printf("route optimized URL: %s\n", client.transport().query_url().c_str());

    // Lenient parsing: the service writes bare NaN for a missing result, which is not JSON.
    auto predictions = dbserve::parse_predictions(response->body());
    if (!predictions) {
        std::fprintf(stderr, "quickstart: the answer is not predictions: %s\n",
                     predictions.error().to_string().c_str());
        return 1;
    }
    std::printf("predictions%s%s:\n", response->served_model_name.empty() ? "" : " from served model ",
                response->served_model_name.c_str());
    const nlohmann::json& values = predictions->predictions();
    if (values.is_array()) {
        for (std::size_t i = 0; i < values.size(); ++i) {
            const nlohmann::json& value = values[i];
            // dump() would write a NaN as null: print numbers ourselves.
            if (value.is_number()) std::printf("  row %zu: %g\n", i, value.get<double>());
            else std::printf("  row %zu: %s\n", i, value.dump().c_str());
        }
    } else {
        std::printf("  %s\n", values.dump().c_str());
    }
    const auto stats = client.statistics();
    std::printf("requests: %llu discovery, %llu token (%llu for the workspace token), %llu query\n",
                static_cast<unsigned long long>(stats.discoveries),
                static_cast<unsigned long long>(stats.token_requests),
                static_cast<unsigned long long>(stats.control_plane_token_requests),
                static_cast<unsigned long long>(stats.invocations));
    return 0;
}
