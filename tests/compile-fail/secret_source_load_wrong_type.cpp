// A load() returning something other than result<credentials> is refused (even a type
// that result<credentials> could be built from).
// The message says load() exists; the note under it names the type it returns.
// expect: the SecretSource's `load() const` exists but returns `Returned`
// expect: not `dbserve::result<dbserve::credentials>`
#include <dbserve/client/policy_checks.hpp>

#include <string>

struct source_loading_a_string {
    std::string load() const { return "https://host"; }
};

static_assert(dbserve::check_secret_source<source_loading_a_string>());
