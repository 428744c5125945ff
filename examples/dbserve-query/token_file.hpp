// --token-file: an OAuth token obtained elsewhere (the Serving UI, a broker), read anew
// each time the client wants one, so a broker that rewrites the file keeps a long run
// going. Its expiry is the JWT "exp" claim when the token is a JWT, else one hour from
// reading (the lifetime of Serving UI tokens). A personal access token is refused.
#pragma once

#include "input_files.hpp"

#include <dbserve/client/credentials.hpp>
#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dbserve_query {

// The "exp" claim of a JWT-shaped token, if it has one that is a whole number of seconds
// between 1970 and 9999 (anything else could not be a time point, so it is ignored).
inline std::optional<std::chrono::system_clock::time_point> jwt_expiry(std::string_view token) {
    const auto first = token.find('.');
    if (first == std::string_view::npos) return std::nullopt;
    const auto second = token.find('.', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    std::string payload(token.substr(first + 1, second - first - 1));
    for (char& c : payload) {
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
    }
    while (payload.size() % 4 != 0) payload += '=';
    auto decoded = dbserve::detail::base64_decode(payload);
    if (!decoded) return std::nullopt;
    auto claims = dbserve::detail::parse_bounded_json(*decoded);
    if (claims.is_discarded() || !claims.is_object()) return std::nullopt;
    auto exp = claims.find("exp");
    if (exp == claims.end() || !exp->is_number_integer()) return std::nullopt;
    constexpr std::int64_t year_9999_ends = 253402300799;
    const bool in_range = exp->is_number_unsigned() ? exp->get<std::uint64_t>() <= year_9999_ends
                                                    : exp->get<std::int64_t>() >= 0;
    if (!in_range) return std::nullopt;
    return std::chrono::system_clock::time_point(std::chrono::seconds(exp->get<std::int64_t>()));
}

inline dbserve::result<dbserve::supplied_token> read_token_file(const std::string& path,
                                                                std::chrono::system_clock::time_point now) {
    auto token = read_secret_file(path, "--token-file", "OAuth access token");
    if (!token) return std::move(token).error();
    if (dbserve::is_personal_access_token(token->reveal()))
        return dbserve::unexpected(
            dbserve::errc::configuration,
            "--token-file '" + path +
                "' holds a personal access token (dapi...), which route optimized endpoints refuse; put an OAuth "
                "token there (the endpoint's Serving UI: Use > Fetch OAuth Token) or use a service principal's "
                "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET instead");
    dbserve::supplied_token out;
    auto expiry = jwt_expiry(token->reveal());
    out.expires_at = expiry ? *expiry : now + std::chrono::hours(1);
    out.access_token = std::move(*token);
    if (out.expires_at <= now)
        return dbserve::unexpected(dbserve::errc::authentication,
                                   "the token in --token-file '" + path +
                                       "' has expired (its exp claim is in the past); fetch a new token");
    return out;
}

}  // namespace dbserve_query
