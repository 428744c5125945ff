// One connection (plain TCP or TLS over TCP) and the pool that keeps idle ones per
// host for reuse, bounded by transport_options::max_connections_per_host: a request
// that finds every connection busy waits for one to come back.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/beast/detail/tls.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace beast {
namespace detail {

class connection {
public:
    using socket_type = boost::asio::ip::tcp::socket;
    using tls_stream_type = boost::asio::ssl::stream<socket_type>;

    // With a context the connection speaks TLS (after the handshake), else plain TCP.
    connection(const boost::asio::any_io_executor& executor, boost::asio::ssl::context* tls_context) {
        if (tls_context) tls_ = std::make_unique<tls_stream_type>(executor, *tls_context);
        else plain_ = std::make_unique<socket_type>(executor);
    }

    bool is_tls() const noexcept { return tls_ != nullptr; }
    socket_type& socket() noexcept { return tls_ ? tls_->next_layer() : *plain_; }
    tls_stream_type& tls() noexcept { return *tls_; }

    // Calls f with the stream HTTP goes over (the TLS stream or the socket).
    template <class F>
    void with_stream(F&& f) {
        if (tls_) f(*tls_);
        else f(*plain_);
    }

    // An idle connection is reusable only if the peer has neither closed it nor sent
    // anything unasked (a TLS close_notify, a stray byte): peek without blocking.
    bool looks_reusable(std::chrono::steady_clock::duration max_idle) noexcept {
        if (!socket().is_open() || buffer.size() != 0) return false;
        // Like curl's CURLOPT_MAXAGE_CONN: a load balancer may drop a connection idle this
        // long without telling either end, and a POST sent on it would end with its
        // outcome unknown.
        if (max_idle.count() <= 0 || std::chrono::steady_clock::now() - idle_since > max_idle) return false;
        boost::system::error_code ec;
        socket().non_blocking(true, ec);
        if (ec) return false;
        char byte = 0;
        socket().receive(boost::asio::buffer(&byte, 1), socket_type::message_peek, ec);
        const bool alive = ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
        boost::system::error_code ignored;
        socket().non_blocking(false, ignored);
        return alive;
    }

    void close() noexcept {
        boost::system::error_code ignored;
        socket().shutdown(socket_type::shutdown_both, ignored);
        socket().close(ignored);
    }

    // Sends a TLS close_notify and waits briefly for the peer's; a peer that just drops
    // the connection (stream_truncated, eof) is as good as a clean close.
    static void close_gracefully(std::shared_ptr<connection> self, const boost::asio::any_io_executor& executor) {
        if (!self) return;
        if (!self->is_tls() || !self->handshake_done || !self->socket().is_open()) {
            self->close();
            return;
        }
        auto strand = boost::asio::make_strand(executor);
        auto timer = std::make_shared<boost::asio::steady_timer>(strand);
        timer->expires_after(std::chrono::seconds(1));
        timer->async_wait(boost::asio::bind_executor(strand, [self, timer](const boost::system::error_code& ec) {
            if (!ec) self->close();
        }));
        self->tls().async_shutdown(boost::asio::bind_executor(strand, [self, timer](const boost::system::error_code&) {
            timer->cancel();
            self->close();
        }));
    }

    boost::beast::flat_buffer buffer;  // bytes read past the last message stay with the connection
    std::chrono::steady_clock::time_point idle_since{};
    verify_outcome verify;             // filled by the certificate verify callback
    bool handshake_done = false;
    bool reused = false;
    std::uint64_t requests_served = 0;

private:
    std::unique_ptr<tls_stream_type> tls_;
    std::unique_ptr<socket_type> plain_;
};

class connection_pool {
public:
    // Receives either a reusable idle connection, or nullptr: permission to open a new one.
    using grant_function = std::function<void(std::unique_ptr<connection>)>;

    enum class outcome { reused, open_new, queued };
    struct acquired {
        outcome kind = outcome::open_new;
        std::unique_ptr<connection> conn;
        std::uint64_t wait_id = 0;
    };

    connection_pool(std::size_t limit, std::chrono::steady_clock::duration max_idle)
        : limit_(limit == 0 ? 1 : limit), max_idle_(max_idle) {}

    // Takes an idle connection the peer has not closed, or a slot for a new one, or
    // queues `grant` to be called (from another thread, outside the lock) when one frees up.
    acquired acquire(const std::string& key, grant_function grant) {
        std::vector<std::unique_ptr<connection>> dead;
        acquired out;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            host_state& host = hosts_[key];
            while (!host.idle.empty()) {
                std::unique_ptr<connection> c = std::move(host.idle.back());
                host.idle.pop_back();
                if (c->looks_reusable(max_idle_)) {
                    out.kind = outcome::reused;
                    out.conn = std::move(c);
                    break;
                }
                --host.open;
                dead.push_back(std::move(c));
            }
            if (out.kind != outcome::reused) {
                if (host.open < limit_) {
                    ++host.open;
                    out.kind = outcome::open_new;
                } else {
                    out.kind = outcome::queued;
                    out.wait_id = ++next_wait_id_;
                    host.waiters.push_back({out.wait_id, std::move(grant)});
                }
            }
        }
        for (auto& c : dead) c->close();
        return out;
    }

    // Gives back a connection after a request: a reusable one (kept idle or handed to a
    // waiter) or nullptr when it was closed (its slot goes to a waiter or is freed).
    void release(const std::string& key, std::unique_ptr<connection> conn) {
        grant_function grant;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = hosts_.find(key);
            if (it == hosts_.end()) return;
            host_state& host = it->second;
            if (!host.waiters.empty()) {
                grant = std::move(host.waiters.front().grant);
                host.waiters.pop_front();
            } else if (conn) {
                conn->idle_since = std::chrono::steady_clock::now();
                host.idle.push_back(std::move(conn));
                return;
            } else {
                if (host.open > 0) --host.open;
                return;
            }
        }
        grant(std::move(conn));
    }

    // Forgets a queued request (it timed out or was cancelled); false if already granted.
    bool cancel_wait(const std::string& key, std::uint64_t wait_id) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = hosts_.find(key);
        if (it == hosts_.end()) return false;
        auto& waiters = it->second.waiters;
        for (auto w = waiters.begin(); w != waiters.end(); ++w)
            if (w->id == wait_id) {
                waiters.erase(w);
                return true;
            }
        return false;
    }

    std::size_t idle_count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const auto& h : hosts_) n += h.second.idle.size();
        return n;
    }

    // Closes every idle connection (the transport is going away).
    void clear() {
        std::vector<std::unique_ptr<connection>> idle;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& h : hosts_) {
                for (auto& c : h.second.idle) idle.push_back(std::move(c));
                h.second.open -= std::min(h.second.open, h.second.idle.size());
                h.second.idle.clear();
            }
        }
        for (auto& c : idle) c->close();
    }

private:
    struct waiter {
        std::uint64_t id;
        grant_function grant;
    };
    struct host_state {
        std::vector<std::unique_ptr<connection>> idle;
        std::size_t open = 0;  // idle + in use + being opened
        std::deque<waiter> waiters;
    };

    mutable std::mutex mutex_;
    std::unordered_map<std::string, host_state> hosts_;
    std::size_t limit_;
    std::chrono::steady_clock::duration max_idle_;
    std::uint64_t next_wait_id_ = 0;
};

}  // namespace detail
}  // namespace beast
DBSERVE_END_NAMESPACE
