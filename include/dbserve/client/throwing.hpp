// A thin throwing layer for callers who prefer exceptions to result<T>:
//   auto response = dbserve::query_or_throw(client, body);   // throws dbserve::exception
// dbserve::exception carries the dbserve::error (never a secret) and is a
// std::system_error with the dbserve error category. Under -fno-exceptions this header
// declares nothing beyond the exception type's absence: the core stays usable.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/result.hpp>

#if DBSERVE_HAS_EXCEPTIONS

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

class exception : public std::system_error {
public:
    explicit exception(dbserve::error e)
        : std::system_error(make_error_code(e.code), e.to_string()), error_(std::move(e)) {}
    const dbserve::error& details() const noexcept { return error_; }

private:
    dbserve::error error_;
};

// The value of a result, or throws its error.
template <class T>
T value_or_throw(result<T> r) {
    if (!r) throw exception(std::move(r).error());
    return std::move(*r);
}
inline void value_or_throw(result<void> r) {
    if (!r) throw exception(std::move(r).error());
}

template <class Client, class Body>
auto query_or_throw(Client& client, Body&& body) {
    return value_or_throw(client.query(std::forward<Body>(body)));
}
template <class Client, class Body, class Options>
auto query_or_throw(Client& client, Body&& body, Options&& options) {
    return value_or_throw(client.query(std::forward<Body>(body), std::forward<Options>(options)));
}

template <class Client, class Body, class OnChunk>
auto stream_or_throw(Client& client, Body&& body, OnChunk&& on_chunk) {
    return value_or_throw(client.stream(std::forward<Body>(body), std::forward<OnChunk>(on_chunk)));
}

template <class Client>
void check_configuration_or_throw(const Client& client) {
    value_or_throw(client.check_configuration());
}

DBSERVE_END_NAMESPACE

#endif  // DBSERVE_HAS_EXCEPTIONS
