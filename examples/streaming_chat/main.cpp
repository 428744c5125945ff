// A streamed chat with an LLM serving endpoint: the answer is printed word by word as the
// Server-Sent Events arrive, then the finish reason and the token usage.
//
// No official Databricks SDK streams (databricks-sdk-go #978, databricks-sdk-py #1048);
// here the client sends "stream": true with Accept: text/event-stream, splits the events
// across whatever chunking the network gives, parses each `data:` chunk and stops at
// `data: [DONE]`. An error sent as a plain JSON body instead of a stream (a 4xx, a 429) comes
// back as the query's error, and a stream cut short is an error, not a short answer.
//
//   streaming_chat --endpoint my-llm "Summarise RFC 9396 in one line"
#include <example_options.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/curl/transport.hpp>
#include <dbserve/payload/llm_request.hpp>

#include <cstdio>
#include <string>

namespace {
const char* const usage =
    "usage: streaming_chat [--endpoint NAME] [--cacert FILE] [--resolve HOST:PORT:ADDRESS]... [MESSAGE]\n"
    "Streams a chat answer from an LLM endpoint (DATABRICKS_CHAT_ENDPOINT or --endpoint),\n"
    "with DATABRICKS_HOST, DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET.\n";
}

int main(int argc, char** argv) {
    int exit_code = 0;
    auto options = examples::parse_example_options(argc, argv, "DATABRICKS_CHAT_ENDPOINT", usage, exit_code);
    if (!options) return exit_code;
    std::string question = "What does a route optimized serving endpoint do?";
    if (options->arguments.size() > 1 || (!options->arguments.empty() && options->arguments[0].rfind("--", 0) == 0)) {
        std::fprintf(stderr, "unexpected arguments\n%s", usage);
        return 2;
    }
    if (!options->arguments.empty()) question = options->arguments[0];

    // The request struct has exactly the fields the service knows (it refuses unknown
    // ones), and to_body() checks the ranges (temperature 0-2, max_tokens > 0) before sending.
    dbserve::chat_request chat;
    chat.messages = {{"system", "Answer in one sentence."}, {"user", question}};
    chat.max_tokens = 64;
    chat.temperature = 0.2;
    chat.stream = true;
    auto body = chat.to_body();
    if (!body) {
        std::fprintf(stderr, "streaming_chat: the request was refused: %s\n", body.error().to_string().c_str());
        return 2;
    }

    dbserve::client_config config;
    config.endpoint_name = options->endpoint;
    config.auth = dbserve::token_path::client_credentials;
    dbserve::basic_client<dbserve::traits_for<dbserve::curl::blocking_transport, dbserve::system_clock_policy,
                                              dbserve::environment_secret_source>>
        client(std::move(config), dbserve::curl::blocking_transport(options->transport));

    std::printf("user: %s\nassistant: ", question.c_str());
    std::fflush(stdout);
    // Called on this thread, from inside the transport, as each chunk arrives: print it at
    // once (that is the point of streaming) rather than collecting the answer.
    auto on_chunk = [](const dbserve::chat_chunk& chunk) {
        const auto text = chunk.content();
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    };
    auto streamed = client.stream(std::move(*body), on_chunk);
    std::printf("\n");
    if (!streamed) {
        const dbserve::error& failure = streamed.error();
        std::fprintf(stderr, "streaming_chat: the chat failed: %s\n", failure.to_string().c_str());
        return examples::exit_code_for(failure);
    }
    // The summary adds the stream up: the joined text, the finish reason ("length" when
    // max_tokens cut it), the usage if the server sent it.
    const dbserve::stream_summary& summary = streamed->summary;
    std::printf("[%zu chunks, finish reason: %s", summary.chunks,
                summary.finish_reason.empty() ? "(none)" : summary.finish_reason.c_str());
    if (summary.usage)
        std::printf(", tokens: %lld prompt + %lld completion", static_cast<long long>(summary.usage->prompt_tokens),
                    static_cast<long long>(summary.usage->completion_tokens));
    std::printf("]\n");
    return 0;
}
