// A load() that is not const is told apart from a missing one.
// expect: the SecretSource's `load()` exists but is not const
#include <dbserve/client/policy_checks.hpp>

struct source_with_mutable_load {
    dbserve::result<dbserve::credentials> load() { return dbserve::credentials{}; }
};

static_assert(dbserve::check_secret_source<source_with_mutable_load>());
