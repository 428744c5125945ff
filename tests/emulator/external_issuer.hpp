// Access tokens from an outside OAuth server (e.g. the oidc-provider in tests/peers) that the
// data plane trusts beside its own: RS256 JWTs verified with the issuer's public key, their
// `exp` checked, and their `authorization_details` claim read as the grants. Enabled with
// --trust-issuer-key PEM_FILE (and optionally --trust-issuer ISS). No sockets, no clock.
#pragma once

#include "models.hpp"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace emulator {

// One workspace_permission entry of a verified token.
struct external_grant {
    std::string endpoint_id;
    std::set<std::string> actions;
};

struct external_token {
    std::string subject;
    std::chrono::system_clock::time_point expires;
    std::vector<external_grant> grants;  // empty: the token grants no serving endpoint
};

class external_issuer {
public:
    // `public_key_pem`: an RSA public key (SPKI "BEGIN PUBLIC KEY") or a certificate.
    // `issuer`: when non-empty, the token's `iss` must equal it. Throws std::invalid_argument
    // when the key cannot be read.
    external_issuer(std::string_view public_key_pem, std::string issuer);
    ~external_issuer();
    external_issuer(const external_issuer&) = delete;
    external_issuer& operator=(const external_issuer&) = delete;

    // Verifies the signature (alg RS256 only), `iss` and the claims' shape; false with a
    // reason otherwise. Expiry is the caller's to check against its own clock.
    bool verify(std::string_view token, external_token& out, std::string& reason) const;

private:
    struct key;
    std::unique_ptr<key> key_;
    std::string issuer_;
};

// base64url without padding (RFC 7515 section 2); false on characters outside the alphabet.
bool base64url_decode(std::string_view text, std::string& out);

// A JWS in compact form (header.payload.signature), each part base64url-decoded, and the
// signing input (header.payload as sent, a view into the token); false unless there are
// exactly three parts that all decode.
struct compact_jws {
    std::string header, payload, signature;
    std::string_view signing_input;
};
bool split_compact_jws(std::string_view token, compact_jws& out);

}  // namespace emulator
