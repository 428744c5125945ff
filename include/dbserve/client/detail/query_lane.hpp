// A query's lines of work (the query itself, and a background token refresh beside it):
// the phases of the protocol flow one lane walks through, and what a lane asks of the
// operation when it stops.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

enum class query_phase : std::uint8_t {
    start,
    endpoint,           // acquire the endpoint (discovery cache)
    discovery_send,
    discovery_response,
    control,            // acquire a control-plane token, then go to `resume`
    control_response,
    subject_token,          // federation: get the identity provider's JWT, then exchange it
    subject_token_response, // federation: GitHub Actions' answer with the JWT
    data_token,         // acquire the data-plane token (main lane)
    fetch,              // fetch the data-plane token (holds the data claim)
    fetch_exchange_send,
    fetch_response,
    invoke_send,
    invoke_response,
    backoff,            // wait until `deadline`, then go to `after_backoff`
    finished,
};

// One line of work in an operation: the query itself, or a background token refresh.
// Its claims on the caches are kept apart (query_claims::of(background)).
struct query_lane {
    query_phase at = query_phase::start;
    query_phase resume = query_phase::start;  // where `control` goes once it has a token
    // Where `backoff` goes: its own field, because a retried control-plane token request
    // must not overwrite where `control` returns to (that made the lane loop forever).
    query_phase after_backoff = query_phase::start;
    bool background = false;
    std::uint64_t request_id = 0;
    std::optional<result<http_response>> response;
    http_request request;
    std::chrono::milliseconds timeout{0};
    bool timeout_cut_by_deadline = false;  // `timeout` is the time the query had left
    std::uint64_t endpoint_wait = 0, control_wait = 0, data_wait = 0;  // wait tickets
    int attempts = 0;  // attempts of the current token or discovery request
    std::chrono::steady_clock::time_point deadline{};
};

// Where a lane stopped: it must send its request, wait until `deadline`, wait for another
// operation of the client, wait for its response, wait for the driver's credential step,
// or it has finished. Between two phases
// of one lane, go_on: it did not stop (false in a boolean context). Small enough to be
// returned in registers, which the phases do once each per step.
struct lane_action {
    enum kind_type { send, wait_until, wait_others, wait_response, finished, load_credentials, go_on };
    kind_type kind;
    std::chrono::steady_clock::time_point deadline{};

    explicit constexpr operator bool() const noexcept { return kind != go_on; }
};

// What the main lane is doing, for the deadline's error. `name`: the endpoint's name;
// `token_supplier`: data-plane tokens come from the token supplier.
inline std::string describe_activity(const query_lane& l, const std::string& name, bool token_supplier) {
    const std::string endpoint = "serving endpoint '" + name + "'";
    switch (l.at) {
        case query_phase::endpoint: return "waiting for another query's lookup of " + endpoint;
        case query_phase::discovery_send:
        case query_phase::discovery_response: return "looking up " + endpoint + " (serving-endpoints API)";
        case query_phase::control:
            if (l.control_wait) return "waiting for another query's control-plane token request";
            [[fallthrough]];
        case query_phase::control_response: return "getting a control-plane token from the token endpoint";
        case query_phase::subject_token:
        case query_phase::subject_token_response:
            return "getting the identity provider's token for the federated sign-in";
        case query_phase::data_token:
            if (l.data_wait) return "waiting for another query's token request for " + endpoint;
            return "getting a token for " + endpoint;
        case query_phase::fetch:
            if (token_supplier) return "getting a token for " + endpoint + " from the token supplier";
            [[fallthrough]];
        case query_phase::fetch_exchange_send:
        case query_phase::fetch_response: return "getting a token for " + endpoint + " from the token endpoint";
        case query_phase::invoke_send: return "about to query " + endpoint;
        case query_phase::invoke_response: return "waiting for the response of " + endpoint;
        case query_phase::backoff: return "waiting to retry";
        case query_phase::start:
        case query_phase::finished: break;
    }
    return "starting";
}

}  // namespace detail
DBSERVE_END_NAMESPACE
