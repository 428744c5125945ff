#include "federation.hpp"
#include "workspace.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <stdexcept>

namespace emulator {

namespace {

struct pkey_holder {
    EVP_PKEY* pkey = nullptr;
    ~pkey_holder() { EVP_PKEY_free(pkey); }
};

std::string decode_member(const json& jwk, const char* name) {
    std::string out;
    auto it = jwk.find(name);
    if (it == jwk.end() || !it->is_string() || !base64url_decode(it->get<std::string>(), out)) return {};
    return out;
}

BIGNUM* to_bignum(const std::string& bytes) {
    return BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr);
}

// An RSA or P-256 public key from its JWK members; nullptr when they do not make one.
EVP_PKEY* key_from_jwk(const json& jwk, std::string& algorithm) {
    const std::string kty = jwk.value("kty", std::string());
    OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
    if (!build) return nullptr;
    EVP_PKEY* pkey = nullptr;
    BIGNUM *n = nullptr, *e = nullptr;
    const char* type = nullptr;
    std::string point;
    bool ok = false;
    if (kty == "RSA") {
        const std::string modulus = decode_member(jwk, "n"), exponent = decode_member(jwk, "e");
        n = modulus.empty() ? nullptr : to_bignum(modulus);
        e = exponent.empty() ? nullptr : to_bignum(exponent);
        ok = n && e && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
             OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, e) == 1;
        type = "RSA";
        algorithm = "RS256";
    } else if (kty == "EC" && jwk.value("crv", std::string()) == "P-256") {
        const std::string x = decode_member(jwk, "x"), y = decode_member(jwk, "y");
        if (x.size() == 32 && y.size() == 32) {
            point = std::string(1, '\x04') + x + y;
            ok = OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) == 1 &&
                 OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1;
        }
        type = "EC";
        algorithm = "ES256";
    }
    if (ok) {
        OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
        EVP_PKEY_CTX* ctx = params ? EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr) : nullptr;
        if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
    }
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(build);
    return pkey;
}

// JWS ES256 carries r || s (32 bytes each); OpenSSL verifies DER.
std::string es256_der(const std::string& raw) {
    if (raw.size() != 64) return {};
    ECDSA_SIG* sig = ECDSA_SIG_new();
    if (!sig) return {};
    BIGNUM* r = to_bignum(raw.substr(0, 32));
    BIGNUM* s = to_bignum(raw.substr(32));
    std::string der;
    if (r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        unsigned char* out = nullptr;
        const int length = i2d_ECDSA_SIG(sig, &out);
        if (length > 0) der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(length));
        OPENSSL_free(out);
    } else {
        BN_free(r);
        BN_free(s);
    }
    ECDSA_SIG_free(sig);
    return der;
}

bool verify_signature(EVP_PKEY* pkey, std::string_view signed_part, const std::string& signature) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return false;
    const bool valid =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return valid;
}

}  // namespace

struct jwk_set::key {
    pkey_holder holder;
    std::string kid;
    std::string algorithm;  // RS256 or ES256
};

jwk_set::jwk_set(const json& jwks) {
    if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array())
        throw std::invalid_argument("the JWKS must be an object with a 'keys' array");
    for (const auto& jwk : jwks["keys"]) {
        if (!jwk.is_object()) continue;
        auto k = std::make_unique<key>();
        k->holder.pkey = key_from_jwk(jwk, k->algorithm);
        if (!k->holder.pkey) continue;
        k->kid = jwk.value("kid", std::string());
        keys_.push_back(std::move(k));
    }
    if (keys_.empty()) throw std::invalid_argument("the JWKS holds no RSA or P-256 public key");
}

jwk_set::~jwk_set() = default;

bool jwk_set::verify(std::string_view token, json& claims, std::string& reason) const {
    compact_jws parts;
    if (!split_compact_jws(token, parts)) {
        reason = "the subject token is not a JWT";
        return false;
    }
    const std::string& header_text = parts.header;
    const std::string& payload_text = parts.payload;
    const std::string& signature = parts.signature;
    const json header = json::parse(header_text, nullptr, false);
    const std::string alg = header.is_object() ? header.value("alg", std::string()) : std::string();
    if (alg != "RS256" && alg != "ES256") {
        reason = "the subject token must be signed with RS256 or ES256";
        return false;
    }
    const std::string kid = header.value("kid", std::string());
    const std::string_view signed_part = parts.signing_input;
    const std::string der = alg == "ES256" ? es256_der(signature) : std::string();
    bool valid = false;
    for (const auto& k : keys_) {
        if (k->algorithm != alg || (!kid.empty() && !k->kid.empty() && k->kid != kid)) continue;
        if (verify_signature(k->holder.pkey, signed_part, alg == "ES256" ? der : signature)) {
            valid = true;
            break;
        }
    }
    if (!valid) {
        reason = "the subject token's signature does not verify with the federation policy's keys";
        return false;
    }
    claims = json::parse(payload_text, nullptr, false);
    if (!claims.is_object()) {
        reason = "the subject token's payload is not a JSON object";
        return false;
    }
    return true;
}

std::string federation_refusal(const federation_policy& policy, std::string_view token,
                               std::chrono::system_clock::time_point now) {
    json claims;
    std::string reason;
    if (!policy.keys || !policy.keys->verify(token, claims, reason)) return reason;
    if (claims.value("iss", std::string()) != policy.issuer)
        return "the subject token's issuer does not match the federation policy";
    bool audience = false;
    const json aud = claims.value("aud", json());
    for (const auto& wanted : policy.audiences) {
        if (aud.is_string() && aud.get<std::string>() == wanted) audience = true;
        if (aud.is_array())
            for (const auto& a : aud)
                if (a.is_string() && a.get<std::string>() == wanted) audience = true;
    }
    if (!audience) return "the subject token's audience does not match the federation policy";
    if (claims.value("sub", std::string()) != policy.subject)
        return "the subject token's subject does not match the federation policy";
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    auto exp = claims.find("exp");
    if (exp == claims.end() || !exp->is_number_integer()) return "the subject token has no exp claim";
    if (exp->get<std::int64_t>() <= seconds) return "the subject token has expired";
    auto nbf = claims.find("nbf");
    if (nbf != claims.end() && nbf->is_number_integer() && nbf->get<std::int64_t>() > seconds + 60)
        return "the subject token is not valid yet";
    return {};
}

struct jwt_signer::key {
    pkey_holder holder;
};

jwt_signer::jwt_signer(std::string algorithm, std::string kid)
    : key_(std::make_unique<key>()), algorithm_(std::move(algorithm)), kid_(std::move(kid)) {
    if (algorithm_ == "RS256")
        key_->holder.pkey = EVP_RSA_gen(2048);
    else if (algorithm_ == "ES256")
        key_->holder.pkey = EVP_EC_gen("P-256");
    else
        throw std::invalid_argument("jwt_signer: RS256 or ES256");
    if (!key_->holder.pkey) throw std::runtime_error("jwt_signer: key generation failed");
}

jwt_signer::~jwt_signer() = default;

std::string jwt_signer::sign(const json& claims) const {
    const json header{{"alg", algorithm_}, {"kid", kid_}, {"typ", "JWT"}};
    const std::string signed_part = base64_encode(header.dump(), true) + "." + base64_encode(claims.dump(), true);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t length = 0;
    std::string signature;
    if (ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_->holder.pkey) == 1 &&
        EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1) {
        signature.resize(length);
        if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(&signature[0]), &length,
                           reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1)
            signature.resize(length);
        else
            signature.clear();
    }
    EVP_MD_CTX_free(ctx);
    if (signature.empty()) throw std::runtime_error("jwt_signer: signing failed");
    if (algorithm_ == "ES256") {
        // DER to the JWS form: r and s, 32 bytes each.
        const unsigned char* p = reinterpret_cast<const unsigned char*>(signature.data());
        ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size()));
        if (!sig) throw std::runtime_error("jwt_signer: bad ECDSA signature");
        unsigned char raw[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
        ECDSA_SIG_free(sig);
        signature.assign(reinterpret_cast<char*>(raw), sizeof raw);
    }
    return signed_part + "." + base64_encode(signature, true);
}

json jwt_signer::public_jwks() const {
    auto member = [&](const char* name, int pad) {
        BIGNUM* bn = nullptr;
        std::string bytes;
        if (EVP_PKEY_get_bn_param(key_->holder.pkey, name, &bn) == 1) {
            bytes.resize(pad > 0 ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)));
            BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(&bytes[0]), static_cast<int>(bytes.size()));
        }
        BN_free(bn);
        return base64_encode(bytes, true);
    };
    json jwk{{"kid", kid_}, {"alg", algorithm_}, {"use", "sig"}};
    if (algorithm_ == "RS256") {
        jwk["kty"] = "RSA";
        jwk["n"] = member(OSSL_PKEY_PARAM_RSA_N, 0);
        jwk["e"] = member(OSSL_PKEY_PARAM_RSA_E, 0);
    } else {
        jwk["kty"] = "EC";
        jwk["crv"] = "P-256";
        jwk["x"] = member(OSSL_PKEY_PARAM_EC_PUB_X, 32);
        jwk["y"] = member(OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    }
    return json{{"keys", json::array({jwk})}};
}

}  // namespace emulator
