// One request/response exchange on an easy handle: checks the request, sets the
// per-request options, collects the status line, headers and body (or hands the body to
// the streaming callback), enforces the size cap, and turns the outcome into a result.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/curl/detail/error_mapping.hpp>
#include <chrono>
#include <dbserve/curl/detail/handles.hpp>
#include <dbserve/curl/detail/settings.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/protocol/url.hpp>

#include <curl/curl.h>

#include <cstddef>
#include <string>
#include <string_view>
#if DBSERVE_HAS_EXCEPTIONS
#include <exception>
#endif

DBSERVE_BEGIN_NAMESPACE
namespace curl {
namespace detail {

struct url_parts {
    std::string scheme;
    std::string host;
};

// The scheme and host libcurl's own URL parser finds, so a check made on them and the
// connection libcurl opens can never disagree about the host.
inline CURLUcode parse_with_curl(const std::string& text, url_parts& parts) {
    CURLU* url = curl_url();
    if (!url) return CURLUE_OUT_OF_MEMORY;
    const CURLUcode parsed = curl_url_set(url, CURLUPART_URL, text.c_str(), 0);
    if (parsed == CURLUE_OK) {
        char* part = nullptr;
        if (curl_url_get(url, CURLUPART_SCHEME, &part, 0) == CURLUE_OK) parts.scheme = part;
        curl_free(part);
        part = nullptr;
        if (curl_url_get(url, CURLUPART_HOST, &part, 0) == CURLUE_OK) parts.host = part;
        curl_free(part);
    }
    curl_url_cleanup(url);
    return parsed;
}

// The host to name in an error message (the URL itself when it has none).
inline std::string host_of(const std::string& url) {
    url_parts parts;
    parse_with_curl(url, parts);
    return parts.host.empty() ? url : parts.host;
}

// What connections to the URL's server are pooled by: scheme and authority as written,
// in lower case (e.g. "https://adb-1.2.azuredatabricks.net").
inline std::string connection_key(std::string_view url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url);
    const auto authority_end = url.find_first_of("/?#", scheme_end + 3);
    std::string key(url.substr(0, authority_end));
    for (auto& c : key)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return key;
}

// Refuses what must never be sent: a URL that is not absolute http(s), and a bearer
// token over plain HTTP to anything but loopback.
inline result<void> check_request(const http_request& request) {
    // The common case needs no parsing: https may go anywhere.
    if (request.url.size() > 8 && dbserve::detail::iequals(std::string_view(request.url).substr(0, 8), "https://"))
        return {};
    url_parts parts;
    const CURLUcode parsed = parse_with_curl(request.url, parts);
    if (parsed != CURLUE_OK || parts.host.empty())
        return unexpected(errc::invalid_argument,
                          "the request URL is not an absolute http(s) URL: '" + request.url + "' (" +
                              curl_url_strerror(parsed) + ")");
    if (parts.scheme != "https" && parts.scheme != "http")
        return unexpected(errc::invalid_argument,
                          "the request URL scheme '" + parts.scheme + "' is not supported; use https://");
    if (parts.scheme == "http" && request.headers.contains("Authorization")) {
        // The core's parser and loopback rule decide, as for every adapter; libcurl's reading
        // of the host must say loopback too, so the host it connects to is the one checked.
        auto core = dbserve::parse_url(request.url);
        if (!core) return std::move(core).error();
        if (!dbserve::may_carry_credentials(*core) || !dbserve::is_loopback_host(parts.host))
            return unexpected(errc::configuration,
                              "refusing to send an Authorization header over plain http:// to " + parts.host +
                                  ": credentials would travel unencrypted. Use https:// (plain http is "
                                  "allowed only to loopback addresses)");
    }
    return {};
}

class exchange {
public:
    exchange(const http_request& request, const send_options& options) : request_(request), options_(options) {}
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;

    // Resets the easy handle and sets every option this exchange needs.
    result<void> prepare(CURL* easy, const settings& transport, CURLSH* share) {
        easy_ = easy;
        max_body_ = transport.options.max_response_bytes;
        timeout_ = options_.timeout.count() > 0 ? options_.timeout : transport.options.request_timeout;
        connect_timeout_ = transport.options.connect_timeout;
        curl_easy_reset(easy);
        option_setter set(easy);
        transport.apply(set, share);

        for (const auto& h : request_.headers) {
            line_.assign(h.name);
            // "Name;" is libcurl's way to send a header with an empty value.
            line_ += h.value.empty() ? ";" : ": ";
            line_ += h.value;
            if (!append(headers_, line_.c_str())) return unexpected(errc::configuration, "out of memory");
        }
        // Waiting for "100 Continue" costs a round trip (or a second) on every large POST.
        if (!request_.headers.contains("Expect") && !append(headers_, "Expect:"))
            return unexpected(errc::configuration, "out of memory");

        error_buffer_[0] = '\0';
        set(CURLOPT_URL, request_.url.c_str())(CURLOPT_HTTPHEADER, headers_.get())(CURLOPT_ERRORBUFFER, error_buffer_);
        set(CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
        set(CURLOPT_HEADERFUNCTION, &on_header)(CURLOPT_HEADERDATA, this);
        set(CURLOPT_WRITEFUNCTION, &on_body)(CURLOPT_WRITEDATA, this);
        set(CURLOPT_PREREQFUNCTION, &on_attempt)(CURLOPT_PREREQDATA, this);
        if (options_.on_body_chunk && options_.idle_timeout.count() > 0) {
            // libcurl's low-speed limit counts whole seconds; a progress callback (called at
            // least once a second, and whenever data moves) keeps the limit in milliseconds.
            last_byte_at_ = std::chrono::steady_clock::now();
            set(CURLOPT_NOPROGRESS, 0L)(CURLOPT_XFERINFOFUNCTION, &on_progress)(CURLOPT_XFERINFODATA, this);
        }
        if (request_.method == http_method::post) {
            set(CURLOPT_POST, 1L)(CURLOPT_POSTFIELDS, request_.body.data());
            set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_.body.size()));
        } else {
            set(CURLOPT_HTTPGET, 1L);
        }
        if (!set.ok()) return set.error();
        return {};
    }

    // The outcome once libcurl reports the transfer done with `code`.
    result<http_response> finish(CURLcode code) {
        if (code == CURLE_OK) return std::move(response_);
        if (stalled_) {
            dbserve::error e(errc::timeout, "the streamed response from " + host_of(request_.url) + " sent no byte for " +
                                                std::to_string(options_.idle_timeout.count()) +
                                                " ms (send_options::idle_timeout)");
            e.request_may_have_been_processed = true;
            return e;
        }
        const std::string host = host_of(request_.url);
        failure_context context;
        context.host = host;
        context.timeout = timeout_;
        context.connect_timeout = connect_timeout_;
        context.max_response_bytes = max_body_;
        context.response_too_large = too_large_;
        context.resend_refused = resend_refused_;
        context.request_sent = may_have_been_processed();
        context.connection_ready = attempts_ > 0;  // libcurl asks before each send, on a ready connection
        context.error_buffer = error_buffer_;
        auto e = map_error(code, easy_, context);
        e.request_may_have_been_processed = context.request_sent;
        return e;
    }

    // The outcome for a request taken off the wire by cancellation.
    result<http_response> cancelled() {
        dbserve::error e(errc::cancelled, "the request to " + host_of(request_.url) + " was cancelled");
        e.request_may_have_been_processed = may_have_been_processed();
        return e;
    }

#if DBSERVE_HAS_EXCEPTIONS
    // An exception thrown by on_body_chunk cannot cross libcurl's C frames: it is kept
    // here, the transfer is aborted, and the transport rethrows it to its caller.
    std::exception_ptr callback_exception;
#endif

private:
    // libcurl calls this before each attempt to send the request on a connection,
    // including the one it makes on its own when a reused connection dies without a
    // response ("Connection died, retrying a fresh connect"). That second attempt is
    // allowed, as in Go's net/http, only when nothing of the request went out, or when
    // the request is a GET without a body: a POST that may have reached the model is
    // never sent twice by the transport. (An HTTP/2 REFUSED_STREAM, which the server
    // promises it did not process, is refused too: the caller sees an unknown outcome.)
    static int on_attempt(void* self, char*, char*, int, int) {
        auto& x = *static_cast<exchange*>(self);
        const long sent = request_size(x.easy_);
        if (x.attempts_++ > 0 && sent > x.sent_before_attempt_ && !x.replayable()) {
            x.resend_refused_ = true;
            return CURL_PREREQFUNC_ABORT;
        }
        x.sent_before_attempt_ = sent;  // a proxy's CONNECT request counts in it too
        return CURL_PREREQFUNC_OK;
    }

    static long request_size(CURL* easy) noexcept {
        long bytes = 0;
        if (easy) curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &bytes);
        return bytes;
    }

    bool replayable() const noexcept { return request_.method == http_method::get && request_.body.empty(); }

    // True once any byte of the request itself (not of a proxy's CONNECT) was handed to
    // the connection, in this attempt or one whose resend was refused: from then on the
    // server may act on it whatever happens next.
    bool may_have_been_processed() const noexcept {
        return resend_refused_ || (attempts_ > 0 && request_size(easy_) > sent_before_attempt_);
    }

    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self) {
        auto& x = *static_cast<exchange*>(self);
        const std::size_t total = size * count;
        std::string_view line(data, total);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        if (line.substr(0, 5) == "HTTP/") {
            // A new status line (after a 1xx): the headers so far belonged to it.
            x.response_.headers.clear();
            x.response_.reason.clear();
            const auto first_space = line.find(' ');
            if (first_space != std::string_view::npos) {
                auto rest = line.substr(first_space + 1);
                int status = 0;
                std::size_t i = 0;
                for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i) status = status * 10 + (rest[i] - '0');
                x.response_.status = status;
                if (i < rest.size()) x.response_.reason.assign(rest.substr(i + 1));
            }
        } else if (!line.empty()) {
            const auto colon = line.find(':');
            if (colon != std::string_view::npos) {
                auto value = line.substr(colon + 1);
                while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
                while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
                x.response_.headers.add_unchecked(std::string(line.substr(0, colon)), std::string(value));
            }
        }
        return total;
    }

    // A streamed response with an inactivity limit: stops the transfer once no byte came
    // for that long.
    static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
        auto& x = *static_cast<exchange*>(self);
        if (std::chrono::steady_clock::now() - x.last_byte_at_ < x.options_.idle_timeout) return 0;
        x.stalled_ = true;
        return 1;  // CURLE_ABORTED_BY_CALLBACK
    }

    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self) {
        auto& x = *static_cast<exchange*>(self);
        const std::size_t total = size * count;
        if (x.options_.idle_timeout.count() > 0 && total > 0) x.last_byte_at_ = std::chrono::steady_clock::now();
        if (total > x.max_body_ - x.body_bytes_) {
            x.too_large_ = true;
            return 0;  // anything but `total` aborts the transfer
        }
        if (x.body_bytes_ == 0 && !x.options_.on_body_chunk) x.reserve_for_content_length();
        x.body_bytes_ += total;
        if (!x.options_.on_body_chunk) {
            x.response_.body.append(data, total);
            return total;
        }
#if DBSERVE_HAS_EXCEPTIONS
        try {
            x.options_.on_body_chunk(x.response_, std::string_view(data, total));
        } catch (...) {
            x.callback_exception = std::current_exception();
            return 0;
        }
#else
        x.options_.on_body_chunk(x.response_, std::string_view(data, total));
#endif
        return total;
    }

    void reserve_for_content_length() {
        curl_off_t length = -1;
        if (curl_easy_getinfo(easy_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length > 0 &&
            static_cast<std::size_t>(length) <= max_body_)
            response_.body.reserve(static_cast<std::size_t>(length));
    }

    const http_request& request_;
    const send_options& options_;
    CURL* easy_ = nullptr;
    slist_handle headers_;
    std::string line_;
    http_response response_;
    std::size_t max_body_ = 0;
    std::size_t body_bytes_ = 0;
    bool too_large_ = false;
    unsigned attempts_ = 0;         // times libcurl was about to send the request
    long sent_before_attempt_ = 0;  // CURLINFO_REQUEST_SIZE as the last attempt began
    bool resend_refused_ = false;
    std::chrono::milliseconds timeout_{0};
    std::chrono::milliseconds connect_timeout_{0};
    std::chrono::steady_clock::time_point last_byte_at_{};  // with an idle timeout
    bool stalled_ = false;                                   // the idle timeout stopped the transfer
    char error_buffer_[CURL_ERROR_SIZE];
};

}  // namespace detail
}  // namespace curl
DBSERVE_END_NAMESPACE
