// The poll API over an engine's own networking: the program owns a libcurl multi handle
// (standing in for any engine HTTP layer) and the frame loop; dbserve owns neither. The
// client has no transport (dbserve::no_transport): start_stream() / start_query() hand out
// operations, and each frame the loop
//   1. pumps every unfinished operation until it is idle: next() returns `send` (start the
//      request on the engine's network, remember its id), `chunk` (a streamed piece of the
//      answer, show it), `wait_until` (a retry backoff: look again in a later frame once the
//      time has come), `done` (take the result), or `idle` (nothing to do until a response
//      arrives or another operation of this client finishes a token fetch);
//   2. lets the network run for the rest of the frame; each response is fed back with
//      on_response(id, result), each streamed body piece as it arrives with
//      on_body_chunk(id, head, bytes), and the operations are pumped again.
// Pumping until idle matters: one next() may hand out a request and, on the next call, a
// second one (a background token refresh), and an operation waiting for another's token
// fetch moves on only when it is asked again after that fetch finished.
//
//   engine_networking --cacert ca.pem --resolve host:port:127.0.0.1 "question"
// with DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET,
// DATABRICKS_CHAT_ENDPOINT (a chat endpoint) and DATABRICKS_SERVING_ENDPOINT (a model).
#include <example_options.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/llm_request.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/payload/responses.hpp>

#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

const char* const usage =
    "usage: engine_networking [--cacert FILE] [--resolve HOST:PORT:ADDRESS]... [QUESTION]\n"
    "Streams a chat answer (DATABRICKS_CHAT_ENDPOINT) and queries a model (DATABRICKS_SERVING_ENDPOINT)\n"
    "through the poll API over the program's own libcurl multi handle, in a 60 Hz frame loop.\n";

// ---------------------------------------------------------------- the engine's network
// What an engine's HTTP layer provides: start a request, get the status and headers, body
// pieces and completion through callbacks, all on the loop's thread. It follows the
// Transport contract (dbserve/client/transport.hpp): no redirects, no Accept-Encoding,
// failures mapped onto dbserve::errc.
class engine_network {
public:
    struct callbacks {
        std::function<void(const dbserve::http_response& head, std::string_view bytes)> on_body;  // streaming
        std::function<void(dbserve::result<dbserve::http_response>)> on_done;
    };

    engine_network(std::string ca_file, std::vector<std::string> resolve)
        : multi_(curl_multi_init()), ca_file_(std::move(ca_file)) {
        for (const auto& entry : resolve) resolve_ = curl_slist_append(resolve_, entry.c_str());
    }
    ~engine_network() {
        for (auto& [easy, transfer] : transfers_) {
            curl_multi_remove_handle(multi_, easy);
            curl_easy_cleanup(easy);
        }
        curl_multi_cleanup(multi_);
        curl_slist_free_all(resolve_);
    }
    engine_network(const engine_network&) = delete;
    engine_network& operator=(const engine_network&) = delete;

    void start(const dbserve::http_request& request, std::chrono::milliseconds timeout, callbacks cb) {
        CURL* easy = curl_easy_init();
        auto transfer = std::make_unique<active>();
        transfer->body = request.body;  // the operation's request lives only until on_response
        transfer->cb = std::move(cb);
        for (const auto& h : request.headers)
            transfer->headers = curl_slist_append(transfer->headers, (h.name + ": " + h.value).c_str());
        transfer->headers = curl_slist_append(transfer->headers, "Expect:");
        curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);
        if (request.method == dbserve::http_method::post) {
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer->body.data());
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(transfer->body.size()));
        }
        // Zero: no deadline from the library, so the engine's own default.
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count() > 0 ? timeout.count() : 60'000));
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
        if (!ca_file_.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file_.c_str());
        if (resolve_) curl_easy_setopt(easy, CURLOPT_RESOLVE, resolve_);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
        curl_multi_add_handle(multi_, easy);
        transfers_.emplace(easy, std::move(transfer));
    }

    // Runs the network for at most `budget`, completing what finished.
    void run(std::chrono::milliseconds budget) {
        int running = 0;
        curl_multi_perform(multi_, &running);
        curl_multi_poll(multi_, nullptr, 0, static_cast<int>(budget.count()), nullptr);
        curl_multi_perform(multi_, &running);
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
            if (message->msg != CURLMSG_DONE) continue;
            CURL* easy = message->easy_handle;
            auto node = transfers_.extract(easy);
            curl_multi_remove_handle(multi_, easy);
            auto& transfer = *node.mapped();
            long sent = 0;
            curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
            auto outcome = finish(message->data.result, sent > 0, transfer);
            curl_easy_cleanup(easy);
            transfer.cb.on_done(std::move(outcome));
        }
    }

    bool busy() const noexcept { return !transfers_.empty(); }

private:
    struct active {
        std::string body;
        curl_slist* headers = nullptr;
        dbserve::http_response response;
        callbacks cb;
        ~active() { curl_slist_free_all(headers); }
    };

    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
        auto& t = *static_cast<active*>(user);
        std::string_view line(data, size * count);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        if (line.rfind("HTTP/", 0) == 0) {  // a new status line (after a 100 Continue, say): start over
            t.response = dbserve::http_response{};
            const auto space = line.find(' ');
            if (space != std::string_view::npos) t.response.status = std::atoi(std::string(line.substr(space + 1, 3)).c_str());
        } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            t.response.headers.add_unchecked(std::string(line.substr(0, colon)), std::string(value));
        }
        return size * count;
    }
    static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
        auto& t = *static_cast<active*>(user);
        const std::string_view bytes(data, size * count);
        // Streaming: the head (status and headers, empty body) with each piece, as it arrives.
        if (t.cb.on_body) t.cb.on_body(t.response, bytes);
        else t.response.body.append(bytes);
        return size * count;
    }

    // The failure table of the Transport contract, for the codes this engine meets.
    static dbserve::result<dbserve::http_response> finish(CURLcode code, bool bytes_sent, active& t) {
        if (code == CURLE_OK) return std::move(t.response);
        dbserve::errc category = dbserve::errc::connection;
        bool maybe_processed = bytes_sent;
        switch (code) {
            case CURLE_COULDNT_RESOLVE_HOST: category = dbserve::errc::name_resolution; maybe_processed = false; break;
            case CURLE_COULDNT_CONNECT: maybe_processed = false; break;
            case CURLE_OPERATION_TIMEDOUT: category = dbserve::errc::timeout; break;
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_SSL_CACERT_BADFILE: category = dbserve::errc::tls; maybe_processed = false; break;
            default: break;
        }
        dbserve::error e(category, std::string("engine network: ") + curl_easy_strerror(code));
        e.native_code = static_cast<int>(code);
        e.request_may_have_been_processed = maybe_processed;
        return e;
    }

    CURLM* multi_;
    curl_slist* resolve_ = nullptr;
    std::string ca_file_;
    std::map<CURL*, std::unique_ptr<active>> transfers_;
};

// ---------------------------------------------------------------- the game side

struct job {
    const char* name;
    dbserve::query_operation operation;
    bool streaming;
    bool finished = false;
    bool succeeded = false;
    std::chrono::steady_clock::time_point wake{};  // a retry backoff in progress
};

}  // namespace

int main(int argc, char** argv) {
    using clock = std::chrono::steady_clock;
    int exit_code = 0;
    auto options = examples::parse_example_options(argc, argv, "DATABRICKS_CHAT_ENDPOINT", usage, exit_code);
    if (!options) return exit_code;
    const std::string question = options->arguments.empty() ? "Hello from the frame loop" : options->arguments[0];
    const char* model = std::getenv("DATABRICKS_SERVING_ENDPOINT");
    if (!model || options->endpoint.empty()) {
        std::fprintf(stderr, "engine_networking: set DATABRICKS_CHAT_ENDPOINT and DATABRICKS_SERVING_ENDPOINT\n%s", usage);
        return 2;
    }

    // No transport: the engine's network below does every request.
    using traits = dbserve::traits_for<dbserve::no_transport, dbserve::system_clock_policy,
                                       dbserve::environment_secret_source>;
    dbserve::client_config chat_config;
    chat_config.endpoint_name = options->endpoint;
    dbserve::basic_client<traits> chat_client(std::move(chat_config));
    dbserve::client_config model_config;
    model_config.endpoint_name = model;
    dbserve::basic_client<traits> model_client(std::move(model_config));

    dbserve::chat_request chat;
    chat.messages = {{"user", question}};
    chat.max_tokens = 64;
    chat.stream = true;
    auto chat_body = chat.to_body();
    dbserve::dataframe_split_writer table({"a", "b", "c"});
    table.add_row({1, 2, 3});
    auto model_body = dbserve::model_request(table.finish()).body();
    if (!chat_body || !model_body) {
        std::fprintf(stderr, "engine_networking: a request body was refused\n");
        return 2;
    }

    std::vector<job> jobs;
    jobs.reserve(2);  // the network's callbacks point into this vector: no reallocation
    jobs.push_back({"chat", chat_client.start_stream(std::move(*chat_body)), true});
    jobs.push_back({"model", model_client.start_query(std::move(*model_body)), false});

    std::vector<std::string> resolve;
    for (const auto& r : options->transport.resolve)
        resolve.push_back(r.host + ":" + std::to_string(r.port) + ":" + r.address);
    // Declared after the jobs, so it is destroyed first, while what its callbacks point to lives.
    engine_network network(options->transport.tls.ca_file, std::move(resolve));

    std::string streamed;
    // Step 1: ask the operation until it has nothing to do now.
    auto pump = [&](job& j) {
        while (!j.finished) {
            if (j.wake != clock::time_point{} && clock::now() < j.wake) return;  // still backing off
            j.wake = {};
            dbserve::operation_step step = j.operation.next();
            switch (step.kind) {
                case dbserve::operation_step::send: {
                    engine_network::callbacks cb;
                    dbserve::query_operation* op = &j.operation;
                    const auto id = step.request_id;
                    if (step.streaming)
                        cb.on_body = [op, id](const dbserve::http_response& head, std::string_view bytes) {
                            op->on_body_chunk(id, head, bytes);
                        };
                    cb.on_done = [op, id](dbserve::result<dbserve::http_response> r) { op->on_response(id, std::move(r)); };
                    network.start(*step.request, step.timeout, std::move(cb));
                    continue;  // there may be another request (a background token refresh)
                }
                case dbserve::operation_step::chunk:
                    streamed += std::string(step.stream_chunk->content());
                    std::printf("  chat chunk: '%s'\n", std::string(step.stream_chunk->content()).c_str());
                    continue;
                case dbserve::operation_step::load_credentials:
                    // The SecretSource's I/O (environment, profile file, a vault): an engine
                    // that must not block runs it on a worker thread before the next call
                    // of next(); here it runs inline.
                    j.operation.load_credentials();
                    continue;
                case dbserve::operation_step::wait_until:
                    j.wake = step.deadline;
                    return;
                case dbserve::operation_step::idle:
                    return;
                case dbserve::operation_step::done: {
                    j.finished = true;
                    auto& outcome = *step.outcome;
                    if (!outcome) {
                        std::fprintf(stderr, "  %s failed: %s\n", j.name, outcome.error().to_string().c_str());
                        return;
                    }
                    j.succeeded = true;
                    if (j.streaming) {
                        std::printf("chat answer: %s\n", streamed.c_str());
                        std::printf("finish reason: %s\n", j.operation.summary().finish_reason.c_str());
                    } else {
                        auto predictions = dbserve::parse_predictions(outcome->body());
                        std::printf("model predictions: %s\n",
                                    predictions ? predictions->predictions().dump().c_str() : "(unreadable)");
                    }
                    return;
                }
            }
        }
    };

    const auto frame = std::chrono::milliseconds(16);
    const auto give_up = clock::now() + std::chrono::minutes(2);
    int frames = 0;
    for (;;) {
        const auto frame_end = clock::now() + frame;
        bool all_done = true;
        for (auto& j : jobs) {
            pump(j);
            all_done = all_done && j.finished;
        }
        if (all_done) break;
        // ... the engine updates and renders its frame here ...
        // Step 2: the rest of the frame goes to the network; pump again after each round,
        // so a response (or another operation's token) is acted on within the frame.
        for (auto now = clock::now(); now < frame_end; now = clock::now()) {
            network.run(std::chrono::duration_cast<std::chrono::milliseconds>(frame_end - now));
            for (auto& j : jobs) pump(j);
        }
        ++frames;
        if (clock::now() > give_up) {
            std::fprintf(stderr, "engine_networking: unfinished after 2 minutes\n");
            return 1;
        }
    }
    std::printf("done in %d frames\n", frames);
    for (const auto& j : jobs)
        if (!j.succeeded) return 1;
    return 0;
}
