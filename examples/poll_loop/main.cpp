// Queries driven by the program's own loop, the way a game engine or an embedded event
// loop would: a fixed-rate frame loop (60 frames a second) on one thread. Each frame it
// asks one place, a dbserve::query_group, what any unfinished query needs next (the poll
// API), hands the requests to libcurl's multi interface, and spends the rest of the frame
// letting curl move bytes. The library starts no thread, never sleeps and never blocks: a
// query is a state machine that says "send this", "wait until then" or "done".
//
// One workspace, two endpoints: three queries to a model and one streamed chat start in the
// same frame. They share the workspace's token: one query fetches it and discovers its
// endpoint while the others wait (idle, not blocked), then each endpoint gets its own
// endpoint-scoped token and all four go out over the same connection pool.
//
//   poll_loop --endpoint my-model --chat my-chat
#include <example_options.hpp>

#include <dbserve/client.hpp>
#include <dbserve/curl/transport.hpp>
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/payload/responses.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <fstream>
#include <string>
#include <vector>

namespace {

const char* const usage =
    "usage: poll_loop [--endpoint NAME] [--chat NAME] [--cacert FILE] [--resolve HOST:PORT:ADDRESS]...\n"
    "Runs three queries (dataframe_split, columns a,b,c) to a model and, with --chat (or\n"
    "DATABRICKS_CHAT_ENDPOINT), one streamed chat, from a 60 Hz frame loop on one thread, with\n"
    "DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET and\n"
    "DATABRICKS_SERVING_ENDPOINT (or --endpoint).\n";

// The "Threads:" line of /proc/self/status (Linux); 0 where it cannot be read.
int thread_count() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    using clock = std::chrono::steady_clock;
    int exit_code = 0;
    auto options = examples::parse_example_options(argc, argv, "DATABRICKS_SERVING_ENDPOINT", usage, exit_code);
    if (!options) return exit_code;
    const char* chat_from_environment = std::getenv("DATABRICKS_CHAT_ENDPOINT");
    std::string chat_endpoint = chat_from_environment ? chat_from_environment : "";
    for (std::size_t i = 0; i < options->arguments.size(); ++i) {
        if (options->arguments[i] == "--chat" && i + 1 < options->arguments.size()) {
            chat_endpoint = options->arguments[++i];
            continue;
        }
        std::fprintf(stderr, "unexpected argument '%s'\n%s", options->arguments[i].c_str(), usage);
        return 2;
    }

    dbserve::workspace_config config;
    config.auth = dbserve::token_path::client_credentials;
    // no_transport: this workspace never sends anything itself; start_query() hands out
    // operations and the loop below does the I/O.
    dbserve::basic_workspace<dbserve::traits_for<dbserve::no_transport, dbserve::system_clock_policy,
                                                 dbserve::environment_secret_source>>
        workspace(std::move(config));
    // Credentials are loaded before the frame loop, never inside a frame's next().
    if (auto loaded = workspace.load_credentials(); !loaded) {
        std::fprintf(stderr, "poll_loop: %s\n", loaded.error().to_string().c_str());
        return 2;
    }
    auto model = workspace.endpoint(options->endpoint);

    // One place that holds every unfinished query and says what any of them needs next.
    dbserve::query_group group;
    std::map<dbserve::query_group::key_type, int> model_queries;  // key -> query number
    for (int i = 0; i < 3; ++i) {
        dbserve::dataframe_split_writer table({"a", "b", "c"});
        table.add_row({i, i + 1, i + 2});
        auto body = dbserve::model_request(table.finish()).body();
        if (!body) {
            std::fprintf(stderr, "poll_loop: the table was refused: %s\n", body.error().to_string().c_str());
            return 2;
        }
        model_queries[group.add(model.start_query(std::move(*body)))] = i;
    }
    dbserve::query_group::key_type chat_query = 0;
    std::string chat_text;
    if (!chat_endpoint.empty()) {
        auto chat = workspace.endpoint(chat_endpoint);
        chat_query = group.add(chat.start_stream(
            std::string(R"({"messages":[{"role":"user","content":"What is a route optimized endpoint?"}]})")));
    }

    // Declared after the group so it is destroyed first: whatever it still holds is
    // completed (cancelled) while the group its handlers point to is alive.
    dbserve::curl::async_transport network(options->transport);

    int failures = 0;
    // Everything any query can do now: send requests, show chunks, take results.
    auto pump = [&] {
        while (auto s = group.next()) {
            switch (s.step.kind) {
                case dbserve::operation_step::send: {
                    // The operation owns *s.step.request until its response: curl gets a copy.
                    // The handlers run later inside network.run_once(), on this thread.
                    auto send = s.step.options();
                    const auto key = s.key;
                    const auto id = s.step.request_id;
                    if (s.step.streaming)  // a stream's bytes go to its operation as they arrive
                        send.on_body_chunk = [&group, key, id](const dbserve::http_response& head,
                                                               std::string_view bytes) {
                            group.on_body_chunk(key, id, head, bytes);
                        };
                    network.start(*s.step.request, std::move(send),
                                  [&group, key, id](dbserve::result<dbserve::http_response> r) {
                                      group.on_response(key, id, std::move(r));
                                  });
                    break;
                }
                case dbserve::operation_step::chunk:  // a streamed chunk, as it arrives
                    chat_text += std::string(s.step.stream_chunk->content());
                    break;
                case dbserve::operation_step::done: {
                    auto& outcome = *s.step.outcome;
                    if (s.key == chat_query) {
                        if (!outcome) {
                            ++failures;
                            std::fprintf(stderr, "  chat failed: %s\n", outcome.error().to_string().c_str());
                        } else {
                            std::printf("  chat: %s\n", chat_text.c_str());
                        }
                        break;
                    }
                    const int number = model_queries[s.key];
                    auto predictions = outcome ? dbserve::parse_predictions(outcome->body())
                                               : dbserve::result<dbserve::predictions_response>(outcome.error());
                    if (!predictions) {
                        ++failures;
                        std::fprintf(stderr, "  query %d failed: %s\n", number,
                                     predictions.error().to_string().c_str());
                        break;
                    }
                    std::printf("  query %d: predictions %s\n", number, predictions->predictions().dump().c_str());
                    break;
                }
                case dbserve::operation_step::load_credentials:
                    // Only a reload after the token endpoint refused the credentials, or a
                    // federation token file, comes here (they were loaded before the loop).
                    // A loop that must never block hands this to a worker thread instead.
                    group.find(s.key)->load_credentials();
                    break;
                default:
                    break;
            }
        }
    };

    const auto frame = std::chrono::milliseconds(16);
    const auto give_up = clock::now() + std::chrono::minutes(2);
    int frames = 0;
    std::printf("poll_loop: %zu queries to '%s'%s, driven by a %d ms frame loop on one thread\n", group.size(),
                options->endpoint.c_str(), chat_endpoint.empty() ? "" : (" and '" + chat_endpoint + "'").c_str(),
                static_cast<int>(frame.count()));
    for (;;) {
        const auto frame_end = clock::now() + frame;
        pump();
        if (group.empty()) break;

        // ... a game would update and render its frame here ...

        // The rest of the frame goes to the network: run_once waits in curl_multi_poll
        // until a socket is ready or the frame ends, and runs completion handlers here.
        for (auto now = clock::now(); now < frame_end; now = clock::now())
            network.run_once(std::chrono::duration_cast<std::chrono::milliseconds>(frame_end - now));
        ++frames;
        if (clock::now() > give_up) {
            std::fprintf(stderr, "poll_loop: %zu queries still unfinished after 2 minutes\n", group.size());
            return 1;
        }
    }

    const auto stats = workspace.statistics();
    std::printf("done in %d frames: %llu discoveries, %llu token requests (%llu for the workspace token), %llu "
                "queries sent\n",
                frames, static_cast<unsigned long long>(stats.discoveries),
                static_cast<unsigned long long>(stats.token_requests),
                static_cast<unsigned long long>(stats.control_plane_token_requests),
                static_cast<unsigned long long>(stats.invocations));
    if (const int threads = thread_count()) std::printf("threads in this process: %d\n", threads);
    return failures == 0 ? 0 : 1;
}
