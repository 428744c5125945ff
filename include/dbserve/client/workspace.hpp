// basic_workspace: one workspace identity and the endpoints it queries. It owns the
// policies (Transport, Clock, SecretSource) composed at compile time, the credentials,
// the workspace (control-plane) token, the discovery cache and one data-plane token cache
// per endpoint and action, and hands out cheap, copyable endpoint handles:
//
//   dbserve::basic_workspace<my_traits> workspace(config, my_transport{...});
//   auto chat = workspace.endpoint("my-chat");                 // discovered by name
//   auto model = workspace.endpoint_at("https://...invocations"); // by route optimized URL
//   auto b = workspace.endpoint("my-model", "model-b");        // one served model
//   chat.query(body); model.start_query(body); ...
//
// However many handles, threads and operations: one workspace token, one discovery per
// endpoint (and served model), one data-plane token per endpoint and action, with the
// whole lifecycle (stale/expired windows, single flight, one refresh after a 401,
// rediscovery after a 404, retries) per endpoint. Thread safe.
//
// Credentials are loaded at a query's first use, or ahead by load_credentials();
// reload_credentials() picks up a rotated secret (queries also reload once by themselves
// when the token endpoint refuses the credentials). See query_operation.hpp for the poll
// API's credential step, which keeps file reads out of next().
//
// Destroying the workspace while asynchronous queries run: each one's handler is still
// called once. A query waiting for another query's token or discovery gets
// errc::cancelled from inside the destructor; the others end with errc::cancelled (or
// their answer, when their last request was already in flight) as their transport or timer
// calls back. Operations already started hold a share of the state and run on to their
// end; a query started on a handle after that ends at once with errc::cancelled.
// Statistics: workspace.statistics() (the sums), handle.statistics() (one endpoint).
#pragma once

#include <dbserve/client/client_config.hpp>
#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/client/detail/clock_access.hpp>
#include <dbserve/client/endpoint_handle.hpp>
#include <dbserve/client/policies.hpp>
#include <dbserve/client/traits.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <memory>
#include <string>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

template <class Traits = default_traits>
class basic_workspace {
public:
    using traits_type = Traits;
    using transport_type = typename Traits::transport;
    using clock_type = typename Traits::clock;
    using secret_source_type = typename Traits::secret_source;
    using endpoint_type = basic_endpoint<Traits>;

    static_assert(detail::check_traits<Traits>());

    explicit basic_workspace(workspace_config config, transport_type transport = transport_type{},
                             clock_type clock = clock_type{}, secret_source_type secrets = secret_source_type{})
        : transport_(std::make_shared<transport_type>(std::move(transport))),
          clock_(std::make_shared<const clock_type>(std::move(clock))) {
        auto source = std::make_shared<const secret_source_type>(std::move(secrets));
        auto clock_ptr = clock_;
        shared_ = std::make_shared<detail::client_shared>(
            std::move(config), [clock_ptr] { return detail::clock_monotonic_now(*clock_ptr); },
            [clock_ptr] { return clock_ptr->wall_now(); }, [source]() -> result<credentials> { return source->load(); });
    }

    // The policies by name (policies.hpp): only those that differ from their default.
    basic_workspace(workspace_config config, policies<Traits> set)
        : basic_workspace(std::move(config), std::move(set).take_transport(), std::move(set).take_clock(),
                          std::move(set).take_secret_source()) {}

    basic_workspace(const basic_workspace&) = delete;
    basic_workspace& operator=(const basic_workspace&) = delete;
    basic_workspace(basic_workspace&&) = default;
    basic_workspace& operator=(basic_workspace&& other) noexcept {
        if (this != &other) {
            close();
            transport_ = std::move(other.transport_);
            clock_ = std::move(other.clock_);
            shared_ = std::move(other.shared_);
        }
        return *this;
    }
    ~basic_workspace() { close(); }

    // The endpoint `name`, discovered on first use (GET /api/2.0/serving-endpoints/{name});
    // with `served_model`, that served model of it (.../served-models/<m>/invocations).
    endpoint_type endpoint(std::string name, std::string served_model = {}) const {
        endpoint_config config;
        config.endpoint_name = std::move(name);
        config.served_model = std::move(served_model);
        return endpoint(std::move(config));
    }
    // The endpoint at a route optimized invocations URL: no discovery.
    endpoint_type endpoint_at(std::string url) const {
        endpoint_config config;
        config.url = std::move(url);
        return endpoint(std::move(config));
    }
    // Any endpoint configuration. A malformed one gives a handle whose queries fail with
    // the reason (check_configuration() tells it at once).
    endpoint_type endpoint(endpoint_config config) const {
        return endpoint_type(transport_, clock_, shared_, shared_->target_for(std::move(config)));
    }

    // Loads the credentials now unless they are loaded: runs the SecretSource (the
    // environment, ~/.databrickscfg, a vault callback) and checks what it gave. Optional:
    // queries load at first use. A poll loop calls it ahead (on any thread) so that its
    // operations' next() find them loaded and rarely ask for the credential step.
    result<void> load_credentials() {
        auto loaded = shared_->load_if_missing();
        if (!loaded) return scrubbed(std::move(loaded).error());
        return {};
    }

    // Loads the credentials again now (a secret rotated where the SecretSource reads it):
    // later token requests use the new ones; cached tokens stay until they expire. Queries
    // also reload once by themselves when the token endpoint refuses the credentials.
    result<void> reload_credentials() {
        auto loaded = shared_->reload(0);
        if (!loaded) return scrubbed(std::move(loaded).error());
        return {};
    }

    // The sums over every endpoint handed out, and the credential loads.
    client_statistics statistics() const { return shared_->statistics(); }
    const workspace_config& config() const noexcept { return shared_->config; }
    transport_type& transport() const noexcept { return *transport_; }
    const clock_type& clock() const noexcept { return *clock_; }

private:
    dbserve::error scrubbed(dbserve::error failure) const {
        shared_->secrets.scrub(failure);
        return failure;
    }

    void close() {
        if (shared_) shared_->close();
    }

    std::shared_ptr<transport_type> transport_;
    std::shared_ptr<const clock_type> clock_;
    std::shared_ptr<detail::client_shared> shared_;
};

DBSERVE_END_NAMESPACE
