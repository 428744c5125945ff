// Credentials as a lifecycle: loaded by an explicit step (never inside the poll API's
// next()), loaded again once when the token endpoint refuses them, reload_credentials();
// and OAuth token federation (env-oidc, file-oidc, github-oidc) as the operation runs it.
#include <dbserve/client/client.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <memory>
#include <mutex>
#include <string>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {

const char* ro_url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";
const char* host = "https://adb-1234567890123456.7.azuredatabricks.net";
const char* token_endpoint = "https://adb-1234567890123456.7.azuredatabricks.net/oidc/v1/token";
// JWT-shaped test values (three dot-separated parts); never valid signatures.
const char* jwt_one = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvbmUifQ.c2lnbmF0dXJlLW9uZQ";
const char* jwt_two = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0d28ifQ.c2lnbmF0dXJlLXR3bw";

struct blocking_traits {
    using transport = testing::fake_transport;
    using clock = manual_clock;
    using secret_source = callback_secret_source;
};
struct poll_traits {
    using transport = no_transport;
    using clock = manual_clock;
    using secret_source = callback_secret_source;
};

// A secret source whose answer the test changes (a rotated secret), counting its loads.
struct rotating_source {
    std::mutex mutex;
    credentials values = testing::service_principal(host, "client-id", "old-secret");
    int loads = 0;
    bool inside_next = false;  // set by a poll test around each next()
    bool loaded_inside_next = false;

    callback_secret_source source() {
        return callback_secret_source{[this]() -> result<credentials> {
            std::lock_guard<std::mutex> lock(mutex);
            ++loads;
            if (inside_next) loaded_inside_next = true;
            return values;
        }};
    }
    void set_secret(std::string_view secret) {
        std::lock_guard<std::mutex> lock(mutex);
        values.client_secret = secret_string(secret);
    }
};

client_config configured() {
    client_config c;
    c.url = ro_url;
    c.jitter = [] { return 0.0; };
    return c;
}

// A token endpoint that takes one client secret at a time (the emulator's rotation).
void accept_only(testing::script& replies, std::shared_ptr<std::string> accepted) {
    auto counter = std::make_shared<int>(0);
    replies.on("/oidc/v1/token").respond([accepted, counter](const http_request& r) -> result<http_response> {
        if (r.headers.get("Authorization") != basic_authorization("client-id", *accepted))
            return testing::oauth_error_reply(401, "invalid_client", "Client authentication failed");
        return testing::token_reply("t" + std::to_string(++*counter), 3600);
    });
    replies.on("/invocations").always(testing::json_response(200, R"({"predictions":[1]})"));
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

std::string form_value(const std::string& body, const std::string& name) {
    const std::string key = name + "=";
    std::size_t at = 0;
    while ((at = body.find(key, at)) != std::string::npos) {
        if (at == 0 || body[at - 1] == '&') {
            const auto end = body.find('&', at);
            return body.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
        }
        at += key.size();
    }
    return "(absent)";
}

struct temp_file {
    std::string path;
    explicit temp_file(const std::string& name) {
        std::error_code ec;
        path = (std::filesystem::temp_directory_path(ec) /
                ("dbserve-credential-lifecycle-" + std::to_string(std::random_device{}()) + "-" + name))
                   .string();
        std::remove(path.c_str());
    }
    ~temp_file() { std::remove(path.c_str()); }
    void write(std::string_view text) const { std::ofstream(path, std::ios::trunc) << text; }
};

}  // namespace

TEST_CASE("a secret rotated in the source is picked up after invalid_client: one reload, no failed query") {
    manual_clock clock;
    testing::script replies;
    auto accepted = std::make_shared<std::string>("old-secret");
    accept_only(replies, accepted);
    rotating_source secrets;
    basic_client<blocking_traits> client(configured(), testing::fake_transport(replies), clock, secrets.source());
    REQUIRE(client.query(std::string("{}")));
    CHECK(secrets.loads == 1);
    // Rotation: the token endpoint takes only the new secret, the source gives it.
    *accepted = "new-secret";
    secrets.set_secret("new-secret");
    clock.advance(2h);  // the cached token expired: the next query fetches one
    for (int i = 0; i < 5; ++i) REQUIRE(client.query(std::string("{}")));
    const auto stats = client.statistics();
    CHECK(stats.queries_failed == 0);
    CHECK(stats.credential_reloads == 1);
    CHECK(secrets.loads == 2);
    CHECK(stats.token_requests == 3);  // the first token, the refused one, the one with the new secret
}

TEST_CASE("a refused secret that is still the same in the source fails after one reload, the secret never shown") {
    manual_clock clock;
    testing::script replies;
    accept_only(replies, std::make_shared<std::string>("some-other-secret"));
    rotating_source secrets;
    basic_client<blocking_traits> client(configured(), testing::fake_transport(replies), clock, secrets.source());
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().service_code == "invalid_client");
    CHECK_FALSE(contains(r.error().to_string(), "old-secret"));
    CHECK(client.statistics().credential_reloads == 1);
    CHECK(client.statistics().token_requests == 2);
}

TEST_CASE("reload_credentials() makes later token requests use what the source gives now") {
    manual_clock clock;
    testing::script replies;
    auto accepted = std::make_shared<std::string>("old-secret");
    accept_only(replies, accepted);
    rotating_source secrets;
    basic_client<blocking_traits> client(configured(), testing::fake_transport(replies), clock, secrets.source());
    REQUIRE(client.load_credentials());
    REQUIRE(client.load_credentials());  // already loaded: the source is not read again
    CHECK(secrets.loads == 1);
    secrets.set_secret("new-secret");
    *accepted = "new-secret";
    REQUIRE(client.reload_credentials());
    CHECK(secrets.loads == 2);
    REQUIRE(client.query(std::string("{}")));
    CHECK(client.statistics().token_requests == 1);  // no refusal: the new secret was used at once
}

TEST_CASE("a poll operation runs the secret source only in the credential step, never inside next()") {
    manual_clock clock;
    testing::script replies;
    accept_only(replies, std::make_shared<std::string>("old-secret"));
    testing::fake_transport network(replies);
    rotating_source secrets;
    basic_client<poll_traits> client(configured(), no_transport{}, clock, secrets.source());
    auto op = client.start_query(std::string("{}"));
    int credential_steps = 0;
    for (int guard = 0; guard < 20; ++guard) {
        secrets.inside_next = true;
        auto step = op.next();
        secrets.inside_next = false;
        if (step.kind == operation_step::load_credentials) {
            ++credential_steps;
            CHECK(secrets.loads == 0);  // next() asked for the step and did not do it
            op.load_credentials();
        } else if (step.kind == operation_step::send) {
            op.on_response(step.request_id, network.send(*step.request, step.options()));
        } else {
            REQUIRE(step.kind == operation_step::done);
            REQUIRE(*step.outcome);
            break;
        }
    }
    CHECK(credential_steps == 1);
    CHECK(secrets.loads == 1);
    CHECK_FALSE(secrets.loaded_inside_next);
}

TEST_CASE("a poll client loaded ahead goes straight to sending, and a load failure ends the query at next()") {
    manual_clock clock;
    rotating_source secrets;
    basic_client<poll_traits> client(configured(), no_transport{}, clock, secrets.source());
    REQUIRE(client.load_credentials());
    auto op = client.start_query(std::string("{}"));
    CHECK(op.next().kind == operation_step::send);

    basic_client<poll_traits> broken(configured(), no_transport{}, clock, callback_secret_source{[] {
                                         return result<credentials>(
                                             unexpected(errc::configuration, "the vault is sealed"));
                                     }});
    CHECK_FALSE(broken.load_credentials());
    auto failing = broken.start_query(std::string("{}"));
    REQUIRE(failing.next().kind == operation_step::load_credentials);
    failing.load_credentials();
    auto done = failing.next();
    REQUIRE(done.kind == operation_step::done);
    REQUIRE_FALSE(*done.outcome);
    CHECK(contains(done.outcome->error().message, "the vault is sealed"));
}

TEST_CASE("a token supplier is called in the credential step, not inside next()") {
    manual_clock clock;
    client_config c = configured();
    c.auth = token_path::supplied;
    int calls = 0;
    c.supply_token = [&]() -> result<supplied_token> {
        ++calls;
        return supplied_token{secret_string("supplied-token"), std::chrono::system_clock::now() + 1h};
    };
    rotating_source secrets;
    basic_client<poll_traits> client(c, no_transport{}, clock, secrets.source());
    auto op = client.start_query(std::string("{}"));
    REQUIRE(op.next().kind == operation_step::load_credentials);
    CHECK(calls == 0);
    op.load_credentials();
    CHECK(calls == 1);
    auto send = op.next();
    REQUIRE(send.kind == operation_step::send);
    CHECK(send.request->headers.get("Authorization") == "Bearer supplied-token");
}

// ---------------------------------------------------------------- token federation

namespace {

credentials federated(std::string auth_type, std::string client_id = "sp-application-id") {
    credentials c;
    c.host = host;
    c.client_id = std::move(client_id);
    c.auth_type = std::move(auth_type);
    return c;
}

// The federation exchange answers with workspace tokens w1, w2...; the jwt-bearer exchange
// with endpoint tokens e1, e2...; the invocation with 200.
struct federation_service {
    testing::script replies;
    std::shared_ptr<std::vector<std::string>> subjects = std::make_shared<std::vector<std::string>>();

    federation_service() {
        auto workspace = std::make_shared<int>(0), endpoint = std::make_shared<int>(0);
        auto subjects_seen = subjects;
        replies.on("/oidc/v1/token").respond([=](const http_request& r) -> result<http_response> {
            const std::string grant = form_value(r.body, "grant_type");
            if (grant == form_urlencode("urn:ietf:params:oauth:grant-type:token-exchange")) {
                subjects_seen->push_back(form_value(r.body, "subject_token"));
                return testing::token_reply("w" + std::to_string(++*workspace), 3600);
            }
            if (grant == form_urlencode("urn:ietf:params:oauth:grant-type:jwt-bearer"))
                return testing::token_reply("e" + std::to_string(++*endpoint), 3600);
            return testing::oauth_error_reply(400, "unsupported_grant_type", "unexpected grant");
        });
        replies.on("/invocations").always(testing::json_response(200, R"({"predictions":[1]})"));
    }
};

}  // namespace

TEST_CASE("env-oidc: the JWT is exchanged (RFC 8693) for a workspace token, then jwt-bearer for the endpoint") {
    manual_clock clock;
    federation_service service;
    credentials c = federated("env-oidc");
    c.oidc_token = secret_string(jwt_one);
    basic_client<blocking_traits> client(configured(), testing::fake_transport(service.replies), clock,
                                         callback_secret_source{[c] { return result<credentials>(c); }});
    auto r = client.query(std::string("{}"));
    REQUIRE(r);
    const auto sent = service.replies.requests();
    REQUIRE(sent.size() == 3);
    CHECK(sent[0].url == token_endpoint);
    CHECK(sent[0].headers.get("Authorization") == "");  // the JWT is the credential
    CHECK(form_value(sent[0].body, "grant_type") == form_urlencode("urn:ietf:params:oauth:grant-type:token-exchange"));
    CHECK(form_value(sent[0].body, "subject_token") == jwt_one);
    CHECK(form_value(sent[0].body, "subject_token_type") == form_urlencode("urn:ietf:params:oauth:token-type:jwt"));
    CHECK(form_value(sent[0].body, "scope") == "all-apis");
    CHECK(form_value(sent[0].body, "client_id") == "sp-application-id");
    CHECK(form_value(sent[1].body, "assertion") == "w1");
    CHECK(contains(form_value(sent[1].body, "authorization_details"), "abc123"));
    CHECK(sent[2].headers.get("Authorization") == "Bearer e1");
}

TEST_CASE("an account-wide federation policy: no client_id in the exchange") {
    manual_clock clock;
    federation_service service;
    credentials c = federated("env-oidc", "");
    c.oidc_token = secret_string(jwt_one);
    basic_client<blocking_traits> client(configured(), testing::fake_transport(service.replies), clock,
                                         callback_secret_source{[c] { return result<credentials>(c); }});
    REQUIRE(client.query(std::string("{}")));
    CHECK(form_value(service.replies.requests()[0].body, "client_id") == "(absent)");
}

TEST_CASE("file-oidc: the file is read at each exchange, in the credential step, so a rewritten JWT is used") {
    manual_clock clock;
    federation_service service;
    temp_file file("file-oidc");
    credentials c = federated("file-oidc");
    c.oidc_token_filepath = file.path;
    testing::fake_transport network(service.replies);
    basic_client<poll_traits> client(configured(), no_transport{}, clock,
                                     callback_secret_source{[c] { return result<credentials>(c); }});
    REQUIRE(client.load_credentials());
    auto run = [&] {
        auto op = client.start_query(std::string("{}"));
        for (int guard = 0; guard < 20; ++guard) {
            auto step = op.next();
            if (step.kind == operation_step::load_credentials) {
                // Written only now: had next() read the file, it would have found none.
                static int round = 0;
                file.write(++round == 1 ? std::string(jwt_one) + "\n" : std::string(jwt_two));
                op.load_credentials();
            } else if (step.kind == operation_step::send) {
                op.on_response(step.request_id, network.send(*step.request, step.options()));
            } else {
                REQUIRE(step.kind == operation_step::done);
                return std::move(*step.outcome);
            }
        }
        return result<query_response>(unexpected(errc::cancelled, "did not finish"));
    };
    REQUIRE(run());
    std::remove(file.path.c_str());
    clock.advance(2h);  // both tokens expired: a new exchange
    REQUIRE(run());
    REQUIRE(service.subjects->size() == 2);
    CHECK((*service.subjects)[0] == jwt_one);
    CHECK((*service.subjects)[1] == jwt_two);
}

TEST_CASE("file-oidc: a missing token file is a configuration error naming the file") {
    manual_clock clock;
    federation_service service;
    credentials c = federated("file-oidc");
    c.oidc_token_filepath = "/nonexistent/dbserve/token";
    basic_client<blocking_traits> client(configured(), testing::fake_transport(service.replies), clock,
                                         callback_secret_source{[c] { return result<credentials>(c); }});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::configuration);
    CHECK(contains(r.error().message, "/nonexistent/dbserve/token"));
    CHECK(service.replies.request_count() == 0);
}

TEST_CASE("github-oidc: the ID token is requested with the audience, then exchanged") {
    manual_clock clock;
    federation_service service;
    service.replies.on("https://pipelines.actions.example/idtoken")
        .respond([](const http_request&) -> result<http_response> {
            return testing::json_response(200, std::string(R"({"count":1,"value":")") + jwt_two + "\"}");
        });
    credentials c = federated("github-oidc");
    c.actions_id_token_request_url = "https://pipelines.actions.example/idtoken?api-version=2.0";
    c.actions_id_token_request_token = secret_string("actions-request-token");
    basic_client<blocking_traits> client(configured(), testing::fake_transport(service.replies), clock,
                                         callback_secret_source{[c] { return result<credentials>(c); }});
    REQUIRE(client.query(std::string("{}")));
    const auto sent = service.replies.requests();
    REQUIRE(sent.size() == 4);
    CHECK(sent[0].method == http_method::get);
    // No account id or DATABRICKS_TOKEN_AUDIENCE: the token endpoint URL is the audience.
    CHECK(sent[0].url == "https://pipelines.actions.example/idtoken?api-version=2.0&audience=" +
                             form_urlencode(token_endpoint));
    CHECK(sent[0].headers.get("Authorization") == "Bearer actions-request-token");
    CHECK(form_value(sent[1].body, "subject_token") == jwt_two);
    CHECK(client.statistics().identity_token_requests == 1);
}

TEST_CASE("the audience: DATABRICKS_TOKEN_AUDIENCE, else the account id, else the token endpoint") {
    credentials c;
    CHECK(federation_audience(c, token_endpoint) == token_endpoint);
    c.account_id = "acct-1";
    CHECK(federation_audience(c, token_endpoint) == "acct-1");
    c.token_audience = "custom";
    CHECK(federation_audience(c, token_endpoint) == "custom");
}

TEST_CASE("a refused federation shows the token endpoint's error and never the JWT") {
    manual_clock clock;
    testing::script replies;
    replies.on("/oidc/v1/token").always(testing::oauth_error_reply(
        401, "invalid_client", std::string("Token audience mismatch for ") + jwt_one));
    credentials c = federated("env-oidc");
    c.oidc_token = secret_string(jwt_one);
    basic_client<blocking_traits> client(configured(), testing::fake_transport(replies), clock,
                                         callback_secret_source{[c] { return result<credentials>(c); }});
    auto r = client.query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::authentication);
    CHECK(contains(r.error().message, "Token audience mismatch"));
    CHECK(contains(r.error().message, "token federation"));
    CHECK_FALSE(contains(r.error().to_string(), jwt_one));
    CHECK_FALSE(contains(r.error().to_string(), "c2lnbmF0dXJlLW9uZQ"));
}

TEST_CASE("a federated sign-in without its JWT source says which variable to set") {
    auto message = [](credentials c) {
        auto m = select_credential_method(c);
        REQUIRE_FALSE(m);
        return m.error().message;
    };
    CHECK(contains(message(federated("env-oidc")), "DATABRICKS_OIDC_TOKEN"));
    CHECK(contains(message(federated("file-oidc")), "DATABRICKS_OIDC_TOKEN_FILEPATH"));
    CHECK(contains(message(federated("github-oidc")), "ACTIONS_ID_TOKEN_REQUEST_URL"));
    credentials ok = federated("env-oidc", "");
    ok.oidc_token = secret_string(jwt_one);
    REQUIRE(select_credential_method(ok));
    CHECK(*select_credential_method(ok) == credential_method::token_federation);
}

TEST_CASE("the environment source reads the federation variables, DATABRICKS_OIDC_TOKEN_ENV naming the JWT's") {
    std::map<std::string, std::string> env{{"DATABRICKS_AUTH_TYPE", "env-oidc"},
                                           {"DATABRICKS_OIDC_TOKEN_ENV", "MY_IDP_TOKEN"},
                                           {"MY_IDP_TOKEN", jwt_two},
                                           {"DATABRICKS_OIDC_TOKEN", jwt_one},
                                           {"DATABRICKS_OIDC_TOKEN_FILEPATH", "/var/run/token"},
                                           {"DATABRICKS_TOKEN_AUDIENCE", "aud"},
                                           {"DATABRICKS_ACCOUNT_ID", "acct"},
                                           {"ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/x"},
                                           {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-token"}};
    environment_secret_source source{[&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    }};
    auto c = source.load();
    REQUIRE(c);
    CHECK(c->oidc_token.reveal() == jwt_two);
    CHECK(c->oidc_token_filepath == "/var/run/token");
    CHECK(c->token_audience == "aud");
    CHECK(c->account_id == "acct");
    CHECK(c->actions_id_token_request_url == "https://gh.example/x");
    CHECK(c->actions_id_token_request_token.reveal() == "gh-token");
    env.erase("DATABRICKS_OIDC_TOKEN_ENV");
    CHECK(source.load()->oidc_token.reveal() == jwt_one);
    CHECK_FALSE(contains(describe(*c), jwt_two));
    CHECK_FALSE(contains(describe(*c), "gh-token"));
}

TEST_CASE("a profile's federation keys: oidc_token_filepath, token_audience, account_id, oidc_token_env") {
    std::error_code ec;
    const auto path = (std::filesystem::temp_directory_path(ec) /
                       ("dbserve-credential-lifecycle-" + std::to_string(std::random_device{}()) + ".cfg"))
                          .string();
    std::ofstream(path) << "[__settings__]\ndefault_profile = ci\n[ci]\nhost = " << host
                        << "\nauth_type = env-oidc\noidc_token_env = CI_JWT\noidc_token_filepath = /run/jwt\n"
                           "token_audience = aud-1\naccount_id = acct-1\n";
    std::map<std::string, std::string> env{{"CI_JWT", jwt_one}};
    profile_file_secret_source source{path, "", [&](const char* name) -> const char* {
                                          auto it = env.find(name);
                                          return it == env.end() ? nullptr : it->second.c_str();
                                      }};
    auto c = source.load();
    std::remove(path.c_str());
    REQUIRE(c);
    CHECK(c->auth_type == "env-oidc");
    CHECK(c->oidc_token.reveal() == jwt_one);
    CHECK(c->oidc_token_filepath == "/run/jwt");
    CHECK(c->token_audience == "aud-1");
    CHECK(c->account_id == "acct-1");
}

TEST_CASE("a poll operation reads the profile file in the credential step only: the file written after next() is used") {
    struct profile_poll_traits {
        using transport = no_transport;
        using clock = manual_clock;
        using secret_source = profile_file_secret_source;
    };
    temp_file profile("databrickscfg");
    manual_clock clock;
    basic_client<profile_poll_traits> client(configured(), no_transport{}, clock,
                                             profile_file_secret_source{profile.path, "", [](const char*) -> const char* {
                                                                            return nullptr;
                                                                        }});
    auto op = client.start_query(std::string("{}"));
    REQUIRE(op.next().kind == operation_step::load_credentials);
    // Written only now: had next() read the profile, it would have found no file and failed.
    profile.write(std::string("[DEFAULT]\nhost = ") + host + "\nclient_id = file-client\nclient_secret = file-secret\n");
    op.load_credentials();
    auto token = op.next();
    REQUIRE(token.kind == operation_step::send);
    CHECK(token.request->headers.get("Authorization") == basic_authorization("file-client", "file-secret"));
    // Later operations find the credentials loaded: no step, no read.
    std::remove(profile.path.c_str());
    auto second = client.start_query(std::string("{}"));
    CHECK(second.next().kind != operation_step::load_credentials);
    CHECK(client.statistics().credential_loads == 1);
}
