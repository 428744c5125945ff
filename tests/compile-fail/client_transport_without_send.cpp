// A client whose transport has neither send() nor async_send(): one error naming both and
// no_transport, and no second one from the client (nor a concept error under C++20).
// standards: 17 20
// expect: the Transport policy needs `dbserve::result<dbserve::http_response> send(const dbserve::http_request&, const dbserve::send_options&)` (blocking) or
// expect: or use dbserve::no_transport
#include <dbserve/client/client.hpp>

struct not_a_transport {};

int main() {
    dbserve::basic_client<dbserve::traits_for<not_a_transport>> client(dbserve::client_config{});
    (void)client;
}
