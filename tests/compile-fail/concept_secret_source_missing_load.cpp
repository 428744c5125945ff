// Under C++20 the secret_source concept names the requirement that is not met.
// standards: 20
// expect: secret_source
// expect: load()
#include <dbserve/client/policy_checks.hpp>

struct source_without_load {};

static_assert(dbserve::secret_source<source_without_load>);
