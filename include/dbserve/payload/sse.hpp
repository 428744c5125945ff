// An incremental Server-Sent Events parser (WHATWG HTML "event stream interpretation").
// Bytes arrive in chunks of any size, down to one byte; events are delivered as soon as
// their terminating blank line has arrived. Line ends may be CRLF, LF or a lone CR, even
// when a CRLF pair is split across two chunks. `data: [DONE]` ends the stream. A body that
// is not an event stream at all (a JSON error object, an HTML page) is recognised from its
// first byte and reported through outcome() instead of being parsed as events.
#pragma once

#include <dbserve/payload/detail/error_body.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

struct sse_event {
    // The `event:` field; empty when the event gave none (the SSE default type "message").
    std::string event;
    // Every `data:` line of the event joined with '\n' (no trailing newline).
    std::string data;
    // The last event id seen in the stream (`id:` persists across events per the spec).
    std::string id;
};

class sse_parser {
public:
    // A single event, a single line of any field, or a non-stream body larger than this is
    // refused rather than buffered without bound; outcome() then reports
    // errc::response_too_large.
    static constexpr std::size_t default_max_event_bytes = 16u * 1024u * 1024u;

    explicit sse_parser(std::size_t max_event_bytes = default_max_event_bytes) noexcept
        : max_event_bytes_(max_event_bytes) {}

    // Feeds the next bytes of the response body; calls on_event(const sse_event&) for each
    // complete event. The `data: [DONE]` event is not delivered: it sets done() and every
    // byte after it is ignored.
    template <class OnEvent>
    void feed(std::string_view bytes, OnEvent&& on_event) {
        if (mode_ == mode::sniffing) {
            sniff_.append(bytes.data(), bytes.size());
            if (!decide_mode()) return;
            std::string pending;
            pending.swap(sniff_);
            if (mode_ == mode::stream) {
                parse(pending, on_event);
            } else {
                append_body(pending);
            }
            return;
        }
        if (mode_ == mode::stream) {
            parse(bytes, on_event);
        } else if (mode_ == mode::not_a_stream) {
            append_body(bytes);
        }
    }

    // Call once at the end of the body. A last line without its line end and a last event
    // without its blank line are delivered (servers that close right after `data: [DONE]\n`
    // exist); then outcome() tells how the stream ended.
    template <class OnEvent>
    void finish(OnEvent&& on_event) {
        if (finished_) return;
        finished_ = true;
        if (mode_ == mode::sniffing) {
            // Only a BOM, whitespace or nothing arrived: an empty stream.
            mode_ = mode::stream;
            std::string pending;
            pending.swap(sniff_);
            parse(pending, on_event);
        }
        if (mode_ == mode::stream && !done_ && !too_large_) {
            if (!line_.empty()) {
                std::string last;
                last.swap(line_);
                process_line(last, on_event);
            }
            if (!done_ && !too_large_ && !data_.empty()) dispatch(on_event);
        }
    }
    void finish() {
        finish([](const sse_event&) {});
    }

    // True once `data: [DONE]` was seen.
    bool done() const noexcept { return done_; }
    // True when the body is not an event stream (it began with '{', '[' or '<').
    bool is_not_a_stream() const noexcept { return mode_ == mode::not_a_stream; }
    // The body kept when it is not an event stream, e.g. to hand to an error parser that
    // also knows the HTTP status.
    std::string_view non_stream_body() const noexcept { return body_; }
    // The last `retry:` field, if any.
    std::optional<std::chrono::milliseconds> retry() const noexcept { return retry_; }
    // Number of events delivered to on_event so far.
    std::size_t event_count() const noexcept { return events_; }

    // How the stream went, after finish(): success when `data: [DONE]` arrived; the service's
    // error when the body was a JSON error object; bad_response for an HTML page, another
    // non-stream body or a stream that ended before [DONE]; response_too_large past the cap.
    result<void> outcome() const {
        if (too_large_)
            return unexpected(errc::response_too_large,
                              "an event in the stream is larger than " +
                                  std::to_string(max_event_bytes_) +
                                  " bytes; raise max_event_bytes if such events are expected");
        if (mode_ == mode::not_a_stream) return non_stream_error();
        if (done_) return {};
        if (!finished_)
            return unexpected(errc::bad_response,
                              "the event stream has not ended yet; call finish() at the end "
                              "of the body before outcome()");
        return unexpected(errc::bad_response,
                          "the event stream ended before `data: [DONE]`; the response was "
                          "cut short (connection closed or a proxy timeout)");
    }

private:
    enum class mode { sniffing, stream, not_a_stream };

    // Decides from the first significant byte whether this is an event stream. Returns false
    // while more bytes are needed (a partial byte order mark or only whitespace so far).
    bool decide_mode() {
        static constexpr char bom[] = "\xEF\xBB\xBF";
        std::size_t start = 0;
        std::size_t n = std::min<std::size_t>(sniff_.size(), 3);
        if (std::memcmp(sniff_.data(), bom, n) == 0) {
            if (sniff_.size() < 3) return false;
            start = 3;
        }
        std::size_t i = start;
        while (i < sniff_.size() &&
               (sniff_[i] == ' ' || sniff_[i] == '\t' || sniff_[i] == '\r' || sniff_[i] == '\n'))
            ++i;
        // Judged by where the first significant byte is, not by how much has arrived, so the
        // verdict on a long run of leading whitespace never depends on the chunking.
        if (i > max_event_bytes_) {
            too_large_ = true;
            mode_ = mode::stream;  // parse() ignores everything once too_large_ is set
            sniff_.clear();
            return false;
        }
        if (i == sniff_.size()) return false;
        char first = sniff_[i];
        if (first == '{' || first == '[' || first == '<') {
            mode_ = mode::not_a_stream;
        } else {
            mode_ = mode::stream;
        }
        sniff_.erase(0, start);
        return true;
    }

    void append_body(std::string_view bytes) {
        if (too_large_) return;
        if (body_.size() + bytes.size() > max_event_bytes_) {
            too_large_ = true;
            return;
        }
        body_.append(bytes.data(), bytes.size());
    }

    dbserve::error non_stream_error() const {
        if (detail::starts_like_html(body_)) return detail::html_instead_of_json_error();
        auto parsed = detail::parse_lenient_json(body_);
        dbserve::error out;
        if (!parsed.is_discarded() && detail::read_json_error_object(parsed, out)) return out;
        return dbserve::error(errc::bad_response,
                              "expected an event stream but received a JSON body that is not "
                              "an error object; send \"stream\": true only to endpoints that "
                              "stream");
    }

    static const char* find_line_end(const char* p, const char* end) noexcept {
        for (; p != end; ++p)
            if (*p == '\n' || *p == '\r') return p;
        return end;
    }

    template <class OnEvent>
    void parse(std::string_view bytes, OnEvent& on_event) {
        const char* p = bytes.data();
        const char* end = p + bytes.size();
        while (p != end && !done_ && !too_large_) {
            if (last_was_cr_) {
                last_was_cr_ = false;
                if (*p == '\n') {  // second half of a CRLF split across chunks
                    ++p;
                    continue;
                }
            }
            const char* eol = find_line_end(p, end);
            // The cap applies to every line, whole or split across chunks, so whether a long
            // line is refused never depends on where the chunk boundaries fell.
            if (line_.size() + static_cast<std::size_t>(eol - p) > max_event_bytes_) {
                too_large_ = true;
                return;
            }
            if (eol == end) {
                line_.append(p, end);
                return;
            }
            if (line_.empty()) {
                process_line(std::string_view(p, static_cast<std::size_t>(eol - p)), on_event);
            } else {
                line_.append(p, eol);
                std::string line;
                line.swap(line_);
                process_line(line, on_event);
                line.clear();
                line_.swap(line);  // keep the capacity
            }
            p = eol + 1;
            if (*eol == '\r') {
                if (p == end) {
                    last_was_cr_ = true;
                } else if (*p == '\n') {
                    ++p;
                }
            }
        }
    }

    template <class OnEvent>
    void process_line(std::string_view line, OnEvent& on_event) {
        if (line.empty()) {
            if (!data_.empty()) {
                dispatch(on_event);
            } else {
                event_type_.clear();
            }
            return;
        }
        if (line[0] == ':') return;  // a comment (often a keep-alive)
        std::string_view field = line;
        std::string_view value;
        auto colon = line.find(':');
        if (colon != std::string_view::npos) {
            field = line.substr(0, colon);
            value = line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        }
        if (field == "data") {
            if (data_.size() + value.size() + 1 > max_event_bytes_) {
                too_large_ = true;
                return;
            }
            data_.append(value.data(), value.size());
            data_.push_back('\n');
        } else if (field == "event") {
            event_type_.assign(value.data(), value.size());
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_id_.assign(value.data(), value.size());
        } else if (field == "retry") {
            if (value.empty() || value.size() > 12) return;
            long long ms = 0;
            for (char c : value) {
                if (c < '0' || c > '9') return;
                ms = ms * 10 + (c - '0');
            }
            retry_ = std::chrono::milliseconds(ms);
        }
        // Unknown fields are ignored, as the spec requires.
    }

    template <class OnEvent>
    void dispatch(OnEvent& on_event) {
        data_.pop_back();  // the '\n' after the last data line
        if (data_ == "[DONE]") {
            done_ = true;
            data_.clear();
            event_type_.clear();
            line_.clear();
            return;
        }
        // Swap the buffers into the reusable event so no allocation happens per event.
        event_.event.swap(event_type_);
        event_.data.swap(data_);
        event_.id.assign(last_id_);
        ++events_;
        on_event(static_cast<const sse_event&>(event_));
        event_.event.swap(event_type_);
        event_.data.swap(data_);
        event_type_.clear();
        data_.clear();
    }

    std::size_t max_event_bytes_;
    mode mode_ = mode::sniffing;
    bool last_was_cr_ = false;
    bool done_ = false;
    bool finished_ = false;
    bool too_large_ = false;
    std::size_t events_ = 0;
    std::string sniff_;
    std::string line_;
    std::string data_;
    std::string event_type_;
    std::string last_id_;
    std::string body_;
    sse_event event_;
    std::optional<std::chrono::milliseconds> retry_;
};

DBSERVE_END_NAMESPACE
