// Every credential the tool holds or has held, so that nothing it prints can show one
// whatever a server puts in its answers: the client secret, its form-encoded and JSON
// forms, the Basic value sent with it, and each token sent or received. Learned from the
// configuration and from every request and token response passing through the transport;
// scrub() replaces each occurrence (and each cut-short run of one, 8 bytes or more) with
// "<redacted>". Thread safe: load mode's workers share one.
#pragma once

#include "redaction.hpp"

#include <dbserve/detail/base64.hpp>
#include <dbserve/form_encoding.hpp>
#include <dbserve/http.hpp>
#include <dbserve/secret.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dbserve_query {

class credential_scrubber {
public:
    // Shorter runs of a credential's leading bytes are ordinary text too often to blank.
    static constexpr std::size_t min_run_bytes = 8;

    // A credential as it is, and as it looks form-encoded (with '+' or %20 for a space,
    // upper- or lower-case hex) and inside a JSON string (with or without "\/").
    void add(std::string_view credential) {
        if (credential.empty()) return;
        std::vector<std::string> forms;
        forms.emplace_back(credential);
        const std::string encoded = dbserve::form_urlencode(credential);
        forms.push_back(encoded);
        std::string spaces_as_hex, lower_hex;
        for (std::size_t i = 0; i < encoded.size(); ++i) {
            const char c = encoded[i];
            if (c == '+') spaces_as_hex += "%20";
            else spaces_as_hex += c;
        }
        forms.push_back(spaces_as_hex);
        for (std::size_t i = 0; i < spaces_as_hex.size(); ++i) {
            const bool hex_digit = i >= 1 && (spaces_as_hex[i - 1] == '%' || (i >= 2 && spaces_as_hex[i - 2] == '%'));
            lower_hex += hex_digit ? dbserve::detail::ascii_lower(spaces_as_hex[i]) : spaces_as_hex[i];
        }
        forms.push_back(lower_hex);
        const std::string quoted =
            nlohmann::json(std::string(credential)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        const std::string in_json = quoted.substr(1, quoted.size() - 2);
        forms.push_back(in_json);
        std::string slash_escaped;
        for (char c : in_json) {
            if (c == '/') slash_escaped += "\\/";
            else slash_escaped += c;
        }
        forms.push_back(slash_escaped);

        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& form : forms) {
            const bool known = std::any_of(known_.begin(), known_.end(),
                                           [&](const dbserve::secret_string& k) { return k.reveal() == form; });
            if (!known) known_.emplace_back(form);
            dbserve::detail::secure_zero(&form[0], form.size());
        }
        // Longest first, so a credential that contains another is taken out whole.
        std::sort(known_.begin(), known_.end(),
                  [](const dbserve::secret_string& a, const dbserve::secret_string& b) { return a.size() > b.size(); });
    }

    // The client's own credentials, before anything is sent: the secret and the two Basic
    // values a client may send for it (encoded as RFC 6749 asks, and raw).
    void add_client_credentials(std::string_view client_id, std::string_view client_secret) {
        if (client_secret.empty()) return;
        add(client_secret);
        const std::string basic = dbserve::basic_authorization(client_id, client_secret);
        add(std::string_view(basic).substr(basic.find(' ') + 1));
        std::string joined = std::string(client_id) + ":" + std::string(client_secret);
        add(dbserve::detail::base64_encode(joined));
        dbserve::detail::secure_zero(&joined[0], joined.size());
    }

    // What a request carries: the Authorization value (a bearer token or a Basic value, and
    // the secret inside it), and every form field of a token request that is not known to
    // be harmless (client_secret, assertion, ...).
    void learn_from_request(const dbserve::http_request& request, bool token_request) {
        for (const auto& h : request.headers) {
            if (!dbserve::detail::iequals(h.name, "authorization") &&
                !dbserve::detail::iequals(h.name, "proxy-authorization"))
                continue;
            const std::string_view value = h.value;
            const auto space = value.find(' ');
            const std::string_view scheme =
                space == std::string_view::npos ? std::string_view() : value.substr(0, space);
            const std::string_view credential = space == std::string_view::npos ? value : value.substr(space + 1);
            add(credential);
            if (dbserve::detail::iequals(scheme, "basic")) {
                auto decoded = dbserve::detail::base64_decode(credential);
                if (decoded) {
                    const auto colon = decoded->find(':');
                    if (colon != std::string::npos) {
                        const std::string_view secret = std::string_view(*decoded).substr(colon + 1);
                        add(secret);
                        std::string plain = form_decode(secret);
                        add(plain);
                        if (!plain.empty()) dbserve::detail::secure_zero(&plain[0], plain.size());
                    }
                    if (!decoded->empty()) dbserve::detail::secure_zero(&(*decoded)[0], decoded->size());
                }
            }
        }
        if (!token_request) return;
        const std::string_view body = request.body;
        std::size_t start = 0;
        while (start < body.size()) {
            std::size_t end = body.find('&', start);
            if (end == std::string_view::npos) end = body.size();
            const std::string_view field = body.substr(start, end - start);
            const auto eq = field.find('=');
            if (eq != std::string_view::npos && !is_harmless_form_field(field.substr(0, eq))) {
                const std::string_view value = field.substr(eq + 1);
                add(value);
                std::string plain = form_decode(value);
                add(plain);
                if (!plain.empty()) dbserve::detail::secure_zero(&plain[0], plain.size());
            }
            start = end + 1;
        }
    }

    // Every string under a credential member (access_token, refresh_token, ...) of a token
    // response; a body that is not JSON, or nests too deep to read, holds no token the
    // client could have taken.
    void learn_from_token_response(std::string_view body) {
        auto doc = dbserve::detail::parse_bounded_json(body);
        if (doc.is_discarded()) return;
        for (std::string* s : credential_strings(doc)) {
            add(*s);
            if (!s->empty()) dbserve::detail::secure_zero(&(*s)[0], s->size());
        }
    }

    // `text` with every known credential, and every run of 8 or more of its leading bytes
    // (a server may quote one cut short), replaced by "<redacted>".
    std::string scrub(std::string text) const {
        std::lock_guard<std::mutex> lock(mutex_);
        // Whole credentials first (longest first), so one form's run does not cut another
        // form that shares its beginning.
        for (const auto& k : known_) {
            const std::string_view credential = k.reveal();
            for (auto at = text.find(credential); at != std::string::npos;
                 at = text.find(credential, at + redacted.size()))
                text.replace(at, credential.size(), redacted);
        }
        for (const auto& k : known_) {
            const std::string_view credential = k.reveal();
            if (credential.size() < min_run_bytes) continue;
            const std::string_view head = credential.substr(0, min_run_bytes);
            for (auto at = text.find(head); at != std::string::npos; at = text.find(head, at + redacted.size())) {
                std::size_t length = head.size();
                while (at + length < text.size() && length < credential.size() &&
                       text[at + length] == credential[length])
                    ++length;
                text.replace(at, length, redacted);
            }
        }
        return text;
    }

    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return known_.size();
    }

private:
    mutable std::mutex mutex_;
    std::vector<dbserve::secret_string> known_;
};

}  // namespace dbserve_query
