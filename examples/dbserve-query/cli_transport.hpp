// The Transport policy dbserve-query gives its client: a blocking send chosen at run time
// (libcurl or Boost.Beast, see transports.hpp, or the dry-run recorder), seen through -v's
// log, with token requests sent to --token-url when one is given.
#pragma once

#include "redaction.hpp"
#include "verbose_log.hpp"

#include <dbserve/http.hpp>
#include <dbserve/result.hpp>
#include <dbserve/transport.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace dbserve_query {

using send_function =
    std::function<dbserve::result<dbserve::http_response>(const dbserve::http_request&, const dbserve::send_options&)>;

class cli_transport {
public:
    cli_transport(send_function send, std::string token_url_override, std::shared_ptr<verbose_log> log)
        : state_(std::make_shared<state>(state{std::move(send), std::move(token_url_override), std::move(log)})) {}

    dbserve::result<dbserve::http_response> send(const dbserve::http_request& request,
                                                 const dbserve::send_options& options) {
        const state& s = *state_;
        const bool token_request = is_token_request(request);
        const dbserve::http_request* to_send = &request;
        std::optional<dbserve::http_request> redirected;
        if (token_request && !s.token_url.empty()) {
            redirected.emplace(request);
            redirected->url = s.token_url;
            to_send = &*redirected;
        }
        if (s.log) s.log->request(*to_send, token_request);
        const auto started = std::chrono::steady_clock::now();
        auto response = s.send(*to_send, options);
        if (s.log) s.log->response(*to_send, token_request, response, std::chrono::steady_clock::now() - started);
        return response;
    }

private:
    struct state {
        send_function send;
        std::string token_url;
        std::shared_ptr<verbose_log> log;
    };
    std::shared_ptr<const state> state_;
};

}  // namespace dbserve_query
