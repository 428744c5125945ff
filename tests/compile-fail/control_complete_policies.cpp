// Control: complete policies pass every check (and every concept under C++20), so the
// failures in this folder come from the member each one leaves out.
// standards: 17 20
#include <dbserve/client/clock.hpp>
#include <dbserve/client/policy_checks.hpp>
#include <dbserve/client/secret_sources.hpp>

struct complete_transport {
    dbserve::result<dbserve::http_response> send(const dbserve::http_request&, const dbserve::send_options&) {
        return dbserve::http_response{};
    }
    void async_send(dbserve::http_request, dbserve::send_options, dbserve::completion_handler) {}
};

static_assert(dbserve::check_clock<dbserve::system_clock_policy>());
static_assert(dbserve::check_clock<dbserve::manual_clock>());
static_assert(dbserve::check_secret_source<dbserve::default_secret_source>());
static_assert(dbserve::check_sync_transport<complete_transport>());
static_assert(dbserve::check_async_transport<complete_transport>());
#if DBSERVE_HAS_CONCEPTS
static_assert(dbserve::clock_policy<dbserve::manual_clock>);
static_assert(dbserve::secret_source<dbserve::default_secret_source>);
static_assert(dbserve::sync_transport<complete_transport>);
static_assert(dbserve::async_transport<complete_transport>);
#endif
