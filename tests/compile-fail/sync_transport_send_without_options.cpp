// A send() that does not take the send_options is refused.
// It is told apart from a missing send().
// expect: the Transport's `send` exists but cannot be called with `(const dbserve::http_request&, const dbserve::send_options&)`
#include <dbserve/client/policy_checks.hpp>

struct transport_send_without_options {
    dbserve::result<dbserve::http_response> send(const dbserve::http_request&) { return dbserve::http_response{}; }
};

static_assert(dbserve::check_sync_transport<transport_send_without_options>());
