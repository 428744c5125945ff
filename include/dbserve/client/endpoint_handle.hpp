// basic_endpoint: one endpoint of a workspace, and the three ways to drive a query on it:
//   blocking  ep.query(body)                  over a transport with send();
//   callback  ep.async_query(body, handler)   over a transport with async_send();
//   poll      auto op = ep.start_query(body)  the caller does the I/O (no transport).
// A handle is cheap to copy (four shared pointers) and thread safe: every handle of a
// workspace shares its credentials, tokens, discoveries and transport. Handles come from
// basic_workspace::endpoint() / endpoint_at(); a basic_client is a workspace with one.
// A handle keeps the workspace's state alive, but once the workspace is destroyed its
// queries end with errc::cancelled (see basic_workspace).
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/detail/async_driver.hpp>
#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/client/detail/clock_access.hpp>
#include <dbserve/client/detail/endpoint_target.hpp>
#include <dbserve/client/query_operation.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/client/traits.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

template <class Traits>
class basic_workspace;

template <class Traits = default_traits>
class basic_endpoint {
public:
    using traits_type = Traits;
    using transport_type = typename Traits::transport;
    using clock_type = typename Traits::clock;
    using secret_source_type = typename Traits::secret_source;

    static_assert(detail::check_traits<Traits>());

    // ------------------------------------------------------------------ blocking

    result<query_response> query(std::string body, query_options options = {}) {
        static_assert(check_sync_transport<transport_type>(),
                      "dbserve: query() needs a blocking transport (send); use async_query() or start_query()");
        static_assert(check_blocking_clock<clock_type>());
        query_operation op(query_operation::borrow_tag{}, *shared_, *target_, std::move(body), std::move(options));
        auto ignore = [](const chat_chunk&) {};
        return run_blocking(op, ignore);
    }
    result<query_response> query(const nlohmann::json& body, query_options options = {}) {
        return query(detail::dump_body(body), std::move(options));
    }

    // A streamed chat or completion: on_chunk(const chat_chunk&) is called for each chunk
    // as it arrives, then the summary is returned.
    template <class OnChunk>
    result<stream_response> stream(std::string body, OnChunk&& on_chunk, query_options options = {}) {
        static_assert(check_sync_transport<transport_type>(),
                      "dbserve: stream() needs a blocking transport (send); use async_stream() or start_stream()");
        static_assert(check_blocking_clock<clock_type>());
        query_operation op(query_operation::borrow_tag{}, *shared_, *target_, std::move(body), std::move(options),
                           true);
        auto done = run_blocking(op, on_chunk);
        if (!done) return std::move(done).error();
        return stream_response{std::move(*done), op.summary()};
    }
    template <class OnChunk>
    result<stream_response> stream(const nlohmann::json& body, OnChunk&& on_chunk, query_options options = {}) {
        return stream(detail::dump_body(body), std::forward<OnChunk>(on_chunk), std::move(options));
    }
    template <class Body, class OnChunk>
    result<stream_response> stream_chat(Body&& body, OnChunk&& on_chunk, query_options options = {}) {
        return stream(std::forward<Body>(body), std::forward<OnChunk>(on_chunk), std::move(options));
    }

    // ------------------------------------------------------------------ callback

    // handler(result<query_response>) is called once, on a transport or timer thread (or
    // inside this call when everything completes at once).
    template <class Handler>
    void async_query(std::string body, Handler&& handler, query_options options = {}) {
        static_assert(check_async_transport<transport_type>(),
                      "dbserve: async_query() needs an asynchronous transport (async_send)");
        static_assert(check_async_clock<clock_type>());
        auto runner = make_runner(
            query_operation(shared_, target_, std::move(body), std::move(options)),
            [h = std::forward<Handler>(handler)](result<query_response> r, const query_operation&) mutable {
                h(std::move(r));
            },
            nullptr);
        runner->drive();
    }
    template <class Handler>
    void async_query(const nlohmann::json& body, Handler&& handler, query_options options = {}) {
        async_query(detail::dump_body(body), std::forward<Handler>(handler), std::move(options));
    }

    // on_chunk(const chat_chunk&) per chunk, then handler(result<stream_response>) once.
    template <class OnChunk, class Handler>
    void async_stream(std::string body, OnChunk on_chunk, Handler&& handler, query_options options = {}) {
        static_assert(check_async_transport<transport_type>(),
                      "dbserve: async_stream() needs an asynchronous transport (async_send)");
        static_assert(check_async_clock<clock_type>());
        auto runner = make_runner(
            query_operation(shared_, target_, std::move(body), std::move(options), true),
            [h = std::forward<Handler>(handler)](result<query_response> r, const query_operation& op) mutable {
                if (!r) {
                    h(result<stream_response>(std::move(r).error()));
                    return;
                }
                h(result<stream_response>(stream_response{std::move(*r), op.summary()}));
            },
            std::function<void(const chat_chunk&)>(std::move(on_chunk)));
        runner->drive();
    }
    template <class OnChunk, class Handler>
    void async_stream(const nlohmann::json& body, OnChunk on_chunk, Handler&& handler, query_options options = {}) {
        async_stream(detail::dump_body(body), std::move(on_chunk), std::forward<Handler>(handler), std::move(options));
    }

    // ------------------------------------------------------------------ poll

    // An operation the caller drives: see query_operation.hpp (and query_group.hpp to
    // drive the operations of several endpoints from one place).
    query_operation start_query(std::string body, query_options options = {}) const {
        return query_operation(shared_, target_, std::move(body), std::move(options));
    }
    query_operation start_query(const nlohmann::json& body, query_options options = {}) const {
        return start_query(detail::dump_body(body), std::move(options));
    }
    query_operation start_stream(std::string body, query_options options = {}) const {
        return query_operation(shared_, target_, std::move(body), std::move(options), true);
    }
    query_operation start_stream(const nlohmann::json& body, query_options options = {}) const {
        return start_stream(detail::dump_body(body), std::move(options));
    }

    // ------------------------------------------------------------------ inspection

    // What this endpoint's queries did (every handle to the same endpoint counts here).
    client_statistics statistics() const noexcept { return target_->stats.snapshot(); }
    // The configuration error every query of this endpoint would fail with, if any.
    result<void> check_configuration() const {
        if (target_->config_error) return *target_->config_error;
        return {};
    }
    const endpoint_config& config() const noexcept { return target_->config; }
    transport_type& transport() const noexcept { return *transport_; }
    const clock_type& clock() const noexcept { return *clock_; }
    // The state of the cached data-plane token of this endpoint (configured or discovered).
    token_state data_token_state() const {
        std::lock_guard<std::mutex> lock(shared_->mutex);
        std::shared_ptr<const resolved_endpoint> endpoint = target_->configured_endpoint;
        if (!endpoint && !target_->discovery_key.empty()) endpoint = shared_->endpoints.find(target_->discovery_key);
        if (!endpoint) return token_state::missing;
        return shared_->data_tokens.state(endpoint->token_key, shared_->monotonic_now());
    }

protected:
    basic_endpoint() = default;
    basic_endpoint(std::shared_ptr<transport_type> transport, std::shared_ptr<const clock_type> clock,
                   std::shared_ptr<detail::client_shared> shared, std::shared_ptr<const detail::endpoint_target> target)
        : transport_(std::move(transport)),
          clock_(std::move(clock)),
          shared_(std::move(shared)),
          target_(std::move(target)) {}

private:
    friend class basic_workspace<Traits>;
    using runner_type = detail::async_runner<transport_type, clock_type>;

    // Not make_shared: a query's deadline wake holds a weak_ptr to its runner inside the
    // Clock until the deadline passes, and a weak_ptr keeps a make_shared allocation (the
    // runner with its whole operation, about 1.4 kB) alive with the control block. With a
    // separate allocation a finished query's memory is freed at once and only the small
    // control block waits for the wake.
    std::shared_ptr<runner_type> make_runner(query_operation op, typename runner_type::finish_function on_finish,
                                             typename runner_type::chunk_function on_chunk) {
        return std::shared_ptr<runner_type>(
            new runner_type(std::move(op), transport_, clock_, shared_, std::move(on_finish), std::move(on_chunk)));
    }

    template <class OnChunk>
    result<query_response> run_blocking(query_operation& op, OnChunk& on_chunk) {
        bool deadline_wake_set = false;
        for (;;) {
            operation_step step = op.next();
            switch (step.kind) {
                case operation_step::send: {
                    send_options options = step.options();
                    if (step.streaming) {
                        options.on_body_chunk = [&op, &on_chunk, id = step.request_id](const http_response& head,
                                                                                         std::string_view bytes) {
                            op.on_body_chunk(id, head, bytes);
                            while (auto chunk = op.pop_chunk()) on_chunk(*chunk);
                        };
                    }
                    auto response = transport_->send(*step.request, options);
                    op.on_response(step.request_id, std::move(response));
                    break;
                }
                case operation_step::wait_until:
                    detail::clock_sleep_until(*clock_, step.deadline);
                    break;
                case operation_step::load_credentials:
                    op.load_credentials();
                    break;
                case operation_step::chunk:
                    on_chunk(*step.stream_chunk);
                    break;
                case operation_step::idle:
                    if (!step.waiting_for_others)
                        return unexpected(errc::cancelled,
                                          "the query is waiting for a response the blocking transport never gave");
                    if (!deadline_wake_set && step.deadline != std::chrono::steady_clock::time_point{}) {
                        deadline_wake_set = true;
                        wake_at(step.deadline);
                    }
                    shared_->wait_for_change(step.observed_version);
                    break;
                case operation_step::done:
                    return std::move(*step.outcome);
            }
        }
    }

    // Wakes the blocking waiters of this workspace at `deadline`, so a query waiting for
    // another's token fetch sees its own deadline pass. Needs the clock's async wait;
    // without one the wait ends with the fetch it waits for.
    void wake_at(std::chrono::steady_clock::time_point deadline) {
        if constexpr (detail::has_async_wait_until<clock_type>::value) {
            std::weak_ptr<detail::client_shared> shared = shared_;
            detail::clock_async_wait_until(*clock_, deadline, [shared] {
                if (auto alive = shared.lock()) alive->wake_waiters();
            });
        }
    }

    std::shared_ptr<transport_type> transport_;
    std::shared_ptr<const clock_type> clock_;
    std::shared_ptr<detail::client_shared> shared_;
    std::shared_ptr<const detail::endpoint_target> target_;
};

DBSERVE_END_NAMESPACE
