// transport_ref<T>: a Transport that forwards to an object the caller owns.
//
// The client keeps its transport by value. An engine's HTTP service is often a singleton
// that cannot be copied or moved; give the client a reference to it instead:
//     engine_http& http = engine_http::instance();
//     dbserve::basic_client<dbserve::traits_for<dbserve::transport_ref<engine_http>>> client(
//         config, dbserve::transport_ref<engine_http>(http));
// transport_ref has send() when T has it and async_send() when T has it, with T's own
// signatures. The object must outlive the client and every operation it started (an
// asynchronous query still running holds the transport).
#pragma once

#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <memory>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

template <class Transport>
class transport_ref {
public:
    explicit transport_ref(Transport& transport) noexcept : transport_(std::addressof(transport)) {}

    template <class T = Transport>
    auto send(const http_request& request, const send_options& options)
        -> decltype(std::declval<T&>().send(request, options)) {
        return transport_->send(request, options);
    }

    template <class T = Transport>
    auto async_send(http_request request, send_options options, completion_handler handler)
        -> decltype(std::declval<T&>().async_send(std::move(request), std::move(options), std::move(handler))) {
        return transport_->async_send(std::move(request), std::move(options), std::move(handler));
    }

    Transport& get() const noexcept { return *transport_; }

private:
    Transport* transport_;
};

DBSERVE_END_NAMESPACE
