// OAuth token federation, the emulator's side: JWKS keys (RS256 and ES256) and the check of
// an identity provider's JWT against a federation policy (issuer, audience, subject,
// signature, expiry), plus a JWT signer for the GitHub Actions ID-token stand-in and for
// tests. No sockets, no clock: the caller gives the time. A JWKS is given to the emulator
// (the test fetches it from the identity provider); the emulator fetches nothing.
#pragma once

#include "external_issuer.hpp"
#include "models.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace emulator {

// The public keys of a JWKS document ({"keys": [...]}): RSA keys for RS256 and P-256 EC
// keys for ES256; other keys are skipped. Throws std::invalid_argument when none is usable.
class jwk_set {
public:
    explicit jwk_set(const json& jwks);
    ~jwk_set();
    jwk_set(const jwk_set&) = delete;
    jwk_set& operator=(const jwk_set&) = delete;

    // Verifies a compact JWS signed with RS256 or ES256 by one of the keys (the one named
    // by `kid` when the header has one). Fills `claims`; false with a reason otherwise.
    bool verify(std::string_view token, json& claims, std::string& reason) const;
    std::size_t size() const noexcept { return keys_.size(); }

private:
    struct key;
    std::vector<std::unique_ptr<key>> keys_;
};

struct federation_policy {
    int id = 0;
    std::string principal;        // the service principal whose workspace token is issued
    bool account_wide = false;    // matched when the exchange names no client_id
    std::string issuer;
    std::vector<std::string> audiences;
    std::string subject;
    std::shared_ptr<const jwk_set> keys;
};

// Why a JWT does not satisfy a policy, in the words the token endpoint uses; empty when
// it does. `now`: the emulator's clock.
std::string federation_refusal(const federation_policy& policy, std::string_view token,
                               std::chrono::system_clock::time_point now);

// Signs JWTs with a key it generates (RS256: RSA 2048; ES256: P-256).
class jwt_signer {
public:
    explicit jwt_signer(std::string algorithm, std::string kid);
    ~jwt_signer();
    jwt_signer(const jwt_signer&) = delete;
    jwt_signer& operator=(const jwt_signer&) = delete;

    std::string sign(const json& claims) const;
    json public_jwks() const;  // {"keys": [<the public JWK>]}

private:
    struct key;
    std::unique_ptr<key> key_;
    std::string algorithm_;
    std::string kid_;
};

}  // namespace emulator
