// Where a federated sign-in's subject token (the identity provider's JWT) is read from,
// with the SDKs' variable names: the environment (env-oidc) and a file (file-oidc). The
// GitHub Actions ID token (github-oidc) is an HTTP request, built in federation.hpp.
//
// When each is read:
// - env-oidc: by the SecretSource, with the other credentials (at the first load, and at
//   each reload: reload_credentials(), or a token endpoint refusing the exchange).
// - file-oidc: at each exchange, by the operation's credential step (never inside a poll
//   API's next(): see query_operation.hpp), so a rotated Kubernetes projected token is used.
#pragma once

#include <dbserve/client/detail/bounded_read.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

DBSERVE_BEGIN_NAMESPACE

// A JWT is a few kilobytes; anything larger is not one.
inline constexpr std::size_t max_subject_token_bytes = 64u * 1024u;

namespace detail {

inline std::string_view trim_token_text(std::string_view text) noexcept {
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    return text;
}

// A subject token must fit in a form field and look like a JWT (three dot-separated
// parts); the message never shows the text.
inline result<void> check_subject_token(std::string_view token, std::string_view from) {
    if (token.empty())
        return unexpected(errc::configuration, "the identity provider token " + std::string(from) + " is empty");
    std::size_t dots = 0;
    for (char c : token) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return unexpected(errc::configuration, "the identity provider token " + std::string(from) +
                                                       " contains a space or control character: it is not a JWT");
        if (c == '.') ++dots;
    }
    if (dots != 2)
        return unexpected(errc::configuration, "the identity provider token " + std::string(from) +
                                                   " is not a JWT (three base64url parts separated by dots)");
    return {};
}

}  // namespace detail

// The JWT in the file at `path` (surrounding whitespace trimmed), read now. The file's
// bytes are zeroed once copied into the secret.
inline result<secret_string> read_subject_token_file(const std::string& path) {
    const std::string from = "in DATABRICKS_OIDC_TOKEN_FILEPATH file " + path;
    errno = 0;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
        return unexpected(errc::configuration, "cannot read the identity provider token file " + path +
                                                   " (DATABRICKS_OIDC_TOKEN_FILEPATH): " +
                                                   std::generic_category().message(errno));
    detail::bounded_read read = detail::read_bounded(f, max_subject_token_bytes);
    std::fclose(f);
    if (read.too_large || read.failed)
        return unexpected(errc::configuration,
                          read.too_large ? "the identity provider token file " + path + " is larger than 64 KiB"
                                         : "reading the identity provider token file " + path + " failed");
    secret_string token(detail::trim_token_text(read.text));
    if (!read.text.empty()) detail::secure_zero(&read.text[0], read.text.size());
    auto valid = detail::check_subject_token(token.reveal(), from);
    if (!valid) return std::move(valid).error();
    return token;
}

// The env-oidc JWT: the variable named by DATABRICKS_OIDC_TOKEN_ENV when that is set,
// else DATABRICKS_OIDC_TOKEN. Empty when unset. `getenv` as in secret_sources.hpp (empty:
// std::getenv).
inline secret_string subject_token_from_environment(const std::function<const char*(const char*)>& getenv,
                                                    std::string_view variable_name = {}) {
    auto lookup = [&](const char* name) -> const char* { return getenv ? getenv(name) : std::getenv(name); };
    std::string name(variable_name);
    if (name.empty()) {
        if (const char* named = lookup("DATABRICKS_OIDC_TOKEN_ENV")) name = std::string(detail::trim_token_text(named));
    }
    if (name.empty()) name = "DATABRICKS_OIDC_TOKEN";
    const char* value = lookup(name.c_str());
    if (value == nullptr) return {};
    return secret_string(detail::trim_token_text(value));
}

DBSERVE_END_NAMESPACE
