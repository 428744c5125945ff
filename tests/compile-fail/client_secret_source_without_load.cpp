// A client whose SecretSource lacks load(): one error, and no second one from the client
// (nor a concept error under C++20).
// standards: 17 20
// expect: the SecretSource policy needs `dbserve::result<dbserve::credentials> load() const`
#include <dbserve/client/client.hpp>

struct not_a_source {};

int main() {
    dbserve::basic_client<dbserve::traits_for<dbserve::no_transport, dbserve::system_clock_policy, not_a_source>>
        client(dbserve::client_config{});
    (void)client;
}
