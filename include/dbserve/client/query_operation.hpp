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

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/service_error.hpp>
#include <dbserve/payload/sse.hpp>
#include <dbserve/protocol/token_response.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/url.hpp>

#include <chrono>
#include <cstdint>
#include <vector>
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

namespace detail {

enum class query_phase : std::uint8_t {
    start,
    endpoint,           // acquire the endpoint (discovery cache)
    discovery_send,
    discovery_response,
    control,            // acquire a control-plane token, then go to `resume`
    control_response,
    data_token,         // acquire the data-plane token (main lane)
    fetch,              // fetch the data-plane token (holds data_claim)
    fetch_exchange_send,
    fetch_response,
    invoke_send,
    invoke_response,
    backoff,            // wait until `deadline`, then go to `after_backoff`
    finished,
};

struct query_stream_state {
    sse_parser parser;
    std::vector<chat_chunk> chunks;  // [chunk_read, end) not yet handed out
    std::size_t chunk_read = 0;
    stream_summary summary;
    http_response head;
    std::string error_body;
    std::optional<dbserve::error> error;
    std::size_t bytes = 0;
};

// One line of work in an operation: the query itself, or a background token refresh.
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
    std::uint64_t endpoint_wait = 0, control_wait = 0, data_wait = 0;
    std::uint64_t discovery_claim = 0, control_claim = 0, data_claim = 0;
    int attempts = 0;  // attempts of the current token or discovery request
    std::chrono::steady_clock::time_point deadline{};
};

}  // namespace detail

class query_operation {
public:
    using mono_time = std::chrono::steady_clock::time_point;

    query_operation(std::shared_ptr<detail::client_shared> shared, std::string body, query_options options = {},
                    bool streaming = false)
        : shared_(shared.get()), owner_(std::move(shared)), body_(std::move(body)), options_(std::move(options)),
          streaming_(streaming) {
        start();
    }

    // For a driver that outlives the operation inside one call (the blocking client): the
    // client's state is borrowed, not shared, which saves two atomic operations per query.
    struct borrow_tag {};
    query_operation(borrow_tag, detail::client_shared& shared, std::string body, query_options options = {},
                    bool streaming = false)
        : shared_(&shared), body_(std::move(body)), options_(std::move(options)), streaming_(streaming) {
        start();
    }

    query_operation(query_operation&& other) { *this = std::move(other); }
    query_operation& operator=(query_operation&& other) {
        if (this != &other) {
            release_claims();
            shared_ = other.shared_;
            other.shared_ = nullptr;  // the moved-from operation holds no claims
            owner_ = std::move(other.owner_);
            endpoint_ = other.endpoint_;
            endpoint_owner_ = std::move(other.endpoint_owner_);
            body_ = std::move(other.body_);
            options_ = std::move(other.options_);
            streaming_ = other.streaming_;
            stream_ = std::move(other.stream_);
            main_ = std::move(other.main_);
            background_ = std::move(other.background_);
            control_token_ = std::move(other.control_token_);
            bearer_ = std::move(other.bearer_);
            token_serial_ = other.token_serial_;
            token_on_probation_ = other.token_on_probation_;
            control_serial_ = other.control_serial_;
            discovery_retried_after_401_ = other.discovery_retried_after_401_;
            deadline_at_ = other.deadline_at_;
            deadline_total_ = other.deadline_total_;
            request_bearer_serial_ = other.request_bearer_serial_;
            waiting_noted_ = other.waiting_noted_;
            observed_version_ = other.observed_version_;
            retried_after_401_ = other.retried_after_401_;
            rediscovered_ = other.rediscovered_;
            invoke_attempts_ = other.invoke_attempts_;
            parked_invocation_ = std::move(other.parked_invocation_);
            started_ = other.started_;
            began_ = other.began_;
            outcome_ = std::move(other.outcome_);
            delivered_ = other.delivered_;
            next_request_id_ = other.next_request_id_;
            waited_for_token_ = other.waited_for_token_;
        }
        return *this;
    }
    query_operation(const query_operation&) = delete;
    query_operation& operator=(const query_operation&) = delete;
    ~query_operation() { release_claims(); }

    // What to do next (see the header comment).
    operation_step next() {
        operation_step step;
        if (!shared_ || delivered_) {
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
            if (background.kind == lane_action::send) {
                send_step(*background_, step);
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
        if (take_chunk(step)) return step;
        if (main.kind == lane_action::finished && !background_) {
            step.kind = operation_step::done;
            if (!outcome_) outcome_.emplace(unexpected(errc::cancelled, "the query ended without a result"));
            step.outcome = &*outcome_;
            delivered_ = true;
            return step;
        }
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

    // Takes the next streamed chunk not yet handed out (drivers call it from inside a
    // transport's body callback so chunks reach the caller as they arrive).
    std::optional<chat_chunk> pop_chunk() {
        if (!stream_ || stream_->chunk_read >= stream_->chunks.size()) return std::nullopt;
        std::optional<chat_chunk> out(std::move(stream_->chunks[stream_->chunk_read++]));
        return out;
    }

private:
    void start() {
        if (streaming_) stream_ = std::make_unique<stream_state>();
        detail::atomic_statistics::bump(shared_->stats.queries_started);
    }

    bool take_chunk(operation_step& step) {
        if (!stream_) return false;
        if (stream_->chunk_read >= stream_->chunks.size()) {
            // Every chunk was handed out (and the caller is done with the last one).
            stream_->chunks.clear();
            stream_->chunk_read = 0;
            return false;
        }
        step.kind = operation_step::chunk;
        step.stream_chunk = &stream_->chunks[stream_->chunk_read++];
        return true;
    }

public:
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
        if (stream_->head.status == 0) {
            stream_->head.status = head.status;
            stream_->head.reason = head.reason;
            stream_->head.headers = head.headers;
        }
        stream_->bytes += chunk.size();
        if (head.status < 200 || head.status > 299) {
            stream_->error_body.append(chunk.data(), chunk.size());
            return;
        }
        if (stream_->chunk_read >= stream_->chunks.size()) {
            stream_->chunks.clear();
            stream_->chunk_read = 0;
        }
        stream_->parser.feed(chunk, [this](const sse_event& event) { on_event(event); });
    }

    bool finished() const noexcept { return delivered_; }
    bool is_streaming() const noexcept { return streaming_; }
    // For a streamed query: what the stream added up to so far.
    const stream_summary& summary() const noexcept {
        static const stream_summary none;
        return stream_ ? stream_->summary : none;
    }
    // The endpoint this query resolved to, once known.
    const resolved_endpoint* endpoint() const noexcept { return endpoint_; }

private:
    using phase = detail::query_phase;
    using stream_state = detail::query_stream_state;
    using lane = detail::query_lane;

    struct lane_action {
        enum kind_type { send, wait_until, wait_others, wait_response, finished };
        kind_type kind;
        mono_time deadline{};
    };

    using lock_type = std::unique_lock<std::mutex>;

    // One clock reading per next() call, taken when first needed: a step happens at one
    // instant, and a step that needs no time reads no clock.
    mono_time now() const {
        if (!step_time_valid_) {
            step_time_ = shared_->monotonic_now();
            step_time_valid_ = true;
        }
        return step_time_;
    }
    std::chrono::milliseconds elapsed() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now() - started_);
    }

    std::string_view control_token() const noexcept {
        return control_token_ ? control_token_->reveal() : std::string_view();
    }

    lane* lane_for(std::uint64_t id) {
        if (id == 0) return nullptr;
        if (main_.request_id == id) return &main_;
        if (background_ && background_->request_id == id) return &*background_;
        return nullptr;
    }

    void send_step(lane& l, operation_step& step) {
        step.kind = operation_step::send;
        step.request_id = l.request_id;
        step.request = &l.request;
        step.timeout = l.timeout;
        step.streaming = streaming_ && &l == &main_ && l.at == phase::invoke_response;
    }

    lane_action begin_send(lane& l, phase then) {
        l.request_id = next_request_id_++;
        l.response.reset();
        l.at = then;
        return {lane_action::send};
    }

    void note_waiting(const lock_type&) {
        if (!waiting_noted_) {
            observed_version_ = shared_->version_locked();
            waiting_noted_ = true;
        }
    }

    // Advances one lane until it must send, wait or has finished.
    lane_action advance(lane& l) {
        for (;;) {
            switch (l.at) {
                case phase::start: {
                    if (shared_->config_error) return finish(l, *shared_->config_error);
                    if (shared_->configured_endpoint) {
                        endpoint_ = shared_->configured_endpoint.get();  // lives as long as the client
                        l.at = phase::data_token;
                    } else {
                        l.at = phase::endpoint;
                    }
                    break;
                }
                case phase::endpoint: {
                    lock_type lock(shared_->mutex);
                    auto got = shared_->endpoints.acquire(shared_->config.endpoint_name, l.endpoint_wait);
                    switch (got.what) {
                        case endpoint_cache::decision::use:
                            endpoint_owner_ = std::move(got.endpoint);
                            endpoint_ = endpoint_owner_.get();
                            l.endpoint_wait = 0;
                            l.at = phase::data_token;
                            break;
                        case endpoint_cache::decision::wait:
                            l.endpoint_wait = got.ticket;
                            note_waiting(lock);
                            return {lane_action::wait_others};
                        case endpoint_cache::decision::fail: {
                            dbserve::error failure = *got.failure;
                            lock.unlock();
                            return finish(l, std::move(failure));
                        }
                        case endpoint_cache::decision::fetch:
                            l.endpoint_wait = 0;
                            l.discovery_claim = got.ticket;
                            l.attempts = 0;
                            l.at = phase::control;
                            l.resume = phase::discovery_send;
                            break;
                    }
                    break;
                }
                case phase::discovery_send: {
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    auto request = make_discovery_request((*creds)->host, shared_->config.endpoint_name,
                                                          control_token());
                    if (!request) return finish(l, std::move(request).error());
                    set_request(l, std::move(*request));
                    set_timeout(l, shared_->config.auth_timeout);
                    ++l.attempts;
                    detail::atomic_statistics::bump(shared_->stats.discoveries);
                    return begin_send(l, phase::discovery_response);
                }
                case phase::discovery_response: {
                    if (!l.response) return {lane_action::wait_response};
                    auto response = std::move(*l.response);
                    l.response.reset();
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    if (response && response->status == 401 && control_serial_ != 0) {
                        // The control-plane token was refused: drop it (if still cached) and
                        // look up once more with a new one, as the data plane does.
                        refuse_control_token(**creds, *response);
                        if (!discovery_retried_after_401_) {
                            discovery_retried_after_401_ = true;
                            l.at = phase::control;
                            l.resume = phase::discovery_send;
                            break;
                        }
                    }
                    result<resolved_endpoint> found =
                        response ? parse_discovery_response(*response, shared_->config.endpoint_name, (*creds)->host,
                                                            shared_->wall_now(), shared_->config.served_model)
                                 : result<resolved_endpoint>(std::move(response).error());
                    if (!found) {
                        dbserve::error failure = std::move(found).error();
                        if (!response)
                            failure.message = "could not look up serving endpoint '" + shared_->config.endpoint_name +
                                              "': " + failure.message;
                        // Only what the service or the network says is passing is retried; a
                        // missing, unready or not route optimized endpoint is reported at once.
                        const bool passing = !response || response->status == 429 || response->status == 503;
                        if (passing && schedule_retry(l, failure, http_method::get, l.attempts, phase::discovery_send))
                            break;
                        return finish(l, std::move(failure));
                    }
                    auto allowed = check_discovered_endpoint_host(found->url, (*creds)->host,
                                                                  shared_->config.allowed_endpoint_hosts);
                    if (!allowed) return finish(l, std::move(allowed).error());
                    lock_type lock(shared_->mutex);
                    endpoint_owner_ = shared_->endpoints.complete(shared_->config.endpoint_name, l.discovery_claim,
                                                                  std::move(*found));
                    endpoint_ = endpoint_owner_.get();
                    l.discovery_claim = 0;
                    shared_->notify(lock);
                    l.at = phase::data_token;
                    break;
                }
                case phase::control: {
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    const detail::loaded_credentials& c = **creds;
                    if (c.method == credential_method::token) {
                        control_token_ = c.values.token;
                        control_serial_ = 0;  // not from the cache: nothing to refresh after a 401
                        l.at = l.resume;
                        break;
                    }
                    if (l.control_claim == 0) {
                        lock_type lock(shared_->mutex);
                        auto got = shared_->control_tokens.acquire(c.control_key, now(), l.control_wait);
                        switch (got.what) {
                            case token_cache::decision::use:
                                control_token_ = got.token->access_token;
                                control_serial_ = got.token->serial;
                                l.control_wait = 0;
                                l.at = l.resume;
                                continue;
                            case token_cache::decision::wait:
                                l.control_wait = got.ticket;
                                note_waiting(lock);
                                return {lane_action::wait_others};
                            case token_cache::decision::fail: {
                                dbserve::error failure = *got.failure;
                                lock.unlock();
                                return finish(l, std::move(failure));
                            }
                            case token_cache::decision::use_and_refresh:
                            case token_cache::decision::fetch:
                                // A stale control-plane token is refreshed by the one caller
                                // that claimed it, on its own path; the others keep using it.
                                l.control_wait = 0;
                                l.control_claim = got.ticket;
                                l.attempts = 0;
                                break;
                        }
                    }
                    set_request(l, client_credentials_request(c, {}));
                    set_timeout(l, shared_->config.auth_timeout);
                    ++l.attempts;
                    detail::atomic_statistics::bump(shared_->stats.token_requests);
                    detail::atomic_statistics::bump(shared_->stats.control_plane_token_requests);
                    return begin_send(l, phase::control_response);
                }
                case phase::control_response: {
                    if (!l.response) return {lane_action::wait_response};
                    auto response = std::move(*l.response);
                    l.response.reset();
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    const detail::loaded_credentials& c = **creds;
                    auto token = read_token_response(response, "a control-plane token", c.token_url);
                    if (!token) {
                        dbserve::error failure = std::move(token).error();
                        if (schedule_retry(l, failure, token_retry_method(), l.attempts, phase::control)) break;
                        lock_type lock(shared_->mutex);
                        const bool for_waiters = shared_->control_tokens.fail(c.control_key, l.control_claim, failure, now());
                        l.control_claim = 0;
                        const cached_token* still = shared_->control_tokens.find(c.control_key);
                        if (!for_waiters && still) {
                            control_token_ = still->access_token;
                            control_serial_ = still->serial;
                            shared_->notify(lock);
                            l.at = l.resume;
                            break;
                        }
                        shared_->notify(lock);
                        return finish(l, std::move(failure));
                    }
                    lock_type lock(shared_->mutex);
                    const cached_token& stored =
                        shared_->control_tokens.complete(c.control_key, l.control_claim, std::move(token->access_token),
                                                         token->expires_in, now());
                    l.control_claim = 0;
                    control_token_ = stored.access_token;
                    control_serial_ = stored.serial;
                    shared_->secrets.add_token(c.control_key, stored.access_token.reveal());
                    shared_->notify(lock);
                    l.at = l.resume;
                    break;
                }
                case phase::data_token: {
                    lock_type lock(shared_->mutex);
                    auto got = endpoint_ == shared_->configured_endpoint.get()
                                   ? shared_->data_tokens.acquire(shared_->configured_token_slot, now(), l.data_wait)
                                   : shared_->data_tokens.acquire(endpoint_->token_key, now(), l.data_wait);
                    switch (got.what) {
                        case token_cache::decision::use:
                        case token_cache::decision::use_and_refresh:
                            set_bearer(*got.token);
                            token_on_probation_ = got.on_probation;
                            l.data_wait = 0;
                            if (got.what == token_cache::decision::use_and_refresh) {
                                background_.emplace();
                                background_->background = true;
                                background_->at = phase::fetch;
                                background_->data_claim = got.ticket;
                            }
                            l.at = phase::invoke_send;
                            break;
                        case token_cache::decision::wait:
                            if (!waited_for_token_) {
                                waited_for_token_ = true;
                                detail::atomic_statistics::bump(shared_->stats.token_waits);
                            }
                            l.data_wait = got.ticket;
                            note_waiting(lock);
                            return {lane_action::wait_others};
                        case token_cache::decision::fail: {
                            dbserve::error failure = *got.failure;
                            lock.unlock();
                            return finish(l, std::move(failure));
                        }
                        case token_cache::decision::fetch:
                            l.data_wait = 0;
                            l.data_claim = got.ticket;
                            l.attempts = 0;
                            l.at = phase::fetch;
                            break;
                    }
                    break;
                }
                case phase::fetch: {
                    if (shared_->path == token_path::supplied) {
                        if (auto action = fetch_supplied(l)) return *action;
                        break;
                    }
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    const detail::loaded_credentials& c = **creds;
                    if (c.method == credential_method::token) {
                        // A ready OAuth token configured as the credential: used as it is.
                        // Its lifetime is unknown; it is re-read from the credentials hourly.
                        lock_type lock(shared_->mutex);
                        shared_->data_tokens.complete(endpoint_->token_key, l.data_claim, c.values.token,
                                                      std::chrono::hours(1), now());
                        l.data_claim = 0;
                        shared_->notify(lock);
                        if (l.background) {
                            l.at = phase::finished;
                            return {lane_action::finished};
                        }
                        l.at = phase::data_token;
                        break;
                    }
                    if (shared_->path == token_path::token_exchange) {
                        l.at = phase::control;
                        l.resume = phase::fetch_exchange_send;
                        break;
                    }
                    set_request(l, client_credentials_request(c, endpoint_->authorization_details));
                    set_timeout(l, shared_->config.auth_timeout);
                    ++l.attempts;
                    detail::atomic_statistics::bump(shared_->stats.token_requests);
                    return begin_send(l, phase::fetch_response);
                }
                case phase::fetch_exchange_send: {
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    set_request(l, token_exchange_request(**creds));
                    set_timeout(l, shared_->config.auth_timeout);
                    ++l.attempts;
                    detail::atomic_statistics::bump(shared_->stats.token_requests);
                    return begin_send(l, phase::fetch_response);
                }
                case phase::fetch_response: {
                    if (!l.response) return {lane_action::wait_response};
                    auto response = std::move(*l.response);
                    l.response.reset();
                    auto creds = shared_->credentials_once();
                    if (!creds) return finish(l, std::move(creds).error());
                    auto token = read_token_response(response, "a token for serving endpoint '" + endpoint_->name + "'",
                                                     (*creds)->token_url);
                    if (!token) {
                        dbserve::error failure = std::move(token).error();
                        if (!l.background &&
                            schedule_retry(l, failure, token_retry_method(), l.attempts, phase::fetch))
                            break;
                        if (auto action = data_fetch_failed(l, std::move(failure))) return *action;
                        break;
                    }
                    shared_->secrets.add_token(endpoint_->token_key, token->access_token.reveal());
                    lock_type lock(shared_->mutex);
                    shared_->data_tokens.complete(endpoint_->token_key, l.data_claim, std::move(token->access_token),
                                                  token->expires_in, now());
                    l.data_claim = 0;
                    shared_->notify(lock);
                    if (l.background) {
                        l.at = phase::finished;
                        return {lane_action::finished};
                    }
                    l.at = phase::data_token;
                    break;
                }
                case phase::invoke_send:
                    return send_invocation(l);
                case phase::invoke_response: {
                    if (!l.response) return {lane_action::wait_response};
                    auto action = handle_invocation_response(l, *l.response);
                    l.response.reset();
                    if (action) return *action;
                    break;
                }
                case phase::backoff:
                    if (now() < l.deadline) return {lane_action::wait_until, l.deadline};
                    l.at = l.after_backoff;
                    break;
                case phase::finished:
                    return {lane_action::finished};
            }
        }
    }

    // ---------------------------------------------------------------- requests

    static http_method token_retry_method() noexcept {
        // A token request has no effect beyond issuing a token: repeating it is safe even
        // when its outcome is unknown, like a GET.
        return http_method::get;
    }

    http_request client_credentials_request(const detail::loaded_credentials& c,
                                            std::string_view authorization_details) const {
        http_request request;
        request.method = http_method::post;
        request.url = c.token_url;
        request.headers.add_unchecked("Authorization",
                                      basic_authorization(c.values.client_id, c.values.client_secret.reveal()));
        request.headers.add_unchecked("Content-Type", "application/x-www-form-urlencoded");
        request.headers.add_unchecked("Accept", "application/json");
        append_form_field(request.body, "grant_type", "client_credentials");
        append_form_field(request.body, "scope", "all-apis");
        if (!authorization_details.empty())
            append_form_field(request.body, "authorization_details", authorization_details);
        return request;
    }

    // The SDKs' exchange: no client authentication; the control-plane token is the assertion.
    http_request token_exchange_request(const detail::loaded_credentials& c) const {
        http_request request;
        request.method = http_method::post;
        request.url = c.token_url;
        request.headers.add_unchecked("Content-Type", "application/x-www-form-urlencoded");
        request.headers.add_unchecked("Accept", "application/json");
        append_form_field(request.body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
        append_form_field(request.body, "assertion", control_token());
        append_form_field(request.body, "authorization_details", endpoint_->authorization_details);
        return request;
    }

    void set_bearer(const cached_token& token) {
        const std::string_view value = token.authorization.reveal();
        bearer_.assign(value.data(), value.size());
        token_serial_ = token.serial;
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
            http_request& request = l.request;
            // The slot may still hold the token request that got this query its token.
            if (!request.url.empty()) request = http_request{};
            request.method = http_method::post;
            request.url = endpoint_->url;
            if (endpoint_ == shared_->configured_endpoint.get()) {
                const header_list& constant = shared_->configured_invocation_headers[streaming_];
                request.headers.reserve(constant.size() + 1);
                request.headers.append(constant);
            } else {
                request.headers = shared_->make_invocation_headers(*endpoint_, streaming_);
            }
            request.body = std::move(body_);
            if (!options_.client_request_id.empty()) {
                auto valid = add_client_request_id(request.body, options_.client_request_id);
                if (!valid) return finish(l, std::move(valid).error());
            }
            if (streaming_) {
                auto valid = add_stream_flag(request.body);
                if (!valid) return finish(l, std::move(valid).error());
            }
        } else {
            if (parked_invocation_) {
                l.request = std::move(*parked_invocation_);
                parked_invocation_.reset();
            }
            if (l.request.url != endpoint_->url) {
                // Discovered again: the endpoint moved.
                l.request.url = endpoint_->url;
                l.request.headers.remove("X-Databricks-Workspace-Id");
                const std::string& workspace = shared_->workspace_id_for(*endpoint_);
                if (!workspace.empty()) l.request.headers.add_unchecked("X-Databricks-Workspace-Id", workspace);
            }
        }
        if (request_bearer_serial_ != token_serial_ || invoke_attempts_ == 0) {
            if (invoke_attempts_ != 0) l.request.headers.remove("Authorization");
            l.request.headers.add_unchecked("Authorization", std::move(bearer_));
            request_bearer_serial_ = token_serial_;
        }
        set_timeout(l, options_.timeout.count() > 0 ? options_.timeout : shared_->config.timeout);
        ++invoke_attempts_;
        if (streaming_) reset_stream();
        detail::atomic_statistics::bump(shared_->stats.invocations);
        return begin_send(l, phase::invoke_response);
    }

    static std::size_t first_significant(std::string_view body) noexcept {
        std::size_t i = 0;
        while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) ++i;
        return i;
    }

    // Inserts a member right after the opening brace of a JSON object body.
    static result<void> insert_member(std::string& body, std::string_view member, std::string_view what) {
        const std::size_t open = first_significant(body);
        if (open >= body.size() || body[open] != '{')
            return unexpected(errc::invalid_argument,
                              std::string(what) + " can only be added to a JSON object body (it starts with '{')");
        std::size_t after = first_significant(std::string_view(body).substr(open + 1)) + open + 1;
        const bool empty_object = after < body.size() && body[after] == '}';
        std::string insertion(member);
        if (!empty_object) insertion += ',';
        body.insert(open + 1, insertion);
        return {};
    }

    static result<void> add_client_request_id(std::string& body, std::string_view id) {
        for (char c : id)
            if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\')
                return unexpected(errc::invalid_argument,
                                  "client_request_id may not contain quotes, backslashes or control characters");
        std::string member = "\"client_request_id\":\"";
        member.append(id.data(), id.size());
        member += '"';
        return insert_member(body, member, "client_request_id");
    }

    static result<void> add_stream_flag(std::string& body) {
        auto doc = nlohmann::json::parse(body, nullptr, false);
        if (!doc.is_discarded() && doc.is_object()) {
            auto it = doc.find("stream");
            if (it != doc.end()) {
                if (it->is_boolean() && it->get<bool>()) return {};
                return unexpected(errc::invalid_argument,
                                  "the body of a streamed query sets \"stream\" to something other than true; "
                                  "remove it (the client adds \"stream\": true)");
            }
        }
        return insert_member(body, "\"stream\":true", "\"stream\": true");
    }

    // ---------------------------------------------------------------- responses

    result<token_response> read_token_response(result<http_response>& response, const std::string& what,
                                               const std::string& token_endpoint) const {
        const std::string prefix = "could not get " + what + " from " + token_endpoint + ": ";
        if (!response) {
            dbserve::error failure = std::move(response).error();
            failure.message = prefix + failure.message;
            return failure;
        }
        auto token = parse_token_response(*response);
        // The body held the token, which now lives only in a secret_string.
        if (!response->body.empty()) detail::secure_zero(&response->body[0], response->body.size());
        if (token) {
            auto text = check_token_text(token->access_token.reveal());
            if (!text) token = std::move(text).error();
        }
        if (!token) {
            dbserve::error failure = std::move(token).error();
            failure.message = prefix + failure.message;
            return failure;
        }
        return token;
    }

    // Every token enters a header: refuse one that could inject another.
    static result<void> check_token_text(std::string_view token) {
        for (char c : token)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return unexpected(errc::bad_response, "the token contains a control character or line break");
        return {};
    }

    std::optional<lane_action> fetch_supplied(lane& l) {
        detail::atomic_statistics::bump(shared_->stats.supplied_token_calls);
        auto supplied = shared_->config.supply_token();
        const auto wall = shared_->wall_now();
        if (supplied) {
            auto text = check_token_text(supplied->access_token.reveal());
            if (!text) supplied = std::move(text).error();
        }
        if (supplied && supplied->access_token.empty())
            supplied = dbserve::error(errc::authentication, "the token supplier returned an empty token");
        else if (supplied && supplied->expires_at <= wall)
            supplied = dbserve::error(errc::authentication,
                                      "the token supplier returned a token that has already expired; it must "
                                      "return a current token with its expiry");
        if (!supplied) {
            dbserve::error failure = std::move(supplied).error();
            failure.message = "could not get a token for serving endpoint '" + endpoint_->name +
                              "' from the token supplier: " + failure.message;
            return data_fetch_failed(l, std::move(failure));
        }
        shared_->secrets.add_token(endpoint_->token_key, supplied->access_token.reveal());
        lock_type lock(shared_->mutex);
        shared_->data_tokens.complete(endpoint_->token_key, l.data_claim, std::move(supplied->access_token),
                                      supplied->expires_at - wall, now());
        l.data_claim = 0;
        shared_->notify(lock);
        if (l.background) {
            l.at = phase::finished;
            return lane_action{lane_action::finished};
        }
        l.at = phase::data_token;
        return std::nullopt;
    }

    // A data-plane token fetch failed for good. nullopt: the lane goes on (with the still
    // valid cached token).
    std::optional<lane_action> data_fetch_failed(lane& l, dbserve::error failure) {
        lock_type lock(shared_->mutex);
        const bool for_waiters = shared_->data_tokens.fail(endpoint_->token_key, l.data_claim, failure, now());
        l.data_claim = 0;
        shared_->notify(lock);
        if (l.background) {
            l.at = phase::finished;
            return lane_action{lane_action::finished};
        }
        if (!for_waiters) {
            l.at = phase::data_token;
            return std::nullopt;
        }
        return finish(l, std::move(failure));
    }

    bool schedule_retry(lane& l, dbserve::error& failure, http_method method, int attempts, phase resume) {
        auto delay = retry_delay(shared_->config.retry, failure, method, attempts, elapsed(), shared_->jitter());
        if (!delay) return false;
        if (has_deadline() && now() + *delay >= deadline_at_) {
            failure.message += " (not retried: waiting " + detail::describe_duration(*delay) +
                               " would pass the query's deadline of " + detail::describe_duration(deadline_total_) + ")";
            return false;
        }
        detail::atomic_statistics::bump(shared_->stats.retries);
        l.deadline = now() + *delay;
        l.after_backoff = resume;
        l.at = phase::backoff;
        return true;
    }

    std::string endpoint_label() const {
        std::string label = "serving endpoint '" + endpoint_->name + "'";
        if (!endpoint_->id.empty()) label += " (id " + endpoint_->id + ")";
        return label;
    }

    void rediscover() {
        lock_type lock(shared_->mutex);
        shared_->endpoints.invalidate(endpoint_->name, endpoint_);
        lock.unlock();
        rediscovered_ = true;
        endpoint_ = nullptr;
        endpoint_owner_.reset();
        main_.at = phase::endpoint;
    }

    std::optional<lane_action> handle_invocation_response(lane& l, result<http_response>& response) {
        if (!response) {
            dbserve::error failure = std::move(response).error();
            if (streaming_ && stream_->bytes > 0) failure.request_may_have_been_processed = true;
            if (failure.code == errc::name_resolution && endpoint_->discovered && !rediscovered_) {
                rediscover();
                return std::nullopt;
            }
            failure.message = "query to " + endpoint_label() + " failed: " + failure.message;
            if (schedule_retry(l, failure, http_method::post, invoke_attempts_, phase::invoke_send)) return std::nullopt;
            return finish(l, outcome_unknown_note(std::move(failure)));
        }
        http_response& r = *response;
        if (streaming_ && stream_->head.status != 0) {
            if (r.status == 0) r.status = stream_->head.status;
            if (r.headers.empty()) r.headers = stream_->head.headers;
            if (r.body.empty() && !stream_->error_body.empty()) r.body = std::move(stream_->error_body);
        }
        if (r.status >= 200 && r.status <= 299) {
            if (streaming_) return finish_stream(l, r);
            if (!is_plainly_json(r) && looks_like_html(r))
                return finish(l, dbserve::error(errc::bad_response,
                                                "the query to " + endpoint_label() +
                                                    " returned an HTML page instead of JSON (a login page or a "
                                                    "proxy's page: with Private Link, check DNS and routing)"));
            return finish_success(l, r);
        }
        if (r.status == 401) {
            dbserve::error failure = parse_service_error(r, shared_->wall_now());
            failure.code = errc::authentication;
            note_refusal(shared_->data_tokens, endpoint_->token_key, token_serial_, failure, endpoint_label(), "token",
                         ", as a new one would be refused too. Check that the token is scoped to this endpoint and "
                         "that the service principal still exists");
            if (!retried_after_401_) {
                retried_after_401_ = true;
                l.at = phase::data_token;
                return std::nullopt;
            }
            failure.message = endpoint_label() +
                              " refused a freshly issued token too (HTTP 401 twice): " + failure.message +
                              ". Check that the token is scoped to this endpoint and that the service principal "
                              "still exists";
            return finish(l, std::move(failure));
        }
        if (r.status == 403) {
            dbserve::error failure = parse_service_error(r, shared_->wall_now());
            failure.code = errc::permission;
            failure.message = "not allowed to " + std::string(action_name()) + " on " + endpoint_label() +
                              ": " + failure.message +
                              ". Grant the service principal Can Query on the endpoint";
            return finish(l, std::move(failure));
        }
        if (r.status == 404 && endpoint_->discovered && !rediscovered_) {
            rediscover();
            return std::nullopt;
        }
        dbserve::error failure = parse_service_error(r, shared_->wall_now());
        if (r.status == 404)
            failure.message = endpoint_label() + " was not found at " + endpoint_->url + ": " + failure.message;
        else
            failure.message = "query to " + endpoint_label() + " failed: " + failure.message;
        if (schedule_retry(l, failure, http_method::post, invoke_attempts_, phase::invoke_send)) return std::nullopt;
        return finish(l, outcome_unknown_note(std::move(failure)));
    }

    std::string_view action_name() const noexcept {
        return shared_->config.action == endpoint_action::manage_inference_endpoint ? "manage_inference_endpoint"
                                                                                   : "query_inference_endpoint";
    }

    static dbserve::error outcome_unknown_note(dbserve::error failure) {
        if (failure.request_may_have_been_processed)
            failure.message +=
                ". The request may have reached the model, so its outcome is unknown; it was not repeated "
                "(set retry_policy::retry_post_when_outcome_unknown to allow repeating it)";
        return failure;
    }

    // The common case, decided cheaply: a JSON content type and a body that starts like
    // JSON cannot be a login page.
    static bool is_plainly_json(const http_response& r) noexcept {
        const std::string_view type = r.headers.get("content-type");
        if (type.size() < 16 || !detail::iequals(type.substr(0, 16), "application/json")) return false;
        return !r.body.empty() && (r.body.front() == '{' || r.body.front() == '[');
    }

    // One pass over the headers for what a response reports.
    static void fill_response_fields(query_response& out) {
        out.status = out.raw.status;
        const std::string* request_id = nullptr;
        const std::string* databricks_request_id = nullptr;
        for (const auto& h : out.raw.headers) {
            switch (h.name.size()) {
                case 17:
                    if (detail::iequals(h.name, "served-model-name")) out.served_model_name = h.value;
                    break;
                case 12:
                    if (detail::iequals(h.name, "x-request-id")) request_id = &h.value;
                    break;
                case 23:
                    if (detail::iequals(h.name, "x-databricks-request-id")) databricks_request_id = &h.value;
                    break;
                default:
                    break;
            }
        }
        if (request_id) out.request_id = *request_id;
        else if (databricks_request_id) out.request_id = *databricks_request_id;
    }

    lane_action finish_success(lane& l, http_response& r) {
        if (token_on_probation_) {
            // The key had 401s on young tokens: this token worked, so they count anew.
            lock_type lock(shared_->mutex);
            shared_->data_tokens.accepted(endpoint_->token_key);
        }
        outcome_.emplace(query_response());
        query_response& out = **outcome_;
        out.raw = std::move(r);
        fill_response_fields(out);
        l.at = phase::finished;
        detail::atomic_statistics::bump(shared_->stats.queries_succeeded);
        return {lane_action::finished};
    }

    // ---------------------------------------------------------------- streaming

    void reset_stream() { stream_ = std::make_unique<stream_state>(); }

    void on_event(const sse_event& event) {
        if (stream_->error) return;
        auto chunk = parse_chat_chunk(event.data);
        if (!chunk) {
            stream_->error = std::move(chunk).error();
            return;
        }
        ++stream_->summary.chunks;
        if (stream_->summary.id.empty()) stream_->summary.id = chunk->id;
        if (stream_->summary.model.empty()) stream_->summary.model = chunk->model;
        stream_->summary.content.append(chunk->content().data(), chunk->content().size());
        if (!chunk->finish_reason().empty()) stream_->summary.finish_reason = std::string(chunk->finish_reason());
        if (chunk->usage) stream_->summary.usage = chunk->usage;
        stream_->chunks.push_back(std::move(*chunk));
    }

    lane_action finish_stream(lane& l, http_response& r) {
        if (stream_->bytes == 0 && !r.body.empty()) {
            // The transport collected the body instead of handing it over in pieces.
            stream_->parser.feed(r.body, [this](const sse_event& event) { on_event(event); });
            r.body.clear();
        }
        stream_->parser.finish([this](const sse_event& event) { on_event(event); });
        if (stream_->error) {
            dbserve::error failure = std::move(*stream_->error);
            failure.request_may_have_been_processed = true;
            failure.message = "the stream from " + endpoint_label() + " reported an error: " + failure.message;
            return finish(l, std::move(failure));
        }
        auto outcome = stream_->parser.outcome();
        if (!outcome) {
            dbserve::error failure = std::move(outcome).error();
            if (failure.http_status == 0) failure.http_status = r.status;
            failure.message = "streamed query to " + endpoint_label() + ": " + failure.message;
            return finish(l, std::move(failure));
        }
        return finish_success(l, r);
    }

    // ---------------------------------------------------------------- endings

    // Ends a lane with an error: releases its claims (the callers waiting for them get the
    // same error) and, for the main lane, records the outcome.
    lane_action finish(lane& l, dbserve::error failure) {
        shared_->secrets.scrub(failure);  // the one way out of an operation for an error
        if (l.data_claim || l.control_claim || l.discovery_claim) {
            lock_type lock(shared_->mutex);
            const auto t = now();
            if (l.data_claim) shared_->data_tokens.fail(endpoint_->token_key, l.data_claim, failure, t);
            if (l.control_claim) {
                auto creds = shared_->credentials_if_loaded();
                if (creds) shared_->control_tokens.fail(creds->control_key, l.control_claim, failure, t);
            }
            if (l.discovery_claim) shared_->endpoints.fail(shared_->config.endpoint_name, l.discovery_claim, failure);
            l.data_claim = l.control_claim = l.discovery_claim = 0;
            shared_->notify(lock);
        }
        l.at = phase::finished;
        if (!l.background) {
            outcome_.emplace(std::move(failure));
            detail::atomic_statistics::bump(shared_->stats.queries_failed);
        }
        return {lane_action::finished};
    }

    void release_claims() {
        if (!shared_) return;
        bool any = false;
        lane* background = background_ ? &*background_ : &main_;
        for (lane* l : {&main_, background})
            if (l->data_claim || l->control_claim || l->discovery_claim) any = true;
        if (!any) return;
        lock_type lock(shared_->mutex);
        for (lane* l : {&main_, background}) {
            if (l->data_claim && endpoint_) shared_->data_tokens.abandon(endpoint_->token_key, l->data_claim);
            if (l->control_claim) {
                auto creds = shared_->credentials_if_loaded();
                if (creds) shared_->control_tokens.abandon(creds->control_key, l->control_claim);
            }
            if (l->discovery_claim) shared_->endpoints.abandon(shared_->config.endpoint_name, l->discovery_claim);
            l->data_claim = l->control_claim = l->discovery_claim = 0;
        }
        shared_->notify(lock);
    }

    // ---------------------------------------------------------------- the total deadline

    void start_deadline() {
        deadline_total_ = options_.deadline.count() > 0 ? options_.deadline : shared_->config.query_deadline;
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

    // What the query was doing, for the deadline's error.
    std::string activity() const {
        const std::string name = endpoint_ ? endpoint_->name : shared_->config.endpoint_name;
        const std::string endpoint = "serving endpoint '" + name + "'";
        switch (main_.at) {
            case phase::endpoint: return "waiting for another query's lookup of " + endpoint;
            case phase::discovery_send:
            case phase::discovery_response: return "looking up " + endpoint + " (serving-endpoints API)";
            case phase::control:
                if (main_.control_wait) return "waiting for another query's control-plane token request";
                [[fallthrough]];
            case phase::control_response: return "getting a control-plane token from the token endpoint";
            case phase::data_token:
                if (main_.data_wait) return "waiting for another query's token request for " + endpoint;
                return "getting a token for " + endpoint;
            case phase::fetch:
                if (shared_->path == token_path::supplied) return "getting a token for " + endpoint + " from the token supplier";
                [[fallthrough]];
            case phase::fetch_exchange_send:
            case phase::fetch_response: return "getting a token for " + endpoint + " from the token endpoint";
            case phase::invoke_send: return "about to query " + endpoint;
            case phase::invoke_response: return "waiting for the response of " + endpoint;
            case phase::backoff: return "waiting to retry";
            case phase::start:
            case phase::finished: break;
        }
        return "starting";
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
        dbserve::error failure(errc::timeout, "the query passed its total deadline of " +
                                                  detail::describe_duration(deadline_total_) + " while " + activity());
        failure.request_may_have_been_processed = may_have_run;
        release_claims();
        background_.reset();
        main_.response.reset();
        finish(main_, outcome_unknown_note(std::move(failure)));
    }

    // A 401 from the control plane on the control-plane token in use.
    void refuse_control_token(const detail::loaded_credentials& c, const http_response& response) {
        dbserve::error failure = parse_service_error(response, shared_->wall_now());
        failure.code = errc::authentication;
        note_refusal(shared_->control_tokens, c.control_key, control_serial_, failure,
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
        lock_type lock(shared_->mutex);
        cache.refused(key, serial, now(), blocked_failure);
        shared_->notify(lock);
    }

    detail::client_shared* shared_ = nullptr;
    std::shared_ptr<detail::client_shared> owner_;  // empty when borrowed
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
    // streaming
    std::unique_ptr<stream_state> stream_;  // only for streamed queries
};

DBSERVE_END_NAMESPACE
