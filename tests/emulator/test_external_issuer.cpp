#include <doctest/doctest.h>

#include "external_issuer.hpp"
#include "workspace.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <stdexcept>

using emulator::http_reply;
using emulator::http_request;
using emulator::json;

namespace {

std::string base64url(std::string_view bytes) {
    std::string out = emulator::base64_encode(bytes, true);
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

// An RSA key pair that signs test tokens the way an outside OAuth server would.
struct signer {
    EVP_PKEY* key = nullptr;
    signer() {
        key = EVP_RSA_gen(2048);
        if (!key) throw std::runtime_error("EVP_RSA_gen failed");
    }
    ~signer() { EVP_PKEY_free(key); }
    signer(const signer&) = delete;
    signer& operator=(const signer&) = delete;

    std::string public_pem() const {
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(bio, key);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        std::string out(data, static_cast<std::size_t>(n));
        BIO_free(bio);
        return out;
    }

    std::string sign(const json& claims, const char* alg = "RS256") const {
        const std::string input =
            base64url(json{{"alg", alg}, {"typ", "at+jwt"}}.dump()) + "." + base64url(claims.dump());
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        std::size_t length = 0;
        EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
        EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size());
        std::string signature(length, '\0');
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size());
        EVP_MD_CTX_free(ctx);
        signature.resize(length);
        return input + "." + base64url(signature);
    }
};

// `claims` with some members replaced.
json with(json claims, const json& changes) {
    claims.update(changes);
    return claims;
}

json grant_for(const std::string& endpoint_id, const char* action = "query_inference_endpoint") {
    return json::array({json{{"type", "workspace_permission"},
                             {"object_type", "serving-endpoints"},
                             {"object_path", "/serving-endpoints/" + endpoint_id},
                             {"actions", json::array({action})}}});
}

std::int64_t seconds_from_now(std::int64_t s) {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + s;
}

http_reply invoke(emulator::workspace& ws, const char* name, const std::string& token) {
    const auto& e = ws.endpoint_named(name);
    http_request r;
    r.method = "POST";
    r.host = ws.data_plane_host(e);
    r.target = "/6051921418418893/serving-endpoints/" + e.name + "/invocations";
    r.body = R"({"instances":[[1,2]]})";
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
    return ws.serve(r);
}

}  // namespace

TEST_CASE("tokens from a trusted outside issuer are checked by signature, issuer, expiry and authorization_details") {
    signer trusted, stranger;
    emulator::workspace ws(emulator::workspace_options{});
    ws.trust_issuer(std::make_shared<emulator::external_issuer>(trusted.public_pem(), "https://issuer.test"));
    const std::string id = ws.endpoint_named("sum-model").id;
    const json good{{"iss", "https://issuer.test"}, {"sub", "svc"}, {"exp", seconds_from_now(300)},
                    {"authorization_details", grant_for(id)}};

    auto ok = invoke(ws, "sum-model", trusted.sign(good));
    CHECK(ok.status == 200);
    CHECK(ok.body == R"({"predictions":[3]})");
    CHECK(invoke(ws, "sum-model", trusted.sign(with(good, json{{"authorization_details",
                                                                       grant_for(id, "manage_inference_endpoint")}})))
              .status == 200);

    CHECK(invoke(ws, "sum-model", stranger.sign(good)).status == 401);                            // signature
    CHECK(invoke(ws, "sum-model", trusted.sign(good, "HS256")).status == 401);                    // algorithm
    CHECK(invoke(ws, "sum-model", trusted.sign(with(good, json{{"iss", "x"}}))).status == 401);
    auto expired = invoke(ws, "sum-model", trusted.sign(with(good, json{{"exp", seconds_from_now(-5)}})));
    CHECK(expired.status == 401);
    CHECK(expired.body.find("expired") != std::string::npos);
    CHECK(invoke(ws, "chat-model", trusted.sign(good)).status == 403);                            // another endpoint
    CHECK(invoke(ws, "sum-model", trusted.sign(with(good, json{{"authorization_details",
                                                                       grant_for(id, "read")}})))
              .status == 403);
    json workspace_token = good;
    workspace_token.erase("authorization_details");
    CHECK(invoke(ws, "sum-model", trusted.sign(workspace_token)).status == 403);

    const json counters = ws.counters();
    CHECK(counters["external_tokens"]["accepted"] == 6);
    CHECK(counters["external_tokens"]["refused"] == 3);
}

TEST_CASE("without a trusted issuer an outside token is unknown, and a bad key is refused at start") {
    signer trusted;
    emulator::workspace ws(emulator::workspace_options{});
    const json claims{{"exp", seconds_from_now(300)}, {"authorization_details", grant_for(ws.endpoint_named("sum-model").id)}};
    CHECK(invoke(ws, "sum-model", trusted.sign(claims)).status == 401);
    CHECK_THROWS_AS(emulator::external_issuer("not a key", ""), std::invalid_argument);
    std::string decoded;
    CHECK(emulator::base64url_decode("aGk", decoded));
    CHECK(decoded == "hi");
    CHECK_FALSE(emulator::base64url_decode("a+b/", decoded));
}
