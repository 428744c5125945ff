// An asynchronous Transport without async_send() is refused with the exact signature it needs.
// expect: an asynchronous Transport needs `void async_send(dbserve::http_request, dbserve::send_options, dbserve::completion_handler)`
#include <dbserve/client/policy_checks.hpp>

struct transport_without_async_send {
    dbserve::result<dbserve::http_response> send(const dbserve::http_request&, const dbserve::send_options&) {
        return dbserve::http_response{};
    }
};

static_assert(dbserve::check_async_transport<transport_without_async_send>());
