// Stream folding: the Server-Sent Events body of a streamed query, parsed as it arrives
// into chat chunks handed out one at a time and into the summary they add up to; an error
// status keeps its body aside for the error message. No I/O: the query operation feeds it.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/payload/sse.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

class folded_stream {
public:
    // A piece of the body; `head` carries the status and headers.
    void on_body_chunk(const http_response& head, std::string_view chunk) {
        if (head_.status == 0) {
            head_.status = head.status;
            head_.reason = head.reason;
            head_.headers = head.headers;
        }
        bytes_ += chunk.size();
        if (head.status < 200 || head.status > 299) {
            error_body_.append(chunk.data(), chunk.size());
            return;
        }
        if (chunk_read_ >= chunks_.size()) forget_handed_out();
        parser_.feed(chunk, [this](const sse_event& event) { fold(event); });
    }

    // The next chunk not yet handed out (valid until the next call), or null once every
    // chunk was (and the caller is done with the last one).
    const chat_chunk* next_chunk() {
        if (chunk_read_ >= chunks_.size()) {
            forget_handed_out();
            return nullptr;
        }
        return &chunks_[chunk_read_++];
    }

    // The same, moved out.
    std::optional<chat_chunk> pop_chunk() {
        if (chunk_read_ >= chunks_.size()) return std::nullopt;
        std::optional<chat_chunk> out(std::move(chunks_[chunk_read_++]));
        return out;
    }

    // Whether any of the body arrived: then the request may have been processed.
    bool received_any() const noexcept { return bytes_ > 0; }

    // Completes the transport's final response with what arrived in pieces (the status,
    // the headers and an error status's body).
    void complete_head(http_response& r) {
        if (head_.status == 0) return;
        if (r.status == 0) r.status = head_.status;
        if (r.headers.empty()) r.headers = head_.headers;
        if (r.body.empty() && !error_body_.empty()) r.body = std::move(error_body_);
    }

    // The end of a 2xx stream: whether it ended well. `label()` names the endpoint in the
    // error message.
    template <class Label>
    result<void> finish(http_response& r, Label&& label) {
        if (bytes_ == 0 && !r.body.empty()) {
            // The transport collected the body instead of handing it over in pieces.
            parser_.feed(r.body, [this](const sse_event& event) { fold(event); });
            r.body.clear();
        }
        parser_.finish([this](const sse_event& event) { fold(event); });
        if (error_) {
            dbserve::error failure = std::move(*error_);
            failure.request_may_have_been_processed = true;
            failure.message = "the stream from " + label() + " reported an error: " + failure.message;
            return failure;
        }
        auto outcome = parser_.outcome();
        if (!outcome) {
            dbserve::error failure = std::move(outcome).error();
            if (failure.http_status == 0) failure.http_status = r.status;
            failure.message = "streamed query to " + label() + ": " + failure.message;
            return failure;
        }
        return {};
    }

    const stream_summary& summary() const noexcept { return summary_; }
    std::size_t bytes() const noexcept { return bytes_; }
    // The chunk folded `back` chunks ago (1: the last), while it is still buffered: right
    // after on_body_chunk, for the chunks that call added.
    const chat_chunk& recent(std::size_t back) const { return chunks_[chunks_.size() - back]; }

private:
    void forget_handed_out() {
        chunks_.clear();
        chunk_read_ = 0;
    }

    // One event into the chunks and the summary; the first bad chunk ends the folding.
    void fold(const sse_event& event) {
        if (error_) return;
        auto chunk = parse_chat_chunk(event.data);
        if (!chunk) {
            error_ = std::move(chunk).error();
            return;
        }
        ++summary_.chunks;
        if (summary_.id.empty()) summary_.id = chunk->id;
        if (summary_.model.empty()) summary_.model = chunk->model;
        summary_.content.append(chunk->content().data(), chunk->content().size());
        if (!chunk->finish_reason().empty()) summary_.finish_reason = std::string(chunk->finish_reason());
        if (chunk->usage) summary_.usage = chunk->usage;
        chunks_.push_back(std::move(*chunk));
    }

    sse_parser parser_;
    std::vector<chat_chunk> chunks_;  // [chunk_read_, end) not yet handed out
    std::size_t chunk_read_ = 0;
    stream_summary summary_;
    http_response head_;
    std::string error_body_;
    std::optional<dbserve::error> error_;
    std::size_t bytes_ = 0;
};

}  // namespace detail
DBSERVE_END_NAMESPACE
