// dbserve-query: query a Databricks route optimized serving endpoint from the command line,
// or measure its latency (load mode). A small program on dbserve's public API; see
// README.md, "dbserve-query", and --help.
#include "cli_options.hpp"
#include "cli_transport.hpp"
#include "client_setup.hpp"
#include "credential_scrubber.hpp"
#include "dry_run.hpp"
#include "exit_codes.hpp"
#include "load_report.hpp"
#include "llm_figures.hpp"
#include "load_runner.hpp"
#include "request_body.hpp"
#include "transports.hpp"
#include "verbose_log.hpp"

#include <dbserve/client/client.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace dbserve_query;
using client_type = dbserve::basic_client<
    dbserve::traits_for<cli_transport, dbserve::system_clock_policy, dbserve::default_secret_source>>;

// Usage and configuration errors are the user's to fix: the message alone says it best.
// A server's text may quote a credential: every one the tool knows is scrubbed.
// Set once a request goes to the network: from then on no error is "nothing was sent".
std::atomic<bool> requests_sent{false};  // load mode sends from several threads

int report(const dbserve::error& e, const credential_scrubber& scrubber) {
    const int code = exit_code_for(e, requests_sent.load());
    print_error_line(scrubber.scrub(code == exit_usage ? e.message : e.to_string()));
    return code;
}

void print_body(std::string_view body) {
    if (::isatty(STDOUT_FILENO)) {
        // Bounded: printing nests as deep as the document does.
        auto doc = dbserve::detail::parse_bounded_json(body);
        if (!doc.is_discarded()) {
            const std::string pretty = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
            std::fwrite(pretty.data(), 1, pretty.size(), stdout);
            std::fputc('\n', stdout);
            return;
        }
        std::fwrite(body.data(), 1, body.size(), stdout);
        if (body.empty() || body.back() != '\n') std::fputc('\n', stdout);
        return;
    }
    std::fwrite(body.data(), 1, body.size(), stdout);
}

int run_dry(client_type& client, const dry_run_recorder& recorder, const cli_options& o, std::string body,
            const credential_scrubber& scrubber) {
    auto ignore = [](const dbserve::chat_chunk&) {};
    dbserve::error failure;
    if (o.stream) {
        auto r = client.stream(std::move(body), ignore);
        if (!r) failure = std::move(r).error();
    } else {
        auto r = client.query(std::move(body));
        if (!r) failure = std::move(r).error();
    }
    if (!recorder.captured()) return report(failure, scrubber);
    recorder.print(stdout);
    return exit_success;
}

int run_stream(client_type& client, const std::shared_ptr<verbose_log>& log, std::string body,
               const credential_scrubber& scrubber) {
    bool wrote = false;
    auto r = client.stream(std::move(body), [&](const dbserve::chat_chunk& chunk) {
        const std::string_view text = chunk.content();
        if (text.empty()) return;
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        wrote = true;
    });
    if (wrote) std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!r) return report(r.error(), scrubber);
    if (log) {
        std::string note = "stream ended: " + std::to_string(r->summary.chunks) + " chunks";
        if (!r->summary.finish_reason.empty()) note += ", finish_reason " + r->summary.finish_reason;
        log->note(note);
    }
    return exit_success;
}

int run_load_mode(client_type& client, const cli_options& o, const std::string& body,
                  const credential_scrubber& scrubber, const async_network& network) {
    // The end of --duration is enforced by the transport (cut_sends_at); --max-time by each
    // query's deadline.
    const auto started = std::chrono::steady_clock::now();
    if (auto end = load_end(o, started)) client.transport().cut_sends_at(*end);
    std::optional<std::chrono::milliseconds> max_time;
    if (o.max_time_s) max_time = detail::to_milliseconds(*o.max_time_s);
    const bool progress = ::isatty(STDERR_FILENO) != 0 && !o.verbose;
    load_outcome outcome;
    // Streamed: each query's chunks timed for the LLM figures.
    auto llm = o.stream ? std::make_shared<llm_figures>() : nullptr;
    if (llm) {
        auto start_stream = [&client, &body, max_time, llm](std::chrono::milliseconds, auto done) {
            dbserve::query_options options;
            if (max_time) options.deadline = *max_time;
            auto timing = std::make_shared<stream_timing>(std::chrono::steady_clock::now());
            client.async_stream(
                body,
                [timing](const dbserve::chat_chunk& chunk) { timing->on_chunk(chunk, std::chrono::steady_clock::now()); },
                [timing, llm, done](dbserve::result<dbserve::stream_response> r) mutable {
                    if (r) llm->record(*timing, r->summary, std::chrono::steady_clock::now());
                    done(std::move(r));
                },
                std::move(options));
        };
        outcome = run_load(o, start_stream, progress, started);
    } else {
        auto start_query = [&client, &body, max_time](std::chrono::milliseconds, auto done) {
            dbserve::query_options options;
            if (max_time) options.deadline = *max_time;
            client.async_query(body, std::move(done), std::move(options));
        };
        outcome = run_load(o, start_query, progress, started);
    }
    outcome.report.token_requests = client.statistics().token_requests;
    if (o.summary == summary_format::json) {
        auto summary = outcome.report.to_json();
        if (llm) summary["llm"] = llm->to_json(outcome.report.elapsed_s);
        const std::string line = summary.dump() + "\n";
        std::fputs(line.c_str(), stdout);
    } else {
        outcome.report.print_text(stdout);
        if (llm) llm->print_text(stdout, outcome.report.elapsed_s);
    }
    std::fflush(stdout);
    if (outcome.interrupted) print_error_line("load mode: interrupted; the summary covers the queries made so far");
    if (outcome.exit != exit_success) {
        // No failed query: the run failed as a whole (none finished, or one was left behind).
        const std::size_t failed = outcome.report.queries - outcome.report.successes;
        const std::string count = failed == 0 ? "" : std::to_string(failed) + " queries failed; the first: ";
        print_error_line("load mode: " + count + scrubber.scrub(outcome.first_failure));
    }
    if (outcome.abandoned != 0) {
        // A worker is still inside the client: end here, before anything is destroyed.
        std::fflush(nullptr);
        std::_Exit(outcome.exit);
    }
    network.stop();  // nothing in flight: the loop threads end before the client does
    return outcome.exit;
}

int run(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty()) {
        std::fputs(std::string(usage_text).c_str(), stderr);
        return exit_usage;
    }
    auto scrubber = std::make_shared<credential_scrubber>();
    auto parsed = parse_command_line(args);
    if (!parsed) return report(parsed.error(), *scrubber);
    const cli_options& o = *parsed;
    if (o.help) {
        std::fputs(std::string(usage_text).c_str(), stdout);
        return exit_success;
    }
    if (o.version) {
        std::fputs("dbserve-query " DBSERVE_QUERY_VERSION "\n", stdout);
        return exit_success;
    }

    auto body = build_request_body(o);
    if (!body) return report(body.error(), *scrubber);
    auto setup = make_setup(o, *scrubber);
    if (!setup) return report(setup.error(), *scrubber);

    std::shared_ptr<verbose_log> log;
    if (o.verbose) {
        log = std::make_shared<verbose_log>(scrubber);
        if (!setup->credentials_note.empty()) log->note(setup->credentials_note);
        log->note(setup->token_path_note);
    }

    dry_run_recorder recorder;
    send_function send;
    async_network network;
    if (o.load_mode()) {
        // Every query in flight gets its own connection.
        setup->transport.max_connections_per_host = static_cast<std::size_t>(o.concurrency);
        auto made = make_network_async(o.transport, setup->transport);
        if (!made) return report(made.error(), *scrubber);
        network = std::move(*made);
        send = [](const dbserve::http_request&, const dbserve::send_options&) -> dbserve::result<dbserve::http_response> {
            return dbserve::unexpected(dbserve::errc::configuration, "load mode sends asynchronously");
        };
    } else if (o.dry_run) {
        recorder.set_token_url(setup->token_url);
        // Its discovery answer names a placeholder host (".invalid": never resolvable).
        setup->config.allowed_endpoint_hosts.push_back(dry_run_recorder::discovered_host_name);
        send = recorder.send_function_for();
    } else {
        auto network = make_network_send(o.transport, setup->transport);
        if (!network) return report(network.error(), *scrubber);
        send = [network = std::move(*network)](const dbserve::http_request& request,
                                               const dbserve::send_options& options) {
            requests_sent.store(true);
            return network(request, options);
        };
    }

    // -v: what each query does, from the client's events (token fetches, discovery,
    // retries, the end of each query with its trace id; stream times).
    if (log) setup->config.events = [log](const dbserve::query_event& e) { log->event(e); };

    if (log && setup->config.supply_token) {
        auto read = std::move(setup->config.supply_token);
        setup->config.supply_token = [read, log]() {
            auto token = read();
            if (token) {
                const auto left = std::chrono::duration_cast<std::chrono::seconds>(token->expires_at -
                                                                                   std::chrono::system_clock::now());
                log->note("read a token from --token-file, expires in " + std::to_string(left.count()) + " s");
            }
            return token;
        };
    }

    client_type client(std::move(setup->config),
                       cli_transport(std::move(send), log, scrubber, setup->token_url, network.send),
                       dbserve::system_clock_policy{}, std::move(setup->secrets));
    if (auto ok = client.check_configuration(); !ok) return report(ok.error(), *scrubber);

    int code = exit_success;
    if (o.dry_run) {
        code = run_dry(client, recorder, o, std::move(*body), *scrubber);
    } else if (o.load_mode()) {
        code = run_load_mode(client, o, *body, *scrubber, network);
    } else if (o.stream) {
        code = run_stream(client, log, std::move(*body), *scrubber);
    } else {
        auto response = client.query(std::move(*body));
        if (!response) {
            code = report(response.error(), *scrubber);
        } else {
            print_body(response->body());
            std::fflush(stdout);
        }
    }
    if (log && !o.dry_run)
        log->note("token requests made: " + std::to_string(client.statistics().token_requests));
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    // Every input is checked where it enters (request_body.hpp, input_files.hpp...); this
    // is the backstop for anything a dependency throws that was not foreseen there.
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        print_error_line(std::string("unexpected error: ") + e.what() +
                         "; check the inputs, and report it if they are valid");
    } catch (...) {
        print_error_line("unexpected error; check the inputs, and report it if they are valid");
    }
    return exit_usage;
}
