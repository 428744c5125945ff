// A token as the query operation takes it in: read from a token endpoint's response (the
// response's copy of it zeroed), or from a token supplier, and checked before it can go
// into an Authorization header.
#pragma once

#include <dbserve/client/credentials.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>
#include <dbserve/protocol/token_response.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

// Every token enters a header: refuse one that could inject another.
inline result<void> check_token_text(std::string_view token) {
    for (char c : token)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return unexpected(errc::bad_response, "the token contains a control character or line break");
    return {};
}

// The token in a token endpoint's response (or the transport's error), errors saying
// which token (`what`) could not be had from where.
inline result<token_response> read_token_response(result<http_response>& response, const std::string& what,
                                                  const std::string& token_endpoint) {
    const std::string prefix = "could not get " + what + " from " + token_endpoint + ": ";
    if (!response) {
        dbserve::error failure = std::move(response).error();
        failure.message = prefix + failure.message;
        return failure;
    }
    auto token = parse_token_response(*response);
    // The body held the token, which now lives only in a secret_string.
    if (!response->body.empty()) secure_zero(&response->body[0], response->body.size());
    if (token) {
        auto text = check_token_text(token->access_token.reveal());
        if (!text) token = std::move(text).error();
    }
    if (!token) {
        dbserve::error failure = std::move(token).error();
        failure.message = prefix + failure.message;
        return failure;
    }
    return token;
}

// A token supplier's answer, checked: usable in a header, not empty, not yet expired at
// `now` (wall time).
inline result<supplied_token> check_supplied_token(result<supplied_token> supplied,
                                                   std::chrono::system_clock::time_point now) {
    if (supplied) {
        auto text = check_token_text(supplied->access_token.reveal());
        if (!text) supplied = std::move(text).error();
    }
    if (supplied && supplied->access_token.empty())
        supplied = dbserve::error(errc::authentication, "the token supplier returned an empty token");
    else if (supplied && supplied->expires_at <= now)
        supplied = dbserve::error(errc::authentication,
                                  "the token supplier returned a token that has already expired; it must "
                                  "return a current token with its expiry");
    return supplied;
}

}  // namespace detail
DBSERVE_END_NAMESPACE
