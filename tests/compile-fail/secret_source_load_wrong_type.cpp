// A load() returning something other than result<credentials> is refused (even a type
// that result<credentials> could be built from).
// expect: the SecretSource policy needs `dbserve::result<dbserve::credentials> load() const`
#include <dbserve/client/policy_checks.hpp>

#include <string>

struct source_loading_a_string {
    std::string load() const { return "https://host"; }
};

static_assert(dbserve::check_secret_source<source_loading_a_string>());
