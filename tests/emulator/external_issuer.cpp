#include "external_issuer.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace emulator {

struct external_issuer::key {
    EVP_PKEY* pkey = nullptr;
    ~key() { EVP_PKEY_free(pkey); }
};

namespace {

EVP_PKEY* read_public_key(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    if (!pkey) {
        // A certificate carries the key too.
        BIO_free(bio);
        bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        if (!bio) return nullptr;
        if (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    BIO_free(bio);
    return pkey;
}

int base64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

}  // namespace

bool base64url_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 == 1) return false;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        const int v = base64url_value(c);
        if (v < 0) return false;
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFFu);
        }
    }
    return true;
}

bool split_compact_jws(std::string_view token, compact_jws& out) {
    const auto first = token.find('.');
    const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return false;
    out.signing_input = token.substr(0, second);
    return base64url_decode(token.substr(0, first), out.header) &&
           base64url_decode(token.substr(first + 1, second - first - 1), out.payload) &&
           base64url_decode(token.substr(second + 1), out.signature);
}

external_issuer::external_issuer(std::string_view public_key_pem, std::string issuer)
    : key_(std::make_unique<key>()), issuer_(std::move(issuer)) {
    key_->pkey = read_public_key(public_key_pem);
    if (!key_->pkey) throw std::invalid_argument("the trusted issuer key is not a PEM public key or certificate");
    if (EVP_PKEY_base_id(key_->pkey) != EVP_PKEY_RSA)
        throw std::invalid_argument("the trusted issuer key must be an RSA key (RS256)");
}

external_issuer::~external_issuer() = default;

bool external_issuer::verify(std::string_view token, external_token& out, std::string& reason) const {
    compact_jws parts;
    if (!split_compact_jws(token, parts)) {
        reason = "not a JWS compact token with base64url parts";
        return false;
    }
    const std::string& header_text = parts.header;
    const std::string& payload_text = parts.payload;
    const std::string& signature = parts.signature;
    const json header = json::parse(header_text, nullptr, false);
    if (!header.is_object() || header.value("alg", std::string()) != "RS256") {
        reason = "the token is not signed with RS256";
        return false;
    }

    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) {
        reason = "out of memory";
        return false;
    }
    const std::string_view signed_part = parts.signing_input;
    const bool valid =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!valid) {
        reason = "bad signature";
        return false;
    }

    const json claims = json::parse(payload_text, nullptr, false);
    if (!claims.is_object()) {
        reason = "the payload is not a JSON object";
        return false;
    }
    if (!issuer_.empty() && claims.value("iss", std::string()) != issuer_) {
        reason = "unexpected issuer";
        return false;
    }
    auto exp = claims.find("exp");
    if (exp == claims.end() || !exp->is_number_integer()) {
        reason = "no exp claim";
        return false;
    }
    out = external_token{};
    out.subject = claims.value("sub", std::string());
    out.expires = std::chrono::system_clock::time_point(std::chrono::seconds(exp->get<std::int64_t>()));
    auto details = claims.find("authorization_details");
    if (details == claims.end()) return true;
    if (!details->is_array()) {
        reason = "authorization_details is not an array";
        return false;
    }
    const std::string prefix = "/serving-endpoints/";
    for (const auto& item : *details) {
        if (!item.is_object() || item.value("type", std::string()) != "workspace_permission") continue;
        const std::string path = item.value("object_path", std::string());
        if (item.value("object_type", std::string()) != "serving-endpoints" || path.compare(0, prefix.size(), prefix) != 0)
            continue;
        external_grant grant;
        grant.endpoint_id = path.substr(prefix.size());
        auto actions = item.find("actions");
        if (actions != item.end() && actions->is_array())
            for (const auto& action : *actions)
                if (action.is_string()) grant.actions.insert(action.get<std::string>());
        out.grants.push_back(std::move(grant));
    }
    return true;
}

}  // namespace emulator
