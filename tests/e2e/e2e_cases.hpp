// The end-to-end test cases, written once and compiled once per adapter: the including file
// defines `e2e::kit` (its blocking and asynchronous transports and how to run the latter)
// and doctest's main. Test suites: matrix, lifetime, faults, peers, credentials (one CTest
// test each).
#pragma once

#include "e2e_fixture.hpp"

#include <dbserve/client/client.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/token_response.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace e2e {

using sync_client =
    dbserve::basic_client<dbserve::traits_for<typename kit::blocking, shifted_clock, dbserve::static_secret_source>>;
using async_client =
    dbserve::basic_client<dbserve::traits_for<typename kit::async, shifted_clock, dbserve::static_secret_source>>;
using query_result = dbserve::result<dbserve::query_response>;

// Predicts [3, 7] on the emulator's sum-model.
constexpr const char* sum_body = R"({"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4]]}})";

// No query may take longer than this, whatever the library or a server does.
constexpr auto query_deadline = 60s;

inline std::string describe(const query_result& r) {
    if (!r) return r.error().to_string();
    return "HTTP " + std::to_string(r->status) + " " + std::string(r->body());
}

inline bool predicts_sum(const query_result& r) {
    return r && r->status == 200 && r->json() == json::parse(R"({"predictions":[3,7]})");
}

// Runs one asynchronous query and waits for its handler; a handler that never comes ends
// the program (a failure, never a hang), taking the children with it.
template <class Client>
query_result wait_async(Client& client, std::string body = sum_body, dbserve::query_options options = {}) {
    auto promise = std::make_shared<std::promise<query_result>>();
    auto future = promise->get_future();
    client.async_query(
        std::move(body), [promise](query_result r) { promise->set_value(std::move(r)); }, std::move(options));
    if (future.wait_for(query_deadline) != std::future_status::ready) {
        std::fprintf(stderr, "FATAL: an asynchronous query got no answer within %lld s\n",
                     static_cast<long long>(query_deadline.count()));
        std::_Exit(3);
    }
    return future.get();
}

// Admin API calls (not faulted, not counted) over the adapter's blocking transport.
class admin_api {
public:
    explicit admin_api(const emulator& emu) : url_(emu.process.admin_url()), transport_(emu.transport_options()) {}

    json get(const std::string& path) { return call(dbserve::http_method::get, path, {}); }
    json post(const std::string& path, const json& body) { return call(dbserve::http_method::post, path, body.dump()); }
    json counters() { return get("/counters"); }
    void fault(const json& spec) { post("/faults", spec); }
    // Moves the emulator's clock and then the client's forward by `step`, in that order, so
    // a token the client fetches afterwards expires at the same instant for both.
    void advance_clock(const shifted_clock& client_clock, std::chrono::seconds step) {
        post("/config", json{{"advance_clock_seconds", step.count()}});
        client_clock.advance(step);
    }

private:
    json call(dbserve::http_method method, const std::string& path, std::string body) {
        dbserve::http_request request;
        request.method = method;
        request.url = url_ + path;
        if (method == dbserve::http_method::post) {
            request.body = std::move(body);
            request.headers.add_unchecked("Content-Type", "application/json");
        }
        dbserve::send_options options;
        options.timeout = 10s;
        auto response = transport_.send(request, options);
        if (!response) throw std::runtime_error("admin " + path + ": " + response.error().to_string());
        if (response->status != 200)
            throw std::runtime_error("admin " + path + ": HTTP " + std::to_string(response->status) + " " + response->body);
        return json::parse(response->body);
    }
    std::string url_;
    typename kit::blocking transport_;
};

inline std::int64_t count(const json& counters, const char* group, const char* key = nullptr) {
    const json* node = &counters;
    auto it = node->find(group);
    if (it == node->end()) return 0;
    node = &*it;
    if (key) {
        it = node->find(key);
        if (it == node->end()) return 0;
        node = &*it;
    }
    return node->is_number() ? node->get<std::int64_t>() : 0;
}

// ------------------------------------------------------------------ the three ways to a token

enum class way { client_credentials, token_exchange, supplied };

inline const char* to_string(way w) {
    switch (w) {
        case way::client_credentials: return "client credentials with authorization_details";
        case way::token_exchange: return "jwt-bearer token exchange after discovery";
        case way::supplied: return "token supplied from outside";
    }
    return "?";
}

// A token broker standing outside the client: fetches an endpoint-scoped token from the
// emulator by itself and hands it over with its expiry.
inline dbserve::token_supplier outside_broker(const emulator& emu, std::shared_ptr<std::atomic<int>> calls) {
    auto transport = std::make_shared<typename kit::blocking>(emu.transport_options());
    const auto principal = emu.principal();
    const std::string token_url = emu.info().at("token_url").get<std::string>();
    const std::string details = emu.endpoint("sum-model").at("authorization_details").get<std::string>();
    return [transport, principal, token_url, details, calls]() -> dbserve::result<dbserve::supplied_token> {
        ++*calls;
        dbserve::http_request request;
        request.method = dbserve::http_method::post;
        request.url = token_url;
        request.headers.add_unchecked("Content-Type", "application/x-www-form-urlencoded");
        request.headers.add_unchecked("Authorization", dbserve::basic_authorization(
                                                           principal.client_id, principal.client_secret.reveal()));
        request.body = client_credentials_body(details);
        dbserve::send_options options;
        options.timeout = 10s;
        auto response = transport->send(request, options);
        if (!response) return std::move(response).error();
        auto token = dbserve::parse_token_response(*response);
        if (!token) return std::move(token).error();
        return dbserve::supplied_token{token->access_token, std::chrono::system_clock::now() + token->expires_in};
    };
}

inline dbserve::client_config config_for(const emulator& emu, way w, std::shared_ptr<std::atomic<int>> broker_calls = {}) {
    dbserve::client_config config;
    config.host = emu.workspace_url();
    config.timeout = 20s;
    config.retry.initial_backoff = 100ms;
    config.retry.max_backoff = 1s;
    switch (w) {
        case way::client_credentials:
            config.url = emu.url("sum-model");
            config.auth = dbserve::token_path::client_credentials;
            break;
        case way::token_exchange:
            config.endpoint_name = "sum-model";
            config.auth = dbserve::token_path::token_exchange;
            break;
        case way::supplied:
            config.url = emu.url("sum-model");
            config.auth = dbserve::token_path::supplied;
            config.supply_token = outside_broker(emu, broker_calls ? broker_calls : std::make_shared<std::atomic<int>>(0));
            break;
    }
    return config;
}

inline sync_client make_sync(const emulator& emu, dbserve::client_config config, const std::string& principal = "sp-main",
                             shifted_clock clock = {}) {
    return sync_client(std::move(config), typename kit::blocking(emu.transport_options()), std::move(clock),
                       dbserve::static_secret_source{emu.principal(principal)});
}

// An asynchronous client with what runs its transport; the runtime outlives the client.
struct async_setup {
    typename kit::async_runtime runtime;
    std::unique_ptr<async_client> client;

    async_setup(const dbserve::transport_options& options, dbserve::client_config config, dbserve::credentials credentials,
                shifted_clock clock = {}) {
        client = std::make_unique<async_client>(std::move(config), runtime.make(options), std::move(clock),
                                                dbserve::static_secret_source{std::move(credentials)});
        runtime.start(*client);
    }
    async_setup(const emulator& emu, dbserve::client_config config, const std::string& principal = "sp-main",
                shifted_clock clock = {})
        : async_setup(emu.transport_options(), std::move(config), emu.principal(principal), std::move(clock)) {}
    ~async_setup() {
        runtime.stop(*client);
        client.reset();
    }
};

// What the emulator must have seen for `queries` successful queries by one client.
inline void check_token_traffic(way w, const json& counters, const dbserve::client_statistics& stats, int broker_calls) {
    CHECK(count(counters, "token_requests", "total") == count(counters, "token_responses", "200"));
    switch (w) {
        case way::client_credentials:
            CHECK(count(counters, "token_requests", "client_credentials") == 1);
            CHECK(count(counters, "token_requests", "jwt-bearer") == 0);
            CHECK(count(counters, "discovery_requests") == 0);
            CHECK(stats.token_requests == 1);
            CHECK(stats.discoveries == 0);
            break;
        case way::token_exchange:
            CHECK(count(counters, "token_requests", "client_credentials") == 1);  // the control-plane token
            CHECK(count(counters, "token_requests", "jwt-bearer") == 1);
            CHECK(count(counters, "discovery_requests") == 1);
            CHECK(count(counters, "tokens_issued", "control_plane") == 1);
            CHECK(stats.token_requests == 2);
            CHECK(stats.control_plane_token_requests == 1);
            CHECK(stats.discoveries == 1);
            break;
        case way::supplied:
            CHECK(broker_calls == 1);
            CHECK(stats.supplied_token_calls == 1);
            CHECK(stats.token_requests == 0);
            CHECK(count(counters, "token_requests", "client_credentials") == 1);  // the broker's
            CHECK(count(counters, "discovery_requests") == 0);
            break;
    }
    CHECK(count(counters, "tokens_issued", "data_plane") == 1);
}

TEST_SUITE("matrix") {
TEST_CASE("every way to a token works with the blocking and the asynchronous driver over TLS") {
    for (way w : {way::client_credentials, way::token_exchange, way::supplied}) {
        for (bool asynchronous : {false, true}) {
            CAPTURE(to_string(w));
            CAPTURE(asynchronous);
            emulator emu;
            admin_api admin(emu);
            auto broker_calls = std::make_shared<std::atomic<int>>(0);
            auto config = config_for(emu, w, broker_calls);
            constexpr int queries = 4;
            dbserve::client_statistics stats;
            if (!asynchronous) {
                auto client = make_sync(emu, std::move(config));
                for (int i = 0; i < queries; ++i) {
                    auto r = client.query(std::string(sum_body));
                    CHECK_MESSAGE(predicts_sum(r), describe(r));
                    if (r) CHECK(r->served_model_name == "sum-v1");
                    if (r) CHECK_FALSE(r->request_id.empty());
                }
                stats = client.statistics();
            } else {
                async_setup setup(emu, std::move(config));
                // The first query alone (one token fetch), then the rest at once: they share it.
                auto first = wait_async(*setup.client);
                CHECK_MESSAGE(predicts_sum(first), describe(first));
                std::vector<std::future<query_result>> rest;
                for (int i = 1; i < queries; ++i)
                    rest.push_back(std::async(std::launch::async, [&] { return wait_async(*setup.client); }));
                for (auto& f : rest) {
                    auto r = f.get();
                    CHECK_MESSAGE(predicts_sum(r), describe(r));
                }
                stats = setup.client->statistics();
            }
            const json counters = admin.counters();
            CHECK(stats.queries_succeeded == queries);
            CHECK(stats.queries_failed == 0);
            CHECK(count(counters, "invocations", "200") == queries);
            CHECK(count(counters, "invocations_total") == queries);
            check_token_traffic(w, counters, stats, broker_calls->load());
        }
    }
}

TEST_CASE("the client trusts only the CA it is given, whatever SSL_CERT_FILE and SSL_CERT_DIR say") {
    emulator emu;
    // Another test CA, valid but not the emulator's; the environment names the right one.
    const std::string dir = make_work_dir(std::string(kit::name) + "-other-ca");
    const auto other = make_certificates(dir, "adb-1.2.azuredatabricks.net");
    ::setenv("SSL_CERT_FILE", emu.ca_file().c_str(), 1);
    ::setenv("CURL_CA_BUNDLE", emu.ca_file().c_str(), 1);
    auto options = emu.transport_options();
    options.tls.ca_file = other.ca_file;
    sync_client client(config_for(emu, way::client_credentials), typename kit::blocking(options), {},
                       dbserve::static_secret_source{emu.principal()});
    auto r = client.query(std::string(sum_body));
    isolate_environment();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::tls);
}
}  // TEST_SUITE matrix

// ------------------------------------------------------------------ token lifetime under load

TEST_SUITE("lifetime") {
// Tokens live 600 s; with stale_window 300 s each one is fresh for 300 s, then refreshed once
// in the background while still served. Time is the emulator's and the client's clock moved
// forward together (shifted_clock), never the machine's: each round, `threads` workers query
// until the client holds a fresh token again and each has had `per_round` answers, then stop;
// both clocks jump 300 s, which makes the token stale; the next round's concurrent queries
// must all succeed on it while exactly one of them starts the refresh. So after `rounds`
// jumps the token endpoint has seen exactly 1 + rounds requests, whatever the machine's speed.
TEST_CASE("several threads of continuous queries across token refreshes: no failure, one token request per refresh") {
    constexpr int ttl_seconds = 600;
    constexpr auto fresh_for = 300s;
    constexpr int threads = 4;
    constexpr int rounds = 3;
    constexpr int per_round = 3;
    // A client that never refreshes would keep the workers going forever: this many answers
    // per worker and round end the round anyway, and the checks below fail.
    constexpr int round_limit = 2000;
    for (bool asynchronous : {false, true}) {
        CAPTURE(asynchronous);
        emulator emu({"--token-lifetime", std::to_string(ttl_seconds), "--threads", "2"});
        admin_api admin(emu);
        auto config = config_for(emu, way::client_credentials);
        config.lifecycle.stale_window = fresh_for;
        shifted_clock clock;
        std::atomic<int> succeeded{0}, failed{0};
        std::mutex first_error_mutex;
        std::string first_error;
        auto note = [&](const query_result& r) {
            if (predicts_sum(r)) {
                ++succeeded;
                return;
            }
            ++failed;
            std::lock_guard<std::mutex> lock(first_error_mutex);
            if (first_error.empty()) first_error = describe(r);
        };
        std::vector<std::int64_t> token_requests_after_round;
        dbserve::client_statistics stats;
        // A worker's round is over once it has its answers and the client's token is fresh.
        auto round_over = [&](auto& client, int answers) {
            return answers >= round_limit ||
                   (answers >= per_round && client.data_token_state() == dbserve::token_state::fresh);
        };
        auto run_rounds = [&](auto& client, auto&& run_one_round) {
            for (int round = 0; round <= rounds; ++round) {
                if (round > 0) {
                    REQUIRE(client.data_token_state() == dbserve::token_state::fresh);
                    admin.advance_clock(clock, fresh_for);
                    REQUIRE(client.data_token_state() == dbserve::token_state::stale);
                }
                run_one_round();
                token_requests_after_round.push_back(count(admin.counters(), "token_requests", "client_credentials"));
            }
            stats = client.statistics();
        };
        if (!asynchronous) {
            auto client = make_sync(emu, std::move(config), "sp-main", clock);
            run_rounds(client, [&] {
                std::vector<std::thread> workers;
                for (int t = 0; t < threads; ++t)
                    workers.emplace_back([&] {
                        for (int answers = 0; !round_over(client, answers); ++answers)
                            note(client.query(std::string(sum_body)));
                    });
                for (auto& w : workers) w.join();
            });
        } else {
            async_setup setup(emu, std::move(config), "sp-main", clock);
            auto& client = *setup.client;
            run_rounds(client, [&] {
                // `threads` chains: each handler starts the chain's next query until its
                // round is over; the last chain to finish ends the round.
                auto done = std::make_shared<std::promise<void>>();
                auto chains_left = std::make_shared<std::atomic<int>>(threads);
                struct chain_state {
                    std::function<void()> next;
                    int answers = 0;
                };
                std::vector<std::shared_ptr<chain_state>> chains;
                for (int t = 0; t < threads; ++t) {
                    auto chain = std::make_shared<chain_state>();
                    chain->next = [&, done, chains_left, weak = std::weak_ptr<chain_state>(chain)] {
                        client.async_query(std::string(sum_body), [&, done, chains_left, weak](query_result r) {
                            note(r);
                            auto self = weak.lock();
                            if (self && !round_over(client, ++self->answers)) {
                                self->next();
                            } else if (--*chains_left == 0) {
                                done->set_value();
                            }
                        });
                    };
                    chains.push_back(chain);
                }
                for (auto& chain : chains) chain->next();
                if (done->get_future().wait_for(query_deadline * per_round) != std::future_status::ready) {
                    std::fprintf(stderr, "FATAL: asynchronous query chains did not finish\n");
                    std::_Exit(3);
                }
            });
        }
        const json counters = admin.counters();
        const auto counted = count(counters, "token_requests", "client_credentials");
        std::ostringstream report;
        report << kit::name << (asynchronous ? " async" : " blocking") << ", " << threads << " in flight: "
               << succeeded.load() << " queries over " << rounds << " refreshes; token requests after each round:";
        for (auto n : token_requests_after_round) report << ' ' << n;
        report << ", by the client " << stats.token_requests;
        MESSAGE(report.str());
        CHECK_MESSAGE(failed.load() == 0, first_error);
        CHECK(succeeded.load() >= threads * per_round * (rounds + 1));
        for (int round = 0; round <= rounds; ++round) {
            CAPTURE(round);
            CHECK(token_requests_after_round.at(static_cast<std::size_t>(round)) == 1 + round);
        }
        CHECK(count(counters, "invocations", "200") == succeeded.load());
        CHECK(count(counters, "invocations", "401") == 0);
        CHECK(counted == static_cast<std::int64_t>(stats.token_requests));
        CHECK(count(counters, "tokens_issued", "data_plane") == counted);
        CHECK(stats.queries_failed == 0);
    }
}

// One workspace, three endpoints discovered by name (a custom model, a chat model queried
// as a stream, an embeddings model), all through the token exchange: one workspace token
// shared by the discoveries and exchanges, one data-plane token per endpoint. Time moves
// as in the test above: each round the queries run until every endpoint holds a fresh
// token again, then both clocks jump past the stale point of every token. So after
// `rounds` jumps the emulator has seen exactly 1 + rounds workspace tokens, 1 + rounds
// exchanges per endpoint and 3 discoveries, whatever the machine's speed. Run by 8 threads
// on blocking handles, and by one poll loop (query_group) on one thread over the
// asynchronous transport.
namespace workspace_run {
using sync_workspace =
    dbserve::basic_workspace<dbserve::traits_for<typename kit::blocking, shifted_clock, dbserve::static_secret_source>>;
using async_workspace =
    dbserve::basic_workspace<dbserve::traits_for<typename kit::async, shifted_clock, dbserve::static_secret_source>>;
constexpr int rounds = 3;
constexpr int per_round = 3;        // answers per worker (or per endpoint in the poll loop) and round
constexpr int round_limit = 2000;   // a client that never refreshes ends the round here, and fails below
const std::string chat_body = R"({"messages":[{"role":"user","content":"one two three"}]})";
const std::string embed_body = R"({"input":["a","bc"]})";

inline dbserve::workspace_config settings(const emulator& emu) {
    dbserve::workspace_config config;
    config.host = emu.workspace_url();
    config.timeout = 20s;
    config.auth = dbserve::token_path::token_exchange;
    config.lifecycle.stale_window = 300s;
    config.retry.initial_backoff = 100ms;
    return config;
}

inline bool answered(const query_result& r) { return r && r->status == 200; }

// What the emulator and the workspace must have seen.
inline void check_traffic(const json& counters, const dbserve::client_statistics& stats, int failed,
                          const std::string& first_error) {
    CHECK_MESSAGE(failed == 0, first_error);
    CHECK(count(counters, "token_requests", "client_credentials") == 1 + rounds);  // the workspace token
    CHECK(count(counters, "token_requests", "jwt-bearer") == 3 * (1 + rounds));   // per endpoint and round
    CHECK(count(counters, "discovery_requests") == 3);
    CHECK(stats.control_plane_token_requests == 1 + rounds);
    CHECK(stats.token_requests == 4 * (1 + rounds));
    CHECK(stats.discoveries == 3);
    CHECK(stats.queries_failed == 0);
    CHECK(count(counters, "invocations", "401") == 0);
}
}  // namespace workspace_run

TEST_CASE("one workspace, three endpoints, 8 threads across token refreshes: one workspace token per refresh, one "
          "discovery and one exchange per endpoint and refresh") {
    using namespace workspace_run;
    emulator emu({"--token-lifetime", "600", "--threads", "2"});
    admin_api admin(emu);
    shifted_clock clock;
    sync_workspace workspace(settings(emu), typename kit::blocking(emu.transport_options()), clock,
                             dbserve::static_secret_source{emu.principal("sp-main")});
    auto model = workspace.endpoint("sum-model");
    auto chat = workspace.endpoint("chat-model");
    auto embed = workspace.endpoint("embeddings-model");
    auto all_fresh = [&] {
        for (auto* ep : {&model, &chat, &embed})
            if (ep->data_token_state() != dbserve::token_state::fresh) return false;
        return true;
    };
    std::atomic<int> succeeded{0}, failed{0};
    std::mutex error_mutex;
    std::string first_error;
    auto note = [&](bool ok, const std::string& what) {
        if (ok) {
            ++succeeded;
            return;
        }
        ++failed;
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.empty()) first_error = what;
    };
    for (int round = 0; round <= rounds; ++round) {
        if (round > 0) {
            REQUIRE(all_fresh());
            admin.advance_clock(clock, 300s);
            REQUIRE(model.data_token_state() == dbserve::token_state::stale);
        }
        std::vector<std::thread> workers;
        for (int t = 0; t < 8; ++t)
            workers.emplace_back([&, t] {
                for (int answers = 0; answers < round_limit && (answers < per_round || !all_fresh()); ++answers) {
                    switch ((t + answers) % 3) {
                        case 0: {
                            auto r = model.query(std::string(sum_body));
                            note(predicts_sum(r), describe(r));
                            break;
                        }
                        case 1: {
                            auto r = chat.stream(chat_body, [](const dbserve::chat_chunk&) {});
                            note(r && r->summary.content == "Echo: one two three",
                                 r ? std::string(r->response.body()) : r.error().to_string());
                            break;
                        }
                        default: {
                            auto r = embed.query(embed_body);
                            note(answered(r), describe(r));
                            break;
                        }
                    }
                }
            });
        for (auto& w : workers) w.join();
    }
    MESSAGE(std::string(kit::name) << ": " << succeeded.load() << " queries on three endpoints over " << rounds << " refreshes");
    CHECK(succeeded.load() >= 8 * per_round * (rounds + 1));
    check_traffic(admin.counters(), workspace.statistics(), failed.load(), first_error);
    CHECK(model.statistics().invocations + chat.statistics().invocations + embed.statistics().invocations ==
          workspace.statistics().invocations);
    CHECK(chat.statistics().discoveries == 1);
}

TEST_CASE("one workspace, three endpoints, one poll loop on one thread (query_group) across token refreshes") {
    using namespace workspace_run;
    emulator emu({"--token-lifetime", "600", "--threads", "2"});
    admin_api admin(emu);
    shifted_clock clock;
    typename kit::async_runtime runtime;
    auto workspace = std::make_unique<async_workspace>(settings(emu), runtime.make(emu.transport_options()), clock,
                                                       dbserve::static_secret_source{emu.principal("sp-main")});
    runtime.start(*workspace);
    auto model = workspace->endpoint("sum-model");
    auto chat = workspace->endpoint("chat-model");
    auto embed = workspace->endpoint("embeddings-model");

    // What the transport's threads deliver, handed to the loop's thread through a queue:
    // only the loop touches the group and its operations.
    struct delivery {
        dbserve::query_group::key_type key;
        std::uint64_t id;
        std::optional<dbserve::result<dbserve::http_response>> response;  // else a streamed piece:
        dbserve::http_response head;
        std::string bytes;
    };
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<delivery> inbox;
    auto post = [&](delivery d) {
        std::lock_guard<std::mutex> lock(mutex);
        inbox.push_back(std::move(d));
        arrived.notify_one();
    };

    dbserve::query_group group;
    enum class kind { model, chat, embed };
    std::map<dbserve::query_group::key_type, kind> kinds;
    auto start = [&](kind k) {
        switch (k) {
            case kind::model: kinds[group.add(model.start_query(std::string(sum_body)))] = k; break;
            case kind::chat: kinds[group.add(chat.start_stream(chat_body))] = k; break;
            case kind::embed: kinds[group.add(embed.start_query(embed_body))] = k; break;
        }
    };
    auto all_fresh = [&] {
        for (auto* ep : {&model, &chat, &embed})
            if (ep->data_token_state() != dbserve::token_state::fresh) return false;
        return true;
    };
    int succeeded = 0, failed = 0;
    std::string first_error;
    const auto give_up = std::chrono::steady_clock::now() + 120s;
    for (int round = 0; round <= rounds; ++round) {
        if (round > 0) {
            REQUIRE(all_fresh());
            admin.advance_clock(clock, 300s);
        }
        int answers = 0;
        // Three operations per endpoint in flight at once; each one done starts the next
        // until the round has its answers and every token is fresh again.
        for (int i = 0; i < 3; ++i)
            for (kind k : {kind::model, kind::chat, kind::embed}) start(k);
        while (!group.empty()) {
            REQUIRE(std::chrono::steady_clock::now() < give_up);
            while (auto s = group.next()) {
                if (s.step.kind == dbserve::operation_step::send) {
                    auto options = s.step.options();
                    const auto key = s.key;
                    const auto id = s.step.request_id;
                    if (s.step.streaming)
                        options.on_body_chunk = [&post, key, id](const dbserve::http_response& head, std::string_view b) {
                            post(delivery{key, id, std::nullopt, head, std::string(b)});
                        };
                    workspace->transport().async_send(*s.step.request, std::move(options),
                                                      [&post, key, id](dbserve::result<dbserve::http_response> r) {
                                                          post(delivery{key, id, std::move(r), {}, {}});
                                                      });
                } else if (s.step.kind == dbserve::operation_step::load_credentials) {
                    group.find(s.key)->load_credentials();  // a static source: nothing to wait for
                } else if (s.step.kind == dbserve::operation_step::done) {
                    const kind k = kinds.at(s.key);
                    kinds.erase(s.key);
                    auto& outcome = *s.step.outcome;
                    bool ok = k == kind::model ? predicts_sum(outcome) : answered(outcome);
                    if (ok && k == kind::chat) ok = group.find(s.key)->summary().content == "Echo: one two three";
                    if (ok) ++succeeded;
                    else if (++failed == 1) first_error = describe(outcome);
                    if (++answers < round_limit && (answers < 9 * per_round || !all_fresh())) start(k);
                }
            }
            std::unique_lock<std::mutex> lock(mutex);
            arrived.wait_for(lock, 50ms, [&] { return !inbox.empty(); });
            auto now = std::move(inbox);
            inbox.clear();
            lock.unlock();
            for (auto& d : now) {
                if (d.response) group.on_response(d.key, d.id, std::move(*d.response));
                else group.on_body_chunk(d.key, d.id, d.head, d.bytes);
            }
        }
    }
    MESSAGE(std::string(kit::name) << " poll loop: " << succeeded << " queries on three endpoints over " << rounds << " refreshes");
    CHECK(succeeded >= 9 * per_round * (rounds + 1));
    check_traffic(admin.counters(), workspace->statistics(), failed, first_error);
    runtime.stop(*workspace);
    workspace.reset();
    runtime.finish();
}
}  // TEST_SUITE lifetime

// ------------------------------------------------------------------ faults

TEST_SUITE("faults") {
TEST_CASE("429 with Retry-After in seconds: retried after the wait, then answered") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "invocations"}, {"status", 429}, {"retry_after", 1}, {"count", 2}});
    const auto start = std::chrono::steady_clock::now();
    auto r = client.query(std::string(sum_body));
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    CHECK(waited >= 1900ms);  // two Retry-After waits of 1 s: never less
    CHECK(client.statistics().retries == 2);
    const json counters = admin.counters();
    CHECK(count(counters, "invocations", "429") == 2);
    CHECK(count(counters, "invocations", "200") == 1);
}

TEST_CASE("429 with Retry-After as an HTTP date: retried once the date has passed (asynchronous driver)") {
    emulator emu;
    admin_api admin(emu);
    async_setup setup(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "invocations"}, {"status", 429}, {"retry_after_date_in", 2}, {"count", 1}});
    const auto start = std::chrono::steady_clock::now();
    auto r = wait_async(*setup.client);
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    CHECK(std::chrono::steady_clock::now() - start >= 500ms);  // a date 2 s ahead, at one-second resolution
    CHECK(setup.client->statistics().retries == 1);
    CHECK(count(admin.counters(), "invocations", "429") == 1);
}

TEST_CASE("too many 429s: a clear throttled error after the attempts the policy allows") {
    emulator emu;
    admin_api admin(emu);
    auto config = config_for(emu, way::client_credentials);
    config.retry.max_attempts = 3;
    auto client = make_sync(emu, std::move(config));
    admin.fault({{"route", "invocations"}, {"status", 429}, {"count", -1}});
    auto r = client.query(std::string(sum_body));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::throttled);
    CHECK(r.error().http_status == 429);
    CHECK(r.error().service_code == "REQUEST_LIMIT_EXCEEDED");
    CHECK_FALSE(r.error().request_id.empty());
    CHECK(count(admin.counters(), "invocations", "429") == 3);
}

TEST_CASE("503 is retried with backoff until it answers") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "invocations"}, {"status", 503}, {"count", 2}});
    auto r = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    CHECK(client.statistics().retries == 2);
    CHECK(count(admin.counters(), "invocations", "503") == 2);
}

TEST_CASE("500 is not retried: a clear service error with the service's code") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "invocations"}, {"status", 500}, {"count", 1}});
    auto r = client.query(std::string(sum_body));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::service);
    CHECK(r.error().http_status == 500);
    CHECK(r.error().service_code == "INTERNAL_ERROR");
    CHECK(client.statistics().retries == 0);
    CHECK(count(admin.counters(), "invocations_total") == 1);
    auto again = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(again), describe(again));
}

TEST_CASE("a slow answer within the deadline succeeds; past it the query times out and the POST is not repeated") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "invocations"}, {"kind", "delay"}, {"delay_ms", 300}, {"count", 1}});
    auto slow = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(slow), describe(slow));

    admin.fault({{"route", "invocations"}, {"kind", "delay"}, {"delay_ms", 3000}, {"count", 1}});
    dbserve::query_options options;
    options.timeout = 1000ms;
    const auto invocations_before = client.statistics().invocations;
    auto late = client.query(std::string(sum_body), options);
    REQUIRE_FALSE(late);
    CHECK(late.error().code == dbserve::errc::timeout);
    CHECK(late.error().request_may_have_been_processed);
    CHECK(client.statistics().invocations == invocations_before + 1);
}

TEST_CASE("a connection dropped before the request was read: lookups and token requests are repeated") {
    // Discovery (a GET) and token requests have no effect beyond their answer: safe to repeat.
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::token_exchange));
    admin.fault({{"route", "discovery"}, {"kind", "drop_before"}, {"count", 1}});
    admin.fault({{"route", "token"}, {"kind", "drop_before"}, {"count", 1}});  // the control-plane token
    auto r = client.query(std::string(sum_body));
    const json counters = admin.counters();
    INFO(counters.dump());
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    CHECK(count(counters, "connections_dropped") == 2);
    CHECK(count(counters, "discovery_requests") == 2);
    // The dropped token request's body was never read: counted as grant "unknown".
    CHECK(count(counters, "token_requests", "total") == 3);
    CHECK(count(counters, "token_requests", "jwt-bearer") == 1);
    CHECK(count(counters, "tokens_issued", "control_plane") == 1);
    // Repeated by the client, or by the transport itself when the dropped request went on a
    // reused connection (libcurl retries those once on a fresh one).
    CHECK(client.statistics().retries >= 1);
    CHECK(client.statistics().retries <= 2);
}

TEST_CASE("a POST whose connection drops before any answer is outcome-unknown: the client cannot tell when it was read") {
    // The emulator drops it after reading the head; the whole small request was already
    // sent, exactly as when a server drops it after running it. Not repeated by default.
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "invocations"}, {"kind", "drop_before"}, {"count", 1}});
    auto r = client.query(std::string(sum_body));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::connection);
    CHECK(r.error().request_may_have_been_processed);
    CHECK(client.statistics().invocations == 1);
    CHECK(count(admin.counters(), "invocations", "dropped_before_read") == 1);
}

TEST_CASE("a POST dropped after it was read: outcome unknown, not repeated unless the policy allows it") {
    emulator emu;
    admin_api admin(emu);
    {
        auto client = make_sync(emu, config_for(emu, way::client_credentials));
        admin.fault({{"route", "invocations"}, {"kind", "drop_after"}, {"count", 1}});
        auto r = client.query(std::string(sum_body));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == dbserve::errc::connection);
        CHECK(r.error().request_may_have_been_processed);
        CHECK(client.statistics().invocations == 1);
        CHECK(count(admin.counters(), "invocations_total") == 1);  // the model did run
    }
    {
        auto config = config_for(emu, way::client_credentials);
        config.retry.retry_post_when_outcome_unknown = true;
        async_setup setup(emu, std::move(config));
        admin.fault({{"route", "invocations"}, {"kind", "drop_after"}, {"count", 1}});
        auto r = wait_async(*setup.client);
        CHECK_MESSAGE(predicts_sum(r), describe(r));
        CHECK(setup.client->statistics().retries == 1);
    }
}

TEST_CASE("a stream cut before its end is an error after the chunks that arrived, and is not repeated") {
    emulator emu;
    admin_api admin(emu);
    auto config = config_for(emu, way::client_credentials);
    config.url = emu.url("chat-model");
    auto client = make_sync(emu, std::move(config));
    const std::string chat = R"({"messages":[{"role":"user","content":"one two three four"}]})";
    std::size_t chunks = 0;
    auto whole = client.stream(chat, [&](const dbserve::chat_chunk&) { ++chunks; });
    const std::string whole_error = whole ? std::string() : whole.error().to_string();
    REQUIRE_MESSAGE(whole.has_value(), whole_error);
    CHECK(whole->summary.content == "Echo: one two three four");
    CHECK(chunks == whole->summary.chunks);

    admin.fault({{"route", "invocations"}, {"kind", "truncate_stream"}, {"truncate_after_chunks", 2}});
    chunks = 0;
    const auto invocations_before = client.statistics().invocations;
    auto cut = client.stream(chat, [&](const dbserve::chat_chunk&) { ++chunks; });
    REQUIRE_FALSE(cut);
    CHECK(cut.error().request_may_have_been_processed);
    CHECK(chunks >= 1);
    CHECK(chunks <= 2);
    CHECK(client.statistics().invocations == invocations_before + 1);
    CHECK(count(admin.counters(), "connections_dropped") == 1);
}

// ------------------------------------------------------------------ streams: callback and poll drivers

constexpr const char* chat_body = R"({"messages":[{"role":"user","content":"one two three four"}]})";

inline dbserve::client_config chat_config(const emulator& emu) {
    auto config = config_for(emu, way::client_credentials);
    config.url = emu.url("chat-model");
    return config;
}

// What one asynchronous stream delivered: the chunks (counted as they arrive), then the
// handler's result; `handler_calls` keeps counting after the result, so a second call shows.
struct async_stream_record {
    std::atomic<std::size_t> chunks{0};
    std::atomic<int> handler_calls{0};
    std::promise<dbserve::result<dbserve::stream_response>> outcome;
};

// Waits for the stream's handler; a handler that never comes ends the program (a failure,
// never a hang), taking the children with it.
inline dbserve::result<dbserve::stream_response> wait_stream(async_stream_record& record) {
    auto future = record.outcome.get_future();
    if (future.wait_for(query_deadline) != std::future_status::ready) {
        std::fprintf(stderr, "FATAL: an asynchronous stream got no answer within %lld s\n",
                     static_cast<long long>(query_deadline.count()));
        std::_Exit(3);
    }
    return future.get();
}

inline void start_async_stream(async_client& client, const std::shared_ptr<async_stream_record>& record) {
    client.async_stream(
        std::string(chat_body), [record](const dbserve::chat_chunk&) { ++record->chunks; },
        [record](dbserve::result<dbserve::stream_response> r) {
            if (record->handler_calls++ == 0) record->outcome.set_value(std::move(r));
        });
}

// Drives a start_stream() operation by hand with the adapter's blocking transport, as a
// program's own loop would: streamed bytes go to on_body_chunk, the end to on_response.
struct polled_stream {
    dbserve::result<dbserve::query_response> outcome = dbserve::unexpected(dbserve::errc::cancelled, "not run");
    dbserve::stream_summary summary;
    std::size_t chunks = 0;
    int sends = 0;
};

inline polled_stream poll_stream(sync_client& client, const emulator& emu) {
    typename kit::blocking transport(emu.transport_options());
    auto op = client.start_stream(std::string(chat_body));
    polled_stream out;
    const auto give_up = std::chrono::steady_clock::now() + query_deadline;
    for (;;) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < give_up, "the poll loop did not finish");
        dbserve::operation_step step = op.next();
        switch (step.kind) {
            case dbserve::operation_step::send: {
                ++out.sends;
                auto options = step.options();
                if (step.streaming) {
                    options.on_body_chunk = [&op, &out, id = step.request_id](const dbserve::http_response& head,
                                                                              std::string_view bytes) {
                        op.on_body_chunk(id, head, bytes);
                        while (op.pop_chunk()) ++out.chunks;
                    };
                }
                op.on_response(step.request_id, transport.send(*step.request, options));
                break;
            }
            case dbserve::operation_step::wait_until:
                std::this_thread::sleep_until(step.deadline);  // a retry backoff the operation asked for
                break;
            case dbserve::operation_step::load_credentials:
                op.load_credentials();
                break;
            case dbserve::operation_step::chunk:
                ++out.chunks;
                break;
            case dbserve::operation_step::idle:
                FAIL("a lone poll-driven stream went idle: nothing else can wake it");
                return out;
            case dbserve::operation_step::done:
                out.outcome = std::move(*step.outcome);
                out.summary = op.summary();
                return out;
        }
    }
}

TEST_CASE("an asynchronous stream: every chunk, then the handler once with the whole content") {
    emulator emu;
    async_setup setup(emu, chat_config(emu));
    auto record = std::make_shared<async_stream_record>();
    start_async_stream(*setup.client, record);
    auto r = wait_stream(*record);
    const std::string error = r ? std::string() : r.error().to_string();
    REQUIRE_MESSAGE(r.has_value(), error);
    CHECK(r->response.status == 200);
    CHECK(r->summary.content == "Echo: one two three four");
    CHECK(r->summary.chunks >= 2);
    CHECK(record->chunks.load() == r->summary.chunks);
    CHECK(setup.client->statistics().invocations == 1);
    setup.runtime.stop(*setup.client);  // no late second call can still be on its way
    CHECK(record->handler_calls.load() == 1);
}

TEST_CASE("an asynchronous stream cut before its end: an error after the chunks that arrived, not repeated") {
    emulator emu;
    admin_api admin(emu);
    async_setup setup(emu, chat_config(emu));
    admin.fault({{"route", "invocations"}, {"kind", "truncate_stream"}, {"truncate_after_chunks", 2}});
    auto record = std::make_shared<async_stream_record>();
    start_async_stream(*setup.client, record);
    auto r = wait_stream(*record);
    REQUIRE_FALSE(r);
    CHECK(r.error().request_may_have_been_processed);
    CHECK(record->chunks.load() >= 1);
    CHECK(record->chunks.load() <= 2);
    CHECK(setup.client->statistics().invocations == 1);
    CHECK(setup.client->statistics().retries == 0);
    const auto counters = admin.counters();
    CHECK(count(counters, "invocations_total") == 1);
    CHECK(count(counters, "connections_dropped") == 1);
    setup.runtime.stop(*setup.client);
    CHECK(record->handler_calls.load() == 1);
}

// There is no per-operation cancel for async_stream: destroying the client is the way to
// abandon one. The stream is held open in its first chunk callback while the client goes,
// so the destruction happens mid-stream; as the README promises for a query whose request
// is in flight, the handler is then called exactly once with the answer; nothing crashes
// or hangs.
TEST_CASE("a client destroyed in the middle of an asynchronous stream: the handler is still called exactly once") {
    emulator emu;
    typename kit::async_runtime runtime;
    struct finish_at_exit {  // also when a REQUIRE below fails: no thread outlives its runtime
        typename kit::async_runtime& runtime;
        ~finish_at_exit() { runtime.finish(); }
    } finish_runtime{runtime};
    auto client = std::make_unique<async_client>(chat_config(emu), runtime.make(emu.transport_options()), shifted_clock{},
                                                 dbserve::static_secret_source{emu.principal()});
    runtime.start(*client);
    auto record = std::make_shared<async_stream_record>();
    auto first_chunk = std::make_shared<std::promise<void>>();
    auto client_gone = std::make_shared<std::promise<void>>();
    std::shared_future<void> client_gone_future = client_gone->get_future().share();
    client->async_stream(
        std::string(chat_body),
        [record, first_chunk, client_gone_future](const dbserve::chat_chunk&) {
            if (record->chunks++ == 0) {
                first_chunk->set_value();
                client_gone_future.wait();
            }
        },
        [record](dbserve::result<dbserve::stream_response> r) {
            if (record->handler_calls++ == 0) record->outcome.set_value(std::move(r));
        });
    REQUIRE(first_chunk->get_future().wait_for(query_deadline) == std::future_status::ready);
    client.reset();  // mid-stream: the transport's thread is inside the first chunk callback
    client_gone->set_value();
    auto r = wait_stream(*record);
    const std::string error = r ? std::string() : r.error().to_string();
    REQUIRE_MESSAGE(r.has_value(), error);  // its request was in flight: it gets its answer
    CHECK(r->summary.content == "Echo: one two three four");
    CHECK(record->chunks.load() == r->summary.chunks);
    runtime.finish();
    CHECK(record->handler_calls.load() == 1);
}

TEST_CASE("a poll-driven stream over the blocking transport: chunks through on_body_chunk, then the whole content") {
    emulator emu;
    auto client = make_sync(emu, chat_config(emu));
    auto polled = poll_stream(client, emu);
    const std::string error = polled.outcome ? std::string() : polled.outcome.error().to_string();
    REQUIRE_MESSAGE(polled.outcome.has_value(), error);
    CHECK(polled.outcome->status == 200);
    CHECK(polled.summary.content == "Echo: one two three four");
    CHECK(polled.summary.chunks >= 2);
    CHECK(polled.chunks == polled.summary.chunks);
    CHECK(polled.sends == 2);  // the token request, then the one POST
    CHECK(client.statistics().invocations == 1);
}

TEST_CASE("a poll-driven stream cut before its end: an error after the chunks that arrived, not repeated") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, chat_config(emu));
    admin.fault({{"route", "invocations"}, {"kind", "truncate_stream"}, {"truncate_after_chunks", 2}});
    auto polled = poll_stream(client, emu);
    REQUIRE_FALSE(polled.outcome);
    CHECK(polled.outcome.error().request_may_have_been_processed);
    CHECK(polled.chunks >= 1);
    CHECK(polled.chunks <= 2);
    CHECK(polled.sends == 2);
    CHECK(client.statistics().invocations == 1);
    const auto counters = admin.counters();
    CHECK(count(counters, "invocations_total") == 1);
    CHECK(count(counters, "connections_dropped") == 1);
}

TEST_CASE("the token endpoint down: a clear error after bounded retries, and recovery once it is back") {
    emulator emu;
    admin_api admin(emu);
    auto config = config_for(emu, way::client_credentials);
    config.retry.max_attempts = 3;
    const auto refusal_backoff_limit = config.lifecycle.max_refusal_backoff;
    shifted_clock clock;
    auto client = make_sync(emu, std::move(config), "sp-main", clock);
    admin.fault({{"route", "token"}, {"status", 503}, {"count", -1}});
    auto r = client.query(std::string(sum_body));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::unavailable);
    CHECK(r.error().http_status == 503);
    const auto attempts = count(admin.counters(), "token_requests", "client_credentials");
    CHECK(attempts >= 1);
    CHECK(attempts <= 3);
    CHECK(count(admin.counters(), "invocations_total") == 0);
    admin.post("/faults/clear", json::object());
    // A refused token request is not repeated at once: past the longest refusal backoff the
    // next query asks again (time moved, not waited for).
    admin.advance_clock(clock, std::chrono::duration_cast<std::chrono::seconds>(refusal_backoff_limit));
    auto back = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(back), describe(back));
}

TEST_CASE("the token endpoint answers an HTML page: a clear bad-response error, no token used") {
    emulator emu;
    admin_api admin(emu);
    async_setup setup(emu, config_for(emu, way::client_credentials));
    admin.fault({{"route", "token"}, {"kind", "garbage"}, {"count", -1}});
    auto r = wait_async(*setup.client);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::bad_response);
    CHECK(count(admin.counters(), "invocations_total") == 0);
}

TEST_CASE("a refresh that fails keeps the still-valid token in use and is tried once, until the token expires") {
    // 600 s tokens: fresh 300 s, stale (served, refreshed once) until 560 s, expired after.
    // Time moves only when the test moves the emulator's and the client's clocks together.
    emulator emu({"--token-lifetime", "600"});
    admin_api admin(emu);
    auto config = config_for(emu, way::client_credentials);
    config.lifecycle.stale_window = 300s;
    config.lifecycle.expiry_margin = 40s;
    config.lifecycle.refresh_backoff = 600s;  // no second refresh before the token expires
    shifted_clock clock;
    auto client = make_sync(emu, std::move(config), "sp-main", clock);
    auto first = client.query(std::string(sum_body));
    REQUIRE_MESSAGE(predicts_sum(first), describe(first));
    CHECK(client.data_token_state() == dbserve::token_state::fresh);
    admin.fault({{"route", "token"}, {"status", 503}, {"count", -1}});
    admin.advance_clock(clock, 300s);
    CHECK(client.data_token_state() == dbserve::token_state::stale);
    for (int i = 0; i < 5; ++i) {
        auto r = client.query(std::string(sum_body));
        CHECK_MESSAGE(predicts_sum(r), describe(r));
    }
    CHECK(count(admin.counters(), "token_requests", "client_credentials") == 2);  // one refresh, then backoff
    admin.advance_clock(clock, 270s);
    CHECK(client.data_token_state() == dbserve::token_state::expired);
    auto expired = client.query(std::string(sum_body));
    REQUIRE_FALSE(expired);
    CHECK(expired.error().code == dbserve::errc::unavailable);
    CHECK(count(admin.counters(), "invocations", "401") == 0);  // never sent an expired token
}

TEST_CASE("a 401 from the data plane drops the token and fetches a new one once") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    auto first = client.query(std::string(sum_body));
    REQUIRE_MESSAGE(predicts_sum(first), describe(first));
    admin.post("/tokens/revoke", json::object());
    auto r = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    const json counters = admin.counters();
    CHECK(count(counters, "invocations", "401") == 1);
    CHECK(count(counters, "token_requests", "client_credentials") == 2);
    CHECK(client.statistics().token_requests == 2);
}

TEST_CASE("an endpoint recreated under a new id is discovered again and queried at its new host") {
    for (bool asynchronous : {false, true}) {
        CAPTURE(asynchronous);
        emulator emu;
        admin_api admin(emu);
        const std::string old_id = emu.id("sum-model");
        auto run = [&](auto&& query) {
            auto before = query();
            REQUIRE_MESSAGE(predicts_sum(before), describe(before));
            const json recreated = admin.post("/endpoints/sum-model", {{"recreate", true}});
            REQUIRE(recreated.at("id").get<std::string>() != old_id);
            auto after = query();
            CHECK_MESSAGE(predicts_sum(after), describe(after));
            const json counters = admin.counters();
            CHECK(count(counters, "discovery_requests") == 2);
            CHECK(count(counters, "token_requests", "jwt-bearer") == 2);  // the old token names the old id
            CHECK(count(counters, "invocations", "404") == 1);
            CHECK(count(counters, "invocations", "200") == 2);
        };
        if (!asynchronous) {
            auto client = make_sync(emu, config_for(emu, way::token_exchange));
            run([&] { return client.query(std::string(sum_body)); });
            CHECK(client.statistics().discoveries == 2);
        } else {
            async_setup setup(emu, config_for(emu, way::token_exchange));
            run([&] { return wait_async(*setup.client); });
            CHECK(setup.client->statistics().discoveries == 2);
        }
    }
}

TEST_CASE("a configured URL whose endpoint was recreated gives a clear not-found error") {
    emulator emu;
    admin_api admin(emu);
    auto client = make_sync(emu, config_for(emu, way::client_credentials));
    REQUIRE(predicts_sum(client.query(std::string(sum_body))));
    admin.post("/endpoints/sum-model", {{"recreate", true}});
    auto r = client.query(std::string(sum_body));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == dbserve::errc::not_found);
    CHECK(r.error().http_status == 404);
}
}  // TEST_SUITE faults

// ------------------------------------------------------------------ real, independent peers

// oidc-provider (tests/peers) issues the tokens through nginx terminating TLS for a
// workspace host name; the emulator's data plane trusts its signing key and answers.
struct real_peers {
    std::string dir = make_work_dir(std::string(kit::name) + "-peers");
    std::string workspace_host = "adb-2718281828459045.4.azuredatabricks.net";
    std::string endpoint_id;
    std::unique_ptr<emulator> emu;
    std::unique_ptr<oauth_server> oauth;
    std::unique_ptr<nginx_front> nginx;
    test_certificates certs;
    std::string trust_file;

    real_peers() {
        // Endpoint ids are derived from names; a first emulator tells the one to grant.
        endpoint_id = emulator().id("sum-model");
        oauth = std::make_unique<oauth_server>(dir, endpoint_id);
        emu = std::make_unique<emulator>(std::vector<std::string>{
            "--trust-issuer-key", oauth->public_key_file(), "--trust-issuer", oauth->info().at("issuer").get<std::string>()});
        if (emu->id("sum-model") != endpoint_id) throw std::runtime_error("endpoint ids are not stable across runs");
        certs = make_certificates(dir, workspace_host);
        nginx = std::make_unique<nginx_front>(dir, workspace_host, certs, oauth->port());
        // Both test CAs, explicitly: nginx's and the emulator's.
        trust_file = dir + "/trust.pem";
        write_file(trust_file, read_file(certs.ca_file) + read_file(emu->ca_file()));
    }

    std::string workspace_url() const { return "https://" + workspace_host + ":" + std::to_string(nginx->port()); }

    dbserve::transport_options transport_options() const {
        dbserve::transport_options options;
        options.tls.ca_file = trust_file;
        options.resolve.push_back({workspace_host, nginx->port(), "127.0.0.1"});
        emu->add_resolve(options);
        options.proxy.from_environment = false;
        options.connect_timeout = 5s;
        options.request_timeout = 20s;
        return options;
    }

    dbserve::credentials client_credentials(std::size_t client_index) const {
        const json c = oauth->client(client_index);
        dbserve::credentials out;
        out.host = workspace_url();
        out.client_id = c.at("client_id").get<std::string>();
        out.client_secret = dbserve::secret_string(c.at("client_secret").get<std::string>());
        return out;
    }

    dbserve::client_config config() const {
        dbserve::client_config config;
        config.host = workspace_url();
        config.url = emu->url("sum-model");
        config.auth = dbserve::token_path::client_credentials;
        config.timeout = 20s;
        config.retry = dbserve::retry_policy::no_retries();
        return config;
    }

    sync_client sync(std::size_t client_index, dbserve::client_config c) const {
        return sync_client(std::move(c), typename kit::blocking(transport_options()), {},
                           dbserve::static_secret_source{client_credentials(client_index)});
    }
    sync_client sync(std::size_t client_index) const { return sync(client_index, config()); }

    // A hand-made token request through nginx (for what the library would never send).
    dbserve::result<dbserve::http_response> raw_token_request(const std::string& authorization, const std::string& body) const {
        typename kit::blocking transport(transport_options());
        dbserve::http_request request;
        request.method = dbserve::http_method::post;
        request.url = workspace_url() + "/oidc/v1/token";
        request.headers.add_unchecked("Content-Type", "application/x-www-form-urlencoded");
        request.headers.add_unchecked("Authorization", authorization);
        request.body = body;
        dbserve::send_options options;
        options.timeout = 10s;
        return transport.send(request, options);
    }
};

TEST_SUITE("peers") {
TEST_CASE("oidc-provider behind nginx issues the token with authorization_details; the data plane accepts it") {
    real_peers peers;
    {
        auto client = peers.sync(0);
        for (int i = 0; i < 3; ++i) {
            auto r = client.query(std::string(sum_body));
            CHECK_MESSAGE(predicts_sum(r), describe(r));
        }
        CHECK(client.statistics().token_requests == 1);
    }
    {
        async_setup setup(peers.transport_options(), peers.config(), peers.client_credentials(0));
        auto r = wait_async(*setup.client);
        CHECK_MESSAGE(predicts_sum(r), describe(r));
    }
    admin_api admin(*peers.emu);
    const json counters = admin.counters();
    CHECK(count(counters, "external_tokens", "accepted") == 4);
    CHECK(count(counters, "external_tokens", "refused") == 0);
    CHECK(count(counters, "token_requests", "total") == 0);  // the emulator issued nothing
    CHECK(count(counters, "invocations", "200") == 4);
}

TEST_CASE("client credentials with characters RFC 6749 section 2.3.1 requires encoded: the library encodes them") {
    real_peers peers;
    const auto special = peers.client_credentials(1);
    REQUIRE(special.client_id.find(':') != std::string::npos);
    auto client = peers.sync(1);
    auto r = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    // The same credentials sent raw (as `curl -u` does) are refused by the real server.
    const std::string raw = "Basic " + dbserve::detail::base64_encode(special.client_id + ":" +
                                                                       std::string(special.client_secret.reveal()));
    auto refused = peers.raw_token_request(raw, client_credentials_body(""));
    REQUIRE(refused);
    CHECK(refused->status == 401);
    auto parsed = dbserve::parse_token_response(*refused);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == dbserve::errc::authentication);
    CHECK(parsed.error().service_code == "invalid_client");
}

TEST_CASE("the real server's refusals become clear errors: bad secret, malformed or unauthorized authorization_details") {
    real_peers peers;
    {
        auto credentials = peers.client_credentials(0);
        credentials.client_secret = dbserve::secret_string("wrong-secret");
        sync_client client(peers.config(), typename kit::blocking(peers.transport_options()), {},
                           dbserve::static_secret_source{credentials});
        auto r = client.query(std::string(sum_body));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == dbserve::errc::authentication);
        CHECK(r.error().service_code == "invalid_client");
        CHECK(r.error().message.find("wrong-secret") == std::string::npos);
    }
    {
        // A client without Query permission on the endpoint.
        auto client = peers.sync(2);
        auto r = client.query(std::string(sum_body));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == dbserve::errc::permission);
        CHECK(r.error().service_code == "invalid_authorization_details");
    }
    {
        // authorization_details naming an endpoint the server does not know.
        auto config = peers.config();
        config.endpoint_id = "0000000000000000000000000000dead";
        auto client = peers.sync(0, std::move(config));
        auto r = client.query(std::string(sum_body));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == dbserve::errc::permission);
        CHECK(r.error().service_code == "invalid_authorization_details");
    }
    {
        // Malformed JSON in authorization_details (the library cannot build it): sent by
        // hand, and the real server's answer parsed by the library.
        const auto c = peers.client_credentials(0);
        auto refused = peers.raw_token_request(
            dbserve::basic_authorization(c.client_id, c.client_secret.reveal()),
            client_credentials_body(R"([{"type":"workspace_permission","object_type":)"));
        REQUIRE(refused);
        CHECK(refused->status == 400);
        auto parsed = dbserve::parse_token_response(*refused);
        REQUIRE_FALSE(parsed);
        CHECK((parsed.error().service_code == "invalid_request" ||
               parsed.error().service_code == "invalid_authorization_details"));
    }
    admin_api admin(*peers.emu);
    CHECK(count(admin.counters(), "invocations_total") == 0);
}
}  // TEST_SUITE peers

// ------------------------------------------------------------------ credentials: rotation and federation

using sourced_client =
    dbserve::basic_client<dbserve::traits_for<typename kit::blocking, shifted_clock, dbserve::callback_secret_source>>;

// Credentials the test changes while the client runs (a secret rotated in its store).
struct changing_credentials {
    std::mutex mutex;
    dbserve::credentials values;
    dbserve::callback_secret_source source() {
        return dbserve::callback_secret_source{[this]() -> dbserve::result<dbserve::credentials> {
            std::lock_guard<std::mutex> lock(mutex);
            return values;
        }};
    }
    void set(dbserve::credentials c) {
        std::lock_guard<std::mutex> lock(mutex);
        values = std::move(c);
    }
};

// oidc-provider (tests/peers) as a workload's identity provider: its client-credentials JWT
// access tokens (RS256, `aud` its resource, `sub` the client id) are the subject tokens; its
// JWKS, fetched here from its /jwks route, is what the emulator's federation policy trusts.
struct identity_provider {
    std::string dir = make_work_dir(std::string(kit::name) + "-idp");
    oauth_server server{dir, "e0123456789abcdef", 4 * 3600};

    std::string base() const { return "http://127.0.0.1:" + std::to_string(server.port()); }
    std::string issuer() const { return server.info().at("issuer").get<std::string>(); }
    std::string audience() const { return server.info().at("resource").get<std::string>(); }
    std::string subject(std::size_t client) const { return server.client(client).at("client_id").get<std::string>(); }

    json jwks() const {
        dbserve::http_request request;
        request.method = dbserve::http_method::get;
        request.url = base() + "/jwks";
        auto r = send(request);
        return json::parse(r.body);
    }
    // A fresh JWT for client `client` (each has its own jti).
    std::string jwt(std::size_t client) const {
        const json c = server.client(client);
        dbserve::http_request request;
        request.method = dbserve::http_method::post;
        request.url = base() + "/oidc/v1/token";
        request.headers.add_unchecked("Content-Type", "application/x-www-form-urlencoded");
        request.headers.add_unchecked("Authorization",
                                      dbserve::basic_authorization(c.at("client_id").get<std::string>(),
                                                                   c.at("client_secret").get<std::string>()));
        request.body = client_credentials_body("");
        auto r = send(request);
        return json::parse(r.body).at("access_token").get<std::string>();
    }

private:
    static dbserve::http_response send(const dbserve::http_request& request) {
        dbserve::transport_options options;
        options.proxy.from_environment = false;
        typename kit::blocking transport(options);
        dbserve::send_options send;
        send.timeout = 10s;
        auto r = transport.send(request, send);
        if (!r || r->status != 200)
            throw std::runtime_error("oidc-provider " + request.url + ": " + (r ? r->body : r.error().to_string()));
        return *r;
    }
};

inline dbserve::client_config discovered_config() {
    dbserve::client_config config;
    config.endpoint_name = "sum-model";
    config.timeout = 20s;
    config.query_deadline = query_deadline;
    return config;
}

inline dbserve::callback_secret_source fixed(dbserve::credentials c) {
    return dbserve::callback_secret_source{[c] { return dbserve::result<dbserve::credentials>(c); }};
}

inline bool shows_no_secret(const query_result& r, const std::vector<std::string>& secrets) {
    if (r) return true;
    const std::string text = r.error().to_string();
    for (const auto& secret : secrets) {
        if (text.find(secret) != std::string::npos) return false;
        // A JWT's signature alone is as secret as the JWT.
        const auto dot = secret.rfind('.');
        if (dot != std::string::npos && text.find(secret.substr(dot + 1)) != std::string::npos) return false;
    }
    return true;
}

TEST_SUITE("credentials") {
TEST_CASE("a secret rotated mid-run (admin call, new secret in the source): no failed query, exactly one reload") {
    emulator emu;
    admin_api admin(emu);
    changing_credentials store;
    store.set(emu.principal());
    dbserve::client_config config;
    config.url = emu.url("sum-model");
    config.timeout = 20s;
    config.query_deadline = query_deadline;
    sourced_client client(config, typename kit::blocking(emu.transport_options()), {}, store.source());
    std::atomic<int> succeeded{0}, failed{0};
    std::atomic<bool> rotated{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 40; ++i) {
                auto r = client.query(std::string(sum_body));
                if (predicts_sum(r)) {
                    ++succeeded;
                } else {
                    ++failed;
                    MESSAGE(describe(r));
                }
                // Keep querying across the rotation.
                if (i == 20) while (!rotated) std::this_thread::yield();
            }
        });
    while (succeeded < 30) std::this_thread::yield();
    // Rotation: the service takes only the new secret, the store holds it, and the tokens
    // issued with the old one are revoked so the next queries must fetch.
    const json fresh = admin.post("/principals/sp-main", json{{"rotate_secret", true}});
    dbserve::credentials rotated_credentials = emu.principal();
    rotated_credentials.client_secret = dbserve::secret_string(fresh.at("client_secret").get<std::string>());
    store.set(rotated_credentials);
    admin.post("/tokens/revoke", json::object());
    rotated = true;
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(succeeded == 120);
    const auto stats = client.statistics();
    CHECK(stats.credential_reloads == 1);
    CHECK(stats.queries_failed == 0);
    const json counters = admin.counters();
    CHECK(count(counters, "token_responses", "401") == 1);  // the old secret, refused once
    CHECK(count(counters, "secret_rotations") == 1);
}

TEST_CASE("file-oidc with oidc-provider as the identity provider: the file is read at each exchange") {
    identity_provider idp;
    emulator emu;
    admin_api admin(emu);
    admin.post("/federation-policies", json{{"principal", "sp-main"},
                                            {"issuer", idp.issuer()},
                                            {"audiences", {idp.audience()}},
                                            {"subject", idp.subject(0)},
                                            {"jwks", idp.jwks()}});
    const std::string file = idp.dir + "/subject-token";
    const std::string first = idp.jwt(0);
    write_file(file, first + "\n");
    dbserve::credentials c;
    c.host = emu.workspace_url();
    c.auth_type = "file-oidc";
    c.oidc_token_filepath = file;
    c.client_id = emu.principal().client_id;
    shifted_clock clock;
    sourced_client client(discovered_config(), typename kit::blocking(emu.transport_options()), clock,
                          fixed(c));
    auto r = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    CHECK(count(admin.counters(), "federation", "accepted") == 1);

    // Rewritten with another workload's JWT (subject "dbserve:sp/special"): the next
    // exchange reads it and the policy refuses it, the service's words shown, no token.
    const std::string other = idp.jwt(1);
    write_file(file, other);
    admin.advance_clock(clock, 2h);  // every token expired: the next query exchanges again
    auto refused = client.query(std::string(sum_body));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == dbserve::errc::authentication);
    CHECK(refused.error().service_code == "invalid_grant");
    CHECK(refused.error().message.find("subject does not match") != std::string::npos);
    CHECK(refused.error().message.find("federation policy") != std::string::npos);
    CHECK(shows_no_secret(refused, {first, other}));

    // Rewritten again with a good one: used at the next exchange.
    const std::string third = idp.jwt(0);
    write_file(file, third);
    admin.advance_clock(clock, 5s);  // past the pause after a refused token request
    auto again = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(again), describe(again));
    CHECK(count(admin.counters(), "federation", "accepted") == 2);
    CHECK(count(admin.counters(), "federation", "refused") >= 1);
}

TEST_CASE("a JWT refused for its audience or issuer: the token endpoint's error shown, no secret in it") {
    identity_provider idp;
    emulator emu;
    admin_api admin(emu);
    const std::string jwt = idp.jwt(0);
    for (const char* wrong : {"audience", "issuer"}) {
        CAPTURE(wrong);
        admin.post("/federation-policies/clear", json::object());
        const bool bad_audience = std::string(wrong) == "audience";
        admin.post("/federation-policies", json{{"principal", "sp-main"},
                                                {"issuer", bad_audience ? idp.issuer() : "https://other-idp.example"},
                                                {"audiences", {bad_audience ? "some-account-id" : idp.audience()}},
                                                {"subject", idp.subject(0)},
                                                {"jwks", idp.jwks()}});
        dbserve::credentials c;
        c.host = emu.workspace_url();
        c.auth_type = "env-oidc";
        c.oidc_token = dbserve::secret_string(jwt);
        c.client_id = emu.principal().client_id;
        sourced_client client(discovered_config(), typename kit::blocking(emu.transport_options()), {},
                              fixed(c));
        auto r = client.query(std::string(sum_body));
        REQUIRE_FALSE(r);
        CHECK(r.error().service_code == "invalid_grant");
        CHECK(r.error().message.find(std::string(wrong) + " does not match") != std::string::npos);
        CHECK(shows_no_secret(r, {jwt}));
    }
}

TEST_CASE("env-oidc from the environment, account-wide policy (no client_id)") {
    identity_provider idp;
    emulator emu;
    admin_api admin(emu);
    admin.post("/federation-policies", json{{"principal", "sp-main"},
                                            {"account_wide", true},
                                            {"issuer", idp.issuer()},
                                            {"audiences", {idp.audience()}},
                                            {"subject", idp.subject(0)},
                                            {"jwks", idp.jwks()}});
    const std::string jwt = idp.jwt(0);
    const std::string host = emu.workspace_url();
    const std::map<std::string, std::string> environment{
        {"DATABRICKS_HOST", host}, {"DATABRICKS_AUTH_TYPE", "env-oidc"}, {"DATABRICKS_OIDC_TOKEN", jwt}};
    dbserve::environment_secret_source from_environment{[environment](const char* name) -> const char* {
        auto it = environment.find(name);
        return it == environment.end() ? nullptr : it->second.c_str();
    }};
    sourced_client client(discovered_config(), typename kit::blocking(emu.transport_options()), {},
                          dbserve::callback_secret_source{[from_environment] { return from_environment.load(); }});
    for (int i = 0; i < 3; ++i) {
        auto r = client.query(std::string(sum_body));
        CHECK_MESSAGE(predicts_sum(r), describe(r));
    }
    CHECK(count(admin.counters(), "federation", "accepted") == 1);
    CHECK(count(admin.counters(), "token_requests", "token-exchange") == 1);
}

TEST_CASE("github-oidc against the emulator's GitHub Actions stand-in (ES256)") {
    emulator emu;
    admin_api admin(emu);
    const json gh = emu.info().at("github_actions");
    const std::string token_url = emu.info().at("token_url").get<std::string>();
    admin.post("/federation-policies", json{{"principal", "sp-main"},
                                            {"issuer", gh.at("issuer")},
                                            {"audiences", {token_url}},  // the default audience
                                            {"subject", gh.at("subject")},
                                            {"jwks", gh.at("jwks")}});
    dbserve::credentials c;
    c.host = emu.workspace_url();
    c.auth_type = "github-oidc";
    c.client_id = emu.principal().client_id;
    c.actions_id_token_request_url = gh.at("request_url").get<std::string>();
    c.actions_id_token_request_token = dbserve::secret_string(gh.at("request_token").get<std::string>());
    sourced_client client(discovered_config(), typename kit::blocking(emu.transport_options()), {},
                          fixed(c));
    auto r = client.query(std::string(sum_body));
    CHECK_MESSAGE(predicts_sum(r), describe(r));
    CHECK(client.statistics().identity_token_requests == 1);
    const json counters = admin.counters();
    CHECK(count(counters, "identity_tokens", "issued") == 1);
    CHECK(count(counters, "federation", "accepted") == 1);
}
}  // TEST_SUITE credentials

}  // namespace e2e
