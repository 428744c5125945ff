#include "server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace emulator {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = beast::error_code;

const char* const continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

std::string host_without_port(std::string_view host) {
    std::string out;
    if (!host.empty() && host.front() == '[') {
        auto close = host.find(']');
        out = std::string(host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
    } else {
        out = std::string(host.substr(0, host.find(':')));
    }
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_http_parse_error(const error_code& ec) {
    return &ec.category() == &http::make_error_code(http::error::bad_method).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message;
}

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, ssl::context& context, workspace& ws, const server_options& options)
        : stream_(std::move(socket), context), ws_(ws), options_(options), timer_(stream_.get_executor()) {}

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&session::on_run, shared_from_this()));
    }

private:
    void on_run() {
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
        stream_.async_handshake(ssl::stream_base::server,
                                beast::bind_front_handler(&session::on_handshake, shared_from_this()));
    }

    void on_handshake(error_code ec) {
        if (ec) return drop();
        const char* name = SSL_get_servername(stream_.native_handle(), TLSEXT_NAMETYPE_host_name);
        sni_ = name ? host_without_port(name) : std::string();
        read_next();
    }

    void read_next() {
        parser_.emplace();
        parser_->body_limit(options_.body_limit);
        parser_->header_limit(64 * 1024);
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(options_.idle_timeout_seconds));
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&session::on_header, shared_from_this()));
    }

    void on_header(error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        const auto& head = parser_->get();
        request_ = http_request{};
        request_.method = std::string(head.method_string());
        request_.target = std::string(head.target());
        for (const auto& field : head) request_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        auto host = head.find(http::field::host);
        if (host == head.end() || host->value().empty()) return refuse(400, "The request has no Host header.");
        if (request_.target.empty() || request_.target.front() != '/')
            return refuse(400, "The request target must be an absolute path.");
        request_.host = host_without_port(host->value());
        // A connection opened for one host must not carry requests for another: in production
        // they are different servers. (No SNI, as for an IP literal, is let through.)
        if (!sni_.empty() && sni_ != request_.host && !options_.allow_sni_mismatch) {
            ws_.note_bad_request();
            return send_simple(421, error_body("MISDIRECTED_REQUEST",
                                               "This connection was opened for '" + sni_ +
                                                   "' (TLS server name) but the request is for '" + request_.host + "'."),
                               false);
        }
        try {
            decision_ = ws_.begin(request_);
        } catch (const std::exception& e) {
            return internal_error(e);
        }
        if (decision_.action == fault_action::drop_before) {
            log("dropped before reading the body");
            return drop();
        }
        auto expect = head.find(http::field::expect);
        if (expect != head.end() && beast::iequals(expect->value(), "100-continue") && !parser_->is_done()) {
            net::async_write(stream_, net::buffer(continue_line, std::strlen(continue_line)),
                             beast::bind_front_handler(&session::on_continue_sent, shared_from_this()));
            return;
        }
        read_body();
    }

    void on_continue_sent(error_code ec, std::size_t) {
        if (ec) return drop();
        read_body();
    }

    void read_body() {
        if (parser_->is_done()) return on_body(error_code{}, 0);
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&session::on_body, shared_from_this()));
    }

    void on_body(error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        request_.body = std::move(parser_->get().body());
        if (decision_.delay.count() > 0) {
            timer_.expires_after(decision_.delay);
            timer_.async_wait(beast::bind_front_handler(&session::on_delay, shared_from_this()));
            return;
        }
        respond();
    }

    void on_delay(error_code ec) {
        if (ec) return drop();
        respond();
    }

    void on_read_error(const error_code& ec) {
        if (ec == http::error::body_limit) {
            // A Content-Length over the limit is refused before the body is read.
            ws_.note_bad_request();
            return send_simple(413, error_body("BAD_REQUEST", "The request body exceeds the 16 MB limit."), false);
        }
        if (is_http_parse_error(ec)) {
            ws_.note_bad_request();
            return send_simple(400, error_body("BAD_REQUEST", "Malformed HTTP request: " + ec.message()), false);
        }
        if (ec == http::error::end_of_stream) return shutdown();
        drop();  // timeout, reset, TLS failure: nothing more to say
    }

    void refuse(int status, const std::string& message) {
        ws_.note_bad_request();
        send_simple(status, error_body("BAD_REQUEST", message), false);
    }

    void log(std::string_view what) const {
        if (!options_.verbose) return;
        std::ostringstream line;
        line << "dbserve-emulator: " << request_.method << " https://" << request_.host << request_.target << " -> "
             << what << "\n";
        std::cerr << line.str() << std::flush;
    }

    // A bug in the service logic answers 500 and closes; it never takes the server down.
    void internal_error(const std::exception& e) {
        std::cerr << "dbserve-emulator: internal error on " << request_.method << " " << request_.target << ": "
                  << e.what() << "\n";
        send_simple(500, error_body("INTERNAL_ERROR", "The emulator failed on this request."), false);
    }

    void respond() {
        try {
            reply_ = ws_.handle(request_, decision_);
        } catch (const std::exception& e) {
            return internal_error(e);
        }
        log(std::to_string(reply_.status));
        if (decision_.action == fault_action::drop_after) return drop();
        keep_alive_ = parser_->get().keep_alive() && !reply_.close;
        if (!reply_.chunks.empty()) return start_chunked();
        auto response = std::make_shared<http::response<http::string_body>>();
        response->version(11);
        response->result(static_cast<unsigned>(reply_.status));
        for (const auto& h : reply_.headers) response->insert(h.first, h.second);
        response->body() = std::move(reply_.body);
        response->keep_alive(keep_alive_);
        response->prepare_payload();
        if (reply_.truncate_after_chunks >= 0) {
            // Half a response, then the connection goes away.
            std::ostringstream whole;
            whole << *response;
            partial_ = whole.str();
            partial_.resize(partial_.size() - response->body().size() / 2 - 1);
            net::async_write(stream_, net::buffer(partial_),
                             [self = shared_from_this()](error_code, std::size_t) { self->drop(); });
            return;
        }
        http::async_write(stream_, *response,
                          [self = shared_from_this(), response](error_code ec, std::size_t) { self->after_write(ec); });
    }

    void start_chunked() {
        head_ = {};
        head_.version(11);
        head_.result(static_cast<unsigned>(reply_.status));
        for (const auto& h : reply_.headers) head_.insert(h.first, h.second);
        head_.keep_alive(keep_alive_);
        head_.chunked(true);
        head_serializer_.emplace(head_);
        next_chunk_ = 0;
        http::async_write_header(stream_, *head_serializer_,
                                 [self = shared_from_this()](error_code ec, std::size_t) {
                                     if (ec) return self->drop();
                                     self->write_chunk();
                                 });
    }

    void write_chunk() {
        if (reply_.truncate_after_chunks >= 0 && next_chunk_ >= static_cast<std::size_t>(reply_.truncate_after_chunks))
            return drop();
        if (next_chunk_ == reply_.chunks.size()) {
            net::async_write(stream_, http::make_chunk_last(),
                             [self = shared_from_this()](error_code ec, std::size_t) { self->after_write(ec); });
            return;
        }
        if (reply_.chunk_delay.count() > 0 && next_chunk_ > 0 && !chunk_delayed_) {
            chunk_delayed_ = true;
            timer_.expires_after(reply_.chunk_delay);
            timer_.async_wait([self = shared_from_this()](error_code ec) {
                if (ec) return self->drop();
                self->write_chunk();
            });
            return;
        }
        chunk_delayed_ = false;
        const auto& chunk = reply_.chunks[next_chunk_++];
        net::async_write(stream_, http::make_chunk(net::buffer(chunk)),
                         [self = shared_from_this()](error_code ec, std::size_t) {
                             if (ec) return self->drop();
                             self->write_chunk();
                         });
    }

    void send_simple(int status, std::string body, bool keep_alive) {
        auto response = std::make_shared<http::response<http::string_body>>();
        response->version(11);
        response->result(static_cast<unsigned>(status));
        response->set(http::field::content_type, "application/json");
        response->body() = std::move(body);
        response->keep_alive(keep_alive);
        response->prepare_payload();
        keep_alive_ = keep_alive;
        http::async_write(stream_, *response,
                          [self = shared_from_this(), response](error_code ec, std::size_t) { self->after_write(ec); });
    }

    void after_write(error_code ec) {
        if (ec) return drop();
        if (!keep_alive_) return shutdown();
        read_next();
    }

    void shutdown() {
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
        stream_.async_shutdown([self = shared_from_this()](error_code) { self->drop(); });
    }

    // Closes the TCP connection without a TLS close_notify: the client sees the peer vanish.
    void drop() {
        error_code ignored;
        auto& socket = beast::get_lowest_layer(stream_).socket();
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
    }

    beast::ssl_stream<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    workspace& ws_;
    const server_options& options_;
    net::steady_timer timer_;
    std::string sni_;
    http_request request_;
    fault_decision decision_;
    http_reply reply_;
    bool keep_alive_ = true;
    std::string partial_;
    http::response<http::empty_body> head_;
    std::optional<http::response_serializer<http::empty_body>> head_serializer_;
    std::size_t next_chunk_ = 0;
    bool chunk_delayed_ = false;  // the wait before next_chunk_ is over
};

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& io, ssl::context& context, workspace& ws, const server_options& options, tcp::endpoint at)
        : io_(io), context_(context), ws_(ws), options_(options), acceptor_(io) {
        acceptor_.open(at.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(at);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    void start() { accept(); }
    void stop() {
        error_code ignored;
        acceptor_.close(ignored);
    }

private:
    void accept() {
        acceptor_.async_accept(net::make_strand(io_), beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (!ec) {
            ws_.note_connection();
            error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<session>(std::move(socket), context_, ws_, options_)->run();
        }
        accept();
    }

    net::io_context& io_;
    ssl::context& context_;
    workspace& ws_;
    const server_options& options_;
    tcp::acceptor acceptor_;
};

// Offers HTTP/1.1 to clients that negotiate ALPN (curl offers h2 first).
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
    static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

int run_server(workspace& ws, const server_options& options, const std::function<void(std::uint16_t)>& on_listening) {
    // The TLS context outlives the io_context, whose destructor frees the last sessions.
    ssl::context context{ssl::context::tls_server};
    net::io_context io{options.threads};
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    context.use_certificate_chain(net::buffer(options.certificate_chain_pem));
    context.use_private_key(net::buffer(options.private_key_pem), ssl::context::pem);
    SSL_CTX_set_alpn_select_cb(context.native_handle(), &select_http11, nullptr);

    auto at = tcp::endpoint(net::ip::make_address(options.address), options.port);
    auto server = std::make_shared<listener>(io, context, ws, options, at);
    server->start();

    std::atomic<bool> stopping{false};
    auto stop = [&] {
        if (stopping.exchange(true)) return;
        server->stop();
        io.stop();
    };
    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](error_code ec, int) {
        if (!ec) stop();
    });
    net::steady_timer lifetime(io);
    if (options.max_lifetime_seconds > 0) {
        lifetime.expires_after(std::chrono::seconds(options.max_lifetime_seconds));
        lifetime.async_wait([&](error_code ec) {
            if (!ec) {
                std::cerr << "dbserve-emulator: maximum lifetime reached, exiting\n";
                stop();
            }
        });
    }
    if (options.exit_on_stdin_eof) {
        // A blocked read() cannot be cancelled portably: the thread is left to die with the process.
        // On EOF it signals the process, which the signal_set above turns into a clean stop.
        std::thread([] {
            char buffer[256];
            while (::read(0, buffer, sizeof buffer) > 0) {
            }
            ::kill(::getpid(), SIGTERM);
        }).detach();
    }

    on_listening(server->port());

    std::vector<std::thread> workers;
    for (int i = 1; i < options.threads; ++i) workers.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& w : workers) w.join();
    return 0;
}

}  // namespace emulator
