// One HTTP exchange as an asynchronous state machine on its own strand:
// pool slot -> resolve -> connect -> proxy CONNECT -> TLS handshake -> write -> read.
// A single steady_timer bounds every step (the connect deadline while the connection
// is being set up, the whole-request deadline after), so a silent peer cannot hang it.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/beast/detail/connection_pool.hpp>
#include <dbserve/beast/detail/target.hpp>
#include <dbserve/beast/detail/tls.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/client/transport_options.hpp>
#include <dbserve/protocol/url.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace beast {
namespace detail {

// A move-only, call-once completion: asio handlers (coroutines, futures) cannot be copied
// into a std::function.
class unique_callback {
public:
    unique_callback() = default;
    template <class F, std::enable_if_t<!std::is_same_v<std::decay_t<F>, unique_callback>, int> = 0>
    unique_callback(F f) : impl_(std::make_unique<model<F>>(std::move(f))) {}

    explicit operator bool() const noexcept { return impl_ != nullptr; }
    // Calls the target once; later calls do nothing.
    void operator()(result<http_response> r) {
        auto impl = std::move(impl_);
        if (impl) impl->call(std::move(r));
    }

private:
    struct base {
        virtual ~base() = default;
        virtual void call(result<http_response> r) = 0;
    };
    template <class F>
    struct model final : base {
        explicit model(F&& f) : function(std::move(f)) {}
        void call(result<http_response> r) override { function(std::move(r)); }
        F function;
    };
    std::unique_ptr<base> impl_;
};

// The longest header name or value boost::beast::http::fields holds (it stores offsets in
// 16 bits, two bytes taken by the line ending).
inline constexpr std::size_t max_header_field_bytes = 65533;

// What every request of one transport shares: options, TLS context, connection pool.
struct transport_state {
    transport_state(boost::asio::any_io_executor ex, transport_options opts)
        : executor(std::move(ex)),
          options(std::move(opts)),
          tls(make_tls_context(options.tls)),
          pool(options.max_connections_per_host, options.max_connection_idle) {
        if (tls.configuration_error) configuration_error = tls.configuration_error;
        if (auto ok = check_resolve_overrides(options.resolve); !ok) configuration_error = std::move(ok).error();
        if (options.max_response_bytes == 0)
            configuration_error = dbserve::error(
                errc::configuration, "transport_options::max_response_bytes is 0: no response could be received");
    }
    ~transport_state() { pool.clear(); }

    boost::asio::any_io_executor executor;
    transport_options options;
    tls_context tls;
    connection_pool pool;
    std::optional<dbserve::error> configuration_error;
};

// The peer closed or reset the connection: on a reused connection before any response
// byte, most likely a keep-alive connection the server closed as the request went out.
inline bool closed_by_peer(const boost::system::error_code& ec) noexcept {
    namespace bhttp = boost::beast::http;
    return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
           ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset ||
           ec == boost::asio::error::connection_aborted || ec == boost::asio::error::broken_pipe ||
           ec == boost::asio::ssl::error::stream_truncated;
}

inline dbserve::error native_error(errc code, std::string message, const boost::system::error_code& ec) {
    dbserve::error e(code, std::move(message) + " (" + ec.message() + ")");
    e.native_code = ec.value();
    e.native_message = std::string(ec.category().name()) + ": " + ec.message();
    return e;
}

class exchange : public std::enable_shared_from_this<exchange> {
public:
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
    using clock = std::chrono::steady_clock;

    exchange(std::shared_ptr<transport_state> state, http_request request, send_options options,
              unique_callback handler)
        : state_(std::move(state)),
          strand_(boost::asio::make_strand(state_->executor)),
          timer_(strand_),
          resolver_(strand_),
          request_(std::move(request)),
          options_(std::move(options)),
          handler_(std::move(handler)) {}

    // Any thread: everything else happens on the strand.
    void launch() {
        boost::asio::post(strand_, [self = shared_from_this()] { self->start(); });
    }
    void cancel() {
        boost::asio::post(strand_, [self = shared_from_this()] {
            dbserve::error e(errc::cancelled, "the request to '" + self->target_.host + "' was cancelled");
            e.request_may_have_been_processed = self->may_have_reached_server_;
            e.native_code = boost::asio::error::operation_aborted;
            e.native_message = "cancelled while " + std::string(self->phase_name());
            self->abort(std::move(e));
        });
    }

private:
    using tcp = boost::asio::ip::tcp;
    using response_parser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;
    enum class phase { starting, waiting_for_connection, resolving, connecting, proxy_tunnel, tls_handshake,
                       sending, waiting_for_response, reading_body };

    const char* phase_name() const noexcept {
        switch (phase_) {
            case phase::starting: return "starting";
            case phase::waiting_for_connection: return "waiting for a free connection";
            case phase::resolving: return "resolving the host name";
            case phase::connecting: return "connecting";
            case phase::proxy_tunnel: return "opening the proxy tunnel";
            case phase::tls_handshake: return "doing the TLS handshake";
            case phase::sending: return "sending the request";
            case phase::waiting_for_response: return "waiting for the response";
            case phase::reading_body: return "reading the response body";
        }
        return "working";
    }

    template <class F>
    auto on_strand(F&& f) {
        return boost::asio::bind_executor(strand_, std::forward<F>(f));
    }

    void start() {
        if (finished_) return;
        if (state_->configuration_error) return finish(*state_->configuration_error);
        auto parsed = dbserve::parse_url(request_.url);
        if (!parsed) return finish(std::move(parsed).error());
        // Beast throws on a header field it cannot hold (name or value over 65,533 bytes),
        // from inside a completion handler: refused here instead, before anything is sent.
        for (const auto& h : request_.headers)
            if (h.name.size() > max_header_field_bytes || h.value.size() > max_header_field_bytes)
                return finish(dbserve::error(
                    errc::invalid_argument, "the request header '" + h.name.substr(0, 64) + "' is " +
                                                std::to_string(h.name.size() + h.value.size()) +
                                                " bytes; Beast sends at most " +
                                                std::to_string(max_header_field_bytes) + " bytes per name or value"));
        // Decided before anything is resolved or connected.
        if (!dbserve::may_carry_credentials(*parsed) && request_.headers.contains("Authorization"))
            return finish(dbserve::error(
                errc::configuration,
                "refusing to send an Authorization header over plain http:// to '" + parsed->host +
                    "': a token may only leave this machine over https:// (plain http is allowed to loopback only)"));
        target_ = to_request_target(std::move(*parsed));
        auto proxy = select_proxy(state_->options.proxy, target_);
        if (!proxy) return finish(std::move(proxy).error());
        proxy_ = std::move(*proxy);

        const resolve_override* o = find_override(state_->options.resolve, target_.host, target_.port);
        key_ = (target_.tls ? "https://" : "http://") + target_.host_and_port();
        if (o) key_ += " at " + o->address;
        if (proxy_) key_ += " via " + proxy_->host + ':' + std::to_string(proxy_->port) + ' ' + proxy_->authorization;

        auto total = options_.timeout.count() > 0 ? options_.timeout : state_->options.request_timeout;
        if (total.count() <= 0) total = std::chrono::minutes(5);
        total_timeout_ = total;
        deadline_ = clock::now() + total;
        arm_timer(deadline_, false);
        acquire();
    }

    void acquire() {
        phase_ = phase::waiting_for_connection;
        std::weak_ptr<exchange> weak = shared_from_this();
        std::weak_ptr<transport_state> weak_state = state_;
        auto key = key_;
        auto got = state_->pool.acquire(key_, [weak, weak_state, key](std::unique_ptr<connection> granted) {
            auto self = weak.lock();
            if (!self) {
                if (auto state = weak_state.lock()) state->pool.release(key, std::move(granted));
                return;
            }
            auto* raw = self.get();
            boost::asio::post(raw->strand_, [self = std::move(self), granted = std::move(granted)]() mutable {
                self->on_granted(std::move(granted));
            });
        });
        switch (got.kind) {
            case connection_pool::outcome::reused:
                holds_slot_ = true;
                conn_ = std::move(got.conn);
                conn_->reused = true;
                return send_request();
            case connection_pool::outcome::open_new:
                holds_slot_ = true;
                return open_connection();
            case connection_pool::outcome::queued:
                waiting_ = true;
                wait_id_ = got.wait_id;
                return;
        }
    }

    void on_granted(std::unique_ptr<connection> granted) {
        waiting_ = false;
        if (finished_) {
            // Too late: pass the slot (and the connection, if any) on.
            state_->pool.release(key_, std::move(granted));
            return;
        }
        holds_slot_ = true;
        if (granted) {
            conn_ = std::move(granted);
            conn_->reused = true;
            send_request();
        } else {
            open_connection();
        }
    }

    void open_connection() {
        const auto now = clock::now();
        const auto connect_timeout = state_->options.connect_timeout;
        const auto connect_deadline = connect_timeout.count() > 0 ? std::min(deadline_, now + connect_timeout) : deadline_;
        if (connect_deadline < deadline_) arm_timer(connect_deadline, true);

        conn_ = std::make_unique<connection>(state_->executor, target_.tls ? state_->tls.context.get() : nullptr);
        const std::string& host = proxy_ ? proxy_->host : target_.host;
        const std::uint16_t port = proxy_ ? proxy_->port : target_.port;
        const resolve_override* o = find_override(state_->options.resolve, host, port);
        std::string address = o ? o->address : host;
        if (address.size() > 2 && address.front() == '[' && address.back() == ']')
            address = address.substr(1, address.size() - 2);
        boost::system::error_code ec;
        const auto ip = boost::asio::ip::make_address(address, ec);
        if (!ec) {
            endpoints_.assign(1, tcp::endpoint(ip, port));
            return connect();
        }
        phase_ = phase::resolving;
        resolver_.async_resolve(
            address, std::to_string(port),
            [self = shared_from_this(), host](const boost::system::error_code& ec, tcp::resolver::results_type results) {
                if (self->finished_) return;
                if (ec)
                    return self->finish(native_error(errc::name_resolution,
                                                     "could not resolve host name '" + host +
                                                         "'; check the spelling, DNS, or add a resolve override",
                                                     ec));
                self->endpoints_.clear();
                for (const auto& entry : results) self->endpoints_.push_back(entry.endpoint());
                self->connect();
            });
    }

    void connect() {
        phase_ = phase::connecting;
        boost::asio::async_connect(
            conn_->socket(), endpoints_,
            on_strand([self = shared_from_this()](const boost::system::error_code& ec, const tcp::endpoint&) {
                if (self->finished_) return;
                if (ec) {
                    const std::string what = self->proxy_ ? "could not connect to the proxy " + self->proxy_->host + ':' +
                                                                std::to_string(self->proxy_->port)
                                                          : "could not connect to " + self->target_.host_and_port();
                    return self->finish(native_error(errc::connection, what, ec));
                }
                boost::system::error_code ignored;
                self->conn_->socket().set_option(tcp::no_delay(true), ignored);
                self->conn_->socket().set_option(boost::asio::socket_base::keep_alive(true), ignored);
                if (self->proxy_) return self->open_tunnel();
                if (self->target_.tls) return self->handshake();
                self->connection_ready();
            }));
    }

    void open_tunnel() {
        namespace bhttp = boost::beast::http;
        phase_ = phase::proxy_tunnel;
        tunnel_request_ = std::make_unique<bhttp::request<bhttp::empty_body>>(bhttp::verb::connect,
                                                                              target_.host_and_port(), 11);
        tunnel_request_->set(bhttp::field::host, target_.host_and_port());
        if (!state_->options.user_agent.empty()) tunnel_request_->set(bhttp::field::user_agent, state_->options.user_agent);
        if (!proxy_->authorization.empty()) tunnel_request_->set(bhttp::field::proxy_authorization, proxy_->authorization);
        bhttp::async_write(conn_->socket(), *tunnel_request_,
                           on_strand([self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                               if (self->finished_) return;
                               if (ec)
                                   return self->finish(
                                       native_error(errc::connection, "sending CONNECT to the proxy failed", ec));
                               self->read_tunnel_reply();
                           }));
    }

    void read_tunnel_reply() {
        namespace bhttp = boost::beast::http;
        tunnel_parser_ = std::make_unique<bhttp::response_parser<bhttp::empty_body>>();
        tunnel_parser_->skip(true);  // a 2xx reply to CONNECT has no body
        bhttp::async_read(conn_->socket(), conn_->buffer, *tunnel_parser_,
                          on_strand([self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                              if (self->finished_) return;
                              if (ec)
                                  return self->finish(native_error(
                                      errc::connection, "the proxy closed the connection or answered CONNECT badly", ec));
                              const auto& reply = self->tunnel_parser_->get();
                              const int status = static_cast<int>(reply.result_int());
                              if (status / 100 != 2) {
                                  dbserve::error e(errc::connection,
                                                   "the proxy refused to open a tunnel to " +
                                                       self->target_.host_and_port() + ": HTTP " + std::to_string(status) +
                                                       (status == 407 ? " (the proxy wants credentials: put user:password "
                                                                        "in the proxy URL)"
                                                                      : ""));
                                  e.native_code = status;
                                  e.native_message = "proxy CONNECT status " + std::to_string(status);
                                  return self->finish(std::move(e));
                              }
                              self->tunnel_parser_.reset();
                              self->tunnel_request_.reset();
                              if (self->conn_->buffer.size() != 0)
                                  return self->finish(dbserve::error(
                                      errc::connection, "the proxy sent data before the tunnel was used"));
                              self->handshake();
                          }));
    }

    void handshake() {
        namespace ssl = boost::asio::ssl;
        phase_ = phase::tls_handshake;
        auto& stream = conn_->tls();
        // SNI carries the bare host name; an IP literal gets none (RFC 6066).
        if (target_.sends_server_name()) SSL_set_tlsext_host_name(stream.native_handle(), target_.host.c_str());
        if (state_->tls.verify) {
            stream.set_verify_mode(ssl::verify_peer);
            connection* c = conn_.get();
            stream.set_verify_callback([c, host = target_.host](bool preverified, ssl::verify_context& ctx) {
                X509_STORE_CTX* store = ctx.native_handle();
                if (!preverified) {
                    if (c->verify.x509_error == 0) c->verify.x509_error = X509_STORE_CTX_get_error(store);
                    return false;
                }
                if (X509_STORE_CTX_get_error_depth(store) == 0 && !ssl::host_name_verification(host)(preverified, ctx)) {
                    c->verify.name_mismatch = true;
                    X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
                    return false;
                }
                return true;
            });
        } else {
            stream.set_verify_mode(ssl::verify_none);
        }
        stream.async_handshake(ssl::stream_base::client,
                               on_strand([self = shared_from_this()](const boost::system::error_code& ec) {
                                   if (self->finished_) return;
                                   if (ec) return self->finish(self->handshake_error(ec));
                                   self->conn_->handshake_done = true;
                                   self->connection_ready();
                               }));
    }

    dbserve::error handshake_error(const boost::system::error_code& ec) {
        verify_outcome outcome = conn_->verify;
        if (outcome.x509_error == 0 && !outcome.name_mismatch) {
            const long result = SSL_get_verify_result(conn_->tls().native_handle());
            if (result != X509_V_OK) outcome.x509_error = static_cast<int>(result);
        }
        if (outcome.x509_error != 0 || outcome.name_mismatch) return certificate_error(outcome, target_.host);
        if (closed_by_peer(ec))
            return native_error(errc::tls,
                                "the server " + target_.host_and_port() +
                                    " closed the connection during the TLS handshake (is it speaking TLS?)",
                                ec);
        return native_error(errc::tls, "the TLS handshake with " + target_.host_and_port() + " failed", ec);
    }

    void connection_ready() {
        arm_timer(deadline_, false);
        send_request();
    }

    void build_request() {
        namespace bhttp = boost::beast::http;
        request_built_ = true;
        request_message_.method(request_.method == http_method::post ? bhttp::verb::post : bhttp::verb::get);
        request_message_.target(target_.path);
        request_message_.version(11);
        if (!request_.headers.contains("Host")) request_message_.set(bhttp::field::host, target_.host_header);
        if (!request_.headers.contains("User-Agent") && !state_->options.user_agent.empty())
            request_message_.set(bhttp::field::user_agent, state_->options.user_agent);
        for (const auto& h : request_.headers) {
            if (dbserve::detail::iequals(h.name, "Content-Length") || dbserve::detail::iequals(h.name, "Transfer-Encoding"))
                continue;  // framing is the transport's job
            request_message_.insert(h.name, h.value);
        }
        request_message_.body() = std::move(request_.body);
        request_message_.keep_alive(true);
        request_message_.prepare_payload();
    }

    void send_request() {
        namespace bhttp = boost::beast::http;
        phase_ = phase::sending;
        if (!request_built_) build_request();
        // From here on some of the request may be on the wire, until the write says otherwise.
        may_have_reached_server_ = true;
        conn_->with_stream([&](auto& stream) {
            bhttp::async_write(stream, request_message_,
                               on_strand([self = shared_from_this()](const boost::system::error_code& ec,
                                                                     std::size_t bytes) { self->on_written(ec, bytes); }));
        });
    }

    void on_written(const boost::system::error_code& ec, std::size_t bytes) {
        if (finished_) return;
        if (ec) {
            if (bytes == 0) {
                may_have_reached_server_ = false;
                // Nothing of it left this machine: safe to send on a fresh connection.
                if (conn_->reused && !retried_) return retry_on_fresh_connection();
            }
            return finish(io_error(ec, "sending the request to " + target_.host_and_port() + " failed"));
        }
        read_header();
    }

    // Go net/http's rule: a request that went out on a reused connection and got no
    // response byte back is sent again only if the server cannot have acted on it twice
    // (a GET without a body). A POST may have reached the model: its outcome is unknown,
    // and repeating it is the caller's decision, never the transport's.
    bool replayable() const noexcept {
        return request_.method == http_method::get && request_message_.body().empty();
    }

    // A kept-alive connection the server had closed before this request reached it:
    // it goes once more on a new connection (keeping this request's pool slot).
    void retry_on_fresh_connection() {
        retried_ = true;
        may_have_reached_server_ = false;
        conn_->close();
        conn_.reset();
        parser_.reset();
        open_connection();
    }

    void read_header() {
        namespace bhttp = boost::beast::http;
        phase_ = phase::waiting_for_response;
        parser_.emplace();
        parser_->header_limit(64 * 1024);
        // Streamed bodies are capped too: a runaway stream is a fault, whoever consumes it.
        parser_->body_limit(static_cast<std::uint64_t>(state_->options.max_response_bytes));
        arm_idle_timer();
        conn_->with_stream([&](auto& stream) {
            bhttp::async_read_header(stream, conn_->buffer, *parser_,
                                     on_strand([self = shared_from_this()](const boost::system::error_code& ec,
                                                                           std::size_t) { self->on_header(ec); }));
        });
    }

    void on_header(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) {
            if (conn_->reused && !retried_ && !parser_->got_some() && closed_by_peer(ec) && replayable())
                return retry_on_fresh_connection();
            return finish(io_error(ec, "no complete response header came from " + target_.host_and_port()));
        }
        const auto& head = parser_->get();
        const unsigned status = head.result_int();
        if (status >= 100 && status < 200 && status != 101) {
            // An interim response (100 Continue, 103 Early Hints): the real one follows.
            return read_header();
        }
        response_.status = static_cast<int>(status);
        response_.reason = std::string(head.reason().data(), head.reason().size());
        for (const auto& field : head) {
            const auto name = field.name_string();
            const auto value = field.value();
            response_.headers.add_unchecked(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
        }
        // The parser has already refused a Content-Length over the cap.
        if (!options_.on_body_chunk)
            if (const auto length = parser_->content_length())
                response_.body.reserve(static_cast<std::size_t>(*length));
        read_body();
    }

    void read_body() {
        namespace bhttp = boost::beast::http;
        phase_ = phase::reading_body;
        if (parser_->is_done()) return on_complete();
        auto& body = parser_->get().body();
        body.data = chunk_.data();
        body.size = chunk_.size();
        conn_->with_stream([&](auto& stream) {
            bhttp::async_read_some(stream, conn_->buffer, *parser_,
                                   on_strand([self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                                       self->on_body(ec);
                                   }));
        });
    }

    void on_body(boost::system::error_code ec) {
        if (finished_) return;
        if (ec == boost::beast::http::error::need_buffer) ec = {};
        const std::size_t n = chunk_.size() - parser_->get().body().size;
        if (n != 0) {
            arm_idle_timer();  // bytes came: the stream's inactivity limit starts over
            if (options_.on_body_chunk) options_.on_body_chunk(response_, std::string_view(chunk_.data(), n));
            else response_.body.append(chunk_.data(), n);
        }
        if (finished_) return;  // the chunk handler cancelled
        if (ec) return finish(io_error(ec, "reading the response body from " + target_.host_and_port() + " failed"));
        if (parser_->is_done()) return on_complete();
        read_body();
    }

    void on_complete() {
        const auto& message = parser_->get();
        const bool reusable = message.keep_alive() && !parser_->need_eof() && conn_->buffer.size() == 0;
        ++conn_->requests_served;
        finish(std::move(response_), reusable);
    }

    dbserve::error io_error(const boost::system::error_code& ec, const std::string& what) {
        namespace bhttp = boost::beast::http;
        dbserve::error e;
        if (ec == bhttp::error::body_limit) {
            e = native_error(errc::response_too_large,
                             "the response from " + target_.host_and_port() +
                                 " is larger than transport_options::max_response_bytes (" +
                                 std::to_string(state_->options.max_response_bytes) + " bytes); raise it if that is expected",
                             ec);
        } else if (ec == bhttp::error::header_limit) {
            e = native_error(errc::response_too_large,
                             "the response header from " + target_.host_and_port() + " is larger than 64 KiB", ec);
        } else if (closed_by_peer(ec)) {
            e = native_error(errc::connection,
                             what + ": the server closed the connection before the response was complete", ec);
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
            e = native_error(errc::bad_response, what + ": the reply is not valid HTTP/1.1", ec);
        } else if (ec.category() == boost::asio::error::get_ssl_category() ||
                   ec.category() == boost::asio::ssl::error::get_stream_category()) {
            e = native_error(errc::tls, what + ": TLS error", ec);
        } else {
            e = native_error(errc::connection, what, ec);
        }
        e.request_may_have_been_processed = may_have_reached_server_;
        return e;
    }

    void arm_timer(clock::time_point at, bool connect_phase) {
        timer_is_connect_ = connect_phase;
        timer_is_idle_ = false;
        const auto generation = ++timer_generation_;
        timer_.expires_at(at);
        timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
            if (ec || generation != self->timer_generation_ || self->finished_) return;
            self->on_deadline();
        });
    }

    // A streamed response with an inactivity limit (send_options::idle_timeout): the timer
    // waits for the next byte at most that long, never past the whole request's deadline.
    void arm_idle_timer() {
        if (!options_.on_body_chunk || options_.idle_timeout.count() <= 0) return;
        const auto idle_at = clock::now() + options_.idle_timeout;
        if (idle_at >= deadline_) {
            if (timer_is_idle_) arm_timer(deadline_, false);
            return;
        }
        arm_timer(idle_at, false);
        timer_is_idle_ = true;
    }

    void on_deadline() {
        std::string message;
        if (timer_is_idle_) {
            dbserve::error e(errc::timeout, "the streamed response from " + target_.host_and_port() + " sent no byte for " +
                                                std::to_string(options_.idle_timeout.count()) +
                                                " ms (send_options::idle_timeout)");
            e.request_may_have_been_processed = true;
            e.native_code = boost::asio::error::timed_out;
            e.native_message = std::string("inactivity limit passed while ") + phase_name();
            return abort(std::move(e));
        }
        if (timer_is_connect_) {
            message = "connecting to " + (proxy_ ? "the proxy for " : std::string()) + target_.host_and_port() +
                      " took longer than transport_options::connect_timeout (" +
                      std::to_string(state_->options.connect_timeout.count()) + " ms) while " + phase_name();
        } else {
            message = "the request to " + target_.host_and_port() + " did not complete within " +
                      std::to_string(total_timeout_.count()) + " ms (stopped while " + phase_name() + ")";
        }
        dbserve::error e(errc::timeout, std::move(message));
        e.request_may_have_been_processed = may_have_reached_server_;
        e.native_code = boost::asio::error::timed_out;
        e.native_message = std::string("deadline expired while ") + phase_name();
        abort(std::move(e));
    }

    // Stops whatever is in flight: pending handlers run later, see finished_ and return.
    void abort(dbserve::error e) {
        if (finished_) return;
        finish(std::move(e));
    }

    void finish(result<http_response> outcome, bool reusable = false) {
        if (finished_) return;
        finished_ = true;
        ++timer_generation_;
        timer_.cancel();
        resolver_.cancel();
        if (waiting_) {
            // If the grant is already on its way, on_granted passes it on.
            if (state_->pool.cancel_wait(key_, wait_id_)) waiting_ = false;
        }
        if (holds_slot_) {
            holds_slot_ = false;
            if (conn_ && reusable) {
                conn_->reused = false;
                state_->pool.release(key_, std::move(conn_));
            } else {
                if (conn_) {
                    if (outcome.has_value()) {
                        // Nothing is in flight: close TLS politely in the background.
                        connection::close_gracefully(std::shared_ptr<connection>(std::move(conn_)), state_->executor);
                    } else {
                        conn_->close();  // aborts pending operations; conn_ lives until they return
                    }
                }
                state_->pool.release(key_, nullptr);
            }
        }
        handler_(std::move(outcome));
    }

    std::shared_ptr<transport_state> state_;
    strand_type strand_;
    boost::asio::steady_timer timer_;
    tcp::resolver resolver_;
    http_request request_;
    send_options options_;
    unique_callback handler_;

    request_target target_;
    std::optional<proxy_target> proxy_;
    std::string key_;
    clock::time_point deadline_{};
    std::chrono::milliseconds total_timeout_{0};
    std::vector<tcp::endpoint> endpoints_;
    std::unique_ptr<connection> conn_;
    std::unique_ptr<boost::beast::http::request<boost::beast::http::empty_body>> tunnel_request_;
    std::unique_ptr<boost::beast::http::response_parser<boost::beast::http::empty_body>> tunnel_parser_;
    boost::beast::http::request<boost::beast::http::string_body> request_message_;
    std::optional<response_parser> parser_;
    std::array<char, 16 * 1024> chunk_{};
    http_response response_;

    phase phase_ = phase::starting;
    std::uint64_t timer_generation_ = 0;
    std::uint64_t wait_id_ = 0;
    bool timer_is_connect_ = false;
    bool timer_is_idle_ = false;  // the timer waits for a streamed body's next byte
    bool finished_ = false;
    bool waiting_ = false;
    bool holds_slot_ = false;
    bool may_have_reached_server_ = false;  // some byte of the request may have been sent
    bool retried_ = false;
    bool request_built_ = false;
};

}  // namespace detail
}  // namespace beast
DBSERVE_END_NAMESPACE
