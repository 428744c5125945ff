// known_secrets: every credential one client has sent or may send, in each form a server
// could quote back, so an error built from a server's answer never shows one. A server that
// echoes the request (an invalid_client text with the client secret, a 401 quoting
// "Bearer eyJ...", the Basic value) gets its words blanked, whatever it echoes.
//
// Memory is bounded: the client's own credentials, plus the last few tokens per cache key
// for a bounded number of keys (tokens replace each other; an old one is only ever quoted
// by a server that saw it recently). Locked on its own: errors are scrubbed on any thread.
#pragma once

#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/secret.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

DBSERVE_BEGIN_NAMESPACE
namespace detail {

// A secret_string of `text`, whose own bytes are zeroed.
inline secret_string sealed(std::string text) {
    secret_string out(text);
    if (!text.empty()) secure_zero(&text[0], text.size());
    return out;
}

// Each form a server could quote `value` in, once: as sent raw, form-encoded (upper- and
// lower-case hex, '+' or %20 for a space) and as a server's text shows it once escaped.
inline std::vector<secret_string> quoted_forms(std::string_view value) {
    std::vector<secret_string> forms;
    auto add = [&forms](secret_string form) {
        for (const auto& held : forms)
            if (held == form) return;
        forms.push_back(std::move(form));
    };
    add(secret_string(value));
    std::string plus;
    plus.reserve(3 * value.size());  // reserved up front, so no reallocation leaves a copy behind
    forms::append_urlencoded(plus, value);
    std::string spaces;
    spaces.reserve(3 * plus.size());
    for (char c : plus) {
        if (c == '+') spaces += "%20";
        else spaces += c;
    }
    for (std::string* upper : {&plus, &spaces}) {
        std::string lower(*upper);
        for (std::size_t i = 0; i < lower.size(); ++i)
            if (lower[i] == '%')
                for (std::size_t j = i + 1; j <= i + 2 && j < lower.size(); ++j)
                    if (lower[j] >= 'A' && lower[j] <= 'F') lower[j] = static_cast<char>(lower[j] - 'A' + 'a');
        add(sealed(std::move(*upper)));
        add(sealed(std::move(lower)));
    }
    if (has_terminal_controls(value)) add(sealed(escape_terminal_controls(value)));
    return forms;
}

class known_secrets {
public:
    static constexpr std::size_t tokens_per_key = 4;
    static constexpr std::size_t max_keys = 16;
    // A run of a secret's first bytes this long counts as the secret (a quote cut short).
    static constexpr std::size_t head_bytes = 8;
    // Shorter values are not blanked: they would blank ordinary words, and a secret this
    // short protects nothing anyway.
    static constexpr std::size_t min_secret_bytes = 4;

    // The client id and secret: the secret, its encoded forms, the pair as sent in Basic
    // authentication (RFC 6749 section 2.3.1) and its base64 (the Basic value).
    void add_client_credentials(std::string_view client_id, std::string_view client_secret) {
        if (client_secret.size() < min_secret_bytes) return;
        std::vector<secret_string> forms = quoted_forms(client_secret);
        for (bool encode : {true, false}) {
            secret_string pair = sealed(join_pair(client_id, client_secret, encode));
            forms.push_back(sealed(base64_encode(pair.reveal())));
            forms.push_back(std::move(pair));
        }
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& form : forms) add_unique(permanent_, std::move(form));
    }

    // A credential that stays for the client's life (a ready token given as the credential).
    void add_permanent(std::string_view value) {
        if (value.size() < min_secret_bytes) return;
        std::vector<secret_string> forms = quoted_forms(value);
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& form : forms) add_unique(permanent_, std::move(form));
    }

    // A token the client received or was given, under the cache key it belongs to.
    void add_token(std::string_view key, std::string_view token) {
        if (token.size() < min_secret_bytes) return;
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = std::find_if(recent_.begin(), recent_.end(), [&](const keyed& k) { return k.key == key; });
        if (it == recent_.end()) {
            if (recent_.size() >= max_keys) recent_.erase(recent_.begin());  // the least recently added key
            recent_.push_back(keyed{std::string(key), {}});
            it = recent_.end() - 1;
        }
        for (const auto& held : it->tokens)
            if (held.front().reveal() == token) return;
        if (it->tokens.size() >= tokens_per_key) it->tokens.erase(it->tokens.begin());
        it->tokens.push_back(quoted_forms(token));
    }

    // Blanks every known secret in the fields of `e` a caller can show, then escapes the
    // terminal control characters a server's text may carry.
    void scrub(dbserve::error& e) const {
        bool message_shows = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            std::vector<std::string_view> all;
            for (const auto& s : permanent_) all.push_back(s.reveal());
            for (const auto& k : recent_)
                for (const auto& forms : k.tokens)
                    for (const auto& s : forms) all.push_back(s.reveal());
            message_shows = redact_secrets(e, all.begin(), all.end(), head_bytes);
        }
        if (message_shows) {
            e.message = "the server's message is not shown because it quoted a credential";
            if (e.http_status != 0) e.message += " (HTTP " + std::to_string(e.http_status) + ")";
        }
        escape_terminal_controls(e);
    }

    // How many values are held (each form counts), for tests of the bound.
    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = permanent_.size();
        for (const auto& k : recent_)
            for (const auto& forms : k.tokens) n += forms.size();
        return n;
    }

private:
    struct keyed {
        std::string key;
        std::vector<std::vector<secret_string>> tokens;  // oldest first; each: the token, then its other forms
    };

    static void add_unique(std::vector<secret_string>& into, secret_string value) {
        if (value.size() < min_secret_bytes) return;
        for (const auto& held : into)
            if (held == value) return;
        into.push_back(std::move(value));
    }

    static std::string join_pair(std::string_view id, std::string_view secret, bool encode) {
        std::string out;
        out.reserve(3 * (id.size() + secret.size()) + 1);
        if (encode) {
            forms::append_urlencoded(out, id);
            out += ':';
            forms::append_urlencoded(out, secret);
        } else {
            out.append(id.data(), id.size()).append(1, ':').append(secret.data(), secret.size());
        }
        return out;
    }

    mutable std::mutex mutex_;
    std::vector<secret_string> permanent_;
    std::vector<keyed> recent_;  // least recently added key first
};

}  // namespace detail
DBSERVE_END_NAMESPACE
