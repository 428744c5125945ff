// A client whose transport's send() takes other parameters: one error, saying send exists
// but cannot be called as the client calls it.
// standards: 17 20
// expect: the Transport's `send` exists but cannot be called with `(const dbserve::http_request&, const dbserve::send_options&)`
#include <dbserve/client/client.hpp>

#include <string>

struct transport_taking_a_url {
    dbserve::result<dbserve::http_response> send(const std::string&) { return dbserve::http_response{}; }
};

int main() {
    dbserve::basic_client<dbserve::traits_for<transport_taking_a_url>> client(dbserve::client_config{});
    (void)client;
}
