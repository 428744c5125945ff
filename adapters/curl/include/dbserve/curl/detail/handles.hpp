// Owning wrappers for libcurl's handles, the one-time global initialisation, and the
// share handle that lets every easy handle of a transport reuse TLS sessions and DNS
// answers.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <curl/curl.h>

#ifndef _WIN32
#include <poll.h>
#endif

#include <array>
#include <memory>
#include <mutex>

DBSERVE_BEGIN_NAMESPACE
namespace curl {
namespace detail {

struct easy_deleter {
    void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
struct multi_deleter {
    void operator()(CURLM* handle) const noexcept { curl_multi_cleanup(handle); }
};
struct slist_deleter {
    void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using easy_handle = std::unique_ptr<CURL, easy_deleter>;
using multi_handle = std::unique_ptr<CURLM, multi_deleter>;
using slist_handle = std::unique_ptr<curl_slist, slist_deleter>;

// curl_global_init is not reentrant in every build; run it once per process. It is never
// undone: another part of the program may still be using libcurl at exit.
inline bool global_init() noexcept {
    static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return ok;
}

// Appends one line to a curl_slist, keeping the list owned on every path.
// True when the connection an easy handle kept from its last transfer has something to
// read while idle: the server's close_notify, FIN or reset. libcurl's own check before
// reuse takes a pending TLS alert for a live connection, sends the request on it, and
// then could only retry it, which a POST must never be; so such a connection is not
// reused, as Go's net/http drops an idle connection its read loop saw closed.
inline bool kept_connection_closed(CURL* easy) noexcept {
#ifdef _WIN32
    (void)easy;
    return false;
#else
    curl_socket_t socket = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &socket) != CURLE_OK || socket == CURL_SOCKET_BAD)
        return false;
    pollfd idle{socket, POLLIN, 0};
    return ::poll(&idle, 1, 0) > 0;
#endif
}

inline bool append(slist_handle& list, const char* line) noexcept {
    curl_slist* grown = curl_slist_append(list.get(), line);
    if (!grown) return false;
    (void)list.release();
    list.reset(grown);
    return true;
}

// A share handle for TLS sessions and the DNS cache, usable from several threads: the
// blocking transport runs easy handles concurrently, one per calling thread.
class shared_caches {
public:
    shared_caches() noexcept : share_(curl_share_init()) {
        if (!share_) return;
        curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &lock);
        curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &unlock);
        curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
        curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
    ~shared_caches() {
        if (share_) curl_share_cleanup(share_);
    }
    shared_caches(const shared_caches&) = delete;
    shared_caches& operator=(const shared_caches&) = delete;

    CURLSH* get() const noexcept { return share_; }

private:
    static std::mutex* mutex_for(void* self, curl_lock_data data) noexcept {
        auto& locks = static_cast<shared_caches*>(self)->locks_;
        const auto index = static_cast<std::size_t>(data);
        return index < locks.size() ? &locks[index] : &locks[0];
    }
    static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
        mutex_for(self, data)->lock();
    }
    static void unlock(CURL*, curl_lock_data data, void* self) { mutex_for(self, data)->unlock(); }

    CURLSH* share_ = nullptr;
    std::array<std::mutex, CURL_LOCK_DATA_LAST> locks_;
};

}  // namespace detail
}  // namespace curl
DBSERVE_END_NAMESPACE
