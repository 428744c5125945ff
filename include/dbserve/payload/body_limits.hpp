// Request size limits of serving endpoints: a body over the limit is refused before it is
// sent, with an error that gives the size and the limit.
#pragma once

#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>

#include <cstddef>
#include <string>

DBSERVE_BEGIN_NAMESPACE

// 16 MB per request for custom model and feature serving endpoints.
inline constexpr std::size_t default_body_limit = 16u * 1024u * 1024u;
// 4 MB for foundation-model, external-model and agent endpoints.
inline constexpr std::size_t llm_body_limit = 4u * 1024u * 1024u;

enum class endpoint_kind { custom_model, feature_serving, foundation_model, external_model, agent };

constexpr std::size_t body_limit_for(endpoint_kind kind) noexcept {
    switch (kind) {
        case endpoint_kind::foundation_model:
        case endpoint_kind::external_model:
        case endpoint_kind::agent: return llm_body_limit;
        case endpoint_kind::custom_model:
        case endpoint_kind::feature_serving: return default_body_limit;
    }
    return default_body_limit;
}

namespace detail {
inline std::string megabytes(std::size_t bytes) {
    // One decimal, e.g. "16.0 MB" (MB = 2^20 bytes, as the service counts).
    std::size_t tenths = (bytes * 10 + (1u << 19)) >> 20;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MB";
}
}  // namespace detail

// Refuses a body larger than `limit` bytes (errc::invalid_argument).
inline result<void> check_body_size(std::size_t size, std::size_t limit) {
    if (size <= limit) return {};
    return unexpected(errc::invalid_argument,
                      "the request body is " + std::to_string(size) + " bytes (" +
                          detail::megabytes(size) + "), over the endpoint's limit of " +
                          std::to_string(limit) + " bytes (" + detail::megabytes(limit) +
                          "); send fewer rows per request");
}

DBSERVE_END_NAMESPACE
