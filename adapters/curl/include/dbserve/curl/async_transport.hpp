// dbserve::curl::async_transport: an asynchronous Transport on curl_multi. Many requests
// are in flight on one thread; the thread that drives the transport runs the handlers.
//
// Three ways to drive it (pick one per transport):
//   1. Poll: call run_once(max_wait) from your loop (it sleeps in curl_multi_poll until
//      there is work, a wakeup, or max_wait), or poll() for a non-blocking step, e.g.
//      once per game tick.
//   2. Event hooks: use_event_hooks() before the first request; libcurl then tells you
//      which sockets to watch and when to fire a timer; report readiness with
//      on_socket_event() and expiry with on_timeout(). For epoll / libuv / asio loops.
//   3. Background thread: start_background_thread() runs the loop on a thread the
//      transport owns; handlers then run on that thread.
//
// async_send / start / cancel may be called from any thread in modes 1 and 3; in mode 2
// call them on the loop's thread (they may call event_hooks::set_timer).
// Every request has a deadline (send_options::timeout or transport_options::
// request_timeout) covering connect, TLS, upload and download, so nothing waits forever
// on a silent peer. Destroying the transport completes what is left with errc::cancelled.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/curl/detail/exchange.hpp>
#include <dbserve/curl/detail/handles.hpp>
#include <dbserve/curl/detail/settings.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/client/transport_options.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace curl {

// Identifies a request started with async_transport::start, for cancel().
using request_id = std::uint64_t;

enum class socket_interest { none, read, write, read_write };

struct event_hooks {
    // Watch `fd` for the given readiness; none means stop watching it.
    std::function<void(curl_socket_t fd, socket_interest interest)> watch_socket;
    // Call on_timeout() once `delay` has passed (replacing any earlier timer); a
    // negative delay means no timer is needed.
    std::function<void(std::chrono::milliseconds delay)> set_timer;
};

class async_transport {
public:
    explicit async_transport(transport_options options = {}) : state_(std::make_unique<state>(std::move(options))) {}
    ~async_transport() { retire(); }
    async_transport(async_transport&&) noexcept = default;
    async_transport& operator=(async_transport&& other) noexcept {
        if (this != &other) {
            retire();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    async_transport(const async_transport&) = delete;
    async_transport& operator=(const async_transport&) = delete;

    // The Transport concept's entry point: queues the request; `handler` runs exactly once.
    void async_send(http_request request, send_options options, completion_handler handler) {
        (void)start(std::move(request), std::move(options), std::move(handler));
    }
    // Same, returning an id for cancel().
    request_id start(http_request request, send_options options, completion_handler handler) {
        return state_->enqueue(std::move(request), std::move(options), std::move(handler));
    }
    // Cancels a queued or in-flight request: its handler gets errc::cancelled (unless it
    // completed first). Unknown or finished ids are ignored.
    void cancel(request_id id) { state_->request_cancel(id); }
    void cancel_all() { state_->request_cancel(cancel_everything); }

    // Mode 1. Runs ready work, waiting at most `max_wait` for some; returns how many
    // handlers ran.
    std::size_t run_once(std::chrono::milliseconds max_wait) { return state_->run_once(max_wait); }
    std::size_t poll() { return state_->run_once(std::chrono::milliseconds(0)); }
    // Interrupts a run_once that is waiting (thread safe).
    void wakeup() noexcept { curl_multi_wakeup(state_->multi.get()); }

    // Mode 2.
    void use_event_hooks(event_hooks hooks) { state_->install_hooks(std::move(hooks)); }
    std::size_t on_socket_event(curl_socket_t fd, bool readable, bool writable) {
        return state_->socket_action(fd, (readable ? CURL_CSELECT_IN : 0) | (writable ? CURL_CSELECT_OUT : 0));
    }
    std::size_t on_timeout() { return state_->socket_action(CURL_SOCKET_TIMEOUT, 0); }

    // Mode 3.
    void start_background_thread() { state_->start_thread(); }
    void stop_background_thread() { state_->stop_thread(); }

    // Requests queued or in flight (thread safe).
    std::size_t pending() const { return state_->pending(); }
    const transport_options& options() const noexcept { return state_->settings.options; }

private:
    static constexpr request_id cancel_everything = 0;

    struct operation {
        operation(request_id i, http_request r, send_options o, completion_handler h)
            : id(i), request(std::move(r)), options(std::move(o)), handler(std::move(h)) {}
        request_id id;
        http_request request;
        send_options options;
        completion_handler handler;
        std::optional<detail::exchange> x;  // refers to request and options above
        detail::easy_handle easy;
    };
    using operation_ptr = std::unique_ptr<operation>;

    struct completion {
        completion_handler handler;
        result<http_response> outcome;
    };

    struct state {
        explicit state(transport_options options)
            : settings(std::move(options)), multi(detail::global_init() ? curl_multi_init() : nullptr) {
            if (!multi) return;
            const auto& o = settings.options;
            // libcurl queues a transfer that finds every connection to its host busy.
            const long per_host = static_cast<long>(std::max<std::size_t>(1, o.max_connections_per_host));
            set_multi(CURLMOPT_MAX_HOST_CONNECTIONS, per_host, "CURLMOPT_MAX_HOST_CONNECTIONS");
            set_multi(CURLMOPT_MAXCONNECTS, per_host * 4, "CURLMOPT_MAXCONNECTS");
            set_multi(CURLMOPT_PIPELINING, o.enable_http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING, "CURLMOPT_PIPELINING");
        }

        // A multi option libcurl refuses makes every request fail with a configuration
        // error naming it.
        template <class Value>
        void set_multi(CURLMoption option, Value value, const char* name) {
            const CURLMcode code = curl_multi_setopt(multi.get(), option, value);
            if (code == CURLM_OK || settings.configuration_error) return;
            settings.configuration_error = detail::refused_option(name, curl_multi_strerror(code), static_cast<int>(code));
        }

        request_id enqueue(http_request request, send_options options, completion_handler handler) {
            request_id id = 0;
            {
                std::lock_guard<std::mutex> lock(mutex);
                id = ++last_id;
                queued.push_back(std::make_unique<operation>(id, std::move(request), std::move(options), std::move(handler)));
            }
            nudge();
            return id;
        }

        void request_cancel(request_id id) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                cancels.push_back(id);
            }
            nudge();
        }

        std::size_t pending() const {
            std::lock_guard<std::mutex> lock(mutex);
            return queued.size() + in_flight_count.load();
        }

        // Makes the driver look at the queues soon. A handler starting the next request
        // needs no wakeup: its thread goes back to run_once, which admits the queue first.
        void nudge() {
            if (hooks.set_timer)
                hooks.set_timer(std::chrono::milliseconds(0));
            else if (multi && driving_thread.load() != std::this_thread::get_id())
                curl_multi_wakeup(multi.get());
        }

        std::size_t run_once(std::chrono::milliseconds max_wait) {
            const driving scope(*this);
            int running = 0;
            // Requests just added are sent at once; otherwise wait for sockets, timers or
            // a wakeup. One perform per turn either way.
            const bool changed = admit_and_cancel();
            if (!changed && ready.empty() && max_wait.count() > 0) {
                curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(max_wait.count()), nullptr);
                admit_and_cancel();
            }
            curl_multi_perform(multi.get(), &running);
            collect();
            return deliver();
        }

        std::size_t socket_action(curl_socket_t fd, int mask) {
            const driving scope(*this);
            int running = 0;
            admit_and_cancel();
            curl_multi_socket_action(multi.get(), fd, mask, &running);
            collect();
            return deliver();
        }

        void install_hooks(event_hooks given) {
            hooks = std::move(given);
            set_multi(CURLMOPT_SOCKETFUNCTION, &on_socket, "CURLMOPT_SOCKETFUNCTION");
            set_multi(CURLMOPT_SOCKETDATA, this, "CURLMOPT_SOCKETDATA");
            set_multi(CURLMOPT_TIMERFUNCTION, &on_timer, "CURLMOPT_TIMERFUNCTION");
            set_multi(CURLMOPT_TIMERDATA, this, "CURLMOPT_TIMERDATA");
        }

        void start_thread() {
            if (thread.joinable()) return;
            stopping = false;
            thread = std::thread([this] {
                while (!stopping.load()) run_once(std::chrono::milliseconds(1000));
                std::unique_ptr<state> last = std::move(free_after_loop);  // see retire()
            });
        }
        void stop_thread() {
            if (!thread.joinable()) return;
            stopping = true;
            curl_multi_wakeup(multi.get());
            if (thread.get_id() == std::this_thread::get_id())
                thread.detach();  // stopped from one of its own handlers: it ends after it returns
            else
                thread.join();
        }

        void shut_down() {
            stop_thread();
            request_cancel(cancel_everything);
            admit_and_cancel();
#if DBSERVE_HAS_EXCEPTIONS
            callback_exception = nullptr;  // never rethrown from a destructor
#endif
            deliver();
        }

        ~state() {
            for (auto& op : in_flight) curl_multi_remove_handle(multi.get(), op->easy.get());
        }

        // Moves queued requests onto the multi handle and applies cancellations; false when
        // there was nothing to do. Driver thread.
        bool admit_and_cancel() {
            std::vector<operation_ptr> admitted;
            std::vector<request_id> cancelled;
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (queued.empty() && cancels.empty()) return false;
                admitted.swap(queued);
                cancelled.swap(cancels);
            }
            const bool cancel_all = std::find(cancelled.begin(), cancelled.end(), cancel_everything) != cancelled.end();
            for (auto& op : admitted) {
                if (cancel_all || std::find(cancelled.begin(), cancelled.end(), op->id) != cancelled.end()) {
                    ready.push_back({std::move(op->handler),
                                     dbserve::error(errc::cancelled, "the request was cancelled before it was sent")});
                    continue;
                }
                admit(std::move(op));
            }
            for (std::size_t i = 0; i < in_flight.size();) {
                operation& op = *in_flight[i];
                if (cancel_all || std::find(cancelled.begin(), cancelled.end(), op.id) != cancelled.end()) {
                    curl_multi_remove_handle(multi.get(), op.easy.get());
                    finish(i, op.x->cancelled());
                } else {
                    ++i;
                }
            }
            return true;
        }

        void admit(operation_ptr op) {
            if (!multi) return fail(*op, dbserve::error(errc::configuration, "curl_multi_init failed"));
            if (settings.configuration_error) return fail(*op, *settings.configuration_error);
            auto checked = detail::check_request(op->request);
            if (!checked) return fail(*op, std::move(checked).error());
            if (!idle.empty()) {
                op->easy = std::move(idle.back());
                idle.pop_back();
            } else {
                op->easy.reset(curl_easy_init());
            }
            if (!op->easy) return fail(*op, dbserve::error(errc::configuration, "curl_easy_init failed"));
            op->x.emplace(op->request, op->options);
            auto prepared = op->x->prepare(op->easy.get(), settings, caches.get());
            if (!prepared) return fail(*op, std::move(prepared).error());
            detail::option_setter set(op->easy.get());
            set(CURLOPT_PRIVATE, op.get());
            // A burst of requests waits for the first connection to learn whether it can
            // multiplex (HTTP/2) instead of opening one connection each.
            if (settings.options.enable_http2) set(CURLOPT_PIPEWAIT, 1L);
            if (!set.ok()) return fail(*op, set.error());
            if (curl_multi_add_handle(multi.get(), op->easy.get()) != CURLM_OK)
                return fail(*op, dbserve::error(errc::configuration, "curl_multi_add_handle failed"));
            in_flight.push_back(std::move(op));
            in_flight_count = in_flight.size();
        }

        void fail(operation& op, dbserve::error e) {
            if (op.easy) idle.push_back(std::move(op.easy));
            ready.push_back({std::move(op.handler), std::move(e)});
        }

        void collect() {
            int left = 0;
            while (CURLMsg* message = curl_multi_info_read(multi.get(), &left)) {
                if (message->msg != CURLMSG_DONE) continue;
                CURL* easy = message->easy_handle;
                const CURLcode code = message->data.result;
                curl_multi_remove_handle(multi.get(), easy);
                for (std::size_t i = 0; i < in_flight.size(); ++i) {
                    if (in_flight[i]->easy.get() != easy) continue;
                    finish(i, in_flight[i]->x->finish(code));
                    break;
                }
            }
        }

        // Retires in_flight[index] (already off the multi handle) with `outcome`.
        void finish(std::size_t index, result<http_response> outcome) {
            operation_ptr op = std::move(in_flight[index]);
            in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(index));
            in_flight_count = in_flight.size();
#if DBSERVE_HAS_EXCEPTIONS
            if (op->x->callback_exception && !callback_exception) callback_exception = op->x->callback_exception;
#endif
            op->x.reset();
            idle.push_back(std::move(op->easy));
            ready.push_back({std::move(op->handler), std::move(outcome)});
        }

        // Runs the handlers of finished requests, outside any libcurl call so a handler
        // may start or cancel requests.
        std::size_t deliver() {
            std::vector<completion> now;
            now.swap(ready);
            for (auto& c : now)
                if (c.handler) c.handler(std::move(c.outcome));
#if DBSERVE_HAS_EXCEPTIONS
            if (callback_exception) std::rethrow_exception(std::exchange(callback_exception, nullptr));
#endif
            return now.size();
        }

        static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
            auto& s = *static_cast<state*>(self);
            socket_interest interest = socket_interest::none;
            if (what == CURL_POLL_IN) interest = socket_interest::read;
            else if (what == CURL_POLL_OUT) interest = socket_interest::write;
            else if (what == CURL_POLL_INOUT) interest = socket_interest::read_write;
            if (s.hooks.watch_socket) s.hooks.watch_socket(fd, interest);
            return 0;
        }
        static int on_timer(CURLM*, long timeout_ms, void* self) {
            auto& s = *static_cast<state*>(self);
            if (s.hooks.set_timer) s.hooks.set_timer(std::chrono::milliseconds(timeout_ms));
            return 0;
        }

        // Destroyed last to first: easy handles, then the multi handle, then the share.
        detail::settings settings;
        detail::shared_caches caches;
        detail::multi_handle multi;
        std::vector<detail::easy_handle> idle;
        std::vector<operation_ptr> in_flight;  // a few dozen at most: a vector beats a map
        std::atomic<std::size_t> in_flight_count{0};
        std::vector<completion> ready;
        event_hooks hooks;
#if DBSERVE_HAS_EXCEPTIONS
        std::exception_ptr callback_exception;
#endif

        mutable std::mutex mutex;
        std::vector<operation_ptr> queued;
        std::vector<request_id> cancels;
        request_id last_id = 0;

        std::thread thread;
        std::atomic<bool> stopping{false};
        std::unique_ptr<state> free_after_loop;  // only ever touched on the background thread
        std::atomic<std::thread::id> driving_thread{};

        // Marks the calling thread as the driver for the duration of one step.
        struct driving {
            explicit driving(state& s) : owner(s), previous(s.driving_thread.exchange(std::this_thread::get_id())) {}
            ~driving() { owner.driving_thread.store(previous); }
            driving(const driving&) = delete;
            driving& operator=(const driving&) = delete;
            state& owner;
            std::thread::id previous;
        };
    };

    // Shuts the state down. Destroyed from a handler on the background thread (the last
    // owner of a client let go there), that thread is still inside the state's loop: the
    // state then outlives this object and the thread frees it once its loop returns.
    void retire() {
        if (!state_) return;
        const bool on_own_thread = state_->thread.joinable() && state_->thread.get_id() == std::this_thread::get_id();
        state_->shut_down();
        if (on_own_thread) {
            state& s = *state_;
            s.free_after_loop = std::move(state_);
        }
    }

    std::unique_ptr<state> state_;
};

}  // namespace curl
DBSERVE_END_NAMESPACE
