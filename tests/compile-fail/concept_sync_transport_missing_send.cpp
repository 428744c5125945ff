// Under C++20 the sync_transport concept names the requirement that is not met.
// standards: 20
// expect: sync_transport
// expect: send(request, options)
#include <dbserve/client/policy_checks.hpp>

struct transport_without_send {};

static_assert(dbserve::sync_transport<transport_without_send>);
