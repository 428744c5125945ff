// The single-flight claims a query holds on its client's caches (a discovery, a
// control-plane token fetch, a data-plane token fetch), for each of its two lines of work,
// and the client they are on. Whoever holds a claim must settle it (complete it, or fail
// it here so the callers waiting for it get the error); one still held when the query
// goes away is given up, so a waiting caller fetches in its place instead of waiting
// forever. Movable; a moved-from holder holds no claim and no client.
#pragma once

#include <dbserve/client/detail/client_shared.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

// One line of work's claims (0: none), each on its own cache: the discovery of the
// endpoint's discovery key, the control-plane token of the loaded credentials, the
// data-plane token of data_key.
struct claim_set {
    std::uint64_t discovery = 0;
    std::uint64_t control = 0;
    std::uint64_t data = 0;
    std::string discovery_key;
    std::string data_key;

    void claim_discovery(std::uint64_t ticket, std::string_view key) {
        discovery = ticket;
        discovery_key.assign(key.data(), key.size());
    }

    void claim_data(std::uint64_t ticket, std::string_view key) {
        data = ticket;
        data_key.assign(key.data(), key.size());
    }
    bool any() const noexcept { return discovery || control || data; }
};

class query_claims {
public:
    // A client the query shares (kept alive while the query lives), or one it borrows
    // (which outlives the query).
    explicit query_claims(std::shared_ptr<client_shared>&& owner) noexcept
        : shared_(owner.get()), owner_(std::move(owner)) {}
    explicit query_claims(client_shared& borrowed) noexcept : shared_(&borrowed) {}
    query_claims(query_claims&& other) noexcept { take(other); }
    query_claims& operator=(query_claims&& other) noexcept {
        if (this != &other) {
            abandon_all();
            take(other);
        }
        return *this;
    }
    query_claims(const query_claims&) = delete;
    query_claims& operator=(const query_claims&) = delete;
    ~query_claims() { abandon_all(); }

    client_shared* shared() const noexcept { return shared_; }
    claim_set& of(bool background) noexcept { return background ? background_ : main_; }

    // Fails the claims of one line of work: the callers waiting for them get `failure`.
    void fail(claim_set& claims, const dbserve::error& failure, std::chrono::steady_clock::time_point now) {
        std::unique_lock<std::mutex> lock(shared_->mutex);
        if (claims.data) shared_->data_tokens.fail(claims.data_key, claims.data, failure, now);
        if (claims.control) {
            if (auto creds = shared_->credentials_if_loaded())
                shared_->control_tokens.fail(creds->control_key, claims.control, failure, now);
        }
        if (claims.discovery) shared_->endpoints.fail(claims.discovery_key, claims.discovery, failure);
        claims.discovery = claims.control = claims.data = 0;
        shared_->notify(lock);
    }

    // Gives up every claim held without a result: a waiting caller may claim the fetch.
    void abandon_all() {
        if (!shared_ || (!main_.any() && !background_.any())) return;
        std::unique_lock<std::mutex> lock(shared_->mutex);
        for (claim_set* claims : {&main_, &background_}) {
            if (claims->data) shared_->data_tokens.abandon(claims->data_key, claims->data);
            if (claims->control) {
                if (auto creds = shared_->credentials_if_loaded())
                    shared_->control_tokens.abandon(creds->control_key, claims->control);
            }
            if (claims->discovery) shared_->endpoints.abandon(claims->discovery_key, claims->discovery);
            claims->discovery = claims->control = claims->data = 0;
        }
        shared_->notify(lock);
    }

private:
    void take(query_claims& other) noexcept {
        shared_ = std::exchange(other.shared_, nullptr);
        owner_ = std::move(other.owner_);
        main_ = std::exchange(other.main_, claim_set{});
        background_ = std::exchange(other.background_, claim_set{});
    }

    client_shared* shared_ = nullptr;
    std::shared_ptr<client_shared> owner_;
    claim_set main_, background_;
};

}  // namespace detail
DBSERVE_END_NAMESPACE
