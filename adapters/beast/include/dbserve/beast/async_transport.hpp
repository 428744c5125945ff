// dbserve::beast::async_transport: an asynchronous Transport on the caller's Asio executor.
//
//   boost::asio::io_context io;
//   dbserve::beast::async_transport transport(io, options);      // runs on your executor
//   auto handle = transport.async_send(request, {}, [](dbserve::result<dbserve::http_response> r) {...});
//   handle.cancel();                                              // from any thread
//   co_await transport.async_send(request, {}, boost::asio::use_awaitable);   // completion tokens too
//
// Pulls in Beast, Asio and OpenSSL; include it in as few translation units as you can.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/beast/detail/exchange.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/client/transport_options.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace beast {

// Cancels one in-flight request. Cheap to copy; outliving the request is harmless.
class request_handle {
public:
    request_handle() = default;

    // Ends the request with errc::cancelled unless it has already finished. Any thread.
    void cancel() const {
        if (auto exchange = exchange_.lock()) exchange->cancel();
    }
    // False once the request has finished and its handler has been called.
    bool active() const noexcept { return !exchange_.expired(); }

private:
    friend class async_transport;
    explicit request_handle(std::weak_ptr<detail::exchange> exchange) : exchange_(std::move(exchange)) {}
    std::weak_ptr<detail::exchange> exchange_;
};

namespace detail {
template <class T, template <class...> class Template>
struct is_instance_of : std::false_type {};
template <template <class...> class Template, class... Args>
struct is_instance_of<Template<Args...>, Template> : std::true_type {};

using send_signature = void(result<http_response>);

// Whether async_initiate would return something (a future, an awaitable, a deferred
// operation) for this token; a token type without the old return_type is a modern one.
template <class Token, class = void>
struct token_returns_value : std::true_type {};
template <class Token>
struct token_returns_value<
    Token, std::void_t<typename boost::asio::async_result<std::decay_t<Token>, send_signature>::return_type>>
    : std::bool_constant<
          !std::is_void_v<typename boost::asio::async_result<std::decay_t<Token>, send_signature>::return_type>> {};

// A plain callable goes to the completion_handler overload (the Transport concept, with a
// request_handle back); completion tokens, and handlers bound to an executor or a
// cancellation slot, go through asio::async_initiate so those associations are honoured.
template <class Token>
inline constexpr bool is_asio_token_v =
    !std::is_convertible_v<Token, completion_handler> || token_returns_value<Token>::value ||
    is_instance_of<std::decay_t<Token>, boost::asio::cancellation_slot_binder>::value ||
    is_instance_of<std::decay_t<Token>, boost::asio::executor_binder>::value;
}  // namespace detail

// Sends requests on the caller's executor (an io_context, a strand, a thread pool).
// Every request runs on its own strand, so async_send may be called from any thread.
// Copies share one connection pool.
class async_transport {
public:
    using executor_type = boost::asio::any_io_executor;

    explicit async_transport(executor_type executor, transport_options options = {})
        : state_(std::make_shared<detail::transport_state>(std::move(executor), std::move(options))) {}
    explicit async_transport(boost::asio::io_context& io, transport_options options = {})
        : async_transport(executor_type(io.get_executor()), std::move(options)) {}

    // The Transport concept: `handler` is called exactly once, on a thread running the
    // executor. The returned handle cancels the request.
    request_handle async_send(http_request request, send_options options, completion_handler handler) {
        return start(std::move(request), std::move(options),
                     detail::unique_callback([h = std::move(handler)](result<http_response> r) {
                         if (h) h(std::move(r));
                     }));
    }

    // Asio completion-token form (use_awaitable, use_future, deferred, a handler bound to
    // a cancellation slot...). Completion signature: void(dbserve::result<dbserve::http_response>).
    template <class CompletionToken, std::enable_if_t<detail::is_asio_token_v<CompletionToken>, int> = 0>
    auto async_send(http_request request, send_options options, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(result<http_response>)>(
            [this](auto handler, http_request req, send_options opts) {
                auto slot = boost::asio::get_associated_cancellation_slot(handler);
                auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler, get_executor()));
                auto handle = start(std::move(req), std::move(opts),
                                    detail::unique_callback([h = std::move(handler), work = std::move(work)](
                                                                result<http_response> r) mutable {
                                        auto ex = work.get_executor();
                                        boost::asio::dispatch(ex, [h = std::move(h), r = std::move(r)]() mutable {
                                            std::move(h)(std::move(r));
                                        });
                                        work.reset();
                                    }));
                if (slot.is_connected())
                    slot.assign([handle](boost::asio::cancellation_type) { handle.cancel(); });
            },
            token, std::move(request), std::move(options));
    }

    executor_type get_executor() const noexcept { return state_->executor; }
    const transport_options& options() const noexcept { return state_->options; }
    // Kept-alive connections waiting for the next request (all hosts).
    std::size_t idle_connections() const { return state_->pool.idle_count(); }
    // Closes the kept-alive connections now instead of when the last copy goes away.
    void close_idle_connections() { state_->pool.clear(); }

private:
    request_handle start(http_request request, send_options options, detail::unique_callback callback) {
        auto exchange =
            std::make_shared<detail::exchange>(state_, std::move(request), std::move(options), std::move(callback));
        exchange->launch();
        return request_handle(exchange);
    }

    std::shared_ptr<detail::transport_state> state_;
};

}  // namespace beast
DBSERVE_END_NAMESPACE
