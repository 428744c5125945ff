// query_operation: one query as a sans-I/O state machine. It never sends, sleeps or
// starts a thread; it says what to do next and consumes what arrived:
//
//   step::send        send step.request (id step.request_id), then call
//                     on_response(id, result) (and on_body_chunk(id, ...) for a stream);
//   step::wait_until  call next() again once the monotonic clock reaches step.deadline;
//   step::load_credentials
//                     run op.load_credentials(), then call next() again. It does what
//                     the query needs from outside the sans-I/O core: runs the
//                     SecretSource (environment, ~/.databrickscfg, a vault callback) at
//                     first use and after the token endpoint refused the credentials,
//                     reads a file-oidc token file, calls the token supplier. It may run
//                     on another thread (not at the same time as next()). next() itself
//                     never reads a file: a poll loop that must not block calls
//                     client.load_credentials() ahead (then this step comes only for a
//                     reload, a token file or a supplier), or hands the step to a worker;
//   step::chunk       a streamed chunk (step.stream_chunk) for the caller;
//   step::done        finished: *step.outcome is the result (move it out);
//   step::idle        (false in a boolean context) nothing to do until a response
//                     arrives, or, when step.waiting_for_others, until another operation
//                     of the same client finishes a token fetch or discovery: a poll loop
//                     calls next() again after it fed any operation of that client. When
//                     the query has a total deadline, or its stream an inactivity timeout,
//                     step.deadline is the earlier of them: call next() again once the
//                     clock reaches it, even if nothing arrived.
//
// Several requests may be outstanding at once (a background token refresh beside the
// query itself). The operation is for one thread at a time; the caches it shares with
// the other operations of its client are locked. Dropping an unfinished operation
// releases whatever fetch it had claimed, so nobody waits for it forever.
//
// What a query does: resolve the endpoint (configured URL, or discovery by name with a
// control-plane token, cached per name; with token federation that token is the identity
// provider's JWT exchanged (RFC 8693) for a workspace token), get the data-plane token
// (cached per URL and authorization_details: fresh → use; stale → use and let one caller
// refresh it in the background; expired → one caller fetches while the others wait), POST
// the body, and on failure: 401 → drop that token, fetch a new one, retry once; 403 →
// permission error; 404 or unresolvable data-plane host after discovery → discover again
// once; 429/503 and connection failures → retry_delay(); a POST whose outcome is unknown
// is not repeated unless retry_policy says so; the token endpoint refusing the credentials
// (invalid_client or 401) → load them again once (the credential step) and repeat that
// token request once. A total deadline (query_options::deadline, else
// client_config::query_deadline) bounds all of it: each request's timeout is at most the
// time left, no retry wait ends past it, and once it passes the query ends with
// errc::timeout (claims on shared fetches are given up, so a waiting query takes over).
#pragma once

#include <dbserve/client/detail/cache_acquire.hpp>
#include <dbserve/client/detail/query_machinery.hpp>
#include <dbserve/client/detail/token_checks.hpp>
#include <dbserve/client/federation.hpp>
#include <dbserve/client/operation_step.hpp>
#include <dbserve/client/request_builders.hpp>
#include <dbserve/client/stream_folding.hpp>
#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/service_error.hpp>
#include <dbserve/client/transport.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

// The protocol flow of one query, phase by phase; the bookkeeping under it (lanes, claims,
// clock, deadline, retries, endings) is detail::query_machinery's.
class query_operation : private detail::query_machinery {
public:
    using mono_time = std::chrono::steady_clock::time_point;

    query_operation(std::shared_ptr<detail::client_shared> shared, std::shared_ptr<const detail::endpoint_target> target,
                    std::string body, query_options options = {}, bool streaming = false);

    // For a driver that outlives the operation inside one call (the blocking client): the
    // client's state is borrowed, not shared, which saves two atomic operations per query.
    struct borrow_tag {};
    query_operation(borrow_tag, detail::client_shared& shared, const detail::endpoint_target& target, std::string body,
                    query_options options = {}, bool streaming = false);

    // Claims on shared fetches move with the operation (a moved-from one holds none) and
    // are given up when it is dropped unfinished.
    query_operation(query_operation&&) = default;
    query_operation& operator=(query_operation&&) = default;
    query_operation(const query_operation&) = delete;
    query_operation& operator=(const query_operation&) = delete;

    // What to do next (see the header comment).
    operation_step next();

    // The credential step (step::load_credentials; see the header comment). Its failure
    // ends the query at the next call of next().
    void load_credentials() {
        if (shared() && !delivered_) run_credential_step();
    }

    // Takes the next streamed chunk not yet handed out (drivers call it from inside a
    // transport's body callback so chunks reach the caller as they arrive).
    std::optional<chat_chunk> pop_chunk() { return stream_ ? stream_->pop_chunk() : std::nullopt; }

    // The response (or transport error) to the request with this id. Unknown ids are
    // ignored.
    void on_response(std::uint64_t request_id, result<http_response> response);

    // A piece of a streamed response body. `head` carries the status and headers.
    void on_body_chunk(std::uint64_t request_id, const http_response& head, std::string_view chunk);

    bool finished() const noexcept { return delivered_; }
    bool is_streaming() const noexcept { return streaming_; }
    // For a streamed query: what the stream added up to so far.
    const stream_summary& summary() const noexcept {
        static const stream_summary none;
        return stream_ ? stream_->summary() : none;
    }
    // The endpoint this query resolved to, once known.
    const resolved_endpoint* endpoint() const noexcept { return endpoint_; }

private:
    // ---------------------------------------------------------------- the protocol flow

    // Advances one lane until it must send, wait or has finished: resolve the endpoint
    // (configured, or discovered with a control-plane token), get the data-plane token
    // (from the cache, or fetched by client credentials, token exchange or the supplier),
    // invoke, and handle the answer (retry, new token, rediscovery).
    lane_action advance(lane& l) {
        for (;;) {
            lane_stop stop;
            switch (l.at) {
                case phase::start: stop = begin_query(l); break;
                case phase::endpoint: stop = acquire_endpoint(l); break;
                case phase::discovery_send: stop = send_discovery(l); break;
                case phase::discovery_response: stop = on_discovery_response(l); break;
                case phase::control: stop = acquire_control_token(l); break;
                case phase::control_response: stop = on_control_token_response(l); break;
                case phase::subject_token: stop = get_subject_token(l); break;
                case phase::subject_token_response: stop = on_subject_token_response(l); break;
                case phase::data_token: stop = acquire_data_token(l); break;
                case phase::fetch: stop = fetch_data_token(l); break;
                case phase::fetch_exchange_send: stop = send_token_exchange(l); break;
                case phase::fetch_response: stop = on_data_token_response(l); break;
                case phase::invoke_send: return send_invocation(l);
                case phase::invoke_response: stop = on_invocation_response(l); break;
                case phase::backoff: stop = wait_for_backoff(l); break;
                case phase::finished: return {lane_action::finished};
            }
            if (stop) return stop;
        }
    }

    DBSERVE_DETAIL_INLINE lane_stop begin_query(lane& l) {
        if (target()->config_error) return finish(l, *target()->config_error);
        if (shared()->closed_already())
            return finish(l, dbserve::error(errc::cancelled, "the workspace (or client) this endpoint belongs to was "
                                                             "destroyed before the query started"));
        if (streaming_ || options_.trace || shared()->config.trace.generate)
            if (auto stop = begin_observing(l)) return stop;
        if (target()->configured_endpoint) {
            endpoint_ = target()->configured_endpoint.get();  // lives as long as the target
            l.at = phase::data_token;
        } else {
            l.at = phase::endpoint;
        }
        return go_on;
    }

    // The trace context and a stream's inactivity timeout, out of the common path.
    DBSERVE_DETAIL_OUT_OF_LINE lane_stop begin_observing(lane& l) {
        if (auto refused = observed_.begin(shared()->config.trace, options_.trace))
            return finish(l, std::move(*refused));
        if (streaming_)
            observed_.stream_idle_timeout = options_.stream_idle_timeout.count() > 0
                                                ? options_.stream_idle_timeout
                                                : shared()->config.stream_idle_timeout;
        return go_on;
    }

    lane_stop wait_for_backoff(lane& l) {
        if (now() < l.deadline) return lane_action{lane_action::wait_until, l.deadline};
        l.at = l.after_backoff;
        return go_on;
    }

    // ---------------------------------------------------------------- resolving the endpoint and the tokens

    lane_stop acquire_endpoint(lane& l) {
        lock_type lock(shared()->mutex);
        auto got = shared()->endpoints.acquire(target()->discovery_key, l.endpoint_wait);
        turn taken;
        if (auto stop = acquire_or_wait(l, lock, got, l.endpoint_wait, claims(l).discovery, taken)) return stop;
        if (taken == turn::fetch) {
            claims(l).discovery_key = target()->discovery_key;
            l.at = phase::control;
            l.resume = phase::discovery_send;
            return go_on;
        }
        endpoint_owner_ = std::move(got.endpoint);
        endpoint_ = endpoint_owner_.get();
        l.at = phase::data_token;
        return go_on;
    }

    lane_stop acquire_control_token(lane& l) {
        if (target()->path == token_path::supplied) return supplied_control_token(l);
        if (auto stop = require_credentials(l)) return stop;
        const detail::loaded_credentials& c = *creds_;
        if (c.method == credential_method::token) {
            control_token_ = c.values.token;
            control_serial_ = 0;  // not from the cache: nothing to refresh after a 401
            l.at = l.resume;
            return go_on;
        }
        detail::claim_set& held = claims(l);
        if (held.control == 0) {
            lock_type lock(shared()->mutex);
            auto got = shared()->control_tokens.acquire(c.control_key, now(), l.control_wait);
            turn taken;
            if (auto stop = acquire_or_wait(l, lock, got, l.control_wait, held.control, taken)) return stop;
            if (taken == turn::use) {
                use_control_token(*got.token);
                l.at = l.resume;
                return go_on;
            }
            if (taken == turn::use_and_refresh) {
                // A stale control-plane token is refreshed by the one caller that claimed
                // it, on its own path; the others keep using it.
                held.control = got.ticket;
                l.attempts = 0;
            }
        }
        if (c.method == credential_method::token_federation) {
            l.at = phase::subject_token;
            return go_on;
        }
        set_request(l, detail::client_credentials_token_request(c.token_url, c.values.client_id,
                                                                c.values.client_secret.reveal()));
        return send_control_token_request(l);
    }

    // With a token supplier and discovery, the supplier's token (a workspace token from a
    // broker or a file) also looks the endpoint up; it is asked anew for each lookup.
    lane_stop supplied_control_token(lane& l) {
        auto taken = take_supplied(shared()->wall_now());
        if (!taken) return lane_action{lane_action::load_credentials};
        result<supplied_token>& supplied = *taken;
        if (!supplied) {
            dbserve::error failure = std::move(supplied).error();
            failure.message = "could not get a token from the token supplier to look up serving endpoint '" +
                              target()->config.endpoint_name + "': " + failure.message;
            return finish(l, std::move(failure));
        }
        shared()->secrets.add_token("supplied-control-plane", supplied->access_token.reveal());
        control_token_ = std::move(supplied->access_token);
        control_serial_ = 0;  // not from the cache: nothing to refresh after a 401
        l.at = l.resume;
        return go_on;
    }

    lane_action send_control_token_request(lane& l) {
        const lane_action send = send_auth_request(l, target()->stats.token_requests, phase::control_response);
        detail::atomic_statistics::bump(target()->stats.control_plane_token_requests);
        return send;
    }

    // ---------------------------------------------------------------- token federation

    // The identity provider's JWT for this exchange: from the credentials (env-oidc), the
    // token file read by the credential step (file-oidc), or GitHub Actions (github-oidc).
    lane_stop get_subject_token(lane& l) {
        if (auto stop = take_credential_failure(l)) return stop;
        const detail::loaded_credentials& c = *creds_;
        switch (c.subject) {
            case subject_token_source::environment: subject_token_ = c.values.oidc_token; break;
            case subject_token_source::file:
                if (!subject_token_) {
                    subject_file_wanted_ = true;
                    return lane_action{lane_action::load_credentials};
                }
                break;
            case subject_token_source::github_actions: {
                auto request = detail::github_id_token_request(c.values.actions_id_token_request_url,
                                                               c.values.actions_id_token_request_token.reveal(),
                                                               c.audience);
                if (!request) return finish(l, std::move(request).error());
                set_request(l, std::move(*request));
                return send_auth_request(l, target()->stats.identity_token_requests, phase::subject_token_response);
            }
            case subject_token_source::none:
                return finish(l, dbserve::error(errc::configuration, "token federation without a subject token"));
        }
        return send_federated_exchange(l, c);
    }

    lane_stop on_subject_token_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        auto response = take_response(l);
        auto token = detail::read_github_id_token(response, shared()->wall_now());
        if (!token) return control_token_failed(l, *creds_, std::move(token).error());
        subject_token_ = std::move(*token);
        return send_federated_exchange(l, *creds_);
    }

    // RFC 8693 exchange of the JWT for a workspace token, which is then the control-plane
    // token (discovery, and the jwt-bearer exchange for the endpoint's token). The JWT is
    // read anew for every exchange and not kept past building the request.
    lane_action send_federated_exchange(lane& l, const detail::loaded_credentials& c) {
        shared()->secrets.add_token("subject-token\n" + c.host, subject_token_->reveal());
        set_request(l, detail::federated_token_request(c.token_url, subject_token_->reveal(), c.values.client_id));
        subject_token_.reset();
        return send_control_token_request(l);
    }

    lane_stop acquire_data_token(lane& l) {
        lock_type lock(shared()->mutex);
        auto got = endpoint_ == target()->configured_endpoint.get()
                       ? shared()->data_tokens.acquire(target()->configured_token_slot, now(), l.data_wait)
                       : shared()->data_tokens.acquire(endpoint_->token_key, now(), l.data_wait);
        turn taken;
        if (auto stop = acquire_or_wait(l, lock, got, l.data_wait, claims(l).data, taken)) {
            if (stop.kind == lane_action::wait_others && !waited_for_token_) {
                waited_for_token_ = true;
                detail::atomic_statistics::bump(target()->stats.token_waits);
            }
            return stop;
        }
        if (taken == turn::fetch) {
            claims(l).data_key = endpoint_->token_key;
            l.at = phase::fetch;
            return go_on;
        }
        set_bearer(*got.token);
        token_on_probation_ = got.on_probation;
        if (taken == turn::use_and_refresh) {
            background_.emplace();
            background_->background = true;
            background_->at = phase::fetch;
            claims(*background_).claim_data(got.ticket, endpoint_->token_key);
        }
        l.at = phase::invoke_send;
        return go_on;
    }

    // ---------------------------------------------------------------- discovery

    lane_stop send_discovery(lane& l) {
        if (auto stop = require_credentials(l)) return stop;
        auto request = make_discovery_request(creds_->host, target()->config.endpoint_name, control_token());
        if (!request) return finish(l, std::move(request).error());
        set_request(l, std::move(*request));
        return send_auth_request(l, target()->stats.discoveries, phase::discovery_response);
    }

    lane_stop on_discovery_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        auto response = take_response(l);
        const detail::loaded_credentials& c = *creds_;
        if (response && response->status == 401 && control_serial_ != 0) {
            // The control-plane token was refused: drop it (if still cached) and look up
            // once more with a new one, as the data plane does.
            refuse_control_token(c, *response);
            if (!discovery_retried_after_401_) {
                discovery_retried_after_401_ = true;
                l.at = phase::control;
                l.resume = phase::discovery_send;
                return go_on;
            }
        }
        result<resolved_endpoint> found =
            response ? parse_discovery_response(*response, target()->config.endpoint_name, c.host,
                                                shared()->wall_now(), target()->config.served_model)
                     : result<resolved_endpoint>(std::move(response).error());
        if (!found) return discovery_failed(l, response, std::move(found).error());
        auto allowed =
            check_discovered_endpoint_host(found->url, c.host, shared()->config.allowed_endpoint_hosts);
        if (!allowed) return finish(l, std::move(allowed).error());
        lock_type lock(shared()->mutex);
        endpoint_owner_ =
            shared()->endpoints.complete(target()->discovery_key, claims(l).discovery, std::move(*found));
        endpoint_ = endpoint_owner_.get();
        claims(l).discovery = 0;
        shared()->notify(lock);
        if (observed()) {
            query_event e;
            e.kind = event_kind::discovered;
            e.reason = rediscovery_reason_.empty() ? std::string_view("first lookup") : rediscovery_reason_;
            e.latency = now() - observed_.request_sent[l.background];
            emit(e);
        }
        l.at = phase::data_token;
        return go_on;
    }

    lane_stop discovery_failed(lane& l, const result<http_response>& response, dbserve::error failure) {
        if (!response)
            failure.message =
                "could not look up serving endpoint '" + target()->config.endpoint_name + "': " + failure.message;
        // Only what the service or the network says is passing is retried; a missing,
        // unready or not route optimized endpoint is reported at once.
        const bool passing = !response || response->status == 429 || response->status == 503;
        if (passing && schedule_retry(l, failure, http_method::get, l.attempts, phase::discovery_send)) return go_on;
        return finish(l, std::move(failure));
    }

    void rediscover(std::string_view reason) {
        rediscovery_reason_ = reason;
        lock_type lock(shared()->mutex);
        shared()->endpoints.invalidate(target()->discovery_key, endpoint_);
        lock.unlock();
        rediscovered_ = true;
        endpoint_ = nullptr;
        endpoint_owner_.reset();
        main_.at = phase::endpoint;
    }

    // ---------------------------------------------------------------- token requests

    lane_stop on_control_token_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        auto response = take_response(l);
        const detail::loaded_credentials& c = *creds_;
        auto token = detail::read_token_response(
            response,
            c.method == credential_method::token_federation ? "a workspace token by token federation"
                                                             : "a control-plane token",
            c.token_url);
        if (!token) {
            dbserve::error failure = std::move(token).error();
            if (c.method == credential_method::token_federation) federation_hint(failure);
            return control_token_failed(l, c, std::move(failure));
        }
        lock_type lock(shared()->mutex);
        const cached_token& stored = shared()->control_tokens.complete(
            c.control_key, claims(l).control, std::move(token->access_token), token->expires_in, now());
        claims(l).control = 0;
        use_control_token(stored);
        shared()->secrets.add_token(c.control_key, stored.access_token.reveal());
        shared()->notify(lock);
        l.at = l.resume;
        return go_on;
    }

    // A refused federation is about the policy and the JWT, not a client secret.
    static void federation_hint(dbserve::error& failure) {
        const std::string_view secret_hint = detail::tokens::hint_for(errc::authentication);
        const auto at = failure.message.find(secret_hint);
        if (at == std::string::npos) return;
        failure.message.replace(at, secret_hint.size(),
                                "; check the federation policy (issuer, audience, subject) against the identity "
                                "provider's token, the audience asked for (DATABRICKS_TOKEN_AUDIENCE), and the "
                                "service principal's client id");
    }

    lane_stop control_token_failed(lane& l, const detail::loaded_credentials& c, dbserve::error failure) {
        if (l.at == phase::control_response && reload_after_refusal(failure)) {
            // The claim stays: the same fetch, with the credentials loaded again.
            l.at = phase::control;
            return go_on;
        }
        if (schedule_retry(l, failure, token_retry_method(), l.attempts, phase::control)) return go_on;
        lock_type lock(shared()->mutex);
        const bool for_waiters = shared()->control_tokens.fail(c.control_key, claims(l).control, failure, now());
        claims(l).control = 0;
        const cached_token* still = shared()->control_tokens.find(c.control_key);
        if (!for_waiters && still) {
            use_control_token(*still);
            shared()->notify(lock);
            l.at = l.resume;
            return go_on;
        }
        shared()->notify(lock);
        return finish(l, std::move(failure));
    }

    lane_stop fetch_data_token(lane& l) {
        if (target()->path == token_path::supplied) {
            if (!endpoint_->discovered) return fetch_supplied(l);
            // Discovered: the supplier's token is a workspace token, exchanged (jwt-bearer)
            // for the endpoint's as the SDKs do.
            l.at = phase::control;
            l.resume = phase::fetch_exchange_send;
            return go_on;
        }
        if (auto stop = require_credentials(l)) return stop;
        const detail::loaded_credentials& c = *creds_;
        if (c.method == credential_method::token) {
            // A ready OAuth token configured as the credential: used as it is. Its lifetime
            // is unknown; it is re-read from the credentials hourly.
            return data_token_arrived(l, c.values.token, std::chrono::hours(1));
        }
        if (target()->path == token_path::token_exchange || c.method == credential_method::token_federation) {
            // Federation gives a workspace token: the endpoint's token comes from the
            // jwt-bearer exchange with its authorization_details, as the SDKs do.
            l.at = phase::control;
            l.resume = phase::fetch_exchange_send;
            return go_on;
        }
        set_request(l, detail::client_credentials_token_request(c.token_url, c.values.client_id,
                                                                c.values.client_secret.reveal(),
                                                                endpoint_->authorization_details));
        return send_auth_request(l, target()->stats.token_requests, phase::fetch_response);
    }

    lane_stop send_token_exchange(lane& l) {
        if (auto stop = require_credentials(l)) return stop;
        set_request(l, detail::token_exchange_token_request(creds_->token_url, control_token(),
                                                            endpoint_->authorization_details));
        return send_auth_request(l, target()->stats.token_requests, phase::fetch_response);
    }

    lane_stop on_data_token_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        auto response = take_response(l);
        auto token = detail::read_token_response(response, "a token for serving endpoint '" + endpoint_->name + "'",
                                                 creds_->token_url);
        if (!token) {
            dbserve::error failure = std::move(token).error();
            const bool by_client_credentials = target()->path == token_path::client_credentials &&
                                               creds_->method == credential_method::client_credentials;
            if (by_client_credentials && reload_after_refusal(failure)) {
                l.at = phase::fetch;  // the claim stays: the same fetch, with the credentials loaded again
                return go_on;
            }
            if (!l.background && schedule_retry(l, failure, token_retry_method(), l.attempts, phase::fetch))
                return go_on;
            return data_fetch_failed(l, std::move(failure));
        }
        shared()->secrets.add_token(endpoint_->token_key, token->access_token.reveal());
        return data_token_arrived(l, std::move(token->access_token), token->expires_in);
    }

    // The token supplier's answer, checked against `wall`, once the credential step brought
    // it; nullopt: the supplier has not run yet, and the step is asked for.
    std::optional<result<supplied_token>> take_supplied(std::chrono::system_clock::time_point wall) {
        if (!supplied_) {
            supply_wanted_ = true;
            return std::nullopt;
        }
        result<supplied_token> answer = std::move(*supplied_);
        supplied_.reset();
        return detail::check_supplied_token(std::move(answer), wall);
    }

    // The supplier runs in the credential step; its answer is checked here.
    lane_stop fetch_supplied(lane& l) {
        const auto wall = shared()->wall_now();
        auto taken = take_supplied(wall);
        if (!taken) {
            if (observed()) observed_.request_sent[l.background] = now();
            return lane_action{lane_action::load_credentials};
        }
        result<supplied_token>& supplied = *taken;
        if (!supplied) {
            dbserve::error failure = std::move(supplied).error();
            failure.message = "could not get a token for serving endpoint '" + endpoint_->name +
                              "' from the token supplier: " + failure.message;
            return data_fetch_failed(l, std::move(failure));
        }
        shared()->secrets.add_token(endpoint_->token_key, supplied->access_token.reveal());
        return data_token_arrived(l, std::move(supplied->access_token), supplied->expires_at - wall);
    }

    // ---------------------------------------------------------------- the invocation

    lane_action send_invocation(lane& l) {
        if (invoke_attempts_ == 0) {
            // The slot may still hold the token request that got this query its token. The
            // configured endpoint's headers are built once per client: copying them is cheaper.
            const bool configured = endpoint_ == target()->configured_endpoint.get();
            auto built = configured ? detail::build_invocation_request(
                                          l.request, endpoint_->url, target()->configured_invocation_headers[streaming_],
                                          std::move(body_), options_.client_request_id, streaming_)
                                    : detail::build_invocation_request(
                                          l.request, endpoint_->url,
                                          detail::invocation_headers(shared()->workspace_id_for(*endpoint_), streaming_),
                                          std::move(body_), options_.client_request_id, streaming_);
            if (!built) return finish(l, std::move(built).error());
            observed_.add_headers(l.request, options_.trace);
        } else {
            if (parked_invocation_) {
                l.request = std::move(*parked_invocation_);
                parked_invocation_.reset();
            }
            // Discovered again: the endpoint moved.
            if (l.request.url != endpoint_->url)
                detail::retarget_invocation_request(l.request, endpoint_->url, shared()->workspace_id_for(*endpoint_));
        }
        if (request_bearer_serial_ != token_serial_ || invoke_attempts_ == 0) {
            detail::set_invocation_bearer(l.request, std::move(bearer_), invoke_attempts_ != 0);
            request_bearer_serial_ = token_serial_;
        }
        set_timeout(l, options_.timeout.count() > 0 ? options_.timeout : shared()->config.timeout);
        ++invoke_attempts_;
        if (streaming_) {
            stream_ = std::make_unique<detail::folded_stream>();
            observed_.new_attempt();
            if (observed() || observed_.stream_idle_timeout.count() > 0) observed_.request_sent[0] = now();
        }
        detail::atomic_statistics::bump(target()->stats.invocations);
        return begin_send(l, phase::invoke_response);
    }

    // ---------------------------------------------------------------- the answer

    lane_stop on_invocation_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        if (observed() && *l.response) response_bytes_ = (*l.response)->body.size();
        lane_stop stop = handle_invocation_response(l, *l.response);
        l.response.reset();
        return stop;
    }

    lane_stop handle_invocation_response(lane& l, result<http_response>& response) {
        if (!response) return invocation_not_answered(l, std::move(response).error());
        http_response& r = *response;
        if (streaming_) stream_->complete_head(r);
        if (r.status >= 200 && r.status <= 299) return invocation_succeeded(l, r);
        if (r.status == 401) return token_refused(l, r);
        if (r.status == 403) {
            dbserve::error failure = parse_service_error(r, shared()->wall_now());
            failure.code = errc::permission;
            failure.message = "not allowed to " + std::string(action_name()) + " on " + endpoint_label() + ": " +
                              failure.message + ". Grant the service principal Can Query on the endpoint";
            return finish(l, std::move(failure));
        }
        if (r.status == 404 && endpoint_->discovered && !rediscovered_) {
            rediscover("not found at its URL (HTTP 404)");
            return go_on;
        }
        dbserve::error failure = parse_service_error(r, shared()->wall_now());
        if (r.status == 404)
            failure.message = endpoint_label() + " was not found at " + endpoint_->url + ": " + failure.message;
        else
            failure.message = "query to " + endpoint_label() + " failed: " + failure.message;
        return retry_invocation_or_finish(l, std::move(failure));
    }

    // The transport gave no response.
    lane_stop invocation_not_answered(lane& l, dbserve::error failure) {
        if (streaming_ && stream_->received_any()) failure.request_may_have_been_processed = true;
        if (failure.code == errc::name_resolution && endpoint_->discovered && !rediscovered_) {
            rediscover("its host name did not resolve");
            return go_on;
        }
        failure.message = "query to " + endpoint_label() + " failed: " + failure.message;
        return retry_invocation_or_finish(l, std::move(failure));
    }

    lane_stop retry_invocation_or_finish(lane& l, dbserve::error failure) {
        if (schedule_retry(l, failure, http_method::post, invoke_attempts_, phase::invoke_send)) return go_on;
        return finish(l, outcome_unknown_note(std::move(failure)));
    }

    lane_stop invocation_succeeded(lane& l, http_response& r) {
        if (streaming_) return stream_succeeded(l, r);
        if (!detail::is_plainly_json(r) && looks_like_html(r))
            return finish(l, dbserve::error(errc::bad_response,
                                            "the query to " + endpoint_label() +
                                                " returned an HTML page instead of JSON (a login page or a "
                                                "proxy's page: with Private Link, check DNS and routing)"));
        return finish_success(l, r);
    }

    // A 2xx stream: a success once it ended well.
    lane_action stream_succeeded(lane& l, http_response& r) {
        auto ended = stream_->finish(r, [this] { return endpoint_label(); });
        if (!ended) return finish(l, std::move(ended).error());
        if (observed()) {
            if (observed_.stream_bytes == 0) observed_.stream_bytes = stream_->bytes();
            query_event e;
            e.kind = event_kind::stream_end;
            e.finish_reason = stream_->summary().finish_reason;
            e.usage = stream_->summary().usage;
            e.chunks = stream_->summary().chunks;
            e.latency = now() - started_;
            emit(e);
        }
        return finish_success(l, r);
    }

    lane_action finish_success(lane& l, http_response& r) {
        if (token_on_probation_) {
            // The key had 401s on young tokens: this token worked, so they count anew.
            lock_type lock(shared()->mutex);
            shared()->data_tokens.accepted(endpoint_->token_key);
        }
        outcome_.emplace(std::in_place);
        query_response& out = **outcome_;
        out.raw = std::move(r);
        detail::fill_response_fields(out);
        if (observed()) {
            response_bytes_ = out.raw.body.size();
            query_finished(nullptr, out.status, out.served_model_name);
        }
        if (!options_.client_request_id.empty() || observed_.traced()) link_result(l, out);
        l.at = phase::finished;
        detail::atomic_statistics::bump(target()->stats.queries_succeeded);
        return {lane_action::finished};
    }

    // The caller's request id and the trace, into the result.
    DBSERVE_DETAIL_OUT_OF_LINE void link_result(lane& l, query_response& out) {
        if (!options_.client_request_id.empty()) out.client_request_id = std::move(options_.client_request_id);
        if (observed_.traced())
            out.trace = observed_.take_for_result(options_.trace, l.request, background_.has_value());
    }

    // ---------------------------------------------------------------- observing a stream

    // A piece of a streamed body with an event sink or an inactivity timeout: the byte
    // times kept, and the first byte, first token and chunk events.
    DBSERVE_DETAIL_OUT_OF_LINE void observe_body_chunk(const http_response& head, std::string_view chunk) {
        const mono_time at = shared()->monotonic_now();
        const bool first_byte = !observed_.first_byte_seen && !chunk.empty();
        if (!chunk.empty()) {
            observed_.first_byte_seen = true;
            observed_.bytes_arrived(at, chunk.size());
        }
        const std::size_t before = stream_->summary().chunks;
        stream_->on_body_chunk(head, chunk);
        if (!observed()) return;
        if (first_byte) {
            query_event e;
            e.kind = event_kind::stream_first_byte;
            e.latency = at - started_;
            emit(e);
        }
        const std::size_t added = stream_->summary().chunks - before;
        for (std::size_t i = 0; i < added; ++i) {
            const chat_chunk& c = stream_->recent(added - i);
            if (!observed_.first_token_seen && !c.content().empty()) {
                observed_.first_token_seen = true;
                query_event e;
                e.kind = event_kind::stream_first_token;
                e.latency = at - started_;
                emit(e);
            }
            query_event e;
            e.kind = event_kind::stream_chunk;
            e.since_previous = at - (observed_.last_chunk_at == mono_time{} ? started_ : observed_.last_chunk_at);
            e.chunks = before + i + 1;
            observed_.last_chunk_at = at;
            emit(e);
        }
    }

    // A stream that sent nothing for its inactivity timeout ends the query (the transport
    // may not have noticed yet: a poll driver's wait says when to look).
    DBSERVE_DETAIL_COLD void stall_check() {
        auto stall = observed_.stall_deadline(observed_.request_sent[0]);
        if (!stall || now() < *stall) return;
        dbserve::error failure(errc::timeout, "the streamed response from " + endpoint_label() + " sent no byte for " +
                                                  detail::describe_duration(observed_.stream_idle_timeout) +
                                                  " (stream_idle_timeout)");
        failure.request_may_have_been_processed = true;
        claims_.abandon_all();
        background_.reset();
        finish(main_, outcome_unknown_note(std::move(failure)));
    }

    // A 401 from the data plane: that token is dropped and one new token tried.
    lane_stop token_refused(lane& l, const http_response& r) {
        dbserve::error failure = parse_service_error(r, shared()->wall_now());
        failure.code = errc::authentication;
        note_refusal(shared()->data_tokens, endpoint_->token_key, token_serial_, failure, endpoint_label(), "token",
                     ", as a new one would be refused too. Check that the token is scoped to this endpoint and "
                     "that the service principal still exists");
        if (!retried_after_401_) {
            retried_after_401_ = true;
            l.at = phase::data_token;
            return go_on;
        }
        failure.message = endpoint_label() + " refused a freshly issued token too (HTTP 401 twice): " +
                          failure.message +
                          ". Check that the token is scoped to this endpoint and that the service principal "
                          "still exists";
        return finish(l, std::move(failure));
    }

    std::string_view rediscovery_reason_;  // why the endpoint is looked up again, for its event
};

// The entry points a driver calls, outside the class so that with
// DBSERVE_SEPARATE_COMPILATION a driver's translation unit sees only their declarations
// and the protocol flow under them is compiled once (see config.hpp).
#if DBSERVE_HEADER_DEFINITIONS

DBSERVE_DECL query_operation::query_operation(std::shared_ptr<detail::client_shared> shared,
                                              std::shared_ptr<const detail::endpoint_target> target, std::string body,
                                              query_options options, bool streaming)
    : query_machinery(std::move(shared), std::move(target), std::move(body), std::move(options), streaming) {}

DBSERVE_DECL query_operation::query_operation(borrow_tag, detail::client_shared& shared,
                                              const detail::endpoint_target& target, std::string body,
                                              query_options options, bool streaming)
    : query_machinery(shared, target, std::move(body), std::move(options), streaming) {}

DBSERVE_DECL_STEP operation_step query_operation::next() {
    operation_step step;
    if (!shared() || delivered_) {
        step.kind = operation_step::done;
        return step;
    }
    if (take_chunk(step)) return step;
    step_time_valid_ = false;
    if (!began_) {
        began_ = true;
        started_ = now();
        start_deadline();
    }
    waiting_noted_ = false;
    if (has_deadline() && main_.at != phase::finished && deadline_ends_query()) expire(true);
    if (streaming_ && main_.at == phase::invoke_response && !main_.response) stall_check();
    lane_action background{lane_action::finished};
    if (background_) {
        background = advance(*background_);
        if (background.kind == lane_action::send) {
            send_step(*background_, step);
            return step;
        }
        if (background.kind == lane_action::load_credentials) {
            step.kind = operation_step::load_credentials;
            return step;
        }
        if (background.kind == lane_action::finished) background_.reset();
    }
    lane_action main = advance(main_);
    if (main.kind == lane_action::send) {
        if (!deadline_passed()) {
            send_step(main_, step);
            return step;
        }
        // A response came in at the deadline and the query would go on: it ends here.
        expire(false);
        main = lane_action{lane_action::finished};
    }
    if (main.kind == lane_action::load_credentials) {
        if (!deadline_passed()) {
            step.kind = operation_step::load_credentials;
            return step;
        }
        expire(false);
        main = lane_action{lane_action::finished};
    }
    if (take_chunk(step)) return step;
    if (main.kind == lane_action::finished && !background_)
        done_step(step);
    else
        wait_step(step, background, main);
    return step;
}

DBSERVE_DECL void query_operation::on_response(std::uint64_t request_id, result<http_response> response) {
    lane* l = lane_for(request_id);
    if (!l) return;
    l->response.emplace(std::move(response));
}

DBSERVE_DECL void query_operation::on_body_chunk(std::uint64_t request_id, const http_response& head,
                                                std::string_view chunk) {
    if (!streaming_ || main_.request_id != request_id || main_.at != phase::invoke_response) return;
    if (!observed() && observed_.stream_idle_timeout.count() <= 0) {
        stream_->on_body_chunk(head, chunk);
        return;
    }
    observe_body_chunk(head, chunk);
}

#endif  // DBSERVE_HEADER_DEFINITIONS

DBSERVE_END_NAMESPACE
