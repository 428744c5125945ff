// A SecretSource without load() is refused with the exact signature it needs.
// expect: the SecretSource policy needs `dbserve::result<dbserve::credentials> load() const`
#include <dbserve/client/policy_checks.hpp>

struct source_without_load {
    dbserve::credentials values;
};

static_assert(dbserve::check_secret_source<source_without_load>());
