// The Transport policy dbserve-query gives its client: a blocking send chosen at run time
// (libcurl or Boost.Beast, see transports.hpp, or the dry-run recorder), and in load mode
// an asynchronous one on the same transport's event loop, both seen through -v's
// log. Each credential a request carries or a token response brings is handed to the
// credential scrubber before anything about that exchange can be printed.
#pragma once

#include "credential_scrubber.hpp"
#include "redaction.hpp"
#include "send_function.hpp"
#include "verbose_log.hpp"

#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

namespace dbserve_query {

class cli_transport {
public:
    cli_transport(send_function send, std::shared_ptr<verbose_log> log, std::shared_ptr<credential_scrubber> scrubber,
                  std::string token_url = {}, async_send_function async_send = {})
        : state_(std::make_shared<state>(state{std::move(send), std::move(log), std::move(scrubber),
                                               std::move(token_url), std::move(async_send)})) {}

    dbserve::result<dbserve::http_response> send(const dbserve::http_request& request,
                                                 const dbserve::send_options& options) {
        const state& s = *state_;
        const bool token_request = learn_from(request);
        if (s.log) s.log->request(request, token_request);
        const auto started = std::chrono::steady_clock::now();
        auto response = s.send(request, options);
        if (s.scrubber && token_request && response) s.scrubber->learn_from_token_response(response->body);
        if (s.log) s.log->response(request, token_request, response, std::chrono::steady_clock::now() - started);
        return response;
    }

    // Load mode: every request sent from now on must end by `when` (its send timeout is
    // cut to the time left; one sent later fails at once, as cancelled). This, not a
    // per-query deadline, makes --duration a promise: the Clock keeps each deadline's wake
    // until it passes, which over a long run grows with the number of queries.
    void cut_sends_at(std::chrono::steady_clock::time_point when) {
        cut_at_->store(when.time_since_epoch().count());
    }

    // Load mode's path (the client's callback API): the same learning and logging, done
    // when the response arrives on the event loop.
    void async_send(dbserve::http_request request, dbserve::send_options options,
                    dbserve::completion_handler handler) {
        const state& s = *state_;
        if (const auto cut = cut_at_->load(); cut != 0) {
            const auto at = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(cut));
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(at - std::chrono::steady_clock::now());
            if (left <= std::chrono::milliseconds(0)) {
                // Too late: not sent, and not retried (a cancellation never is), so a query
                // retrying a token fetch ends now rather than after its retries.
                handler(dbserve::unexpected(dbserve::errc::cancelled, "not sent: the run's --duration has ended"));
                return;
            }
            if (options.timeout.count() == 0 || left < options.timeout) options.timeout = left;
        }
        const bool token_request = learn_from(request);
        if (!s.log && !(s.scrubber && token_request)) {
            s.async_send(std::move(request), std::move(options), std::move(handler));  // the hot path: no copy
            return;
        }
        if (s.log) s.log->request(request, token_request);
        auto sent = std::make_shared<const dbserve::http_request>(request);
        s.async_send(std::move(request), std::move(options),
                     [st = state_, sent, token_request, started = std::chrono::steady_clock::now(),
                      handler = std::move(handler)](dbserve::result<dbserve::http_response> response) {
                         if (st->scrubber && token_request && response)
                             st->scrubber->learn_from_token_response(response->body);
                         if (st->log)
                             st->log->response(*sent, token_request, response,
                                               std::chrono::steady_clock::now() - started);
                         handler(std::move(response));
                     });
    }

private:
    // Hands the credentials `request` carries to the scrubber; true for a token request
    // (its response brings a token to learn too).
    bool learn_from(const dbserve::http_request& request) const {
        const state& s = *state_;
        const bool token_request = is_token_request(request) || (!s.token_url.empty() && request.url == s.token_url);
        if (s.scrubber) s.scrubber->learn_from_request(request, token_request);
        return token_request;
    }

    struct state {
        send_function send;
        std::shared_ptr<verbose_log> log;
        std::shared_ptr<credential_scrubber> scrubber;
        std::string token_url;  // --token-url: its requests carry credentials too
        async_send_function async_send;  // load mode only
    };
    std::shared_ptr<const state> state_;
    std::shared_ptr<std::atomic<std::chrono::steady_clock::rep>> cut_at_ =
        std::make_shared<std::atomic<std::chrono::steady_clock::rep>>(0);  // 0: none
};

}  // namespace dbserve_query
