// The state every operation of one client shares: configuration, the policies seen
// through type-erased functions, the token and discovery caches, the credentials as last
// loaded, statistics, and the change notification drivers wait on. One mutex guards the
// caches; it is never held while a policy (secret source, token supplier) or a transport
// runs. Loads of the secret source take turns on their own mutex instead.
#pragma once

#include <dbserve/client/request_builders.hpp>
#include <dbserve/client/client_config.hpp>
#include <dbserve/client/credentials.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/detail/known_secrets.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/client/federation.hpp>
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
    std::atomic<std::uint64_t> identity_token_requests{0};
    std::atomic<std::uint64_t> credential_loads{0};
    std::atomic<std::uint64_t> credential_reloads{0};

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
        s.identity_token_requests = identity_token_requests.load(std::memory_order_relaxed);
        s.credential_loads = credential_loads.load(std::memory_order_relaxed);
        s.credential_reloads = credential_reloads.load(std::memory_order_relaxed);
        return s;
    }
};

// Credentials as loaded and checked, with what was derived from them. Immutable once
// made: a reload makes a new one, and operations keep the one they started with alive.
struct loaded_credentials {
    credentials values;
    credential_method method = credential_method::client_credentials;
    subject_token_source subject = subject_token_source::none;  // token_federation: where the JWT is
    std::string audience;     // token_federation: the audience the JWT must carry
    std::uint64_t generation = 0;  // 1 for the first load, one more per reload
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

    using credentials_ptr = std::shared_ptr<const loaded_credentials>;

    // The credentials as last loaded, or null before the first load. Never loads: the
    // operation's next() calls only this (file I/O belongs to the credential step).
    credentials_ptr current_credentials() const {
        std::lock_guard<std::mutex> lock(mutex);
        return credentials_;
    }

    // Loads the credentials unless they are loaded: the first use, or an explicit
    // load_credentials(). Runs the secret source (environment, profile file, a vault).
    result<credentials_ptr> load_if_missing() { return load_replacing(0, false); }

    // Loads them again if the ones in use are still generation `stale` (0: unconditionally):
    // after the token endpoint refused them, many queries may ask at once and one reload
    // serves them all. The new credentials replace the old for every later request; the
    // cached tokens stay (they were issued and remain valid).
    result<credentials_ptr> reload(std::uint64_t stale) { return load_replacing(stale, true); }

private:
    result<credentials_ptr> load_replacing(std::uint64_t stale, bool reloading) {
        std::lock_guard<std::mutex> turn(load_mutex_);
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (credentials_ && (!reloading || (stale != 0 && credentials_->generation != stale)))
                return credentials_;
        }
        auto fresh = load_and_check();
        if (!fresh) return std::move(fresh).error();
        atomic_statistics::bump(stats.credential_loads);
        std::lock_guard<std::mutex> lock(mutex);
        if (credentials_) atomic_statistics::bump(stats.credential_reloads);
        fresh->generation = credentials_ ? credentials_->generation + 1 : 1;
        secrets.add_client_credentials(fresh->values.client_id, fresh->values.client_secret.reveal());
        secrets.add_permanent(fresh->values.token.reveal());
        secrets.add_permanent(fresh->values.oidc_token.reveal());
        secrets.add_permanent(fresh->values.actions_id_token_request_token.reveal());
        credentials_ = std::make_shared<const loaded_credentials>(std::move(*fresh));
        return credentials_;
    }

    // Runs the secret source and checks what it gave.
    result<loaded_credentials> load_and_check() {
        if (!load_credentials)
            return unexpected(errc::configuration, "the client has no secret source to load credentials from");
        auto loaded = load_credentials();
        if (!loaded) return std::move(loaded).error();
        auto method = select_credential_method(*loaded);
        // With a token supplier the credentials only give the workspace host (discovery).
        if (!method && path != token_path::supplied) return std::move(method).error();
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
        out.method = method ? *method : credential_method::token;
        out.token_url = config.token_url.empty() ? token_url(*host) : config.token_url;
        out.host = std::move(*host);
        out.control_key = "control-plane\n" + out.host;
        out.values = std::move(*loaded);
        if (out.method == credential_method::token_federation) {
            out.subject = subject_token_source_of(out.values);
            out.audience = federation_audience(out.values, out.token_url);
        }
        return out;
    }

public:
    // The credentials if already loaded; call with the lock held.
    const loaded_credentials* credentials_if_loaded() const noexcept { return credentials_.get(); }

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
    credentials_ptr credentials_;  // guarded by mutex
    std::mutex load_mutex_;        // one secret source load at a time
};

}  // namespace detail
DBSERVE_END_NAMESPACE
