// dbserve::curl::blocking_transport: a synchronous Transport on libcurl's easy interface.
//
// Easy handles are kept and reused (last used, first reused), so sequential requests
// ride the same keep-alive connection and TLS session; concurrent callers each take
// their own handle. TLS sessions and DNS answers are shared between the handles.
// Copies share one pool: copying the transport is cheap and thread safe.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/curl/detail/exchange.hpp>
#include <dbserve/curl/detail/handles.hpp>
#include <dbserve/curl/detail/settings.hpp>
#include <dbserve/http.hpp>
#include <dbserve/result.hpp>
#include <dbserve/transport.hpp>
#include <dbserve/transport_options.hpp>

#include <curl/curl.h>

#include <memory>
#include <mutex>
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

        detail::easy_handle easy = state_->acquire();
        if (!easy) return unexpected(errc::configuration, "curl_easy_init failed");
        detail::exchange x(request, options);
        auto prepared = x.prepare(easy.get(), state_->settings, state_->caches.get());
        if (!prepared) return std::move(prepared).error();
        const CURLcode code = curl_easy_perform(easy.get());
        auto outcome = x.finish(code);
        state_->release(std::move(easy));
#if DBSERVE_HAS_EXCEPTIONS
        if (x.callback_exception) std::rethrow_exception(x.callback_exception);
#endif
        return outcome;
    }

    const transport_options& options() const noexcept { return state_->settings.options; }

private:
    struct state {
        explicit state(transport_options options) : settings(std::move(options)) {}

        detail::easy_handle acquire() {
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (!idle.empty()) {
                    detail::easy_handle easy = std::move(idle.back());
                    idle.pop_back();
                    return easy;
                }
            }
            return detail::easy_handle(curl_easy_init());
        }
        void release(detail::easy_handle easy) {
            std::lock_guard<std::mutex> lock(mutex);
            idle.push_back(std::move(easy));
        }

        detail::settings settings;
        detail::shared_caches caches;
        std::mutex mutex;
        std::vector<detail::easy_handle> idle;  // each keeps its own connection cache
    };

    std::shared_ptr<state> state_;
};

}  // namespace curl
DBSERVE_END_NAMESPACE
