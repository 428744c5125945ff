// The Transport policy dbserve-query gives its client: a blocking send chosen at run time
// (libcurl or Boost.Beast, see transports.hpp, or the dry-run recorder), seen through -v's
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

#include <chrono>
#include <memory>
#include <string>
#include <utility>

namespace dbserve_query {

class cli_transport {
public:
    cli_transport(send_function send, std::shared_ptr<verbose_log> log, std::shared_ptr<credential_scrubber> scrubber,
                  std::string token_url = {})
        : state_(std::make_shared<state>(
              state{std::move(send), std::move(log), std::move(scrubber), std::move(token_url)})) {}

    dbserve::result<dbserve::http_response> send(const dbserve::http_request& request,
                                                 const dbserve::send_options& options) {
        const state& s = *state_;
        const bool token_request = is_token_request(request) || (!s.token_url.empty() && request.url == s.token_url);
        if (s.scrubber) s.scrubber->learn_from_request(request, token_request);
        if (s.log) s.log->request(request, token_request);
        const auto started = std::chrono::steady_clock::now();
        auto response = s.send(request, options);
        if (s.scrubber && token_request && response) s.scrubber->learn_from_token_response(response->body);
        if (s.log) s.log->response(request, token_request, response, std::chrono::steady_clock::now() - started);
        return response;
    }

private:
    struct state {
        send_function send;
        std::shared_ptr<verbose_log> log;
        std::shared_ptr<credential_scrubber> scrubber;
        std::string token_url;  // --token-url: its requests carry credentials too
    };
    std::shared_ptr<const state> state_;
};

}  // namespace dbserve_query
