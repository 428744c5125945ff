// An async_send() with another handler type is told apart from a missing one.
// expect: the Transport's `async_send` exists but cannot be called with `(dbserve::http_request, dbserve::send_options, dbserve::completion_handler)`
#include <dbserve/client/policy_checks.hpp>

#include <functional>

struct transport_with_wrong_handler {
    void async_send(dbserve::http_request, dbserve::send_options, std::function<void(int)>) {}
};

static_assert(dbserve::check_async_transport<transport_with_wrong_handler>());
