// basic_client: the shortest path to one endpoint, a workspace (workspace.hpp) with one
// endpoint handle (endpoint_handle.hpp), configured from one client_config. Queries run
// on it exactly as on a handle:
//   blocking  client.query(body)                  over a transport with send();
//   callback  client.async_query(body, handler)   over a transport with async_send();
//   poll      auto op = client.start_query(body)  the caller does the I/O (no transport).
// Credentials are loaded at a query's first use, or ahead by load_credentials();
// reload_credentials() picks up a rotated secret (queries also reload once by themselves
// when the token endpoint refuses the credentials). See query_operation.hpp for the poll
// API's credential step, which keeps file reads out of next().
// Override one policy by deriving from default_traits:
//   struct my_traits : dbserve::default_traits { using transport = my_transport; };
//   dbserve::basic_client<my_traits> client(config, my_transport{...});
// A client is thread safe: share one between threads (its caches then serve them all);
// its transport then sees concurrent send() / async_send() calls from those threads.
// Destroying it while asynchronous queries run: as for a workspace (workspace.hpp).
// Statistics (token requests made, discoveries, retries...): client.statistics().
// For several endpoints of one workspace, use basic_workspace and its handles: they share
// one workspace token and one transport.
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/endpoint_handle.hpp>
#include <dbserve/client/policies.hpp>
#include <dbserve/client/traits.hpp>
#include <dbserve/client/workspace.hpp>
#include <dbserve/protocol/detail/config.hpp>

#include <utility>

DBSERVE_BEGIN_NAMESPACE

namespace detail {
// Holds the workspace and the configuration of a basic_client; a base class so both exist
// before the endpoint handle (the other base) is made from them.
template <class Traits>
struct client_workspace_holder {
    client_config client_configuration;
    basic_workspace<Traits> workspace;

    client_workspace_holder(client_config&& config, typename Traits::transport&& transport,
                            typename Traits::clock&& clock, typename Traits::secret_source&& secrets)
        : client_configuration(config),
          workspace(static_cast<workspace_config&&>(std::move(config)), std::move(transport), std::move(clock),
                    std::move(secrets)) {}
};
}  // namespace detail

template <class Traits = default_traits>
class basic_client : private detail::client_workspace_holder<Traits>, public basic_endpoint<Traits> {
    using holder = detail::client_workspace_holder<Traits>;

public:
    using typename basic_endpoint<Traits>::traits_type;
    using typename basic_endpoint<Traits>::transport_type;
    using typename basic_endpoint<Traits>::clock_type;
    using typename basic_endpoint<Traits>::secret_source_type;

    explicit basic_client(client_config config, transport_type transport = transport_type{},
                          clock_type clock = clock_type{}, secret_source_type secrets = secret_source_type{})
        : holder(std::move(config), std::move(transport), std::move(clock), std::move(secrets)),
          basic_endpoint<Traits>(
              holder::workspace.endpoint(static_cast<const endpoint_config&>(holder::client_configuration))) {}

    // The policies by name (policies.hpp): only those that differ from their default.
    basic_client(client_config config, policies<Traits> set)
        : basic_client(std::move(config), std::move(set).take_transport(), std::move(set).take_clock(),
                       std::move(set).take_secret_source()) {}

    basic_client(const basic_client&) = delete;
    basic_client& operator=(const basic_client&) = delete;
    basic_client(basic_client&&) = default;
    basic_client& operator=(basic_client&&) = default;

    const client_config& config() const noexcept { return holder::client_configuration; }
    // The workspace behind this client: more endpoints sharing its workspace token.
    basic_workspace<Traits>& workspace() noexcept { return holder::workspace; }

    // Everything this client did: its endpoint's counters and the workspace's (credential
    // loads), and those of any other endpoint taken from workspace().
    client_statistics statistics() const { return holder::workspace.statistics(); }

    // The workspace's credential step (workspace.hpp): load ahead, or reload a rotated secret.
    result<void> load_credentials() { return holder::workspace.load_credentials(); }
    result<void> reload_credentials() { return holder::workspace.reload_credentials(); }
};

DBSERVE_END_NAMESPACE
