// The state every operation of one workspace shares, whichever endpoint it queries:
// configuration, the policies seen through type-erased functions, the token and discovery
// caches, the credentials as last loaded, the endpoints handed out (with their
// statistics), and the change notification drivers wait on. One mutex guards the caches;
// it is never held while a policy (secret source, token supplier) or a transport runs.
// Loads of the secret source take turns on their own mutex instead.
#pragma once

#include <dbserve/client/request_builders.hpp>
#include <dbserve/client/client_config.hpp>
#include <dbserve/client/credentials.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/client/detail/endpoint_target.hpp>
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
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

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

    client_shared(workspace_config cfg, std::function<mono_time()> monotonic, std::function<wall_time()> wall,
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
    }

    // ---- set once at construction, read without the lock
    workspace_config config;
    std::function<mono_time()> monotonic_now;
    std::function<wall_time()> wall_now;
    std::function<result<credentials>()> load_credentials;
    std::function<double()> jitter;
    // What no one endpoint did: loading the credentials.
    atomic_statistics workspace_stats;
    // Every credential sent or held, blanked from each error an operation returns (own lock).
    known_secrets secrets;

    // ---- guarded by mutex
    mutable std::mutex mutex;
    token_cache data_tokens;
    token_cache control_tokens;
    endpoint_cache endpoints;

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
            closed_flag_.store(true, std::memory_order_release);
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
    // closed() without the lock, for a query about to start.
    bool closed_already() const noexcept { return closed_flag_.load(std::memory_order_acquire); }

    // The target of an endpoint: made and checked on first use, then the same one for
    // every handle to that endpoint (they share its statistics). An endpoint with its own
    // token supplier gets a target of its own each time (suppliers cannot be compared).
    std::shared_ptr<const endpoint_target> target_for(endpoint_config endpoint) {
        const bool shareable = !endpoint.supply_token;
        std::string key;
        if (shareable) {
            key = endpoint.url + '\n' + endpoint.endpoint_name + '\n' + endpoint.endpoint_id + '\n' +
                  endpoint.served_model + '\n' + std::to_string(static_cast<int>(endpoint.action));
            std::lock_guard<std::mutex> lock(mutex);
            auto found = targets_.find(key);
            if (found != targets_.end()) return found->second;
        }
        auto target = std::make_shared<endpoint_target>();
        target->config = std::move(endpoint);
        prepare_endpoint_target(*target, config.auth);
        if (target->configured_endpoint)
            for (bool streaming : {false, true})
                target->configured_invocation_headers[streaming] =
                    invocation_headers(workspace_id_for(*target->configured_endpoint), streaming);
        std::lock_guard<std::mutex> lock(mutex);
        // Complete before it is published: other threads read it without the lock.
        if (target->configured_endpoint)
            target->configured_token_slot = data_tokens.slot_for(target->configured_endpoint->token_key);
        if (shareable) {
            auto inserted = targets_.emplace(std::move(key), target);
            if (!inserted.second) return inserted.first->second;  // made meanwhile by another thread
        } else {
            unshared_targets_.push_back(target);
        }
        return target;
    }

    // The sums over every endpoint handed out.
    client_statistics statistics() const {
        client_statistics sum;
        std::lock_guard<std::mutex> lock(mutex);
        workspace_stats.add_to(sum);
        for (const auto& entry : targets_) entry.second->stats.add_to(sum);
        for (const auto& target : unshared_targets_) target->stats.add_to(sum);
        return sum;
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
        atomic_statistics::bump(workspace_stats.credential_loads);
        std::lock_guard<std::mutex> lock(mutex);
        if (credentials_) atomic_statistics::bump(workspace_stats.credential_reloads);
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
        if (!method && config.auth != token_path::supplied) return std::move(method).error();
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

private:
    std::condition_variable changed_;
    std::uint64_t version_ = 0;
    std::vector<std::function<void()>> waiters_;
    bool closed_ = false;
    std::atomic<bool> closed_flag_{false};
    std::map<std::string, std::shared_ptr<endpoint_target>> targets_;
    std::vector<std::shared_ptr<endpoint_target>> unshared_targets_;
    credentials_ptr credentials_;  // guarded by mutex
    std::mutex load_mutex_;        // one secret source load at a time
};

}  // namespace detail
DBSERVE_END_NAMESPACE
