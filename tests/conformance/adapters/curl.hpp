// The libcurl adapter in the conformance suite: its blocking transport, and its
// asynchronous transport driven each of the three ways it supports.
#pragma once

#include "../harness.hpp"

#include <dbserve/curl/transport.hpp>

#include <poll.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace conformance {

struct curl_blocking_kit : blocking_kit<dbserve::curl::blocking_transport> {
    static constexpr const char* name = "curl blocking";
};

namespace curl_detail {
using outcome = dbserve::result<dbserve::http_response>;
using outcome_slot = std::shared_ptr<std::optional<outcome>>;

inline dbserve::completion_handler fill(const outcome_slot& slot) {
    return [slot](outcome r) { slot->emplace(std::move(r)); };
}
inline outcome take(const outcome_slot& slot) {
    require_called(slot->has_value());
    return std::move(**slot);
}

// Starts the requests, steps the loop until every handler ran (or hard_deadline passed),
// cancelling the first once `cancel_when` says so.
template <class Transport, class Step>
std::vector<outcome> drive_all(Transport& t, const std::vector<dbserve::http_request>& requests,
                               const dbserve::send_options& o, const std::function<bool()>& cancel_when, Step step) {
    std::vector<outcome_slot> slots;
    std::vector<dbserve::curl::request_id> ids;
    for (const auto& r : requests) {
        slots.push_back(std::make_shared<std::optional<outcome>>());
        ids.push_back(t.start(r, o, fill(slots.back())));
    }
    const auto all_done = [&] {
        for (const auto& slot : slots)
            if (!*slot) return false;
        return true;
    };
    const auto deadline = std::chrono::steady_clock::now() + hard_deadline;
    bool cancelled = false;
    while (!all_done() && std::chrono::steady_clock::now() < deadline) {
        if (cancel_when && !cancelled && cancel_when()) {
            t.cancel(ids.front());
            cancelled = true;
        }
        step();
    }
    std::vector<outcome> out;
    for (const auto& slot : slots) out.push_back(take(slot));
    return out;
}

template <class Transport, class Step>
outcome drive(Transport& t, const dbserve::http_request& r, const dbserve::send_options& o,
              const std::function<bool()>& cancel_when, Step step) {
    return std::move(drive_all(t, {r}, o, cancel_when, step).front());
}
}  // namespace curl_detail

// run_once(), as a program with its own loop would call it.
struct curl_async_kit {
    static constexpr const char* name = "curl async run_once";
    static constexpr bool is_async = true;
    using transport_type = dbserve::curl::async_transport;
    static std::unique_ptr<transport_type> make(const dbserve::transport_options& options) {
        return std::make_unique<transport_type>(options);
    }
    static dbserve::result<dbserve::http_response> send(transport_type& t, const dbserve::http_request& r,
                                                        const dbserve::send_options& o) {
        return curl_detail::drive(t, r, o, {}, [&] { t.run_once(std::chrono::milliseconds(50)); });
    }
    static dbserve::result<dbserve::http_response> send_and_cancel(transport_type& t, const dbserve::http_request& r,
                                                                   const dbserve::send_options& o,
                                                                   const std::function<bool()>& cancel_when) {
        return curl_detail::drive(t, r, o, cancel_when, [&] { t.run_once(std::chrono::milliseconds(20)); });
    }
    static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type& t,
                                                                         const std::vector<dbserve::http_request>& requests,
                                                                         const dbserve::send_options& o) {
        return curl_detail::drive_all(t, requests, o, {}, [&] { t.run_once(std::chrono::milliseconds(50)); });
    }
};

// Event hooks, with poll(2) standing in for an epoll or libuv loop.
struct curl_event_hooks_kit {
    static constexpr const char* name = "curl async event hooks";
    static constexpr bool is_async = true;

    struct transport_type {
        std::map<curl_socket_t, dbserve::curl::socket_interest> sockets;
        std::optional<std::chrono::steady_clock::time_point> timer;
        // Last, so it is destroyed first: its shutdown still calls the hooks above.
        dbserve::curl::async_transport transport;

        explicit transport_type(const dbserve::transport_options& options) : transport(options) {
            dbserve::curl::event_hooks hooks;
            hooks.watch_socket = [this](curl_socket_t fd, dbserve::curl::socket_interest interest) {
                if (interest == dbserve::curl::socket_interest::none)
                    sockets.erase(fd);
                else
                    sockets[fd] = interest;
            };
            hooks.set_timer = [this](std::chrono::milliseconds delay) {
                if (delay.count() < 0)
                    timer.reset();
                else
                    timer = std::chrono::steady_clock::now() + delay;
            };
            transport.use_event_hooks(std::move(hooks));
        }
        dbserve::curl::request_id start(const dbserve::http_request& r, const dbserve::send_options& o,
                                        dbserve::completion_handler h) {
            return transport.start(r, o, std::move(h));
        }
        void cancel(dbserve::curl::request_id id) { transport.cancel(id); }

        // One turn of the event loop.
        void step() {
            using dbserve::curl::socket_interest;
            std::vector<pollfd> watched;
            for (const auto& [fd, interest] : sockets) {
                short events = 0;
                if (interest == socket_interest::read || interest == socket_interest::read_write) events |= POLLIN;
                if (interest == socket_interest::write || interest == socket_interest::read_write) events |= POLLOUT;
                watched.push_back({fd, events, 0});
            }
            int wait_ms = 50;
            if (timer) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*timer - std::chrono::steady_clock::now());
                wait_ms = static_cast<int>(std::max<long long>(0, std::min<long long>(wait_ms, left.count())));
            }
            ::poll(watched.data(), watched.size(), wait_ms);
            for (const auto& p : watched) {
                if (p.revents == 0) continue;
                transport.on_socket_event(p.fd, (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0, (p.revents & POLLOUT) != 0);
            }
            if (timer && *timer <= std::chrono::steady_clock::now()) {
                timer.reset();
                transport.on_timeout();
            }
        }
    };

    static std::unique_ptr<transport_type> make(const dbserve::transport_options& options) {
        return std::make_unique<transport_type>(options);
    }
    static dbserve::result<dbserve::http_response> send(transport_type& t, const dbserve::http_request& r,
                                                        const dbserve::send_options& o) {
        return curl_detail::drive(t, r, o, {}, [&] { t.step(); });
    }
    static dbserve::result<dbserve::http_response> send_and_cancel(transport_type& t, const dbserve::http_request& r,
                                                                   const dbserve::send_options& o,
                                                                   const std::function<bool()>& cancel_when) {
        return curl_detail::drive(t, r, o, cancel_when, [&] { t.step(); });
    }
    static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type& t,
                                                                         const std::vector<dbserve::http_request>& requests,
                                                                         const dbserve::send_options& o) {
        return curl_detail::drive_all(t, requests, o, {}, [&] { t.step(); });
    }
};

// The transport's own background thread; the test thread only waits.
struct curl_background_thread_kit {
    static constexpr const char* name = "curl async background thread";
    static constexpr bool is_async = true;
    using transport_type = dbserve::curl::async_transport;
    static std::unique_ptr<transport_type> make(const dbserve::transport_options& options) {
        auto t = std::make_unique<transport_type>(options);
        t->start_background_thread();
        return t;
    }
    static dbserve::result<dbserve::http_response> send(transport_type& t, const dbserve::http_request& r,
                                                        const dbserve::send_options& o) {
        return std::move(send_all(t, {r}, o).front());
    }
    static dbserve::result<dbserve::http_response> send_and_cancel(transport_type& t, const dbserve::http_request& r,
                                                                   const dbserve::send_options& o,
                                                                   const std::function<bool()>& cancel_when) {
        auto promise = std::make_shared<std::promise<dbserve::result<dbserve::http_response>>>();
        auto future = promise->get_future();
        const auto id = t.start(r, o, [promise](dbserve::result<dbserve::http_response> result) {
            promise->set_value(std::move(result));
        });
        const auto deadline = std::chrono::steady_clock::now() + hard_deadline;
        // Checks the condition between short waits for the handler.
        while (!cancel_when() && std::chrono::steady_clock::now() < deadline)
            if (future.wait_for(std::chrono::milliseconds(10)) == std::future_status::ready) break;
        t.cancel(id);
        require_called(future.wait_until(deadline) == std::future_status::ready);
        return future.get();
    }
    static std::vector<dbserve::result<dbserve::http_response>> send_all(transport_type& t,
                                                                         const std::vector<dbserve::http_request>& requests,
                                                                         const dbserve::send_options& o) {
        std::vector<std::future<dbserve::result<dbserve::http_response>>> futures;
        for (const auto& r : requests) {
            auto promise = std::make_shared<std::promise<dbserve::result<dbserve::http_response>>>();
            futures.push_back(promise->get_future());
            t.start(r, o, [promise](dbserve::result<dbserve::http_response> result) { promise->set_value(std::move(result)); });
        }
        const auto deadline = std::chrono::steady_clock::now() + hard_deadline;
        std::vector<dbserve::result<dbserve::http_response>> out;
        for (auto& f : futures) {
            require_called(f.wait_until(deadline) == std::future_status::ready);
            out.push_back(f.get());
        }
        return out;
    }
};

}  // namespace conformance

#define DBSERVE_CONFORMANCE_KITS \
    conformance::curl_blocking_kit, conformance::curl_async_kit, conformance::curl_event_hooks_kit, \
        conformance::curl_background_thread_kit
