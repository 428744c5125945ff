// query_machinery: the bookkeeping under a query's protocol flow (query_operation.hpp):
// its state, its two lanes and their claims on the client's caches, the one clock reading
// per step, the total deadline and each request's timeout, retries, the steps handed to
// the driver, and how a lane ends. The phases themselves are query_operation's.
#pragma once

#include <dbserve/client/detail/cache_acquire.hpp>
#include <dbserve/client/detail/cache_claims.hpp>
#include <dbserve/client/detail/query_lane.hpp>
#include <dbserve/client/detail/query_observation.hpp>
#include <dbserve/client/events.hpp>
#include <dbserve/client/operation_step.hpp>
#include <dbserve/client/stream_folding.hpp>
#include <dbserve/client/client_config.hpp>
#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/client/detail/endpoint_target.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/retry.hpp>
#include <dbserve/client/subject_token_sources.hpp>
#include <dbserve/protocol/secret.hpp>
#include <dbserve/protocol/service_error.hpp>
#include <dbserve/client/token_cache.hpp>

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
namespace detail {

class query_machinery {
protected:
    using mono_time = std::chrono::steady_clock::time_point;
    using phase = detail::query_phase;
    using lane = detail::query_lane;
    using lane_action = detail::lane_action;
    using turn = detail::cache_turn;
    // A phase's answer: where the lane stopped (true), or go_on to its next phase.
    using lane_stop = lane_action;
    static constexpr lane_action go_on{lane_action::go_on};
    using lock_type = std::unique_lock<std::mutex>;


    query_machinery(std::shared_ptr<client_shared>&& shared, std::shared_ptr<const endpoint_target>&& target,
                    std::string&& body, query_options&& options, bool streaming)
        : claims_(std::move(shared)),
          target_(target.get()),
          target_owner_(std::move(target)),
          body_(std::move(body)),
          options_(std::move(options)),
          streaming_(streaming) {
        start();
    }
    query_machinery(client_shared& borrowed, const endpoint_target& target, std::string&& body,
                    query_options&& options, bool streaming)
        : claims_(borrowed), target_(&target), body_(std::move(body)), options_(std::move(options)), streaming_(streaming) {
        start();
    }
    // Claims on shared fetches move with the operation (a moved-from one holds none) and
    // are given up when it is dropped unfinished.
    query_machinery(query_machinery&&) = default;
    query_machinery& operator=(query_machinery&&) = default;

    detail::client_shared* shared() const noexcept { return claims_.shared(); }
    const detail::endpoint_target* target() const noexcept { return target_; }
    detail::claim_set& claims(const lane& l) noexcept { return claims_.of(l.background); }

    void start() {
        if (streaming_) stream_ = std::make_unique<detail::folded_stream>();
        events_on_ = static_cast<bool>(shared()->config.events);
        detail::atomic_statistics::bump(target()->stats.queries_started);
    }

    // ---------------------------------------------------------------- steps

    bool take_chunk(operation_step& step) {
        if (!stream_) return false;
        step.stream_chunk = stream_->next_chunk();
        if (!step.stream_chunk) return false;
        step.kind = operation_step::chunk;
        return true;
    }

    void send_step(lane& l, operation_step& step) {
        step.kind = operation_step::send;
        step.request_id = l.request_id;
        step.request = &l.request;
        step.timeout = l.timeout;
        step.streaming = streaming_ && &l == &main_ && l.at == phase::invoke_response;
        if (step.streaming) step.idle_timeout = observed_.stream_idle_timeout;
    }

    void done_step(operation_step& step) {
        step.kind = operation_step::done;
        if (!outcome_) outcome_.emplace(unexpected(errc::cancelled, "the query ended without a result"));
        step.outcome = &*outcome_;
        delivered_ = true;
    }

    // Neither lane sends: the earlier timed wait, else idle (waiting for a response, or for
    // another operation of the client).
    void wait_step(operation_step& step, const lane_action& background, const lane_action& main) {
        const lane_action* timed = nullptr;
        for (const lane_action* a : {&background, &main})
            if (a->kind == lane_action::wait_until && (!timed || a->deadline < timed->deadline)) timed = a;
        if (timed) {
            step.kind = operation_step::wait_until;
            step.deadline = timed->deadline;
            if (has_deadline() && deadline_at_ < step.deadline) step.deadline = deadline_at_;
            return;
        }
        step.kind = operation_step::idle;
        if (has_deadline()) step.deadline = deadline_at_;
        if (streaming_ && main.kind == lane_action::wait_response && main_.at == phase::invoke_response)
            if (auto stall = observed_.stall_deadline(observed_.request_sent[0]))
                if (step.deadline == mono_time{} || *stall < step.deadline) step.deadline = *stall;
        step.waiting_for_others =
            background.kind == lane_action::wait_others || main.kind == lane_action::wait_others;
        step.observed_version = observed_version_;
    }

    // ---------------------------------------------------------------- the clock

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

    // ---------------------------------------------------------------- caches

    // One look at a cache, the same for the endpoint, control-plane and data-plane caches
    // (acquire or wait): a wait is noted and stops the lane, a failure ends it, a fetch
    // makes the claim the lane's and starts its attempts over. go_on: `taken` says how.
    template <class Acquisition>
    lane_stop acquire_or_wait(lane& l, lock_type& lock, const Acquisition& got, std::uint64_t& wait_ticket,
                              std::uint64_t& claim, turn& taken) {
        taken = detail::take_turn(got, wait_ticket, claim);
        if (taken == turn::fetch) l.attempts = 0;
        if (taken != turn::wait && taken != turn::fail) return go_on;
        return wait_or_fail(l, lock, taken == turn::fail ? got.failure : nullptr);
    }

    // The uncommon turns, kept out of the common one: no `failure`, wait; else end the lane.
    lane_stop wait_or_fail(lane& l, lock_type& lock, const dbserve::error* failure) {
        if (!failure) {
            note_waiting(lock);
            return lane_action{lane_action::wait_others};
        }
        dbserve::error copy = *failure;
        lock.unlock();
        return finish(l, std::move(copy));
    }

    void note_waiting(const lock_type&) {
        if (!waiting_noted_) {
            observed_version_ = shared()->version_locked();
            waiting_noted_ = true;
        }
    }

    // A data-plane token arrived: stored for every query of the client and the waiters
    // told; the main lane goes on to use it, a background refresh is done.
    lane_stop data_token_arrived(lane& l, secret_string token, std::chrono::nanoseconds ttl) {
        if (observed()) {
            query_event e;
            e.kind = event_kind::token_fetched;
            e.path = target()->path;
            e.lifetime = ttl;
            mono_time& sent = observed_.request_sent[l.background];
            if (sent != mono_time{}) e.latency = now() - sent;  // none for a token from the credentials
            sent = mono_time{};
            emit(e);
        }
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
        if (observed()) {
            query_event e;
            e.kind = event_kind::token_refresh_failed;
            e.old_token_served = !for_waiters;
            emit_failure(e, failure);
        }
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

    // ---------------------------------------------------------------- sending

    static http_method token_retry_method() noexcept {
        // A token request has no effect beyond issuing a token: repeating it is safe even
        // when its outcome is unknown, like a GET.
        return http_method::get;
    }

    lane_action begin_send(lane& l, phase then) {
        l.request_id = next_request_id_++;
        l.response.reset();
        l.at = then;
        return {lane_action::send};
    }

    // A discovery or token request: the auth timeout, one more attempt, counted.
    lane_action send_auth_request(lane& l, std::atomic<std::uint64_t>& counter, phase then) {
        if (observed()) observed_.request_sent[l.background] = now();
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
        observed_.add_headers(l.request, options_.trace);
    }

    // ---------------------------------------------------------------- refusals

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

    // ---------------------------------------------------------------- errors and endings

    std::string endpoint_label() const {
        std::string label = "serving endpoint '" + endpoint_->name + "'";
        if (!endpoint_->id.empty()) label += " (id " + endpoint_->id + ")";
        return label;
    }

    std::string_view action_name() const noexcept {
        return target()->config.action == endpoint_action::manage_inference_endpoint ? "manage_inference_endpoint"
                                                                                    : "query_inference_endpoint";
    }

    static dbserve::error outcome_unknown_note(dbserve::error failure) {
        if (failure.request_may_have_been_processed)
            failure.message +=
                ". The request may have reached the model, so its outcome is unknown; it was not repeated "
                "(set retry_policy::retry_post_when_outcome_unknown to allow repeating it)";
        return failure;
    }

    bool schedule_retry(lane& l, dbserve::error& failure, http_method method, int attempts, phase resume) {
        auto delay = retry_delay(shared()->config.retry, failure, method, attempts, elapsed(), shared()->jitter());
        if (!delay) return false;
        if (has_deadline() && now() + *delay >= deadline_at_) {
            failure.message += " (not retried: waiting " + detail::describe_duration(*delay) +
                               " would pass the query's deadline of " + detail::describe_duration(deadline_total_) + ")";
            return false;
        }
        detail::atomic_statistics::bump(target()->stats.retries);
        if (observed()) {
            query_event e;
            e.kind = event_kind::retry_scheduled;
            e.status = failure.http_status;
            e.wait = *delay;
            e.attempt = attempts;
            emit_failure(e, failure);
        }
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
            if (observed()) query_finished(&failure, failure.http_status, {});
            outcome_.emplace(std::move(failure));
            detail::atomic_statistics::bump(target()->stats.queries_failed);
        }
        return {lane_action::finished};
    }

    // ---------------------------------------------------------------- events

    // Whether the client has an event sink: read once, when the query is made, so each
    // place an event could start costs one test of a member.
    bool observed() const noexcept { return events_on_; }

    DBSERVE_DETAIL_COLD void emit(query_event& e) {
        e.endpoint = queried_name();
        e.trace_id = observed_.trace_id(options_.trace);
        shared()->config.events(e);
    }

    // Emits `e` carrying `failure`, blanked of every credential the workspace knows first:
    // no event shows a secret, whatever a server echoed into the error.
    DBSERVE_DETAIL_COLD void emit_failure(query_event& e, const dbserve::error& failure) {
        dbserve::error scrubbed = failure;
        shared()->secrets.scrub(scrubbed);
        e.failure = &scrubbed;
        emit(e);
    }

    // The endpoint's name: as resolved, else as configured (before discovery).
    const std::string& queried_name() const noexcept {
        return endpoint_ ? endpoint_->name : target()->config.endpoint_name;
    }

    // The query ended: `failure` (scrubbed already) or a success with `served_model`.
    DBSERVE_DETAIL_COLD void query_finished(const dbserve::error* failure, int status, std::string_view served_model) {
        query_event e;
        e.kind = event_kind::query_finished;
        e.failure = failure;
        e.status = status;
        e.attempts = invoke_attempts_;
        e.latency = now() - started_;
        const http_request& sent = parked_invocation_ ? *parked_invocation_ : main_.request;
        e.request_bytes = invoke_attempts_ != 0 ? sent.body.size() : 0;
        e.response_bytes = stream_ ? observed_.stream_bytes : response_bytes_;
        e.served_model = served_model;
        emit(e);
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
        dbserve::error failure(errc::timeout, "the query passed its total deadline of " +
                                                  detail::describe_duration(deadline_total_) + " while " +
                                                  detail::describe_activity(main_, queried_name(),
                                                                            target()->path == token_path::supplied));
        failure.request_may_have_been_processed = may_have_run;
        claims_.abandon_all();
        background_.reset();
        main_.response.reset();
        finish(main_, outcome_unknown_note(std::move(failure)));
    }

    // ---------------------------------------------------------------- credentials

    // The credentials this query uses: the client's current ones, else the lane stops and
    // the driver runs the credential step (next() itself never runs a secret source).
    // A failure of that step ends the lane here.
    lane_stop require_credentials(lane& l) {
        if (auto stop = take_credential_failure(l)) return stop;
        if (creds_ && !reload_wanted_) return go_on;
        if (!reload_wanted_) {
            creds_ = shared()->current_credentials();
            if (creds_) return go_on;
        }
        load_wanted_ = true;
        return lane_action{lane_action::load_credentials};
    }

    lane_stop take_credential_failure(lane& l) {
        if (!credential_failure_) return go_on;
        dbserve::error failure = std::move(*credential_failure_);
        credential_failure_.reset();
        return finish(l, std::move(failure));
    }

    // The token endpoint refused the client's credentials (invalid_client, or HTTP 401):
    // once per query, they are loaded again (a secret rotated in the environment, the
    // profile file or a vault) and the same request is sent with them.
    bool reload_after_refusal(const dbserve::error& failure) {
        if (reloaded_after_refusal_ || !creds_) return false;
        if (failure.service_code != "invalid_client" && failure.http_status != 401) return false;
        reloaded_after_refusal_ = true;
        reload_wanted_ = true;
        stale_generation_ = creds_->generation;
        return true;
    }

    // The credential step: everything a query needs from outside the sans-I/O core.
    void run_credential_step() {
        if (load_wanted_) {
            auto loaded = reload_wanted_ ? shared()->reload(stale_generation_) : shared()->load_if_missing();
            load_wanted_ = reload_wanted_ = false;
            if (loaded)
                creds_ = std::move(*loaded);
            else
                credential_failure_ = std::move(loaded).error();
        }
        if (subject_file_wanted_) {
            subject_file_wanted_ = false;
            auto read = read_subject_token_file(creds_ ? creds_->values.oidc_token_filepath : std::string());
            if (read)
                subject_token_ = std::move(*read);
            else if (!credential_failure_)
                credential_failure_ = std::move(read).error();
        }
        if (supply_wanted_) {
            supply_wanted_ = false;
            detail::atomic_statistics::bump(target()->stats.supplied_token_calls);
            supplied_.emplace(target()->config.supply_token());
        }
    }

    // ---------------------------------------------------------------- state

    // First: released last, and on a move assignment the old claims are given up first.
    detail::query_claims claims_;
    // The endpoint queried: shared with its handles, or borrowed from a driver that
    // outlives the operation.
    const detail::endpoint_target* target_ = nullptr;
    std::shared_ptr<const detail::endpoint_target> target_owner_;
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
    // The credentials in use, and what the credential step has to do or has brought.
    client_shared::credentials_ptr creds_;
    bool load_wanted_ = false;
    bool reload_wanted_ = false;
    std::uint64_t stale_generation_ = 0;
    bool reloaded_after_refusal_ = false;
    bool subject_file_wanted_ = false;
    bool supply_wanted_ = false;
    std::optional<dbserve::error> credential_failure_;
    std::optional<secret_string> subject_token_;     // federation: the JWT for the next exchange
    std::optional<result<supplied_token>> supplied_;  // the token supplier's answer
    detail::query_observation observed_;  // trace headers; event and stream times
    bool events_on_ = false;              // see observed()
    std::size_t response_bytes_ = 0;      // the last response body's size, with an event sink
};

}  // namespace detail
DBSERVE_END_NAMESPACE
