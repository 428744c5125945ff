// query_group: many poll-API operations (of any endpoints, usually of one workspace)
// driven from one place. A frame loop asks the group, not each operation, what to do next,
// and hands each response back by the operation's key:
//
//   dbserve::query_group group;
//   auto a = group.add(model.start_query(body));
//   auto b = group.add(chat.start_stream(chat_body));
//   while (!group.empty()) {
//       while (auto s = group.next()) {           // everything that can happen now
//           switch (s.step.kind) {
//               case operation_step::send:  network.start(*s.step.request, ..., s.key, s.step.request_id); break;
//               case operation_step::chunk: show(s.key, *s.step.stream_chunk); break;
//               case operation_step::done:  finish(s.key, std::move(*s.step.outcome)); break;
//               case operation_step::load_credentials:  // file or vault I/O: on any thread
//                   group.find(s.key)->load_credentials(); break;
//               default: break;
//           }
//       }
//       // idle: run the network until a response arrives or the frame ends; when
//       // s.step.deadline is set (a retry backoff, a query's deadline or a stream's
//       // inactivity deadline), no later than it.
//       // Responses: group.on_response(key, request_id, result) (and on_body_chunk).
//   }
//
// The credential step (see query_operation.hpp) comes like any other and is run before the
// next call of next(); a loop that must not block loads ahead with the workspace's
// load_credentials(), so the step comes only for a reload, a token file or a supplier.
// next() never returns wait_until: an operation waiting for a backoff is simply asked
// again on a later call, and the earliest such time is the idle step's deadline. A `done`
// operation's outcome stays valid until the next call of next(); then the group drops it.
// Operations never move inside the group, so a request handed out stays valid until its
// response is fed back. For one thread at a time, like the operations themselves.
#pragma once

#include <dbserve/client/operation_step.hpp>
#include <dbserve/client/query_operation.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

class query_group {
public:
    using key_type = std::uint64_t;

    struct group_step {
        key_type key = 0;  // the operation the step belongs to (0 for idle)
        operation_step step;
        explicit operator bool() const noexcept { return step.kind != operation_step::idle; }
    };

    // Adds an operation; the key names it in steps and when feeding it responses.
    key_type add(query_operation operation) {
        const key_type key = next_key_++;
        operations_.emplace(key, std::move(operation));
        return key;
    }

    // The next step of any operation, taking them in turn so none starves; idle when none
    // can move now (see the header comment).
    group_step next() {
        drop_delivered();
        group_step idle_step;
        const mono_time none{};
        mono_time earliest = none;
        auto note = [&](mono_time at) {
            if (at != none && (earliest == none || at < earliest)) earliest = at;
        };
        std::size_t looked = 0;
        const std::size_t count = operations_.size();
        auto it = operations_.upper_bound(cursor_);
        while (looked < count) {
            if (it == operations_.end()) it = operations_.begin();
            ++looked;
            operation_step step = it->second.next();
            if (step.kind == operation_step::wait_until || step.kind == operation_step::idle) {
                note(step.deadline);
                ++it;
                continue;
            }
            cursor_ = it->first;
            if (step.kind == operation_step::done) delivered_ = it->first;
            return group_step{it->first, step};
        }
        idle_step.step.kind = operation_step::idle;
        idle_step.step.deadline = earliest;
        return idle_step;
    }

    // The response (or transport error) to request `request_id` of operation `key`.
    // Unknown keys (an operation already done) are ignored.
    void on_response(key_type key, std::uint64_t request_id, result<http_response> response) {
        if (auto* operation = find(key)) operation->on_response(request_id, std::move(response));
    }
    // A piece of a streamed response body of operation `key`.
    void on_body_chunk(key_type key, std::uint64_t request_id, const http_response& head, std::string_view bytes) {
        if (auto* operation = find(key)) operation->on_body_chunk(request_id, head, bytes);
    }

    // The operation with this key, while the group holds it.
    query_operation* find(key_type key) {
        auto it = operations_.find(key);
        return it == operations_.end() ? nullptr : &it->second;
    }

    // Operations not yet dropped (a done one counts until the next call of next()).
    std::size_t size() const noexcept { return operations_.size() - (delivered_ ? 1 : 0); }
    bool empty() const noexcept { return size() == 0; }

private:
    using mono_time = std::chrono::steady_clock::time_point;

    void drop_delivered() {
        if (!delivered_) return;
        operations_.erase(delivered_);
        delivered_ = 0;
    }

    std::map<key_type, query_operation> operations_;
    key_type next_key_ = 1;
    key_type cursor_ = 0;     // the operation that gave the last step: the next look starts after it
    key_type delivered_ = 0;  // a done operation whose outcome the caller is reading
};

DBSERVE_END_NAMESPACE
