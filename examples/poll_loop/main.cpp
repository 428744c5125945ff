// Queries driven by the program's own loop, the way a game engine or an embedded event
// loop would: a fixed-rate frame loop (60 frames a second) on one thread. Each frame it
// asks every unfinished query what to do next (the poll API: query_operation::next()),
// hands the requests to libcurl's multi interface, and spends the rest of the frame letting
// curl move bytes. The library starts no thread, never sleeps and never blocks: a query is
// a state machine that says "send this", "wait until then" or "done".
//
// Three queries start in the same frame. They share the client's caches, so one of them
// discovers the endpoint and fetches the tokens while the other two wait (idle, not
// blocked), then all three query at once over the same connection pool.
//
//   poll_loop --endpoint my-model
#include <example_options.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/payload/responses.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

const char* const usage =
    "usage: poll_loop [--endpoint NAME] [--cacert FILE] [--resolve HOST:PORT:ADDRESS]...\n"
    "Runs three queries (dataframe_split, columns a,b,c) from a 60 Hz frame loop on one thread,\n"
    "with DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET and\n"
    "DATABRICKS_SERVING_ENDPOINT (or --endpoint).\n";

struct pending_query {
    int number;
    dbserve::query_operation operation;
    bool finished = false;
    bool succeeded = false;
};

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
    if (!options->arguments.empty()) {
        std::fprintf(stderr, "unexpected argument '%s'\n%s", options->arguments[0].c_str(), usage);
        return 2;
    }

    dbserve::client_config config;
    config.endpoint_name = options->endpoint;
    config.auth = dbserve::token_path::client_credentials;
    // no_transport: this client never sends anything itself; start_query() hands out
    // operations and the loop below does the I/O.
    dbserve::basic_client<dbserve::traits_for<dbserve::no_transport, dbserve::system_clock_policy,
                                              dbserve::environment_secret_source>>
        client(std::move(config));
    // Credentials are loaded before the frame loop, never inside a frame's next().
    if (auto loaded = client.load_credentials(); !loaded) {
        std::fprintf(stderr, "poll_loop: %s\n", loaded.error().to_string().c_str());
        return 2;
    }

    std::vector<pending_query> queries;
    queries.reserve(3);  // the completion handlers below point into this vector: no reallocation
    for (int i = 0; i < 3; ++i) {
        dbserve::dataframe_split_writer table({"a", "b", "c"});
        table.add_row({i, i + 1, i + 2});
        auto body = dbserve::model_request(table.finish()).body();
        if (!body) {
            std::fprintf(stderr, "poll_loop: the table was refused: %s\n", body.error().to_string().c_str());
            return 2;
        }
        queries.push_back({i, client.start_query(std::move(*body))});
    }

    // Declared after the queries so it is destroyed first: whatever it still holds is
    // completed (cancelled) while the operations its handlers point to are alive.
    dbserve::curl::async_transport network(options->transport);

    // One frame of work for one query: take steps until it has to wait.
    auto pump = [&network](pending_query& query) {
        for (;;) {
            dbserve::operation_step step = query.operation.next();
            switch (step.kind) {
                case dbserve::operation_step::send: {
                    // The operation owns *step.request until on_response: curl gets a copy.
                    // The handler runs later inside network.run_once(), on this thread.
                    dbserve::query_operation* operation = &query.operation;
                    network.start(*step.request, step.options(),
                                  [operation, id = step.request_id](dbserve::result<dbserve::http_response> r) {
                                      operation->on_response(id, std::move(r));
                                  });
                    continue;  // there may be a second request (a background token refresh)
                }
                case dbserve::operation_step::done: {
                    query.finished = true;
                    auto& outcome = *step.outcome;
                    auto predictions = outcome ? dbserve::parse_predictions(outcome->body())
                                               : dbserve::result<dbserve::predictions_response>(outcome.error());
                    if (!predictions) {
                        std::fprintf(stderr, "  query %d failed: %s\n", query.number,
                                     predictions.error().to_string().c_str());
                        return;
                    }
                    query.succeeded = true;
                    std::printf("  query %d: predictions %s\n", query.number, predictions->predictions().dump().c_str());
                    return;
                }
                case dbserve::operation_step::load_credentials:
                    // Only a reload after the token endpoint refused the credentials, or a
                    // federation token file, comes here (they were loaded before the loop).
                    // A loop that must never block hands this to a worker thread instead.
                    query.operation.load_credentials();
                    continue;
                case dbserve::operation_step::chunk:  // only streamed queries give chunks
                    continue;
                case dbserve::operation_step::wait_until:  // a retry backoff: look again next frame
                case dbserve::operation_step::idle:        // a response, or another query's token fetch
                    return;
            }
        }
    };

    const auto frame = std::chrono::milliseconds(16);
    const auto give_up = clock::now() + std::chrono::minutes(2);
    int frames = 0;
    std::size_t unfinished = queries.size();
    std::printf("poll_loop: %zu queries to '%s', driven by a %d ms frame loop on one thread\n", queries.size(),
                options->endpoint.c_str(), static_cast<int>(frame.count()));
    while (unfinished > 0) {
        const auto frame_end = clock::now() + frame;
        for (auto& query : queries)
            if (!query.finished) pump(query);
        unfinished = 0;
        for (const auto& query : queries) unfinished += query.finished ? 0 : 1;
        if (unfinished == 0) break;

        // ... a game would update and render its frame here ...

        // The rest of the frame goes to the network: run_once waits in curl_multi_poll
        // until a socket is ready or the frame ends, and runs completion handlers here.
        for (auto now = clock::now(); now < frame_end; now = clock::now())
            network.run_once(std::chrono::duration_cast<std::chrono::milliseconds>(frame_end - now));
        ++frames;
        if (clock::now() > give_up) {
            std::fprintf(stderr, "poll_loop: %zu queries still unfinished after 2 minutes\n", unfinished);
            return 1;
        }
    }

    const auto stats = client.statistics();
    std::printf("done in %d frames: %llu discovery, %llu token requests, %llu queries sent "
                "(the three queries shared one endpoint token)\n",
                frames, static_cast<unsigned long long>(stats.discoveries),
                static_cast<unsigned long long>(stats.token_requests),
                static_cast<unsigned long long>(stats.invocations));
    if (const int threads = thread_count()) std::printf("threads in this process: %d\n", threads);
    for (const auto& query : queries)
        if (!query.succeeded) return 1;
    return 0;
}
