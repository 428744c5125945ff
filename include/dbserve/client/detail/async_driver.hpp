// The callback driver: runs a query_operation over an asynchronous transport and the
// clock's async_wait_until. Every response, timer and cache change re-enters drive(); one
// thread drives at a time and a re-entry that finds it busy only asks it to loop again,
// so a transport that completes inside async_send() cannot deadlock it.
//
// The thread that set `driving_` owns the operation: only it touches op_. A response or a
// streamed piece that arrives meanwhile is queued for it under state_mutex_, which is never
// held while calling out. So waking another runner (a cache change) holds no lock of this
// one, and two runners never wait for each other's locks.
//
// Once the client is gone (client_shared::closed()), a runner does not wait for other
// queries, wait out a backoff nor start another request: it finishes with errc::cancelled.
// A request already in flight is waited for, so a query whose answer arrives still gets
// it; a runner in a backoff is cancelled when its timer fires.
#pragma once

#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/client/detail/clock_access.hpp>
#include <dbserve/client/query_operation.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

template <class Transport, class Clock>
class async_runner : public std::enable_shared_from_this<async_runner<Transport, Clock>> {
public:
    using finish_function = std::function<void(result<query_response>, const query_operation&)>;
    using chunk_function = std::function<void(const chat_chunk&)>;

    async_runner(query_operation op, std::shared_ptr<Transport> transport, std::shared_ptr<const Clock> clock,
                 std::shared_ptr<client_shared> shared, finish_function on_finish, chunk_function on_chunk)
        : op_(std::move(op)),
          transport_(std::move(transport)),
          clock_(std::move(clock)),
          shared_(std::move(shared)),
          on_finish_(std::move(on_finish)),
          on_chunk_(std::move(on_chunk)) {}

    void drive() {
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (driving_) {
                again_ = true;
                return;
            }
            driving_ = true;
        }
        drive_owned();
    }

private:
    struct action {
        enum kind_type { send, timer, deadline_wake, wait_change, chunk, finish } kind = send;
        std::uint64_t id = 0;
        http_request request;
        send_options options;
        bool streaming = false;
        std::chrono::steady_clock::time_point deadline{};
        std::uint64_t version = 0;
        std::optional<chat_chunk> stream_chunk;
        std::optional<result<query_response>> outcome;
    };

    struct arrival {
        std::uint64_t id = 0;
        std::optional<result<http_response>> response;  // else a streamed piece:
        http_response head;
        std::string bytes;
    };

    // Loops while anything asked for another pass. The caller set driving_.
    void drive_owned() {
        auto self = this->shared_from_this();
        for (;;) {
            std::vector<arrival> arrived;
            {
                std::lock_guard<std::mutex> lock(state_mutex_);
                again_ = false;
                arrived.swap(arrivals_);
            }
            std::vector<action> actions;
            take(arrived, actions);
            collect(actions);
            for (auto& a : actions) perform(self, a);
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (!again_ || finished_) {
                driving_ = false;
                return;
            }
        }
    }

    // Feeds what arrived to the operation, in order; streamed chunks become actions.
    void take(std::vector<arrival>& arrived, std::vector<action>& actions) {
        for (auto& a : arrived) {
            if (a.response) {
                op_.on_response(a.id, std::move(*a.response));
                continue;
            }
            op_.on_body_chunk(a.id, a.head, a.bytes);
            while (auto chunk = op_.pop_chunk()) {
                action c;
                c.kind = action::chunk;
                c.stream_chunk.emplace(std::move(*chunk));
                actions.push_back(std::move(c));
            }
        }
    }

    // Only the driving thread calls this. The operation may wake other runners (a cache
    // change): their drive() takes only their own state_mutex_, briefly.
    void collect(std::vector<action>& actions) {
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (finished_) return;
        }
        for (;;) {
            operation_step step = op_.next();
            const bool would_wait_or_send = step.kind == operation_step::send ||
                                            step.kind == operation_step::wait_until ||
                                            (step.kind == operation_step::idle && step.waiting_for_others);
            if (would_wait_or_send && shared_->closed()) {
                cancel(actions);
                return;
            }
            switch (step.kind) {
                case operation_step::send: {
                    action a;
                    a.kind = action::send;
                    a.id = step.request_id;
                    a.request = *step.request;
                    a.options = step.options();
                    a.streaming = step.streaming;
                    actions.push_back(std::move(a));
                    continue;
                }
                case operation_step::load_credentials:
                    // At first use, as the blocking client does: on the driving thread.
                    op_.load_credentials();
                    continue;
                case operation_step::chunk: {
                    action a;
                    a.kind = action::chunk;
                    a.stream_chunk.emplace(*step.stream_chunk);
                    actions.push_back(std::move(a));
                    continue;
                }
                case operation_step::wait_until:
                    arm_timer(action::timer, step.deadline, actions);
                    return;
                case operation_step::idle:
                    if (step.waiting_for_others) {
                        action a;
                        a.kind = action::wait_change;
                        a.version = step.observed_version;
                        actions.push_back(std::move(a));
                    }
                    // The query's total deadline: wake for it even if nothing arrives.
                    if (step.deadline != std::chrono::steady_clock::time_point{})
                        arm_timer(action::deadline_wake, step.deadline, actions);
                    return;
                case operation_step::done: {
                    {
                        std::lock_guard<std::mutex> lock(state_mutex_);
                        finished_ = true;
                    }
                    action a;
                    a.kind = action::finish;
                    if (step.outcome) a.outcome.emplace(std::move(*step.outcome));
                    actions.push_back(std::move(a));
                    return;
                }
            }
        }
    }

    // Asks for a wake at `deadline` unless one at or before it is already armed.
    void arm_timer(typename action::kind_type kind, std::chrono::steady_clock::time_point deadline,
                   std::vector<action>& actions) {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (timer_ && *timer_ <= deadline) return;
        timer_ = deadline;
        action a;
        a.kind = kind;
        a.deadline = deadline;
        actions.push_back(std::move(a));
    }

    // A wake armed by arm_timer came: forget it (unless a sooner one replaced it) and drive.
    void timer_fired(std::chrono::steady_clock::time_point deadline) {
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (timer_ && *timer_ == deadline) timer_.reset();
        }
        drive();
    }

    // The client went away: the query ends here, its claims released with the operation.
    void cancel(std::vector<action>& actions) {
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            finished_ = true;
        }
        action a;
        a.kind = action::finish;
        a.outcome.emplace(unexpected(errc::cancelled,
                                     "the query was cancelled because its client was destroyed before it finished; "
                                     "keep the client alive until every asynchronous query has called its handler"));
        actions.push_back(std::move(a));
    }

    void perform(const std::shared_ptr<async_runner>& self, action& a) {
        switch (a.kind) {
            case action::send: {
                const std::uint64_t id = a.id;
                if (a.streaming) {
                    a.options.on_body_chunk = [self, id](const http_response& head, std::string_view bytes) {
                        self->on_body_chunk(id, head, bytes);
                    };
                }
                transport_->async_send(std::move(a.request), std::move(a.options),
                                       [self, id](result<http_response> response) {
                                           self->on_response(id, std::move(response));
                                       });
                break;
            }
            case action::timer: {
                const auto deadline = a.deadline;
                clock_async_wait_until(*clock_, deadline, [self, deadline] { self->timer_fired(deadline); });
                break;
            }
            case action::deadline_wake: {
                // Whatever the query waits for holds it alive; a query that finished
                // sooner is not kept until its deadline.
                const auto deadline = a.deadline;
                std::weak_ptr<async_runner> weak = self;
                clock_async_wait_until(*clock_, deadline, [weak, deadline] {
                    if (auto runner = weak.lock()) runner->timer_fired(deadline);
                });
                break;
            }
            case action::wait_change:
                if (!shared_->when_changed(a.version, [self] { self->drive(); })) {
                    std::lock_guard<std::mutex> lock(state_mutex_);
                    again_ = true;
                }
                break;
            case action::chunk:
                if (on_chunk_) on_chunk_(*a.stream_chunk);
                break;
            case action::finish: {
                result<query_response> outcome =
                    a.outcome ? std::move(*a.outcome)
                              : result<query_response>(unexpected(errc::cancelled, "the query ended without a result"));
                if (on_finish_) on_finish_(std::move(outcome), op_);
                on_finish_ = nullptr;
                break;
            }
        }
    }

    void on_response(std::uint64_t id, result<http_response> response) {
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            arrival a;
            a.id = id;
            a.response.emplace(std::move(response));
            arrivals_.push_back(std::move(a));
        }
        drive();
    }

    // A streamed piece: handed to the operation at once when no other thread drives it (the
    // common case, no copy), so chunks reach the caller as they arrive; queued otherwise.
    void on_body_chunk(std::uint64_t id, const http_response& head, std::string_view bytes) {
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (driving_) {
                arrival a;
                a.id = id;
                a.head.status = head.status;
                a.head.reason = head.reason;
                a.head.headers = head.headers;
                a.bytes.assign(bytes.data(), bytes.size());
                arrivals_.push_back(std::move(a));
                again_ = true;
                return;
            }
            driving_ = true;
        }
        std::vector<chat_chunk> ready;
        op_.on_body_chunk(id, head, bytes);
        while (auto chunk = op_.pop_chunk()) ready.push_back(std::move(*chunk));
        if (on_chunk_)
            for (const auto& chunk : ready) on_chunk_(chunk);
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            if (!again_ && arrivals_.empty()) {
                driving_ = false;
                return;
            }
        }
        drive_owned();
    }

    // Guards driving_, again_, finished_, timer_ and arrivals_; never held while calling out.
    std::mutex state_mutex_;
    query_operation op_;
    std::shared_ptr<Transport> transport_;
    std::shared_ptr<const Clock> clock_;
    std::shared_ptr<client_shared> shared_;
    finish_function on_finish_;
    chunk_function on_chunk_;
    bool driving_ = false;
    bool again_ = false;
    bool finished_ = false;
    std::optional<std::chrono::steady_clock::time_point> timer_;
    std::vector<arrival> arrivals_;  // for the driving thread, in order of arrival
};

}  // namespace detail
DBSERVE_END_NAMESPACE
