// End-to-end tests over the libcurl transports (the cases are in e2e_cases.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <dbserve/curl/transport.hpp>

#include "e2e_fixture.hpp"

namespace e2e {
struct kit {
    static constexpr const char* name = "curl";
    using blocking = dbserve::curl::blocking_transport;
    using async = dbserve::curl::async_transport;
    // The asynchronous transport runs its own loop on a background thread.
    struct async_runtime {
        async make(const dbserve::transport_options& options) { return async(options); }
        template <class Client>
        void start(Client& client) { client.transport().start_background_thread(); }
        template <class Client>
        void stop(Client& client) { client.transport().stop_background_thread(); }
        // After the client is gone: its transport stops its thread when the last query
        // holding it lets go.
        void finish() {}
    };
};
}  // namespace e2e

#include "e2e_cases.hpp"

int main(int argc, char** argv) {
    e2e::isolate_environment();
    doctest::Context context(argc, argv);
    return context.run();
}
