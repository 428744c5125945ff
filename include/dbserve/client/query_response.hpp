// What a successful query gives back: the HTTP response, the served model that answered,
// the JSON body parsed on first use, and for streamed queries what the stream added up to.
#pragma once

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
    int status = 0;
    http_response raw;              // for a streamed query: status and headers, empty body
    std::string served_model_name;  // the served-model-name response header
    std::string request_id;         // x-request-id / x-databricks-request-id, when sent

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
