// client_config: what a client queries and how it authenticates, plus the per-query
// options and the statistics a client keeps. Plain data.
#pragma once

#include <dbserve/client/credentials.hpp>
#include <dbserve/client/retry.hpp>
#include <dbserve/client/token_cache.hpp>
#include <dbserve/client/trace_context.hpp>
#include <dbserve/protocol/authorization_details.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

DBSERVE_BEGIN_NAMESPACE

// How the data-plane token is obtained.
enum class token_path {
    // client_credentials when `url` is configured, token_exchange after discovery by name.
    automatic,
    // POST host/oidc/v1/token with the client id and secret and authorization_details.
    client_credentials,
    // The SDKs' way: a control-plane token exchanged (jwt-bearer) for one scoped to the
    // discovered authorization_details. Needs discovery (endpoint_name).
    token_exchange,
    // A token from outside (a broker, the Serving UI): client_config::supply_token. With a
    // configured `url` it is the endpoint's token, used as it is; with discovery by name it
    // is a workspace token: it looks the endpoint up and is exchanged (jwt-bearer) for the
    // endpoint's token. Either way the supplier is asked again at each token fetch.
    supplied,
};

constexpr std::string_view to_string(token_path p) noexcept {
    switch (p) {
        case token_path::automatic: return "automatic";
        case token_path::client_credentials: return "client_credentials";
        case token_path::token_exchange: return "token_exchange";
        case token_path::supplied: return "supplied";
    }
    return "unknown";
}

// Returns a token and its expiry; called when the cached one is stale or expired (at most
// one call in flight per endpoint), by the operation's credential step: on whichever
// thread drives that query, never inside a poll API's next().
using token_supplier = std::function<result<supplied_token>()>;

// Receives what each query does (see events.hpp); called on the thread driving the query.
struct query_event;
using event_sink = std::function<void(const query_event&)>;

// What every endpoint of one workspace shares: where the workspace is, how tokens are
// obtained and kept, retries and deadlines, trace context, events and stream inactivity.
struct workspace_config {
    // Workspace URL (for the token endpoint and discovery). Empty: the secret source's host.
    std::string host;
    // The token endpoint; empty: host + /oidc/v1/token. For a token endpoint reached
    // another way (a private link name, a proxy in front of the workspace).
    std::string token_url;
    // X-Databricks-Workspace-Id; empty: from the endpoint's URL, else the secret source.
    std::string workspace_id;
    token_path auth = token_path::automatic;
    token_lifecycle lifecycle;
    retry_policy retry;
    // Deadline of each invocation request; zero: the transport's default. A model may run
    // up to 297 s, so keep it above that unless the endpoint is known to be fast.
    std::chrono::milliseconds timeout{0};
    // Deadline of each token-endpoint and serving-endpoints API request.
    std::chrono::milliseconds auth_timeout{60'000};
    // Total time a query may take, every request and wait included (tokens, discovery,
    // the invocation, retry waits, waiting for another query's token fetch); each request's
    // timeout is the smaller of its own and the time left. Zero: no total deadline.
    std::chrono::milliseconds query_deadline{0};
    // Hosts a discovered endpoint URL may point at besides the serving domain of the
    // workspace's cloud (*.serving.azuredatabricks.net, *.serving.cloud.databricks.com,
    // *.serving.gcp.databricks.com): a host name, or a suffix starting with a dot
    // (".example.net" allows every host under example.net). A token is never sent elsewhere.
    std::vector<std::string> allowed_endpoint_hosts;
    // Random numbers in [0, 1] for backoff jitter; empty: a built-in generator.
    std::function<double()> jitter;
    // The W3C traceparent every request of a query carries: see trace_context.hpp.
    trace_options trace;
    // Events of every query (events.hpp); empty: none, and nothing is measured for them.
    event_sink events;
    // A streamed response that sends no byte for this long fails with errc::timeout (its
    // outcome unknown, the chunks so far delivered); counted from the request until the
    // first byte, then between bytes. A stream that keeps sending is never cut by it; the
    // per-request timeout and the query deadline still apply. Zero: none.
    std::chrono::milliseconds stream_idle_timeout{0};
};

// One endpoint of a workspace: by name (discovered) or by its route optimized URL.
struct endpoint_config {
    // Discover the endpoint by name (GET /api/2.0/serving-endpoints/{name}) when `url` is empty.
    std::string endpoint_name;
    // The route optimized invocations URL, when known: no discovery.
    std::string url;
    // Overrides the endpoint id taken from the first host label of `url`.
    std::string endpoint_id;
    // Query one served model of the endpoint (.../served-models/<name>/invocations).
    std::string served_model;
    endpoint_action action = endpoint_action::query_inference_endpoint;
    // For token_path::supplied: this endpoint's token (a supplied token is scoped to one
    // endpoint, so each endpoint has its own supplier).
    token_supplier supply_token;
};

// One endpoint and its workspace in one piece: what basic_client takes.
struct client_config : workspace_config, endpoint_config {};

struct query_options {
    // Added to a JSON object body as the documented "client_request_id" tracking field.
    std::string client_request_id;
    // Overrides client_config::timeout for this query's invocation (zero: keep it).
    std::chrono::milliseconds timeout{0};
    // Overrides client_config::query_deadline for this query (zero: keep it).
    std::chrono::milliseconds deadline{0};
    // The caller's W3C trace context, sent on every request of the query as it is (checked
    // first: a malformed one fails the query before anything is sent). None: the client
    // starts a trace when client_config::trace.generate says so.
    std::optional<trace_context> trace;
    // Overrides client_config::stream_idle_timeout for this query (zero: keep it).
    std::chrono::milliseconds stream_idle_timeout{0};
};

// What a client, a workspace or one of its endpoints has done so far (all counters since
// construction; a workspace's are the sums over its endpoints).
struct client_statistics {
    std::uint64_t token_requests = 0;                // every request to the token endpoint
    std::uint64_t control_plane_token_requests = 0;  // of which for control-plane tokens
    std::uint64_t supplied_token_calls = 0;          // calls of client_config::supply_token
    std::uint64_t discoveries = 0;                   // serving-endpoints lookups sent
    std::uint64_t invocations = 0;                   // invocation requests sent (retries included)
    std::uint64_t retries = 0;                       // backoff waits before a repeated request
    std::uint64_t token_waits = 0;                   // times a query waited for another's token fetch
    std::uint64_t queries_started = 0;
    std::uint64_t queries_succeeded = 0;
    std::uint64_t queries_failed = 0;
    std::uint64_t identity_token_requests = 0;  // github-oidc: requests for an ID token
    std::uint64_t credential_loads = 0;    // runs of the SecretSource that gave usable credentials
    std::uint64_t credential_reloads = 0;  // of which replaced earlier credentials
};

DBSERVE_END_NAMESPACE
