// A client whose transport's send() returns the wrong type: one error, saying send exists
// and what it should return (the note under it names the type), in C++17 and C++20 alike.
// standards: 17 20
// expect: the Transport's `send(const dbserve::http_request&, const dbserve::send_options&)` exists but returns
// expect: not `dbserve::result<dbserve::http_response>`
#include <dbserve/client/client.hpp>

struct transport_returning_status {
    int send(const dbserve::http_request&, const dbserve::send_options&) { return 200; }
};

int main() {
    dbserve::basic_client<dbserve::traits_for<transport_returning_status>> client(dbserve::client_config{});
    (void)client;
}
