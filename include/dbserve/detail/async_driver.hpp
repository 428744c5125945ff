// The callback driver: runs a query_operation over an asynchronous transport and the
// clock's async_wait_until. Every response, timer and cache change re-enters drive(); one
// thread drives at a time and a re-entry that finds it busy only asks it to loop again,
// so a transport that completes inside async_send() cannot deadlock it.
#pragma once

#include <dbserve/detail/client_shared.hpp>
#include <dbserve/detail/config.hpp>
#include <dbserve/query_operation.hpp>
#include <dbserve/transport.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
            std::lock_guard<std::mutex> lock(flags_mutex_);
            if (driving_) {
                again_ = true;
                return;
            }
            driving_ = true;
        }
        auto self = this->shared_from_this();
        for (;;) {
            std::vector<action> actions;
            {
                std::lock_guard<std::mutex> lock(flags_mutex_);
                again_ = false;
            }
            {
                std::lock_guard<std::mutex> lock(op_mutex_);
                collect(actions);
            }
            for (auto& a : actions) perform(self, a);
            std::lock_guard<std::mutex> lock(flags_mutex_);
            if (!again_ || finished_) {
                driving_ = false;
                return;
            }
        }
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

    // Called with op_mutex_ held. The operation may wake other runners (a cache change):
    // their drive() only takes flags_mutex_, and ours, re-entered, only asks to loop again.
    void collect(std::vector<action>& actions) {
        {
            std::lock_guard<std::mutex> lock(flags_mutex_);
            if (finished_) return;
        }
        for (;;) {
            operation_step step = op_.next();
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
                case operation_step::chunk: {
                    action a;
                    a.kind = action::chunk;
                    a.stream_chunk.emplace(*step.stream_chunk);
                    actions.push_back(std::move(a));
                    continue;
                }
                case operation_step::wait_until: {
                    std::lock_guard<std::mutex> lock(flags_mutex_);
                    if (!timer_ || step.deadline < *timer_) {
                        timer_ = step.deadline;
                        action a;
                        a.kind = action::timer;
                        a.deadline = step.deadline;
                        actions.push_back(std::move(a));
                    }
                    return;
                }
                case operation_step::idle:
                    if (step.waiting_for_others) {
                        action a;
                        a.kind = action::wait_change;
                        a.version = step.observed_version;
                        actions.push_back(std::move(a));
                    }
                    if (step.deadline != std::chrono::steady_clock::time_point{}) {
                        // The query's total deadline: wake for it even if nothing arrives.
                        std::lock_guard<std::mutex> lock(flags_mutex_);
                        if (!timer_ || step.deadline < *timer_) {
                            timer_ = step.deadline;
                            action a;
                            a.kind = action::deadline_wake;
                            a.deadline = step.deadline;
                            actions.push_back(std::move(a));
                        }
                    }
                    return;
                case operation_step::done: {
                    {
                        std::lock_guard<std::mutex> lock(flags_mutex_);
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
                clock_->async_wait_until(deadline, [self, deadline] {
                    {
                        std::lock_guard<std::mutex> lock(self->flags_mutex_);
                        if (self->timer_ && *self->timer_ == deadline) self->timer_.reset();
                    }
                    self->drive();
                });
                break;
            }
            case action::deadline_wake: {
                // Whatever the query waits for holds it alive; a query that finished
                // sooner is not kept until its deadline.
                const auto deadline = a.deadline;
                std::weak_ptr<async_runner> weak = self;
                clock_->async_wait_until(deadline, [weak, deadline] {
                    auto runner = weak.lock();
                    if (!runner) return;
                    {
                        std::lock_guard<std::mutex> lock(runner->flags_mutex_);
                        if (runner->timer_ && *runner->timer_ == deadline) runner->timer_.reset();
                    }
                    runner->drive();
                });
                break;
            }
            case action::wait_change:
                if (!shared_->when_changed(a.version, [self] { self->drive(); })) {
                    std::lock_guard<std::mutex> lock(flags_mutex_);
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
            std::lock_guard<std::mutex> lock(op_mutex_);
            op_.on_response(id, std::move(response));
        }
        drive();
    }

    void on_body_chunk(std::uint64_t id, const http_response& head, std::string_view bytes) {
        std::vector<chat_chunk> ready;
        {
            std::lock_guard<std::mutex> lock(op_mutex_);
            op_.on_body_chunk(id, head, bytes);
            while (auto chunk = op_.pop_chunk()) ready.push_back(std::move(*chunk));
        }
        if (on_chunk_)
            for (const auto& chunk : ready) on_chunk_(chunk);
    }

    std::mutex op_mutex_;     // guards op_
    std::mutex flags_mutex_;  // guards driving_, again_, finished_, timer_; never held while taking op_mutex_
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
};

}  // namespace detail
DBSERVE_END_NAMESPACE
