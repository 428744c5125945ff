// basic_workspace: many endpoints sharing one workspace identity, its handles, and the
// query_group that drives poll operations of several endpoints from one place.
#include <dbserve/client/query_group.hpp>
#include <dbserve/client/workspace.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {
const std::string shard = "https://ep-%.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/";

std::string url_of(const std::string& id, const std::string& name) {
    std::string u = shard;
    u.replace(u.find('%'), 1, id);
    return u + name + "/invocations";
}

std::string details_of(const std::string& id) {
    return R"([{"type":"workspace_permission","object_type":"serving-endpoints","object_path":"/serving-endpoints/)" +
           id + R"(","actions":["query_inference_endpoint"]}])";
}

workspace_config workspace_settings() {
    workspace_config c;
    c.jitter = [] { return 0.0; };
    return c;
}

// Three endpoints: chat and embeddings (discovered by name), and a custom model at a URL.
testing::script three_endpoints() {
    testing::script s;
    s.on("/oidc/v1/token").always(testing::token_reply("tok"));
    s.on("/api/2.0/serving-endpoints/chat").always(
        testing::discovery_reply("chat", url_of("chat1", "chat"), details_of("chat1")));
    s.on("/api/2.0/serving-endpoints/embed").always(
        testing::discovery_reply("embed", url_of("embed1", "embed"), details_of("embed1")));
    s.on("/invocations").always(testing::json_response(200, R"({"predictions":[1]})"));
    return s;
}

template <class Traits>
struct three {
    basic_workspace<Traits> workspace;
    basic_endpoint<Traits> chat, embed, model;
    explicit three(typename Traits::transport transport, manual_clock clock = {})
        : workspace(workspace_settings(), std::move(transport), clock,
                    static_secret_source{testing::service_principal()}),
          chat(workspace.endpoint("chat")),
          embed(workspace.endpoint("embed")),
          model(workspace.endpoint_at(url_of("model1", "model"))) {}
};
}  // namespace

TEST_CASE("three endpoints of one workspace share one workspace token; each is discovered once and has its own "
          "data-plane token") {
    testing::fake_transport transport;
    transport.replies() = three_endpoints();
    three<testing::traits> w(transport);
    for (int round = 0; round < 3; ++round)
        for (auto* ep : {&w.chat, &w.embed, &w.model}) REQUIRE(ep->query(std::string("{}")));

    const client_statistics all = w.workspace.statistics();
    CHECK(all.control_plane_token_requests == 1);  // one workspace token, for both discoveries and exchanges
    CHECK(all.token_requests == 4);                // + one data-plane token per endpoint
    CHECK(all.discoveries == 2);                   // the URL endpoint needs none
    CHECK(all.invocations == 9);
    CHECK(all.queries_succeeded == 9);
    // Per endpoint: what its own queries did.
    CHECK(w.chat.statistics().discoveries == 1);
    CHECK(w.chat.statistics().invocations == 3);
    CHECK(w.embed.statistics().discoveries == 1);
    CHECK(w.model.statistics().discoveries == 0);
    CHECK(w.model.statistics().token_requests == 1);  // client credentials with its authorization_details
    CHECK(w.chat.statistics().token_requests + w.embed.statistics().token_requests == 3);

    // Each invocation went to its own endpoint's URL with that endpoint's token request.
    CHECK(transport.replies().count(url_of("chat1", "chat")) == 3);
    CHECK(transport.replies().count(url_of("embed1", "embed")) == 3);
    CHECK(transport.replies().count(url_of("model1", "model")) == 3);
    std::size_t scoped_to_embed = 0;
    for (const auto& r : transport.replies().requests())
        if (r.url.find("/oidc/v1/token") != std::string::npos && r.body.find("embed1") != std::string::npos)
            ++scoped_to_embed;
    CHECK(scoped_to_embed == 1);
}

TEST_CASE("handles to the same endpoint share its statistics; a served model is an endpoint of its own") {
    testing::fake_transport transport;
    transport.replies() = three_endpoints();
    basic_workspace<testing::traits> workspace(workspace_settings(), transport, manual_clock{},
                                               static_secret_source{testing::service_principal()});
    auto a = workspace.endpoint("chat");
    auto b = workspace.endpoint("chat");
    auto copy = a;
    REQUIRE(a.query(std::string("{}")));
    REQUIRE(b.query(std::string("{}")));
    REQUIRE(copy.query(std::string("{}")));
    CHECK(a.statistics().invocations == 3);
    CHECK(b.statistics().invocations == 3);
    CHECK(a.statistics().discoveries == 1);

    auto model_b = workspace.endpoint("chat", "model-b");
    REQUIRE(model_b.query(std::string("{}")));
    CHECK(model_b.config().served_model == "model-b");
    CHECK(model_b.statistics().discoveries == 1);  // the served model's URL comes from its own lookup
    CHECK(transport.replies().count("/serving-endpoints/chat/served-models/model-b/invocations") == 1);
    CHECK(workspace.statistics().discoveries == 2);
    CHECK(workspace.statistics().control_plane_token_requests == 1);
}

TEST_CASE("a malformed endpoint fails on its own; the workspace's other endpoints go on") {
    testing::fake_transport transport;
    transport.replies() = three_endpoints();
    basic_workspace<testing::traits> workspace(workspace_settings(), transport, manual_clock{},
                                               static_secret_source{testing::service_principal()});
    auto bad = workspace.endpoint_at("http://abc.7.serving.azuredatabricks.net/1/serving-endpoints/x/invocations");
    auto nameless = workspace.endpoint(endpoint_config{});
    auto good = workspace.endpoint("embed");
    REQUIRE_FALSE(bad.check_configuration());
    CHECK(bad.check_configuration().error().message.find("plain http") != std::string::npos);
    REQUIRE_FALSE(nameless.check_configuration());
    CHECK(nameless.check_configuration().error().message.find("no endpoint is configured") != std::string::npos);
    auto refused = bad.query(std::string("{}"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == errc::configuration);
    CHECK(good.query(std::string("{}")));
    CHECK(transport.replies().count("abc.7.serving") == 0);
}

TEST_CASE("token_path::supplied takes each endpoint's own supplier") {
    testing::fake_transport transport;
    transport.replies().on("/invocations").always(testing::json_response(200, "{}"));
    workspace_config settings = workspace_settings();
    settings.auth = token_path::supplied;
    basic_workspace<testing::traits> workspace(settings, transport, manual_clock{}, static_secret_source{});
    auto supplier = [](std::string token) {
        return [token] { return result<supplied_token>(supplied_token{secret_string(token), std::chrono::system_clock::now() + 1h}); };
    };
    endpoint_config first;
    first.url = url_of("one", "first");
    first.supply_token = supplier("token-one");
    endpoint_config second;
    second.url = url_of("two", "second");
    second.supply_token = supplier("token-two");
    REQUIRE(workspace.endpoint(first).query(std::string("{}")));
    REQUIRE(workspace.endpoint(second).query(std::string("{}")));
    auto requests = transport.replies().requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].headers.get("Authorization") == "Bearer token-one");
    CHECK(requests[1].headers.get("Authorization") == "Bearer token-two");
    endpoint_config without;
    without.url = url_of("three", "third");
    CHECK(workspace.endpoint(without).check_configuration().error().message.find("token supplier") !=
          std::string::npos);
}

TEST_CASE("eight threads on three endpoints of one workspace: one workspace token, one discovery per named "
          "endpoint, one data-plane token per endpoint") {
    testing::fake_transport transport;
    transport.replies() = three_endpoints();
    three<testing::traits> w(transport);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 30; ++i) {
                auto& ep = (t + i) % 3 == 0 ? w.chat : (t + i) % 3 == 1 ? w.embed : w.model;
                if (!ep.query(std::string("{}"))) ++failures;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    const auto all = w.workspace.statistics();
    CHECK(all.control_plane_token_requests == 1);
    CHECK(all.token_requests == 4);
    CHECK(all.discoveries == 2);
    CHECK(all.queries_succeeded == 240);
}

TEST_CASE("a query started on a handle after its workspace is gone ends at once with cancelled") {
    testing::fake_transport transport;
    transport.replies() = three_endpoints();
    std::optional<basic_endpoint<testing::traits>> kept;
    {
        basic_workspace<testing::traits> workspace(workspace_settings(), transport, manual_clock{},
                                                   static_secret_source{testing::service_principal()});
        kept.emplace(workspace.endpoint("chat"));
    }
    auto r = kept->query(std::string("{}"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::cancelled);
    CHECK(transport.replies().request_count() == 0);
}

namespace {
// Feeds a group's send steps from a script, as a network would, one response per call.
struct scripted_network {
    testing::script replies;
    struct in_flight {
        query_group::key_type key;
        std::uint64_t id;
        http_request request;
        bool streaming;
    };
    std::vector<in_flight> waiting;

    void start(const query_group::group_step& s) {
        waiting.push_back({s.key, s.step.request_id, *s.step.request, s.step.streaming});
    }
    // Answers everything sent so far; a streamed answer is fed in pieces.
    void answer_all(query_group& group) {
        auto now = std::move(waiting);
        waiting.clear();
        for (auto& f : now) {
            auto reply = replies.answer(f.request);
            if (f.streaming && reply) {
                const std::string body = reply->body;
                for (std::size_t at = 0; at < body.size(); at += 7)
                    group.on_body_chunk(f.key, f.id, *reply, std::string_view(body).substr(at, 7));
            }
            group.on_response(f.key, f.id, std::move(reply));
        }
    }
};
}  // namespace

TEST_CASE("one query_group drives a model query and a chat stream of one workspace on one thread") {
    basic_workspace<testing::poll_traits> workspace(workspace_settings(), no_transport{}, manual_clock{},
                                                    static_secret_source{testing::service_principal()});
    auto model = workspace.endpoint_at(url_of("model1", "model"));
    auto chat = workspace.endpoint("chat");
    scripted_network network;
    network.replies = three_endpoints();
    network.replies.on(url_of("chat1", "chat")).always(testing::sse_reply(
        {R"({"choices":[{"index":0,"delta":{"content":"Hel"}}]})", R"({"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]})"}));

    query_group group;
    std::vector<query_group::key_type> models;
    for (int i = 0; i < 3; ++i) models.push_back(group.add(model.start_query(std::string("{}"))));
    const auto stream = group.add(chat.start_stream(std::string(R"({"messages":[]})")));
    CHECK(group.size() == 4);

    std::string text;
    int done = 0, failed = 0, rounds = 0, credential_steps = 0;
    while (!group.empty() && rounds++ < 50) {
        while (auto s = group.next()) {
            switch (s.step.kind) {
                case operation_step::send: network.start(s); break;
                case operation_step::chunk:
                    CHECK(s.key == stream);
                    text += std::string(s.step.stream_chunk->content());
                    break;
                case operation_step::done:
                    ++done;
                    if (!*s.step.outcome) ++failed;
                    break;
                case operation_step::load_credentials:  // the credential step, on the loop's thread here
                    ++credential_steps;
                    group.find(s.key)->load_credentials();
                    break;
                default: break;
            }
        }
        network.answer_all(group);
    }
    CHECK(group.empty());
    CHECK(done == 4);
    CHECK(failed == 0);
    CHECK(text == "Hello");
    CHECK(credential_steps >= 1);  // the first operation to need them loads them; the others wait
    const auto all = workspace.statistics();
    CHECK(all.control_plane_token_requests == 1);
    CHECK(all.token_requests == 3);  // workspace token, chat's exchange, the model's client credentials
    CHECK(all.discoveries == 1);
    CHECK(model.statistics().invocations == 3);
    CHECK(chat.statistics().invocations == 1);
}

TEST_CASE("an idle query_group reports the earliest time an operation waits for") {
    manual_clock clock;
    basic_workspace<testing::poll_traits> workspace(workspace_settings(), no_transport{}, clock,
                                                    static_secret_source{testing::service_principal()});
    auto model = workspace.endpoint_at(url_of("model1", "model"));
    REQUIRE(workspace.load_credentials());  // ahead of the loop: no credential step
    query_group group;
    query_options options;
    options.deadline = 5s;
    const auto key = group.add(model.start_query(std::string("{}"), options));
    auto s = group.next();
    REQUIRE(s.step.kind == operation_step::send);  // the token request
    CHECK(s.key == key);
    auto idle = group.next();
    CHECK_FALSE(idle);
    CHECK(idle.step.deadline == clock.monotonic_now() + 5s);  // the query's total deadline
    group.on_response(key, s.step.request_id, testing::token_reply("tok"));
    group.on_response(999, 1, testing::token_reply("ignored"));  // an unknown key is ignored
    s = group.next();
    REQUIRE(s.step.kind == operation_step::send);
    CHECK(s.step.request->url == url_of("model1", "model"));
}
