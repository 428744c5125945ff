// dbserve/testing/fakes.hpp: fakes for testing code that uses dbserve, without a network, a
// real clock or real secrets. Not part of the umbrella header: include it in tests.
//
// - script: scripted replies per URL (FIFO, then a repeated reply), recording every
//   request. Replies are responses or transport errors.
// - fake_transport: a blocking Transport over a script; can deliver bodies in random
//   chunk sizes (streaming), hold requests until released (concurrency tests), and let
//   requests to a server that never answers time out on a manual clock (time_out).
// - fake_async_transport: an asynchronous Transport over a script; requests wait until
//   the test completes them (complete_next / complete_all), or complete at once; some
//   may time out on a manual clock (time_out) or never be answered (never_answer).
// Both record the timeout each request was sent with (timeouts()).
// - manual_clock (from clock.hpp) and static_secret_source (from secret_sources.hpp).
// - traits / async_traits: basic_client traits made of these.
// Copies of a script or a fake share one state, so a test keeps a copy to script and
// inspect while the client owns another. Everything here is thread safe.
#pragma once

#include <dbserve/client/client.hpp>
#include <dbserve/client/clock.hpp>
#include <dbserve/client/credentials.hpp>
#include <dbserve/client/secret_sources.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace testing {

// ---------------------------------------------------------------- reply builders

inline http_response json_response(int status, std::string body, std::vector<header> extra_headers = {}) {
    http_response r;
    r.status = status;
    r.headers.add_unchecked("Content-Type", "application/json");
    for (auto& h : extra_headers) r.headers.add_unchecked(std::move(h.name), std::move(h.value));
    r.body = std::move(body);
    return r;
}

// A token endpoint's success reply.
inline http_response token_reply(std::string_view access_token = "test-token", long long expires_in = 3600) {
    return json_response(200, std::string("{\"access_token\":\"") + std::string(access_token) +
                                  "\",\"token_type\":\"Bearer\",\"expires_in\":" + std::to_string(expires_in) + "}");
}

// A token endpoint's OAuth error reply.
inline http_response oauth_error_reply(int status, std::string_view error, std::string_view description) {
    return json_response(status, std::string("{\"error\":\"") + std::string(error) + "\",\"error_description\":\"" +
                                     std::string(description) + "\"}");
}

// A Databricks error reply ({"error_code", "message"}), with optional extra headers.
inline http_response error_reply(int status, std::string_view error_code, std::string_view message,
                                 std::vector<header> extra_headers = {}) {
    return json_response(status,
                         std::string("{\"error_code\":\"") + std::string(error_code) + "\",\"message\":\"" +
                             std::string(message) + "\"}",
                         std::move(extra_headers));
}

// The serving-endpoints API reply for a route optimized endpoint.
inline http_response discovery_reply(std::string_view name, std::string_view endpoint_url,
                                     std::string_view authorization_details_json, std::string_view ready = "READY") {
    nlohmann::json doc = {
        {"name", std::string(name)},
        {"id", "0123456789abcdef"},
        {"route_optimized", true},
        {"endpoint_url", std::string(endpoint_url)},
        {"state", {{"ready", std::string(ready)}, {"config_update", "NOT_UPDATING"}}},
        {"data_plane_info",
         {{"query_info",
           {{"endpoint_url", std::string(endpoint_url)},
            {"authorization_details", std::string(authorization_details_json)}}}}}};
    return json_response(200, doc.dump());
}

// A Server-Sent Events reply carrying each string as one `data:` event, then [DONE].
inline http_response sse_reply(const std::vector<std::string>& data_events, bool with_done = true) {
    http_response r;
    r.status = 200;
    r.headers.add_unchecked("Content-Type", "text/event-stream");
    for (const auto& d : data_events) {
        r.body += "data: ";
        r.body += d;
        r.body += "\n\n";
    }
    if (with_done) r.body += "data: [DONE]\n\n";
    return r;
}

// A transport failure as an adapter reports it.
inline dbserve::error transport_failure(errc code, std::string message, bool request_may_have_been_processed = false) {
    dbserve::error e(code, std::move(message));
    e.request_may_have_been_processed = request_may_have_been_processed;
    return e;
}

// Credentials of a service principal for static_secret_source.
inline credentials service_principal(std::string host = "https://adb-1234567890123456.7.azuredatabricks.net",
                                     std::string client_id = "client-id",
                                     std::string_view client_secret = "client-secret") {
    credentials c;
    c.host = std::move(host);
    c.client_id = std::move(client_id);
    c.client_secret = secret_string(client_secret);
    return c;
}

// ---------------------------------------------------------------- script

class script {
    struct route_data;
    struct script_state;

public:
    using responder = std::function<result<http_response>(const http_request&)>;

    class route {
    public:
        // Adds a reply used once, in order.
        route& reply(result<http_response> r) {
            std::lock_guard<std::mutex> lock(state_->mutex);
            entry().queue.push_back(std::move(r));
            return *this;
        }
        // The reply used whenever the queue is empty.
        route& always(result<http_response> r) {
            std::lock_guard<std::mutex> lock(state_->mutex);
            entry().repeat.emplace(std::move(r));
            entry().respond = nullptr;
            return *this;
        }
        // A function computing the reply whenever the queue is empty.
        route& respond(responder f) {
            std::lock_guard<std::mutex> lock(state_->mutex);
            entry().respond = std::move(f);
            entry().repeat.reset();
            return *this;
        }

    private:
        friend class script;
        route(std::shared_ptr<script_state> state, std::size_t index) : state_(std::move(state)), index_(index) {}
        route_data& entry() { return state_->routes[index_]; }
        std::shared_ptr<script_state> state_;
        std::size_t index_;
    };

    script() : state_(std::make_shared<script_state>()) {}

    // Requests whose URL contains `url_part` (and of that method, when given) are answered
    // by this route; of the routes that match and have a reply, the one added last wins.
    route on(std::string url_part, std::optional<http_method> method = std::nullopt) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        for (std::size_t i = 0; i < state_->routes.size(); ++i)
            if (state_->routes[i].url_part == url_part && state_->routes[i].method == method)
                return route(state_, i);
        state_->routes.push_back(route_data{std::move(url_part), method, {}, std::nullopt, nullptr});
        return route(state_, state_->routes.size() - 1);
    }

    // Records the request and returns its reply.
    result<http_response> answer(const http_request& request) {
        responder f;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->requests.push_back(request);
            // The route added last wins, so a test can override a general route.
            for (auto it = state_->routes.rbegin(); it != state_->routes.rend(); ++it) {
                auto& r = *it;
                if (request.url.find(r.url_part) == std::string::npos) continue;
                if (r.method && *r.method != request.method) continue;
                if (!r.queue.empty()) {
                    auto out = std::move(r.queue.front());
                    r.queue.pop_front();
                    return out;
                }
                if (r.repeat) return *r.repeat;
                if (r.respond) {
                    f = r.respond;
                    break;
                }
            }
        }
        if (f) return f(request);
        return transport_failure(errc::connection, "fake transport: no scripted reply for " +
                                                       std::string(to_string(request.method)) + " " + request.url);
    }

    // Every request answered so far, in order.
    std::vector<http_request> requests() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->requests;
    }
    // How many requests had a URL containing `url_part`.
    std::size_t count(std::string_view url_part) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        std::size_t n = 0;
        for (const auto& r : state_->requests)
            if (r.url.find(url_part) != std::string::npos) ++n;
        return n;
    }
    std::size_t request_count() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->requests.size();
    }
    void clear_requests() {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->requests.clear();
    }

private:
    struct route_data {
        std::string url_part;
        std::optional<http_method> method;
        std::deque<result<http_response>> queue;
        std::optional<result<http_response>> repeat;
        responder respond;
    };
    struct script_state {
        std::mutex mutex;
        std::vector<route_data> routes;
        std::vector<http_request> requests;
    };
    std::shared_ptr<script_state> state_;
};

// ---------------------------------------------------------------- body delivery

namespace detail {
// Hands a response body to on_body_chunk in pieces of 1..max_chunk bytes (random, from
// `engine`), then returns the response with an empty body, as a streaming transport does.
inline result<http_response> deliver_in_chunks(result<http_response> outcome, const send_options& options,
                                               std::minstd_rand* engine, std::size_t max_chunk) {
    if (!outcome || !options.on_body_chunk) return outcome;
    http_response& response = *outcome;
    std::string body = std::move(response.body);
    response.body.clear();
    std::size_t at = 0;
    while (at < body.size()) {
        std::size_t n = body.size() - at;
        if (engine && max_chunk > 0) {
            const std::size_t pick = std::uniform_int_distribution<std::size_t>(1, max_chunk)(*engine);
            if (pick < n) n = pick;
        }
        options.on_body_chunk(response, std::string_view(body).substr(at, n));
        at += n;
    }
    return outcome;
}
}  // namespace detail

namespace detail {
// What a transport that honours send_options::timeout reports when the server never
// answers: a timeout, after which a POST may have been processed.
inline dbserve::error never_answered(const http_request& request, std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0)
        return dbserve::error(errc::cancelled, "fake transport: " + request.url +
                                                   " never answers and the request had no timeout: it would hang");
    dbserve::error e(errc::timeout, "fake transport: no answer within " + std::to_string(timeout.count()) + " ms");
    e.request_may_have_been_processed = request.method == http_method::post;
    return e;
}

inline bool url_matches(const std::vector<std::string>& parts, const std::string& url) {
    for (const auto& part : parts)
        if (url.find(part) != std::string::npos) return true;
    return false;
}
}  // namespace detail

// A request and the timeout it was sent with.
struct sent_timeout {
    std::string url;
    std::chrono::milliseconds timeout{0};
};

// ---------------------------------------------------------------- fake_transport

class fake_transport {
public:
    explicit fake_transport(script s = script()) : script_(std::move(s)), state_(std::make_shared<state>()) {}

    dbserve::testing::script& replies() noexcept { return script_; }

    // Streamed bodies go out in random pieces of 1..max_chunk bytes (seeded: reproducible).
    fake_transport& chunked(std::uint32_t seed, std::size_t max_chunk) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->engine.seed(seed);
        state_->max_chunk = max_chunk;
        return *this;
    }

    // Requests whose URL contains `url_part` block inside send() until release().
    fake_transport& hold(std::string url_part) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->hold = std::move(url_part);
        state_->released = false;
        return *this;
    }
    void release() {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->released = true;
        }
        state_->changed.notify_all();
    }
    // Waits until `n` requests are being held.
    void wait_until_held(std::size_t n) const {
        std::unique_lock<std::mutex> lock(state_->mutex);
        state_->changed.wait(lock, [&] { return state_->held >= n; });
    }

    // Requests whose URL contains `url_part` go to a server that never answers: send()
    // moves `clock` forward by the request's timeout and reports errc::timeout.
    fake_transport& time_out(std::string url_part, manual_clock clock) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->silent.push_back(std::move(url_part));
        state_->clock.emplace(std::move(clock));
        return *this;
    }
    // Whether requests to `url` time out (see time_out).
    bool times_out(const std::string& url) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return detail::url_matches(state_->silent, url);
    }
    std::vector<sent_timeout> timeouts() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->timeouts;
    }

    result<http_response> send(const http_request& request, const send_options& options) {
        std::optional<manual_clock> silent_for;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->timeouts.push_back({request.url, options.timeout});
            if (detail::url_matches(state_->silent, request.url)) silent_for = state_->clock;
        }
        if (silent_for) {
            auto failure = detail::never_answered(request, options.timeout);
            if (failure.code == errc::timeout) silent_for->advance(options.timeout);
            return failure;
        }
        {
            std::unique_lock<std::mutex> lock(state_->mutex);
            if (!state_->hold.empty() && request.url.find(state_->hold) != std::string::npos) {
                ++state_->held;
                state_->changed.notify_all();
                state_->changed.wait(lock, [&] { return state_->released; });
                --state_->held;
            }
        }
        auto outcome = script_.answer(request);
        std::lock_guard<std::mutex> lock(state_->mutex);
        return detail::deliver_in_chunks(std::move(outcome), options,
                                         state_->max_chunk > 0 ? &state_->engine : nullptr, state_->max_chunk);
    }

private:
    struct state {
        std::mutex mutex;
        std::condition_variable changed;
        std::minstd_rand engine{1};
        std::size_t max_chunk = 0;
        std::string hold;
        bool released = true;
        std::size_t held = 0;
        std::vector<std::string> silent;
        std::optional<manual_clock> clock;
        std::vector<sent_timeout> timeouts;
    };
    script script_;
    std::shared_ptr<state> state_;
};

// ---------------------------------------------------------------- fake_async_transport

class fake_async_transport {
public:
    enum class mode { deferred, immediate };

    explicit fake_async_transport(script s = script(), mode m = mode::deferred)
        : script_(std::move(s)), state_(std::make_shared<state>()) {
        state_->how = m;
    }

    dbserve::testing::script& replies() noexcept { return script_; }

    fake_async_transport& chunked(std::uint32_t seed, std::size_t max_chunk) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->engine.seed(seed);
        state_->max_chunk = max_chunk;
        return *this;
    }

    // Requests whose URL contains `url_part` time out on `clock`: their handler gets
    // errc::timeout once the clock passes the request's timeout.
    fake_async_transport& time_out(std::string url_part, manual_clock clock) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->silent.push_back(std::move(url_part));
        state_->clock.emplace(std::move(clock));
        return *this;
    }
    // Requests whose URL contains `url_part` are never answered: their handler is kept
    // and never called, as by a transport that ignores its timeout.
    fake_async_transport& never_answer(std::string url_part) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->ignored.push_back(std::move(url_part));
        return *this;
    }
    // Drops the handlers never_answer kept, without calling them, as a transport torn down
    // would: the queries they hold (and what those hold) can then go when a test ends.
    void forget_unanswered() {
        std::vector<completion_handler> dropped;
        std::lock_guard<std::mutex> lock(state_->mutex);
        dropped.swap(state_->unanswered);
    }
    // How many requests were never answered (see never_answer).
    std::size_t unanswered() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->unanswered.size();
    }
    std::vector<sent_timeout> timeouts() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->timeouts;
    }

    void async_send(http_request request, send_options options, completion_handler handler) {
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->timeouts.push_back({request.url, options.timeout});
            if (detail::url_matches(state_->ignored, request.url)) {
                state_->unanswered.push_back(std::move(handler));
                return;
            }
            if (detail::url_matches(state_->silent, request.url)) {
                auto failure = detail::never_answered(request, options.timeout);
                if (failure.code != errc::timeout) {
                    state_->pending_failures.push_back({std::move(handler), std::move(failure)});
                    return;
                }
                auto shared_handler = std::make_shared<completion_handler>(std::move(handler));
                const auto at = state_->clock->monotonic_now() + options.timeout;
                state_->clock->async_wait_until(at, [shared_handler, failure] { (*shared_handler)(failure); });
                return;
            }
            if (state_->how == mode::deferred) {
                state_->pending.push_back(pending_request{std::move(request), std::move(options), std::move(handler)});
                return;
            }
        }
        complete(pending_request{std::move(request), std::move(options), std::move(handler)});
    }

    std::size_t pending() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->pending.size();
    }
    // The URLs of the requests waiting, oldest first.
    std::vector<std::string> pending_urls() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        std::vector<std::string> out;
        for (const auto& p : state_->pending) out.push_back(p.request.url);
        return out;
    }

    // Answers the oldest waiting request from the script. Returns false if none waits.
    bool complete_next() {
        std::optional<pending_request> next;
        {
            std::unique_lock<std::mutex> lock(state_->mutex);
            if (!state_->pending_failures.empty()) {
                auto failed = std::move(state_->pending_failures.front());
                state_->pending_failures.pop_front();
                lock.unlock();
                failed.first(std::move(failed.second));
                return true;
            }
            if (state_->pending.empty()) return false;
            next.emplace(std::move(state_->pending.front()));
            state_->pending.pop_front();
        }
        complete(std::move(*next));
        return true;
    }
    // Answers requests (including those sent meanwhile) until none waits. Returns how many.
    std::size_t complete_all() {
        std::size_t n = 0;
        while (complete_next()) ++n;
        return n;
    }

private:
    struct pending_request {
        http_request request;
        send_options options;
        completion_handler handler;
    };
    struct state {
        std::mutex mutex;
        mode how = mode::deferred;
        std::deque<pending_request> pending;
        std::minstd_rand engine{1};
        std::size_t max_chunk = 0;
        std::vector<std::string> silent, ignored;
        std::optional<manual_clock> clock;
        std::vector<completion_handler> unanswered;
        std::deque<std::pair<completion_handler, dbserve::error>> pending_failures;
        std::vector<sent_timeout> timeouts;
    };

    void complete(pending_request p) {
        auto outcome = script_.answer(p.request);
        std::minstd_rand* engine = nullptr;
        std::size_t max_chunk = 0;
        std::minstd_rand local;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            if (state_->max_chunk > 0) {
                local.seed(static_cast<std::uint32_t>(state_->engine()));
                engine = &local;
                max_chunk = state_->max_chunk;
            }
        }
        outcome = detail::deliver_in_chunks(std::move(outcome), p.options, engine, max_chunk);
        p.handler(std::move(outcome));
    }

    script script_;
    std::shared_ptr<state> state_;
};

// ---------------------------------------------------------------- traits

struct traits {
    using transport = fake_transport;
    using clock = manual_clock;
    using secret_source = static_secret_source;
};
struct async_traits {
    using transport = fake_async_transport;
    using clock = manual_clock;
    using secret_source = static_secret_source;
};
struct poll_traits {
    using transport = no_transport;
    using clock = manual_clock;
    using secret_source = static_secret_source;
};

}  // namespace testing
DBSERVE_END_NAMESPACE
