// Runs the same query scenarios through the three drivers of basic_client: blocking
// (threads over fake_transport), callback (fake_async_transport, completed by the test)
// and poll (the harness is the caller's loop). Time is a manual_clock that moves only
// when every operation waits for it; nothing sleeps.
#pragma once

#include <dbserve/client/client.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace scenario {

using namespace dbserve;

enum class driver { blocking, callback, poll };

struct blocking_driver {
    static constexpr driver value = driver::blocking;
};
struct callback_driver {
    static constexpr driver value = driver::callback;
};
struct poll_driver {
    static constexpr driver value = driver::poll;
};

inline const char* name(driver d) {
    switch (d) {
        case driver::blocking: return "blocking";
        case driver::callback: return "callback";
        case driver::poll: return "poll";
    }
    return "?";
}

inline constexpr const char* ro_url =
    "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
inline constexpr const char* workspace = "https://adb-1234567890123456.7.azuredatabricks.net";

struct stream_run {
    result<stream_response> outcome = unexpected(errc::cancelled, "not run");
    std::vector<std::string> deltas;
};

class harness {
public:
    explicit harness(driver d) : how(d), sync_transport(replies), async_transport(replies) {
        config.url = ro_url;
        config.jitter = [] { return 0.0; };
        secrets.values = testing::service_principal();
    }
    ~harness() { async_transport.forget_unanswered(); }
    harness(const harness&) = delete;
    harness& operator=(const harness&) = delete;

    driver how;
    manual_clock clock;
    testing::script replies;
    testing::fake_transport sync_transport;
    testing::fake_async_transport async_transport;
    client_config config;
    static_secret_source secrets;
    // Blocking driver: threads used when several queries run at once.
    std::size_t threads = 8;

    std::unique_ptr<basic_client<testing::traits>> blocking;
    std::unique_ptr<basic_client<testing::async_traits>> callback;
    std::unique_ptr<basic_client<testing::poll_traits>> poll;

    void build() {
        if (!timing_out.empty()) {
            sync_transport.time_out(timing_out, clock);
            async_transport.time_out(timing_out, clock);
        }
        if (!never_answered.empty()) {
            // A blocking transport cannot be left hanging: it honours the timeout instead.
            sync_transport.time_out(never_answered, clock);
            async_transport.never_answer(never_answered);
        }
        blocking = std::make_unique<basic_client<testing::traits>>(config, sync_transport, clock, secrets);
        callback = std::make_unique<basic_client<testing::async_traits>>(config, async_transport, clock, secrets);
        poll = std::make_unique<basic_client<testing::poll_traits>>(config, no_transport{}, clock, secrets);
    }

    client_statistics stats() const {
        switch (how) {
            case driver::blocking: return blocking->statistics();
            case driver::callback: return callback->statistics();
            case driver::poll: return poll->statistics();
        }
        return {};
    }

    std::chrono::steady_clock::time_point now() const { return clock.monotonic_now(); }

    // Routes for the usual configured-URL case: tokens t1, t2, ... and a 200 invocation.
    void script_tokens_and_success() {
        auto counter = std::make_shared<std::atomic<int>>(0);
        replies.on("/oidc/v1/token").respond([counter](const http_request&) -> result<http_response> {
            return testing::token_reply("t" + std::to_string(++*counter), 3600);
        });
        replies.on("/invocations").always(testing::json_response(200, "{\"predictions\":[1]}", {{"served-model-name", "model-a"}}));
    }

    // The timeout each request was sent with, by the driver in use.
    std::vector<testing::sent_timeout> timeouts() const {
        if (how == driver::callback) return async_transport.timeouts();
        if (how == driver::poll) return poll_timeouts;
        return sync_transport.timeouts();
    }

    // Runs `n` queries started together and returns their results.
    std::vector<result<query_response>> run(std::size_t n, const std::string& body = "{\"inputs\":[1]}") {
        if (!blocking) build();
        switch (how) {
            case driver::blocking: return run_blocking(n, body);
            case driver::callback: return run_callback(n, body);
            case driver::poll: return run_poll(n, body);
        }
        return {};
    }

    result<query_response> run_one(const std::string& body = "{\"inputs\":[1]}") {
        auto all = run(1, body);
        return std::move(all.front());
    }

    // One streamed query.
    stream_run run_stream(const std::string& body) {
        if (!blocking) build();
        stream_run out;
        auto on_chunk = [&out](const chat_chunk& c) { out.deltas.emplace_back(c.content()); };
        switch (how) {
            case driver::blocking:
                out.outcome = blocking->stream(body, on_chunk);
                break;
            case driver::callback: {
                bool finished = false;
                callback->async_stream(body, on_chunk, [&](result<stream_response> r) {
                    out.outcome = std::move(r);
                    finished = true;
                });
                pump_callback([&] { return finished; });
                break;
            }
            case driver::poll: {
                auto op = poll->start_stream(body);
                std::optional<result<query_response>> done;
                while (!done) {
                    auto step = op.next();
                    if (step.kind == operation_step::send) {
                        send_options options = step.options();
                        const auto id = step.request_id;
                        if (step.streaming)
                            options.on_body_chunk = [&op, id](const http_response& head, std::string_view bytes) {
                                op.on_body_chunk(id, head, bytes);
                            };
                        auto response = sync_transport.send(*step.request, options);
                        op.on_response(id, std::move(response));
                    } else if (step.kind == operation_step::load_credentials) {
                        op.load_credentials();
                    } else if (step.kind == operation_step::chunk) {
                        out.deltas.emplace_back(step.stream_chunk->content());
                    } else if (step.kind == operation_step::wait_until) {
                        clock.advance(step.deadline - now());
                    } else if (step.kind == operation_step::done) {
                        done.emplace(std::move(*step.outcome));
                    } else {
                        FAIL("a lone poll operation went idle");
                        break;
                    }
                }
                if (done && *done) out.outcome = stream_response{std::move(**done), op.summary()};
                else if (done) out.outcome = std::move(*done).error();
                break;
            }
        }
        return out;
    }

private:
    std::vector<result<query_response>> run_blocking(std::size_t n, const std::string& body) {
        std::vector<std::optional<result<query_response>>> slots(n);
        const std::size_t t = std::min(threads, n);
        if (t <= 1) {
            for (auto& slot : slots) slot.emplace(blocking->query(body));
        } else {
            if (hold_first_token) sync_transport.hold("/oidc/v1/token");
            std::vector<std::thread> workers;
            for (std::size_t w = 0; w < t; ++w)
                workers.emplace_back([&, w] {
                    for (std::size_t i = w; i < n; i += t) slots[i].emplace(blocking->query(body));
                });
            if (hold_first_token) {
                sync_transport.wait_until_held(1);
                // Release once every other thread waits for that token.
                while (blocking->statistics().token_waits < t - 1) std::this_thread::yield();
                sync_transport.release();
            }
            for (auto& w : workers) w.join();
        }
        return unwrap(slots);
    }

    std::vector<result<query_response>> run_callback(std::size_t n, const std::string& body) {
        std::vector<std::optional<result<query_response>>> slots(n);
        std::size_t finished = 0;
        for (std::size_t i = 0; i < n; ++i)
            callback->async_query(body, [&slots, &finished, i](result<query_response> r) {
                slots[i].emplace(std::move(r));
                ++finished;
            });
        pump_callback([&] { return finished == n; });
        return unwrap(slots);
    }

    // Completes requests one by one; when none is pending, moves the clock to the next
    // timer. Fails the test instead of hanging when nothing can make progress.
    template <class Done>
    void pump_callback(Done done) {
        while (!done()) {
            if (async_transport.complete_next()) continue;
            if (clock.pending_waits() > 0) {
                clock.advance(std::chrono::milliseconds(1));
                continue;
            }
            FAIL("callback driver: queries neither finished nor wait for anything (a hang)");
            return;
        }
    }

    std::vector<result<query_response>> run_poll(std::size_t n, const std::string& body) {
        std::vector<query_operation> ops;
        ops.reserve(n);
        for (std::size_t i = 0; i < n; ++i) ops.push_back(poll->start_query(body));
        std::vector<std::optional<result<query_response>>> slots(n);
        struct outgoing {
            std::size_t op;
            std::uint64_t id;
        };
        std::size_t remaining = n;
        while (remaining > 0) {
            std::vector<outgoing> queue;
            std::optional<std::chrono::steady_clock::time_point> earliest;
            for (std::size_t i = 0; i < n; ++i) {
                if (slots[i]) continue;
                for (;;) {
                    auto step = ops[i].next();
                    if (step.kind == operation_step::send) {
                        sent.push_back(*step.request);
                        poll_timeouts.push_back({step.request->url, step.timeout});
                        if (!never_answered.empty() && step.request->url.find(never_answered) != std::string::npos)
                            continue;  // the caller's network never answers it
                        queue.push_back({i, step.request_id});
                        pending_requests.push_back(*step.request);
                        pending_options.push_back(step.options());
                        continue;
                    }
                    if (step.kind == operation_step::chunk) continue;
                    if (step.kind == operation_step::load_credentials) {
                        ops[i].load_credentials();
                        continue;
                    }
                    const bool timed = step.kind == operation_step::wait_until ||
                                       (step.kind == operation_step::idle &&
                                        step.deadline != std::chrono::steady_clock::time_point{});
                    if (timed) {
                        if (!earliest || step.deadline < *earliest) earliest = step.deadline;
                    } else if (step.kind == operation_step::done) {
                        slots[i].emplace(std::move(*step.outcome));
                        --remaining;
                    }
                    break;
                }
            }
            if (!queue.empty()) {
                // The caller's own networking: answered in the order sent.
                for (std::size_t q = 0; q < queue.size(); ++q) {
                    auto response = sync_transport.send(pending_requests[q], pending_options[q]);
                    ops[queue[q].op].on_response(queue[q].id, std::move(response));
                }
                pending_requests.clear();
                pending_options.clear();
                continue;
            }
            if (remaining == 0) break;
            if (earliest) {
                clock.advance(*earliest - now());
                continue;
            }
            FAIL("poll driver: operations neither finished nor wait for anything (a hang)");
            break;
        }
        return unwrap(slots);
    }

    static std::vector<result<query_response>> unwrap(std::vector<std::optional<result<query_response>>>& slots) {
        std::vector<result<query_response>> out;
        out.reserve(slots.size());
        for (auto& s : slots) {
            if (s) out.push_back(std::move(*s));
            else out.push_back(unexpected(errc::cancelled, "the query never finished"));
        }
        return out;
    }

    std::vector<http_request> pending_requests;
    std::vector<send_options> pending_options;

public:
    // Requests whose URL contains this time out at the transport (after their timeout, on
    // the clock); set before the first run.
    std::string timing_out;
    // Requests whose URL contains this are never answered (callback and poll drivers; the
    // blocking driver's transport times them out instead); set before the first run.
    std::string never_answered;
    std::vector<http_request> sent;
    std::vector<testing::sent_timeout> poll_timeouts;  // poll driver: each request's step.timeout
    // Blocking driver: hold the first token request until every thread waits for it.
    bool hold_first_token = false;
};

inline std::size_t count_ok(const std::vector<result<query_response>>& results) {
    return static_cast<std::size_t>(std::count_if(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }));
}

// The bearer token an invocation request carried.
inline std::string bearer_of(const http_request& r) {
    auto v = r.headers.get("Authorization");
    return v.size() > 7 ? std::string(v.substr(7)) : std::string();
}

inline std::vector<http_request> invocations(const testing::script& s) {
    std::vector<http_request> out;
    for (auto& r : s.requests())
        if (r.url.find("/invocations") != std::string::npos) out.push_back(r);
    return out;
}

// The authorization_details string a discovery reply carries for the endpoint abc123.
inline constexpr const char* discovered_details =
    R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/abc123","actions":["query_inference_endpoint"]}])";

// Discovery by name ("my-ep") answered with `url`, both token grants and a 200 from the model.
inline void script_discovery(harness& h, const std::string& url) {
    h.config = dbserve::client_config{};
    h.config.endpoint_name = "my-ep";
    h.config.jitter = [] { return 0.0; };
    h.replies.on("/oidc/v1/token").respond([](const dbserve::http_request& r) -> dbserve::result<dbserve::http_response> {
        if (r.body.find("grant_type=client_credentials") != std::string::npos)
            return dbserve::testing::token_reply("cp-token");
        return dbserve::testing::token_reply("dp-token");
    });
    h.replies.on("/api/2.0/serving-endpoints/my-ep").always(dbserve::testing::discovery_reply("my-ep", url, discovered_details));
    h.replies.on("/invocations").always(dbserve::testing::json_response(200, "{\"predictions\":[2]}"));
}

}  // namespace scenario

#define SCENARIO_DRIVERS scenario::blocking_driver, scenario::callback_driver, scenario::poll_driver
