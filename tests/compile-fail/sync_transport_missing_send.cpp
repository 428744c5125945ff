// A synchronous Transport without send() is refused with the exact signature it needs.
// expect: a synchronous Transport needs `dbserve::result<dbserve::http_response> send(const dbserve::http_request&, const dbserve::send_options&)`
#include <dbserve/client/policy_checks.hpp>

struct transport_without_send {
    void async_send(dbserve::http_request, dbserve::send_options, dbserve::completion_handler) {}
};

static_assert(dbserve::check_sync_transport<transport_without_send>());
