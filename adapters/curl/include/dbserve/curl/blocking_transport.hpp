// dbserve::curl::blocking_transport: a synchronous Transport on libcurl's easy interface.
//
// Easy handles are kept per host (scheme, host and port) and reused, last used first, so
// sequential requests ride the same keep-alive connection; concurrent callers each take
// their own handle. A handle only ever talks to one host and keeps one connection, so
// transport_options::max_connections_per_host bounds the handles per host, and a caller
// that finds them all busy waits for one (within its request timeout). TLS sessions and
// DNS answers are shared between the handles. Copies share one pool: copying the
// transport is cheap and thread safe.
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
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace curl {

class blocking_transport {
public:
    explicit blocking_transport(transport_options options = {})
        : state_(std::make_shared<state>(std::move(options))) {}

    // Sends one request and waits for the whole response (or for the body to be handed
    // to send_options::on_body_chunk). Thread safe.
    result<http_response> send(const http_request& request, const send_options& options = {}) {
        if (state_->settings.configuration_error) return *state_->settings.configuration_error;
        auto checked = detail::check_request(request);
        if (!checked) return std::move(checked).error();

        const auto timeout = options.timeout.count() > 0 ? options.timeout : state_->settings.options.request_timeout;
        const auto started = std::chrono::steady_clock::now();
        lease easy(*state_, detail::connection_key(request.url), started + timeout);
        if (!easy.granted()) return easy.failure();
        if (easy.waited()) {
            // The wait for a free connection came out of this request's time.
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                started + timeout - std::chrono::steady_clock::now());
            send_options remaining = options;
            remaining.timeout = std::max(left, std::chrono::milliseconds(1));
            return perform(easy.get(), request, remaining);
        }
        return perform(easy.get(), request, options);
    }

    const transport_options& options() const noexcept { return state_->settings.options; }

private:
    result<http_response> perform(CURL* easy, const http_request& request, const send_options& options) {
        const bool closed_while_idle = detail::kept_connection_closed(easy);
        detail::exchange x(request, options);
        auto prepared = x.prepare(easy, state_->settings, state_->caches.get());
        if (!prepared) return std::move(prepared).error();
        if (closed_while_idle) curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
        auto outcome = x.finish(curl_easy_perform(easy));
#if DBSERVE_HAS_EXCEPTIONS
        if (x.callback_exception) std::rethrow_exception(x.callback_exception);
#endif
        return outcome;
    }

    struct host_handles {
        std::vector<detail::easy_handle> idle;  // each keeps its connection to the host
        std::size_t count = 0;                  // idle, in use, or being made
        std::condition_variable returned;
    };

    struct state {
        explicit state(transport_options options) : settings(std::move(options)) {}

        detail::settings settings;
        detail::shared_caches caches;
        std::mutex mutex;
        std::unordered_map<std::string, host_handles> hosts;  // nodes stay put: references are stable
    };

    // One easy handle for one request to one host, given back when the request is done.
    class lease {
    public:
        lease(state& s, std::string key, std::chrono::steady_clock::time_point deadline) : state_(s), key_(std::move(key)) {
            const std::size_t limit = std::max<std::size_t>(1, s.settings.options.max_connections_per_host);
            std::unique_lock<std::mutex> lock(s.mutex);
            host_handles& host = s.hosts[key_];
            while (host.idle.empty() && host.count >= limit) {
                waited_ = true;
                if (host.returned.wait_until(lock, deadline) == std::cv_status::timeout && host.idle.empty() &&
                    host.count >= limit) {
                    failure_ = dbserve::error(errc::timeout,
                                              "all " + std::to_string(limit) + " connections to " + key_ +
                                                  " stayed busy for the whole request timeout; raise "
                                                  "transport_options::max_connections_per_host or the timeout");
                    return;
                }
            }
            host_ = &host;
            if (!host.idle.empty()) {
                easy_ = std::move(host.idle.back());
                host.idle.pop_back();
                return;
            }
            ++host.count;
            lock.unlock();
            easy_.reset(curl_easy_init());
            if (!easy_) failure_ = dbserve::error(errc::configuration, "curl_easy_init failed");
        }
        ~lease() {
            if (!host_) return;
            {
                std::lock_guard<std::mutex> lock(state_.mutex);
                if (easy_) host_->idle.push_back(std::move(easy_));
                else --host_->count;
            }
            host_->returned.notify_one();
        }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;

        bool granted() const noexcept { return easy_ != nullptr; }
        bool waited() const noexcept { return waited_; }
        CURL* get() const noexcept { return easy_.get(); }
        dbserve::error failure() const { return failure_; }

    private:
        state& state_;
        std::string key_;
        host_handles* host_ = nullptr;
        detail::easy_handle easy_;
        dbserve::error failure_;
        bool waited_ = false;
    };

    std::shared_ptr<state> state_;
};

}  // namespace curl
DBSERVE_END_NAMESPACE
