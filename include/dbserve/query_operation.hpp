// query_operation: one query as a sans-I/O state machine. It never sends, sleeps or
// starts a thread; it says what to do next and consumes what arrived:
//
//   step::send        send step.request (id step.request_id), then call
//                     on_response(id, result) (and on_body_chunk(id, ...) for a stream);
//   step::wait_until  call next() again once the monotonic clock reaches step.deadline;
//   step::chunk       a streamed chunk (step.stream_chunk) for the caller;
//   step::done        finished: *step.outcome is the result (move it out);
//   step::idle        (false in a boolean context) nothing to do until a response
//                     arrives, or, when step.waiting_for_others, until another operation
//                     of the same client finishes a token fetch or discovery: a poll loop
//                     calls next() again after it fed any operation of that client. When
//                     the query has a total deadline, step.deadline is that deadline: call
//                     next() again once the clock reaches it, even if nothing arrived.
//
// Several requests may be outstanding at once (a background token refresh beside the
// query itself). The operation is for one thread at a time; the caches it shares with
// the other operations of its client are locked. Dropping an unfinished operation
// releases whatever fetch it had claimed, so nobody waits for it forever.
//
// What a query does: resolve the endpoint (configured URL, or discovery by name with a
// control-plane token, cached per name), get the data-plane token (cached per URL and
// authorization_details: fresh → use; stale → use and let one caller refresh it in the
// background; expired → one caller fetches while the others wait), POST the body, and on
// failure: 401 → drop that token, fetch a new one, retry once; 403 → permission error;
// 404 or unresolvable data-plane host after discovery → discover again once; 429/503 and
// connection failures → retry_delay(); a POST whose outcome is unknown is not repeated
// unless retry_policy says so. A total deadline (query_options::deadline, else
// client_config::query_deadline) bounds all of it: each request's timeout is at most the
// time left, no retry wait ends past it, and once it passes the query ends with
// errc::timeout (claims on shared fetches are given up, so a waiting query takes over).
#pragma once

#include <dbserve/client/detail/cache_acquire.hpp>
#include <dbserve/client/detail/cache_claims.hpp>
#include <dbserve/client/detail/query_lane.hpp>
#include <dbserve/client/detail/token_reading.hpp>
#include <dbserve/client/request_builders.hpp>
#include <dbserve/client/stream_folding.hpp>
#include <dbserve/client_config.hpp>
#include <dbserve/detail/client_shared.hpp>
#include <dbserve/detail/config.hpp>
#include <dbserve/endpoint.hpp>
#include <dbserve/error.hpp>
#include <dbserve/http.hpp>
#include <dbserve/query_response.hpp>
#include <dbserve/responses.hpp>
#include <dbserve/result.hpp>
#include <dbserve/service_error.hpp>
#include <dbserve/transport.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

struct operation_step {
    enum kind_type { idle, send, wait_until, chunk, done };
    kind_type kind = idle;

    // send
    std::uint64_t request_id = 0;
    const http_request* request = nullptr;  // owned by the operation, valid until on_response
    std::chrono::milliseconds timeout{0};   // the deadline for this request (send_options::timeout)
    bool streaming = false;                 // deliver the body through on_body_chunk
    // wait_until: when to call next() again; idle: the query's total deadline, if any
    std::chrono::steady_clock::time_point deadline{};
    // idle: waiting for another operation of the client (token fetch, discovery)
    bool waiting_for_others = false;
    std::uint64_t observed_version = 0;
    // chunk: owned by the operation, valid until the next call on it
    const chat_chunk* stream_chunk = nullptr;
    // done: the result, owned by the operation (move it out); null on later calls
    result<query_response>* outcome = nullptr;

    explicit operator bool() const noexcept { return kind != idle; }

    // send_options for a transport (without a chunk handler).
    send_options options() const {
        send_options o;
        o.timeout = timeout;
        return o;
    }
};

class query_operation {
public:
    using mono_time = std::chrono::steady_clock::time_point;

    query_operation(std::shared_ptr<detail::client_shared> shared, std::string body, query_options options = {},
                    bool streaming = false)
        : claims_(std::move(shared)), body_(std::move(body)), options_(std::move(options)), streaming_(streaming) {
        start();
    }

    // For a driver that outlives the operation inside one call (the blocking client): the
    // client's state is borrowed, not shared, which saves two atomic operations per query.
    struct borrow_tag {};
    query_operation(borrow_tag, detail::client_shared& shared, std::string body, query_options options = {},
                    bool streaming = false)
        : claims_(shared), body_(std::move(body)), options_(std::move(options)), streaming_(streaming) {
        start();
    }

    // Claims on shared fetches move with the operation (a moved-from one holds none) and
    // are given up when it is dropped unfinished.
    query_operation(query_operation&&) = default;
    query_operation& operator=(query_operation&&) = default;
    query_operation(const query_operation&) = delete;
    query_operation& operator=(const query_operation&) = delete;

    // What to do next (see the header comment).
    operation_step next() {
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
        lane_action background{lane_action::finished};
        if (background_) {
            background = advance(*background_);
            if (background.kind == lane_action::send) return send_step(*background_, step);
            if (background.kind == lane_action::finished) background_.reset();
        }
        lane_action main = advance(main_);
        if (main.kind == lane_action::send) {
            if (!deadline_passed()) return send_step(main_, step);
            // A response came in at the deadline and the query would go on: it ends here.
            expire(false);
            main = lane_action{lane_action::finished};
        }
        if (take_chunk(step)) return step;
        if (main.kind == lane_action::finished && !background_) return done_step(step);
        return wait_step(step, background, main);
    }

    // Takes the next streamed chunk not yet handed out (drivers call it from inside a
    // transport's body callback so chunks reach the caller as they arrive).
    std::optional<chat_chunk> pop_chunk() { return stream_ ? stream_->pop_chunk() : std::nullopt; }

    // The response (or transport error) to the request with this id. Unknown ids are
    // ignored.
    void on_response(std::uint64_t request_id, result<http_response> response) {
        lane* l = lane_for(request_id);
        if (!l) return;
        l->response.emplace(std::move(response));
    }

    // A piece of a streamed response body. `head` carries the status and headers.
    void on_body_chunk(std::uint64_t request_id, const http_response& head, std::string_view chunk) {
        if (!streaming_ || main_.request_id != request_id || main_.at != phase::invoke_response) return;
        stream_->on_body_chunk(head, chunk);
    }

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
    using phase = detail::query_phase;
    using lane = detail::query_lane;
    using lane_action = detail::lane_action;
    using turn = detail::cache_turn;
    // A phase's answer: where the lane stopped, or nullopt (go_on) when it goes on.
    using lane_stop = std::optional<lane_action>;
    static constexpr std::nullopt_t go_on = std::nullopt;
    using lock_type = std::unique_lock<std::mutex>;

    detail::client_shared* shared() const noexcept { return claims_.shared(); }
    detail::claim_set& claims(const lane& l) noexcept { return claims_.of(l.background); }

    void start() {
        if (streaming_) stream_ = std::make_unique<detail::folded_stream>();
        detail::atomic_statistics::bump(shared()->stats.queries_started);
    }

    // ---------------------------------------------------------------- steps

    bool take_chunk(operation_step& step) {
        if (!stream_) return false;
        step.stream_chunk = stream_->next_chunk();
        if (!step.stream_chunk) return false;
        step.kind = operation_step::chunk;
        return true;
    }

    operation_step& send_step(lane& l, operation_step& step) {
        step.kind = operation_step::send;
        step.request_id = l.request_id;
        step.request = &l.request;
        step.timeout = l.timeout;
        step.streaming = streaming_ && &l == &main_ && l.at == phase::invoke_response;
        return step;
    }

    operation_step& done_step(operation_step& step) {
        step.kind = operation_step::done;
        if (!outcome_) outcome_.emplace(unexpected(errc::cancelled, "the query ended without a result"));
        step.outcome = &*outcome_;
        delivered_ = true;
        return step;
    }

    // Neither lane sends: the earlier timed wait, else idle (waiting for a response, or for
    // another operation of the client).
    operation_step& wait_step(operation_step& step, const lane_action& background, const lane_action& main) {
        const lane_action* timed = nullptr;
        for (const lane_action* a : {&background, &main})
            if (a->kind == lane_action::wait_until && (!timed || a->deadline < timed->deadline)) timed = a;
        if (timed) {
            step.kind = operation_step::wait_until;
            step.deadline = timed->deadline;
            if (has_deadline() && deadline_at_ < step.deadline) step.deadline = deadline_at_;
            return step;
        }
        step.kind = operation_step::idle;
        if (has_deadline()) step.deadline = deadline_at_;
        step.waiting_for_others =
            background.kind == lane_action::wait_others || main.kind == lane_action::wait_others;
        step.observed_version = observed_version_;
        return step;
    }

    // One clock reading per next() call, taken when first needed: a step happens at one
    // instant, and a step that needs no time reads no clock.
    mono_time now() const {
        if (!step_time_valid_) {
            step_time_ = shared()->monotonic_now();
            step_time_valid_ = true;
        }
        return step_time_;
    }
    std::chrono::milliseconds elapsed() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now() - started_);
    }

    lane* lane_for(std::uint64_t id) {
        if (id == 0) return nullptr;
        if (main_.request_id == id) return &main_;
        if (background_ && background_->request_id == id) return &*background_;
        return nullptr;
    }

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
                case phase::data_token: stop = acquire_data_token(l); break;
                case phase::fetch: stop = fetch_data_token(l); break;
                case phase::fetch_exchange_send: stop = send_token_exchange(l); break;
                case phase::fetch_response: stop = on_data_token_response(l); break;
                case phase::invoke_send: return send_invocation(l);
                case phase::invoke_response: stop = on_invocation_response(l); break;
                case phase::backoff: stop = wait_for_backoff(l); break;
                case phase::finished: return {lane_action::finished};
            }
            if (stop) return *stop;
        }
    }

    lane_stop begin_query(lane& l) {
        if (shared()->config_error) return finish(l, *shared()->config_error);
        if (shared()->configured_endpoint) {
            endpoint_ = shared()->configured_endpoint.get();  // lives as long as the client
            l.at = phase::data_token;
        } else {
            l.at = phase::endpoint;
        }
        return go_on;
    }

    lane_stop wait_for_backoff(lane& l) {
        if (now() < l.deadline) return lane_action{lane_action::wait_until, l.deadline};
        l.at = l.after_backoff;
        return go_on;
    }

    // ---------------------------------------------------------------- caches

    // One look at a cache, the same for the endpoint, control-plane and data-plane caches
    // (acquire or wait): a wait is noted and stops the lane, a failure ends it, a fetch
    // makes the claim the lane's and starts its attempts over. go_on: `taken` says how.
    template <class Acquisition>
    lane_stop acquire_or_wait(lane& l, lock_type& lock, const Acquisition& got, std::uint64_t& wait_ticket,
                              std::uint64_t& claim, turn& taken) {
        taken = detail::take_turn(got, wait_ticket, claim);
        if (taken == turn::wait) {
            note_waiting(lock);
            return lane_action{lane_action::wait_others};
        }
        if (taken == turn::fail) {
            dbserve::error failure = *got.failure;
            lock.unlock();
            return finish(l, std::move(failure));
        }
        if (taken == turn::fetch) l.attempts = 0;
        return go_on;
    }

    void note_waiting(const lock_type&) {
        if (!waiting_noted_) {
            observed_version_ = shared()->version_locked();
            waiting_noted_ = true;
        }
    }

    lane_stop acquire_endpoint(lane& l) {
        lock_type lock(shared()->mutex);
        auto got = shared()->endpoints.acquire(shared()->config.endpoint_name, l.endpoint_wait);
        turn taken;
        if (auto stop = acquire_or_wait(l, lock, got, l.endpoint_wait, claims(l).discovery, taken)) return stop;
        if (taken == turn::fetch) {
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
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        const detail::loaded_credentials& c = **creds;
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
        set_request(l, detail::client_credentials_token_request(c.token_url, c.values.client_id,
                                                                c.values.client_secret.reveal()));
        const lane_action send = send_auth_request(l, shared()->stats.token_requests, phase::control_response);
        detail::atomic_statistics::bump(shared()->stats.control_plane_token_requests);
        return send;
    }

    lane_stop acquire_data_token(lane& l) {
        lock_type lock(shared()->mutex);
        auto got = endpoint_ == shared()->configured_endpoint.get()
                       ? shared()->data_tokens.acquire(shared()->configured_token_slot, now(), l.data_wait)
                       : shared()->data_tokens.acquire(endpoint_->token_key, now(), l.data_wait);
        turn taken;
        if (auto stop = acquire_or_wait(l, lock, got, l.data_wait, claims(l).data, taken)) {
            if (stop->kind == lane_action::wait_others && !waited_for_token_) {
                waited_for_token_ = true;
                detail::atomic_statistics::bump(shared()->stats.token_waits);
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

    // A data-plane token arrived: stored for every query of the client and the waiters
    // told; the main lane goes on to use it, a background refresh is done.
    lane_stop data_token_arrived(lane& l, secret_string token, std::chrono::nanoseconds ttl) {
        lock_type lock(shared()->mutex);
        shared()->data_tokens.complete(endpoint_->token_key, claims(l).data, std::move(token), ttl, now());
        claims(l).data = 0;
        shared()->notify(lock);
        if (l.background) {
            l.at = phase::finished;
            return lane_action{lane_action::finished};
        }
        l.at = phase::data_token;
        return go_on;
    }

    // A data-plane token fetch failed for good. go_on: the lane goes on (with the still
    // valid cached token).
    lane_stop data_fetch_failed(lane& l, dbserve::error failure) {
        lock_type lock(shared()->mutex);
        const bool for_waiters = shared()->data_tokens.fail(endpoint_->token_key, claims(l).data, failure, now());
        claims(l).data = 0;
        shared()->notify(lock);
        if (l.background) {
            l.at = phase::finished;
            return lane_action{lane_action::finished};
        }
        if (!for_waiters) {
            l.at = phase::data_token;
            return go_on;
        }
        return finish(l, std::move(failure));
    }

    void use_control_token(const cached_token& token) {
        control_token_ = token.access_token;
        control_serial_ = token.serial;
    }

    std::string_view control_token() const noexcept {
        return control_token_ ? control_token_->reveal() : std::string_view();
    }

    void set_bearer(const cached_token& token) {
        const std::string_view value = token.authorization.reveal();
        bearer_.assign(value.data(), value.size());
        token_serial_ = token.serial;
    }

    // ---------------------------------------------------------------- discovery

    lane_stop send_discovery(lane& l) {
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        auto request = make_discovery_request((*creds)->host, shared()->config.endpoint_name, control_token());
        if (!request) return finish(l, std::move(request).error());
        set_request(l, std::move(*request));
        return send_auth_request(l, shared()->stats.discoveries, phase::discovery_response);
    }

    lane_stop on_discovery_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        auto response = take_response(l);
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        if (response && response->status == 401 && control_serial_ != 0) {
            // The control-plane token was refused: drop it (if still cached) and look up
            // once more with a new one, as the data plane does.
            refuse_control_token(**creds, *response);
            if (!discovery_retried_after_401_) {
                discovery_retried_after_401_ = true;
                l.at = phase::control;
                l.resume = phase::discovery_send;
                return go_on;
            }
        }
        result<resolved_endpoint> found =
            response ? parse_discovery_response(*response, shared()->config.endpoint_name, (*creds)->host,
                                                shared()->wall_now(), shared()->config.served_model)
                     : result<resolved_endpoint>(std::move(response).error());
        if (!found) return discovery_failed(l, response, std::move(found).error());
        auto allowed =
            check_discovered_endpoint_host(found->url, (*creds)->host, shared()->config.allowed_endpoint_hosts);
        if (!allowed) return finish(l, std::move(allowed).error());
        lock_type lock(shared()->mutex);
        endpoint_owner_ =
            shared()->endpoints.complete(shared()->config.endpoint_name, claims(l).discovery, std::move(*found));
        endpoint_ = endpoint_owner_.get();
        claims(l).discovery = 0;
        shared()->notify(lock);
        l.at = phase::data_token;
        return go_on;
    }

    lane_stop discovery_failed(lane& l, const result<http_response>& response, dbserve::error failure) {
        if (!response)
            failure.message =
                "could not look up serving endpoint '" + shared()->config.endpoint_name + "': " + failure.message;
        // Only what the service or the network says is passing is retried; a missing,
        // unready or not route optimized endpoint is reported at once.
        const bool passing = !response || response->status == 429 || response->status == 503;
        if (passing && schedule_retry(l, failure, http_method::get, l.attempts, phase::discovery_send)) return go_on;
        return finish(l, std::move(failure));
    }

    void rediscover() {
        lock_type lock(shared()->mutex);
        shared()->endpoints.invalidate(endpoint_->name, endpoint_);
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
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        const detail::loaded_credentials& c = **creds;
        auto token = detail::read_token_response(response, "a control-plane token", c.token_url);
        if (!token) return control_token_failed(l, c, std::move(token).error());
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

    lane_stop control_token_failed(lane& l, const detail::loaded_credentials& c, dbserve::error failure) {
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
        if (shared()->path == token_path::supplied) return fetch_supplied(l);
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        const detail::loaded_credentials& c = **creds;
        if (c.method == credential_method::token) {
            // A ready OAuth token configured as the credential: used as it is. Its lifetime
            // is unknown; it is re-read from the credentials hourly.
            return data_token_arrived(l, c.values.token, std::chrono::hours(1));
        }
        if (shared()->path == token_path::token_exchange) {
            l.at = phase::control;
            l.resume = phase::fetch_exchange_send;
            return go_on;
        }
        set_request(l, detail::client_credentials_token_request(c.token_url, c.values.client_id,
                                                                c.values.client_secret.reveal(),
                                                                endpoint_->authorization_details));
        return send_auth_request(l, shared()->stats.token_requests, phase::fetch_response);
    }

    lane_stop send_token_exchange(lane& l) {
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        set_request(l, detail::token_exchange_token_request((*creds)->token_url, control_token(),
                                                            endpoint_->authorization_details));
        return send_auth_request(l, shared()->stats.token_requests, phase::fetch_response);
    }

    lane_stop on_data_token_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
        auto response = take_response(l);
        auto creds = shared()->credentials_once();
        if (!creds) return finish(l, std::move(creds).error());
        auto token = detail::read_token_response(response, "a token for serving endpoint '" + endpoint_->name + "'",
                                                 (*creds)->token_url);
        if (!token) {
            dbserve::error failure = std::move(token).error();
            if (!l.background && schedule_retry(l, failure, token_retry_method(), l.attempts, phase::fetch))
                return go_on;
            return data_fetch_failed(l, std::move(failure));
        }
        shared()->secrets.add_token(endpoint_->token_key, token->access_token.reveal());
        return data_token_arrived(l, std::move(token->access_token), token->expires_in);
    }

    lane_stop fetch_supplied(lane& l) {
        detail::atomic_statistics::bump(shared()->stats.supplied_token_calls);
        const auto wall = shared()->wall_now();
        auto supplied = detail::check_supplied_token(shared()->config.supply_token(), wall);
        if (!supplied) {
            dbserve::error failure = std::move(supplied).error();
            failure.message = "could not get a token for serving endpoint '" + endpoint_->name +
                              "' from the token supplier: " + failure.message;
            return data_fetch_failed(l, std::move(failure));
        }
        shared()->secrets.add_token(endpoint_->token_key, supplied->access_token.reveal());
        return data_token_arrived(l, std::move(supplied->access_token), supplied->expires_at - wall);
    }

    static http_method token_retry_method() noexcept {
        // A token request has no effect beyond issuing a token: repeating it is safe even
        // when its outcome is unknown, like a GET.
        return http_method::get;
    }

    // ---------------------------------------------------------------- sending

    lane_action begin_send(lane& l, phase then) {
        l.request_id = next_request_id_++;
        l.response.reset();
        l.at = then;
        return {lane_action::send};
    }

    // A discovery or token request: the auth timeout, one more attempt, counted.
    lane_action send_auth_request(lane& l, std::atomic<std::uint64_t>& counter, phase then) {
        set_timeout(l, shared()->config.auth_timeout);
        ++l.attempts;
        detail::atomic_statistics::bump(counter);
        return begin_send(l, then);
    }

    static result<http_response> take_response(lane& l) {
        result<http_response> response = std::move(*l.response);
        l.response.reset();
        return response;
    }

    // The main lane's request slot carries the invocation and, between its attempts, the
    // token or discovery requests a 401 or a re-discovery needs. The invocation (its body is
    // kept nowhere else) waits aside meanwhile, so the repeat sends the query, not the last
    // token request with its assertion.
    void set_request(lane& l, http_request request) {
        if (!l.background && invoke_attempts_ != 0 && !parked_invocation_) parked_invocation_ = std::move(l.request);
        l.request = std::move(request);
    }

    lane_action send_invocation(lane& l) {
        if (invoke_attempts_ == 0) {
            // The slot may still hold the token request that got this query its token.
            auto built = detail::build_invocation_request(l.request, endpoint_->url, invocation_headers(),
                                                          std::move(body_), options_.client_request_id, streaming_);
            if (!built) return finish(l, std::move(built).error());
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
        if (streaming_) stream_ = std::make_unique<detail::folded_stream>();
        detail::atomic_statistics::bump(shared()->stats.invocations);
        return begin_send(l, phase::invoke_response);
    }

    // The configured endpoint's headers are built once per client; copying them is cheaper.
    header_list invocation_headers() const {
        if (endpoint_ != shared()->configured_endpoint.get())
            return detail::invocation_headers(shared()->workspace_id_for(*endpoint_), streaming_);
        const header_list& constant = shared()->configured_invocation_headers[streaming_];
        header_list headers;
        headers.reserve(constant.size() + 1);
        headers.append(constant);
        return headers;
    }

    // ---------------------------------------------------------------- the answer

    lane_stop on_invocation_response(lane& l) {
        if (!l.response) return lane_action{lane_action::wait_response};
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
            rediscover();
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
            rediscover();
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
        if (streaming_) {
            auto ended = stream_->finish(r, [this] { return endpoint_label(); });
            if (!ended) return finish(l, std::move(ended).error());
        } else if (!detail::is_plainly_json(r) && looks_like_html(r)) {
            return finish(l, dbserve::error(errc::bad_response,
                                            "the query to " + endpoint_label() +
                                                " returned an HTML page instead of JSON (a login page or a "
                                                "proxy's page: with Private Link, check DNS and routing)"));
        }
        if (token_on_probation_) {
            // The key had 401s on young tokens: this token worked, so they count anew.
            lock_type lock(shared()->mutex);
            shared()->data_tokens.accepted(endpoint_->token_key);
        }
        outcome_.emplace(query_response());
        query_response& out = **outcome_;
        out.raw = std::move(r);
        detail::fill_response_fields(out);
        l.at = phase::finished;
        detail::atomic_statistics::bump(shared()->stats.queries_succeeded);
        return lane_action{lane_action::finished};
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

    // A 401 from the control plane on the control-plane token in use.
    void refuse_control_token(const detail::loaded_credentials& c, const http_response& response) {
        dbserve::error failure = parse_service_error(response, shared()->wall_now());
        failure.code = errc::authentication;
        note_refusal(shared()->control_tokens, c.control_key, control_serial_, failure,
                     "the serving-endpoints API of workspace " + c.host, "control-plane token", "");
    }

    // A 401 on the token `serial` of `key`: drops it if still cached. After the second in a
    // row on freshly issued tokens, fetches for the key wait, and callers meanwhile get an
    // error saying who refused which tokens (`kind`), the server's words, and `advice`.
    void note_refusal(token_cache& cache, std::string_view key, std::uint64_t serial, const dbserve::error& failure,
                      const std::string& refused_by, std::string_view kind, std::string_view advice) {
        auto blocked_failure = [&](std::chrono::milliseconds blocked) {
            dbserve::error e = failure;
            e.message = refused_by + " refused two freshly issued " + std::string(kind) + "s in a row (HTTP 401): " +
                        failure.message + ". No new " + std::string(kind) + " is requested for it for the next " +
                        detail::describe_duration(blocked) + std::string(advice);
            return e;
        };
        lock_type lock(shared()->mutex);
        cache.refused(key, serial, now(), blocked_failure);
        shared()->notify(lock);
    }

    std::string endpoint_label() const {
        std::string label = "serving endpoint '" + endpoint_->name + "'";
        if (!endpoint_->id.empty()) label += " (id " + endpoint_->id + ")";
        return label;
    }

    std::string_view action_name() const noexcept {
        return shared()->config.action == endpoint_action::manage_inference_endpoint ? "manage_inference_endpoint"
                                                                                    : "query_inference_endpoint";
    }

    static dbserve::error outcome_unknown_note(dbserve::error failure) {
        if (failure.request_may_have_been_processed)
            failure.message +=
                ". The request may have reached the model, so its outcome is unknown; it was not repeated "
                "(set retry_policy::retry_post_when_outcome_unknown to allow repeating it)";
        return failure;
    }

    // ---------------------------------------------------------------- endings

    bool schedule_retry(lane& l, dbserve::error& failure, http_method method, int attempts, phase resume) {
        auto delay = retry_delay(shared()->config.retry, failure, method, attempts, elapsed(), shared()->jitter());
        if (!delay) return false;
        if (has_deadline() && now() + *delay >= deadline_at_) {
            failure.message += " (not retried: waiting " + detail::describe_duration(*delay) +
                               " would pass the query's deadline of " + detail::describe_duration(deadline_total_) + ")";
            return false;
        }
        detail::atomic_statistics::bump(shared()->stats.retries);
        l.deadline = now() + *delay;
        l.after_backoff = resume;
        l.at = phase::backoff;
        return true;
    }

    // Ends a lane with an error: fails its claims (the callers waiting for them get the
    // same error) and, for the main lane, records the outcome.
    lane_action finish(lane& l, dbserve::error failure) {
        shared()->secrets.scrub(failure);  // the one way out of an operation for an error
        detail::claim_set& held = claims(l);
        if (held.any()) claims_.fail(held, failure, now());
        l.at = phase::finished;
        if (!l.background) {
            outcome_.emplace(std::move(failure));
            detail::atomic_statistics::bump(shared()->stats.queries_failed);
        }
        return {lane_action::finished};
    }

    // ---------------------------------------------------------------- the total deadline

    void start_deadline() {
        deadline_total_ = options_.deadline.count() > 0 ? options_.deadline : shared()->config.query_deadline;
        if (has_deadline()) deadline_at_ = started_ + deadline_total_;
    }

    bool has_deadline() const { return deadline_total_.count() > 0; }
    bool deadline_passed() const { return has_deadline() && now() >= deadline_at_; }

    // Whether the deadline ends the query now: it has passed (unless a response that
    // arrived in time is waiting to be read), or the request it cut short timed out.
    bool deadline_ends_query() const {
        if (!main_.response) return deadline_passed();
        return !*main_.response && main_.response->error().code == errc::timeout && main_.timeout_cut_by_deadline;
    }

    // Each request's timeout: its own (zero: the transport's), at most the time left.
    void set_timeout(lane& l, std::chrono::milliseconds per_attempt) {
        l.timeout = per_attempt;
        l.timeout_cut_by_deadline = false;
        if (!has_deadline()) return;
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_at_ - now());
        if (left < std::chrono::milliseconds{1}) left = std::chrono::milliseconds{1};
        if (per_attempt.count() <= 0 || left < per_attempt) {
            l.timeout = left;
            l.timeout_cut_by_deadline = true;
        }
    }

    // Ends the query with the deadline's error. Claims are given up, not failed: the
    // deadline is this query's, so a waiting query fetches in its place. `request_out`:
    // the main lane's request was handed out.
    void expire(bool request_out) {
        bool may_have_run = false;
        if (main_.at == phase::invoke_response) {
            if (main_.response && !*main_.response)
                may_have_run = main_.response->error().request_may_have_been_processed;
            else
                may_have_run = request_out;
        }
        const std::string& name = endpoint_ ? endpoint_->name : shared()->config.endpoint_name;
        dbserve::error failure(errc::timeout, "the query passed its total deadline of " +
                                                  detail::describe_duration(deadline_total_) + " while " +
                                                  detail::describe_activity(main_, name, shared()->path == token_path::supplied));
        failure.request_may_have_been_processed = may_have_run;
        claims_.abandon_all();
        background_.reset();
        main_.response.reset();
        finish(main_, outcome_unknown_note(std::move(failure)));
    }

    // First: released last, and on a move assignment the old claims are given up first.
    detail::query_claims claims_;
    const resolved_endpoint* endpoint_ = nullptr;
    std::shared_ptr<const resolved_endpoint> endpoint_owner_;  // keeps a discovered endpoint alive
    std::string body_;
    query_options options_;
    bool streaming_ = false;
    lane main_;
    std::optional<lane> background_;  // a stale token's refresh, beside the query
    std::optional<secret_string> control_token_;  // set only on paths that need one
    std::string bearer_;
    std::uint64_t token_serial_ = 0;
    bool token_on_probation_ = false;  // see token_cache::acquisition::on_probation
    std::uint64_t control_serial_ = 0;  // the control-plane token in use (0: none from the cache)
    bool discovery_retried_after_401_ = false;
    mono_time deadline_at_{};
    std::chrono::milliseconds deadline_total_{0};
    std::uint64_t request_bearer_serial_ = 0;
    bool retried_after_401_ = false;
    bool rediscovered_ = false;
    int invoke_attempts_ = 0;
    std::optional<http_request> parked_invocation_;  // see set_request
    mono_time started_{};
    bool began_ = false;
    std::optional<result<query_response>> outcome_;
    bool delivered_ = false;
    std::uint64_t next_request_id_ = 1;
    bool waited_for_token_ = false;
    bool waiting_noted_ = false;
    std::uint64_t observed_version_ = 0;
    mutable mono_time step_time_{};
    mutable bool step_time_valid_ = false;
    std::unique_ptr<detail::folded_stream> stream_;  // only for streamed queries
};

DBSERVE_END_NAMESPACE
