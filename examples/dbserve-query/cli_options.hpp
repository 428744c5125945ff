// dbserve-query's command line: every flag, checked before anything is sent. A bad flag
// gives one line naming the problem and the fix (exit code 2).
#pragma once

#include <dbserve/client/transport_options.hpp>
#include <dbserve/protocol/result.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef DBSERVE_QUERY_VERSION
#define DBSERVE_QUERY_VERSION "0.1.0"
#endif

namespace dbserve_query {

enum class auth_choice { automatic, client_credentials, token_exchange, token, env_oidc, file_oidc, github_oidc };
enum class csv_format { split, records };
enum class summary_format { text, json };
enum class transport_choice { curl, beast };

struct resolve_entry {
    std::string host;
    std::uint16_t port = 443;
    std::string address;
};

struct cli_options {
    // Where
    std::string host, endpoint, url, endpoint_id, served_model, token_url, profile;
    // Credentials
    std::string client_secret_file, token_file;
    auth_choice auth = auth_choice::automatic;
    std::string action = "query_inference_endpoint";
    // Body
    std::string data;  // JSON text, "@FILE" or "@-"
    std::string csv_file;
    csv_format format = csv_format::split;
    bool nan_as_null = false;  // --nan null: NaN and infinity in a numeric CSV column are sent as null
    std::string chat;
    std::optional<long> max_tokens;
    std::optional<double> temperature;
    std::string params;  // JSON object text
    bool stream = false;
    bool dry_run = false;
    // TLS and network
    std::string cacert, capath;
    std::vector<resolve_entry> resolve;
    std::optional<double> connect_timeout_s, max_time_s;
    transport_choice transport = transport_choice::curl;
    // Output
    bool verbose = false;
    summary_format summary = summary_format::text;
    // Load mode
    std::optional<long> repeat;
    std::optional<double> duration_s;
    long concurrency = 1;
    std::optional<double> rate;  // --rate: queries per second, open loop
    bool help = false;
    bool version = false;

    bool load_mode() const { return repeat.has_value() || duration_s.has_value(); }
};

inline constexpr std::string_view usage_text = R"(usage: dbserve-query [options]

Queries a Databricks route optimized serving endpoint: finds its URL, gets and renews the
endpoint-scoped OAuth token, shapes the body, and prints the answer. Nothing is sent when
a flag, file or credential is wrong.

Where:
  --host URL              workspace URL (default: DATABRICKS_HOST, then the profile)
  --endpoint NAME         endpoint name: discover its route optimized URL
  --url URL               a route optimized invocations URL (no discovery)
  --endpoint-id ID        endpoint id for authorization_details (default: first label of the URL's host)
  --served-model NAME     query one served model of the endpoint
  --token-url URL         token endpoint (default: <host>/oidc/v1/token)
  --profile NAME          profile in ~/.databrickscfg (default: DATABRICKS_CONFIG_PROFILE, then DEFAULT)
Credentials (never on the command line):
  DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET from the environment or the profile
  --client-secret-file FILE   read the client secret from FILE
  --token-file FILE           use the OAuth token in FILE (obtained elsewhere), read again at each
                              token fetch; with --endpoint it also looks the endpoint up
  --auth client-credentials|token-exchange|token|env-oidc|file-oidc|github-oidc
                              default: client credentials with --url, token exchange with --endpoint;
                              token: --token-file, or an OAuth token in DATABRICKS_TOKEN;
                              OAuth token federation (no secret held; DATABRICKS_CLIENT_ID names the
                              service principal's policy, unset for an account-wide one):
                              env-oidc: the JWT in DATABRICKS_OIDC_TOKEN (or the variable named by
                              DATABRICKS_OIDC_TOKEN_ENV); file-oidc: the JWT in the file
                              DATABRICKS_OIDC_TOKEN_FILEPATH, read at each exchange; github-oidc:
                              ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN (a GitHub Actions job). Audience:
                              DATABRICKS_TOKEN_AUDIENCE, else DATABRICKS_ACCOUNT_ID, else the token URL
  --action query_inference_endpoint|manage_inference_endpoint
Body:
  --data JSON | @FILE | @-    send this JSON as is (checked to be JSON)
  --csv FILE [--format split|records]   a dataframe from a CSV file with a header row
                              (numbers, strings, empty = null). A column is numeric when every
                              non-empty cell is an unquoted number; there nan, inf, -inf,
                              Infinity (any case) are refused, naming row and column, unless
                              --nan null sends them as null. Other columns keep their text.
  --nan error|null            NaN and infinity in a numeric CSV column: refuse (default) or null
  --chat MESSAGE [--max-tokens N] [--temperature T]   one user message to a chat endpoint
  --params JSON               a JSON object: "params" of a model (--csv, --data), or more
                              generation fields for --chat (e.g. '{"top_p": 0.9}')
  --stream                    stream the answer; print chat deltas as they arrive
  --dry-run                   print the request that would be sent; send nothing, fetch no token
TLS and network:
  --cacert FILE               a PEM file of trusted CAs (checked before sending)
  --capath DIR                a directory of PEM CA files prepared with openssl rehash
  --resolve HOST:PORT:ADDRESS connect to ADDRESS for HOST:PORT (repeatable); ADDRESS is one
                              IPv4 address (127.0.0.1) or an IPv6 one in brackets ([::1])
  --connect-timeout S  --transport curl|beast
  --max-time S                the whole query: token and discovery requests, retries and
                              waits included
Output:
  the response body on stdout (pretty-printed on a terminal, as is otherwise)
  -v, --verbose               requests, responses and the client's events (tokens fetched,
                              retries, each query's end and trace id, stream times) on stderr
  Errors and -v never show a credential (the client secret in any encoding, the Basic
  value, any token sent or received), even when a server quotes one; control characters
  from a server are shown escaped (\x1b).
Load mode (one client, many queries; a summary at the end):
  --repeat N  --duration S  --concurrency C  --rate R  --summary text|json
  C queries in flight at most, each started as one ends; --rate R starts R a second on
  schedule instead (open loop: latency counts from the scheduled time; a warning when C
  are in flight). The summary gives p50/p90/p99/p99.9/max and a histogram (JSON: buckets).
  With --stream it adds the LLM figures (JSON: "llm"): time to first token and inter-token
  latency (p50/p90/p99), output tokens/s per stream (usage.completion_tokens over the
  stream's time) and in total (over the run's time), and the sum of every stream's usage.
  --duration S ends the run at S seconds even when a server hangs: queries still running
  then time out and are counted as unfinished (a run where none finished fails).
Exit codes: 0 success, 2 usage, configuration or input error (nothing was sent),
  3 authentication or authorization failure (token refused, 401, 403), 4 other HTTP error or
  an answer that cannot be used (not valid HTTP, too large, a discovered endpoint that is not
  route optimized or whose URL is unusable), 5 network failure or timeout, 6 TLS verification
  failure. Load mode: 0 only if every query succeeded.
)";

namespace detail {
// A seconds option (--max-time, --connect-timeout) as whole milliseconds, rounded up.
inline std::chrono::milliseconds to_milliseconds(double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000.0)));
}

inline dbserve::unexpected usage_error(std::string message) {
    return dbserve::unexpected(dbserve::errc::invalid_argument, std::move(message));
}

template <class Number>
bool parse_number(std::string_view text, Number& out) {
    if (text.empty()) return false;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
}

inline dbserve::result<resolve_entry> parse_resolve(std::string_view text) {
    auto bad = [&] {
        return usage_error("--resolve expects HOST:PORT:ADDRESS, got '" + std::string(text) +
                           "'; for example --resolve adb-1.2.azuredatabricks.net:443:127.0.0.1");
    };
    auto first = text.find(':');
    if (first == std::string_view::npos || first == 0) return bad();
    auto second = text.find(':', first + 1);
    if (second == std::string_view::npos) return bad();
    resolve_entry e;
    e.host = std::string(text.substr(0, first));
    unsigned port = 0;
    if (!parse_number(text.substr(first + 1, second - first - 1), port) || port == 0 || port > 65535)
        return bad();
    e.port = static_cast<std::uint16_t>(port);
    e.address = std::string(text.substr(second + 1));
    if (e.address.empty()) return bad();
    // Checked here, before anything is sent, by the rule every transport applies: one IP
    // literal, an IPv6 one in brackets as in curl's --resolve.
    auto refuse = [&](const std::string& why) {
        return usage_error("--resolve: " + why);
    };
    if (auto ok = dbserve::check_resolve_override({e.host, e.port, e.address}); !ok)
        return refuse(ok.error().message);
    if (e.address.front() != '[' && e.address.find(':') != std::string::npos)
        return refuse("resolve override for '" + e.host + ":" + std::to_string(e.port) +
                      "': an IPv6 address goes in brackets, as in " + e.host + ":" + std::to_string(e.port) + ":[" +
                      e.address + "]");
    if (e.address.front() == '[') e.address = e.address.substr(1, e.address.size() - 2);
    return e;
}
}  // namespace detail

inline dbserve::result<cli_options> parse_command_line(const std::vector<std::string_view>& args) {
    cli_options o;
    bool format_given = false, summary_given = false, nan_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view flag = args[i];
        std::string_view inline_value;
        bool has_inline = false;
        if (flag.size() > 2 && flag.substr(0, 2) == "--") {
            auto eq = flag.find('=');
            if (eq != std::string_view::npos) {
                inline_value = flag.substr(eq + 1);
                flag = flag.substr(0, eq);
                has_inline = true;
            }
        }
        auto value = [&]() -> dbserve::result<std::string> {
            if (has_inline) return std::string(inline_value);
            if (i + 1 >= args.size())
                return detail::usage_error(std::string(flag) + " needs a value; see --help");
            return std::string(args[++i]);
        };
        auto text_into = [&](std::string& field) -> dbserve::result<void> {
            auto v = value();
            if (!v) return std::move(v).error();
            if (v->empty())
                return detail::usage_error(std::string(flag) + " was given an empty value");
            field = std::move(*v);
            return {};
        };
        auto seconds_into = [&](std::optional<double>& field) -> dbserve::result<void> {
            auto v = value();
            if (!v) return std::move(v).error();
            double s = 0;
            if (!detail::parse_number(*v, s) || !(s > 0) || s > 1e7)
                return detail::usage_error(std::string(flag) + " expects a positive number of seconds, got '" +
                                           *v + "'");
            field = s;
            return {};
        };
        auto count_into = [&](auto& field, long min, long max) -> dbserve::result<void> {
            auto v = value();
            if (!v) return std::move(v).error();
            long n = 0;
            if (!detail::parse_number(*v, n) || n < min || n > max)
                return detail::usage_error(std::string(flag) + " expects a whole number from " +
                                           std::to_string(min) + " to " + std::to_string(max) + ", got '" + *v + "'");
            field = n;
            return {};
        };

        dbserve::result<void> ok;
        if (flag == "-h" || flag == "--help") o.help = true;
        else if (flag == "--version") o.version = true;
        else if (flag == "-v" || flag == "--verbose") o.verbose = true;
        else if (flag == "--stream") o.stream = true;
        else if (flag == "--dry-run") o.dry_run = true;
        else if (flag == "--host") ok = text_into(o.host);
        else if (flag == "--endpoint") ok = text_into(o.endpoint);
        else if (flag == "--url") ok = text_into(o.url);
        else if (flag == "--endpoint-id") ok = text_into(o.endpoint_id);
        else if (flag == "--served-model") ok = text_into(o.served_model);
        else if (flag == "--token-url") ok = text_into(o.token_url);
        else if (flag == "--profile") ok = text_into(o.profile);
        else if (flag == "--client-secret-file") ok = text_into(o.client_secret_file);
        else if (flag == "--token-file") ok = text_into(o.token_file);
        else if (flag == "--data") ok = text_into(o.data);
        else if (flag == "--csv") ok = text_into(o.csv_file);
        else if (flag == "--chat") ok = text_into(o.chat);
        else if (flag == "--params") ok = text_into(o.params);
        else if (flag == "--cacert") ok = text_into(o.cacert);
        else if (flag == "--capath") ok = text_into(o.capath);
        else if (flag == "--connect-timeout") ok = seconds_into(o.connect_timeout_s);
        else if (flag == "--max-time") ok = seconds_into(o.max_time_s);
        else if (flag == "--duration") ok = seconds_into(o.duration_s);
        else if (flag == "--repeat") { long n = 0; ok = count_into(n, 1, 100'000'000); o.repeat = n; }
        else if (flag == "--concurrency") ok = count_into(o.concurrency, 1, 1024);
        else if (flag == "--rate") {
            auto v = value();
            double r = 0;
            if (!v) ok = std::move(v).error();
            else if (!detail::parse_number(*v, r) || !(r > 0) || r > 1e7)
                ok = detail::usage_error("--rate expects a positive number of queries per second, got '" + *v + "'");
            else o.rate = r;
        }
        else if (flag == "--max-tokens") { long n = 0; ok = count_into(n, 1, 1'000'000); o.max_tokens = n; }
        else if (flag == "--temperature") {
            auto v = value();
            double t = 0;
            if (!v) ok = std::move(v).error();
            else if (!detail::parse_number(*v, t) || t < 0 || t > 2)
                ok = detail::usage_error("--temperature expects a number from 0 to 2, got '" + *v + "'");
            else o.temperature = t;
        } else if (flag == "--resolve") {
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (auto e = detail::parse_resolve(*v)) o.resolve.push_back(std::move(*e));
            else ok = std::move(e).error();
        } else if (flag == "--auth") {
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (*v == "client-credentials") o.auth = auth_choice::client_credentials;
            else if (*v == "token-exchange") o.auth = auth_choice::token_exchange;
            else if (*v == "token") o.auth = auth_choice::token;
            else if (*v == "env-oidc") o.auth = auth_choice::env_oidc;
            else if (*v == "file-oidc") o.auth = auth_choice::file_oidc;
            else if (*v == "github-oidc") o.auth = auth_choice::github_oidc;
            else ok = detail::usage_error("--auth expects client-credentials, token-exchange, token, env-oidc, "
                                          "file-oidc or github-oidc, got '" + *v + "'");
        } else if (flag == "--action") {
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (*v == "query_inference_endpoint" || *v == "manage_inference_endpoint") o.action = *v;
            else ok = detail::usage_error("--action expects query_inference_endpoint or manage_inference_endpoint, got '" + *v + "'");
        } else if (flag == "--format") {
            format_given = true;
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (*v == "split") o.format = csv_format::split;
            else if (*v == "records") o.format = csv_format::records;
            else ok = detail::usage_error("--format expects split or records, got '" + *v + "'");
        } else if (flag == "--nan") {
            nan_given = true;
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (*v == "error") o.nan_as_null = false;
            else if (*v == "null") o.nan_as_null = true;
            else ok = detail::usage_error("--nan expects error or null, got '" + *v + "'");
        } else if (flag == "--summary") {
            summary_given = true;
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (*v == "text") o.summary = summary_format::text;
            else if (*v == "json") o.summary = summary_format::json;
            else ok = detail::usage_error("--summary expects text or json, got '" + *v + "'");
        } else if (flag == "--transport") {
            auto v = value();
            if (!v) ok = std::move(v).error();
            else if (*v == "curl") o.transport = transport_choice::curl;
            else if (*v == "beast") o.transport = transport_choice::beast;
            else ok = detail::usage_error("--transport expects curl or beast, got '" + *v + "'");
        } else if (flag == "--client-secret" || flag == "--token" || flag == "--secret") {
            return detail::usage_error(std::string(flag) +
                                       " is not accepted: a secret on the command line leaks into shell history "
                                       "and process lists; use DATABRICKS_CLIENT_SECRET, --client-secret-file or --token-file");
        } else {
            return detail::usage_error("unknown option '" + std::string(flag) + "'; see --help");
        }
        if (!ok) return std::move(ok).error();
    }
    if (o.help || o.version) return o;

    // Combinations.
    int bodies = !o.data.empty() + !o.csv_file.empty() + !o.chat.empty();
    if (bodies > 1)
        return detail::usage_error("give only one of --data, --csv and --chat");
    if (bodies == 0)
        return detail::usage_error("no request body: give --data JSON, --data @FILE, --csv FILE or --chat MESSAGE");
    if (!o.url.empty() && !o.endpoint.empty())
        return detail::usage_error("give --url or --endpoint, not both");
    if (o.url.empty() && o.endpoint.empty())
        return detail::usage_error("say which endpoint: --endpoint NAME (with --host) or --url INVOCATIONS_URL");
    if (!o.token_file.empty() && !o.client_secret_file.empty())
        return detail::usage_error("give --token-file or --client-secret-file, not both");
    if (!o.token_file.empty() && o.auth != auth_choice::automatic && o.auth != auth_choice::token)
        return detail::usage_error("--token-file supplies the token itself: drop --auth or use --auth token");
    if (format_given && o.csv_file.empty())
        return detail::usage_error("--format goes with --csv FILE");
    if (nan_given && o.csv_file.empty())
        return detail::usage_error("--nan goes with --csv FILE (a --data body is JSON, which has no NaN)");
    if (summary_given && !o.load_mode())
        return detail::usage_error("--summary goes with load mode: add --repeat N or --duration S");
    if (o.dry_run && o.load_mode())
        return detail::usage_error("--dry-run sends nothing, so it cannot be combined with --repeat/--duration");
    if ((o.max_tokens || o.temperature) && o.chat.empty())
        return detail::usage_error("--max-tokens and --temperature go with --chat");
    if (o.stream && o.chat.empty() && o.data.empty())
        return detail::usage_error("--stream needs a chat request (--chat) or a --data body for an LLM endpoint");
    if (o.concurrency > 1 && !o.load_mode())
        return detail::usage_error("--concurrency needs load mode: add --repeat N or --duration S");
    if (o.rate && !o.load_mode())
        return detail::usage_error("--rate needs load mode: add --repeat N or --duration S");
    return o;
}

}  // namespace dbserve_query
