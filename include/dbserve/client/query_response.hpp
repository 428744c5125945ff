// What a successful query gives back: the HTTP response, the served model that answered,
// the JSON body parsed on first use, and for streamed queries what the stream added up to;
// and what is read from a response's headers to fill it in.
#pragma once

#include <dbserve/client/trace_context.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

DBSERVE_BEGIN_NAMESPACE

struct query_response {
    // Provided (not defaulted) so that building one in place does not zero every byte
    // first: each member has its own initial value.
    query_response() noexcept {}

    int status = 0;
    http_response raw;              // for a streamed query: status and headers, empty body
    std::string served_model_name;  // the served-model-name response header
    std::string request_id;         // x-request-id / x-databricks-request-id, when sent
    // What links the result to its query: the caller's client_request_id as sent in the
    // body, and the W3C trace context every request of the query carried, when there were.
    std::optional<std::string> client_request_id;
    std::optional<trace_context> trace;

    std::string_view body() const noexcept { return raw.body; }

    // The body as JSON (lenient: NaN and Infinity accepted), parsed on first call; a null
    // value when the body is not JSON (use parse_json() for the reason). Not thread safe:
    // one thread at a time per query_response.
    const nlohmann::json& json() const {
        if (!parsed_) {
            auto parsed = parse_response_json(raw.body);
            parsed_.emplace(parsed ? std::move(*parsed) : nlohmann::json());
        }
        return *parsed_;
    }
    result<nlohmann::json> parse_json() const { return parse_response_json(raw.body); }

private:
    mutable std::optional<nlohmann::json> parsed_;
};

namespace detail {

// One pass over the headers for what a response reports: its served model and request id
// (x-request-id, else x-databricks-request-id).
inline void fill_response_fields(query_response& out) {
    out.status = out.raw.status;
    const std::string* request_id = nullptr;
    const std::string* databricks_request_id = nullptr;
    for (const auto& h : out.raw.headers) {
        switch (h.name.size()) {
            case 17:
                if (iequals(h.name, "served-model-name")) out.served_model_name = h.value;
                break;
            case 12:
                if (iequals(h.name, "x-request-id")) request_id = &h.value;
                break;
            case 23:
                if (iequals(h.name, "x-databricks-request-id")) databricks_request_id = &h.value;
                break;
            default:
                break;
        }
    }
    if (request_id) out.request_id = *request_id;
    else if (databricks_request_id) out.request_id = *databricks_request_id;
}

// The common case, decided cheaply: a JSON content type and a body that starts like
// JSON cannot be a login page.
inline bool is_plainly_json(const http_response& r) noexcept {
    const std::string_view type = r.headers.get("content-type");
    if (type.size() < 16 || !iequals(type.substr(0, 16), "application/json")) return false;
    return !r.body.empty() && (r.body.front() == '{' || r.body.front() == '[');
}

}  // namespace detail

// The end of a streamed chat or completion: the deltas joined, the finish reason and the
// usage when the server sent it.
struct stream_summary {
    std::string content;        // every delta of the first choice, joined
    std::string finish_reason;  // of the first choice; empty if the stream gave none
    std::optional<token_usage> usage;
    std::string id;
    std::string model;
    std::size_t chunks = 0;  // chunks received
};

struct stream_response {
    query_response response;  // status, headers, served model name
    stream_summary summary;
};

DBSERVE_END_NAMESPACE
