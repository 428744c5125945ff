// Under C++20 the async_transport concept names the requirement that is not met.
// standards: 20
// expect: async_transport
// expect: async_send(
#include <dbserve/client/policy_checks.hpp>

struct transport_without_async_send {};

static_assert(dbserve::async_transport<transport_without_async_send>);
