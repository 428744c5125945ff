// The state every operation of one client shares: configuration, the policies seen
// through type-erased functions, the token and discovery caches, credentials once loaded,
// statistics, and the change notification drivers wait on. One mutex guards the caches;
// it is never held while a policy (secret source, token supplier) or a transport runs.
#pragma once

#include <dbserve/client/request_builders.hpp>
#include <dbserve/client/client_config.hpp>
#include <dbserve/client/credentials.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/detail/known_secrets.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/client/token_cache.hpp>
#include <dbserve/protocol/url.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

struct atomic_statistics {
    std::atomic<std::uint64_t> token_requests{0};
    std::atomic<std::uint64_t> control_plane_token_requests{0};
    std::atomic<std::uint64_t> supplied_token_calls{0};
    std::atomic<std::uint64_t> discoveries{0};
    std::atomic<std::uint64_t> invocations{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::uint64_t> token_waits{0};
    std::atomic<std::uint64_t> queries_started{0};
    std::atomic<std::uint64_t> queries_succeeded{0};
    std::atomic<std::uint64_t> queries_failed{0};

    static void bump(std::atomic<std::uint64_t>& counter) noexcept {
        counter.fetch_add(1, std::memory_order_relaxed);
    }
    client_statistics snapshot() const noexcept {
        client_statistics s;
        s.token_requests = token_requests.load(std::memory_order_relaxed);
        s.control_plane_token_requests = control_plane_token_requests.load(std::memory_order_relaxed);
        s.supplied_token_calls = supplied_token_calls.load(std::memory_order_relaxed);
        s.discoveries = discoveries.load(std::memory_order_relaxed);
        s.invocations = invocations.load(std::memory_order_relaxed);
        s.retries = retries.load(std::memory_order_relaxed);
        s.token_waits = token_waits.load(std::memory_order_relaxed);
        s.queries_started = queries_started.load(std::memory_order_relaxed);
        s.queries_succeeded = queries_succeeded.load(std::memory_order_relaxed);
        s.queries_failed = queries_failed.load(std::memory_order_relaxed);
        return s;
    }
};

// Credentials as loaded and checked once, with what was derived from them.
struct loaded_credentials {
    credentials values;
    credential_method method = credential_method::client_credentials;
    std::string host;         // normalized workspace URL
    std::string token_url;    // client_config::token_url, else host + /oidc/v1/token
    std::string control_key;  // control-plane token cache key
};

class client_shared {
public:
    using mono_time = std::chrono::steady_clock::time_point;
    using wall_time = std::chrono::system_clock::time_point;

    client_shared(client_config cfg, std::function<mono_time()> monotonic, std::function<wall_time()> wall,
                  std::function<result<credentials>()> load)
        : config(std::move(cfg)),
          monotonic_now(std::move(monotonic)),
          wall_now(std::move(wall)),
          load_credentials(std::move(load)),
          data_tokens(config.lifecycle),
          control_tokens(config.lifecycle) {
        jitter = config.jitter;
        if (!jitter) {
            // Jitter only spreads retries out; it needs no cryptographic quality.
            auto engine = std::make_shared<std::minstd_rand>(std::random_device{}());
            auto engine_mutex = std::make_shared<std::mutex>();
            jitter = [engine, engine_mutex] {
                std::lock_guard<std::mutex> lock(*engine_mutex);
                return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
            };
        }
        validate();
        if (configured_endpoint) {
            for (bool streaming : {false, true})
                configured_invocation_headers[streaming] =
                    invocation_headers(workspace_id_for(*configured_endpoint), streaming);
            configured_token_slot = data_tokens.slot_for(configured_endpoint->token_key);
        }
    }

    // ---- set once at construction, read without the lock
    client_config config;
    std::function<mono_time()> monotonic_now;
    std::function<wall_time()> wall_now;
    std::function<result<credentials>()> load_credentials;
    std::function<double()> jitter;
    std::optional<dbserve::error> config_error;
    std::shared_ptr<const resolved_endpoint> configured_endpoint;
    token_path path = token_path::client_credentials;  // automatic resolved
    atomic_statistics stats;
    // Every credential sent or held, blanked from each error an operation returns (own lock).
    known_secrets secrets;

    // ---- guarded by mutex
    mutable std::mutex mutex;
    token_cache data_tokens;
    token_cache control_tokens;
    endpoint_cache endpoints;
    // The configured endpoint's entry in data_tokens (empty without one): no key lookup per query.
    token_cache::slot configured_token_slot;

    // The current change count, under the lock.
    std::uint64_t version_locked() const noexcept { return version_; }

    // Call after changing a cache, with the lock held: wakes every waiter. Releases the lock.
    void notify(std::unique_lock<std::mutex>& lock) {
        ++version_;
        std::vector<std::function<void()>> to_call;
        to_call.swap(waiters_);
        lock.unlock();
        changed_.notify_all();
        for (auto& callback : to_call) callback();
    }

    // Wakes every waiter without a change (a deadline passed): each looks again.
    void wake_waiters() {
        std::unique_lock<std::mutex> lock(mutex);
        notify(lock);
    }

    // Blocking drivers: returns once the change count differs from `seen`.
    void wait_for_change(std::uint64_t seen) {
        std::unique_lock<std::mutex> lock(mutex);
        changed_.wait(lock, [&] { return version_ != seen; });
    }

    // Asynchronous drivers: calls `callback` once the change count differs from `seen`.
    // Returns false (and keeps nothing) when it already differs, or the client is closed:
    // the caller goes on at once.
    bool when_changed(std::uint64_t seen, std::function<void()> callback) {
        std::lock_guard<std::mutex> lock(mutex);
        if (version_ != seen || closed_) return false;
        waiters_.push_back(std::move(callback));
        return true;
    }

    // The client is going away: wakes every waiting callback, here and now, so each
    // asynchronous query waiting for another one's fetch can end (drivers check closed()).
    // Also breaks the reference cycles the callbacks hold.
    void close() {
        std::vector<std::function<void()>> to_call;
        {
            std::lock_guard<std::mutex> lock(mutex);
            closed_ = true;
            ++version_;
            to_call.swap(waiters_);
        }
        changed_.notify_all();
        for (auto& callback : to_call) callback();
    }

    bool closed() const {
        std::lock_guard<std::mutex> lock(mutex);
        return closed_;
    }

    // Loads and checks the credentials once; later calls return the stored ones.
    result<const loaded_credentials*> credentials_once() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (credentials_) return &*credentials_;
        }
        if (!load_credentials)
            return unexpected(errc::configuration, "the client has no secret source to load credentials from");
        auto loaded = load_credentials();
        if (!loaded) return std::move(loaded).error();
        auto method = select_credential_method(*loaded);
        if (!method) return std::move(method).error();
        const std::string& configured_host = config.host.empty() ? loaded->host : config.host;
        if (configured_host.empty())
            return unexpected(errc::configuration,
                              "no workspace host is configured: set client_config::host, DATABRICKS_HOST or host in "
                              "the profile (e.g. https://adb-1234567890123456.7.azuredatabricks.net)");
        auto host = normalize_workspace_host(configured_host);
        if (!host) return std::move(host).error();
        auto checked = check_bearer_url(*host, "the workspace host");
        if (!checked) return std::move(checked).error();
        if (!config.token_url.empty()) {
            auto token_endpoint = check_bearer_url(config.token_url, "client_config::token_url");
            if (!token_endpoint) return std::move(token_endpoint).error();
        }
        loaded_credentials out;
        out.method = *method;
        out.token_url = config.token_url.empty() ? token_url(*host) : config.token_url;
        out.host = std::move(*host);
        out.control_key = "control-plane\n" + out.host;
        out.values = std::move(*loaded);
        std::lock_guard<std::mutex> lock(mutex);
        if (!credentials_) {
            secrets.add_client_credentials(out.values.client_id, out.values.client_secret.reveal());
            secrets.add_permanent(out.values.token.reveal());
            credentials_ = std::move(out);
        }
        return &*credentials_;
    }

    // The credentials if already loaded; call with the lock held.
    const loaded_credentials* credentials_if_loaded() const noexcept {
        return credentials_ ? &*credentials_ : nullptr;
    }

    const std::string& workspace_id_for(const resolved_endpoint& endpoint) const {
        if (!config.workspace_id.empty()) return config.workspace_id;
        return endpoint.workspace_id;
    }

    // invocation_headers() of the configured endpoint, [streaming], built once:
    // copying them is cheaper than building them per query. Empty without one.
    header_list configured_invocation_headers[2];

private:
    void validate() {
        if (config.url.empty() && config.endpoint_name.empty()) {
            config_error = dbserve::error(errc::configuration,
                                          "no endpoint is configured: set client_config::url to the route optimized "
                                          "invocations URL, or client_config::endpoint_name to discover it");
            return;
        }
        if (!config.url.empty()) {
            auto endpoint = resolve_configured_endpoint(config.url, config.endpoint_id, config.served_model, config.action);
            if (!endpoint) {
                config_error = std::move(endpoint).error();
                return;
            }
            configured_endpoint = std::make_shared<const resolved_endpoint>(std::move(*endpoint));
        } else {
            auto valid = validate_endpoint_name(config.endpoint_name);
            if (!valid) {
                config_error = std::move(valid).error();
                return;
            }
        }
        switch (config.auth) {
            case token_path::automatic:
                path = configured_endpoint ? token_path::client_credentials : token_path::token_exchange;
                break;
            case token_path::token_exchange:
                if (config.endpoint_name.empty() && configured_endpoint)
                    config.endpoint_name = configured_endpoint->name;
                if (configured_endpoint) {
                    // The exchange needs the discovered authorization_details: discover by name.
                    configured_endpoint.reset();
                }
                path = token_path::token_exchange;
                break;
            case token_path::client_credentials:
                path = token_path::client_credentials;
                break;
            case token_path::supplied:
                if (!config.supply_token) {
                    config_error = dbserve::error(errc::configuration,
                                                  "token_path::supplied needs client_config::supply_token: a "
                                                  "function returning the token and its expiry");
                    return;
                }
                path = token_path::supplied;
                break;
        }
    }

    std::condition_variable changed_;
    std::uint64_t version_ = 0;
    std::vector<std::function<void()>> waiters_;
    bool closed_ = false;
    std::optional<loaded_credentials> credentials_;
};

}  // namespace detail
DBSERVE_END_NAMESPACE
