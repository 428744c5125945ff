// Every credential the tool holds or has held, so that nothing it prints can show one
// whatever a server puts in its answers: the client secret, its form-encoded and JSON
// forms, the Basic value sent with it, and each token sent or received. Learned from the
// configuration and from every request and token response passing through the transport;
// scrub() replaces each occurrence (and each cut-short run of one, 8 bytes or more) with
// "<redacted>". Thread safe: load mode's workers share one.
#pragma once

#include "redaction.hpp"

#include <dbserve/protocol/detail/base64.hpp>
#include <dbserve/client/detail/known_secrets.hpp>
#include <dbserve/protocol/detail/lenient_json.hpp>
#include <dbserve/protocol/detail/shown_text.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/secret.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbserve_query {

class credential_scrubber {
public:
    // Shorter runs of a credential's leading bytes are ordinary text too often to blank.
    static constexpr std::size_t min_run_bytes = 8;
    // A token response carries a token, or two or three with a refresh or an id token. Past
    // this many, a server is only making the tool hold, and search for, strings without end.
    static constexpr std::size_t max_learned_per_response = 8;

    // A credential in each form a server could quote it in: the library's (raw, form-encoded
    // with '+' or %20 for a space and upper- or lower-case hex, escaped), and inside a JSON
    // string (with or without "\/"). A credential met again (every query sends the same
    // bearer token) costs one look-up.
    void add(std::string_view credential) {
        if (credential.empty() || added(credential)) return;
        std::vector<dbserve::secret_string> forms = dbserve::detail::quoted_forms(credential);
        std::string quoted =
            nlohmann::json(std::string(credential)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        std::string in_json = quoted.substr(1, quoted.size() - 2);
        std::string slash_escaped;
        for (char c : in_json) {
            if (c == '/') slash_escaped += "\\/";
            else slash_escaped += c;
        }
        dbserve::detail::secure_zero(&quoted[0], quoted.size());
        forms.push_back(dbserve::detail::sealed(std::move(in_json)));
        forms.push_back(dbserve::detail::sealed(std::move(slash_escaped)));

        std::lock_guard<std::mutex> lock(mutex_);
        if (added_locked(credential)) return;
        added_.emplace_back(credential);
        bool grew = false;
        for (auto& form : forms) {
            if (std::find(known_.begin(), known_.end(), form) != known_.end()) continue;
            known_.push_back(std::move(form));
            grew = true;
        }
        // Longest first, so a credential that contains another is taken out whole.
        if (grew)
            std::sort(known_.begin(), known_.end(), [](const dbserve::secret_string& a, const dbserve::secret_string& b) {
                return a.size() > b.size();
            });
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
            if (!dbserve::detail::iequals(scheme, "basic")) continue;
            auto decoded = dbserve::detail::base64_decode(credential);
            if (!decoded) continue;
            const auto colon = decoded->find(':');
            if (colon != std::string::npos) add_form_value(std::string_view(*decoded).substr(colon + 1));
            if (!decoded->empty()) dbserve::detail::secure_zero(&(*decoded)[0], decoded->size());
        }
        if (!token_request) return;
        for_each_form_field(request.body, [this](std::string_view name, std::optional<std::string_view> value) {
            if (value && !is_harmless_form_field(name)) add_form_value(*value);
        });
    }

    // Every string under a credential member (access_token, refresh_token, ...) of a token
    // response, up to max_learned_per_response (a token the client goes on to send is
    // learned from that request, wherever it stood); a body that is not JSON, or nests too
    // deep to read, holds no token the client could have taken.
    void learn_from_token_response(std::string_view body) {
        auto doc = dbserve::detail::parse_bounded_json(body);
        if (doc.is_discarded()) return;
        std::size_t learned = 0;
        for (std::string* s : credential_strings(doc)) {
            if (learned++ < max_learned_per_response) add(*s);
            if (!s->empty()) dbserve::detail::secure_zero(&(*s)[0], s->size());
        }
    }

    // `text` with every known credential, and every run of 8 or more of its leading bytes
    // (a server may quote one cut short), replaced by "<redacted>".
    std::string scrub(std::string text) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string_view> forms;  // known_ is longest first already
        forms.reserve(known_.size());
        for (const auto& k : known_) forms.push_back(k.reveal());
        dbserve::detail::redact_longest_first(text, forms, min_run_bytes, redacted);
        return text;
    }

    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return known_.size();
    }

private:
    bool added(std::string_view credential) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return added_locked(credential);
    }
    bool added_locked(std::string_view credential) const {
        return std::any_of(added_.begin(), added_.end(),
                           [&](const dbserve::secret_string& a) { return a.reveal() == credential; });
    }

    // A form field's value as sent, and decoded.
    void add_form_value(std::string_view value) {
        add(value);
        std::string plain = form_decode(value);
        add(plain);
        if (!plain.empty()) dbserve::detail::secure_zero(&plain[0], plain.size());
    }

    mutable std::mutex mutex_;
    std::vector<dbserve::secret_string> added_;  // each credential given to add(), as given
    std::vector<dbserve::secret_string> known_;  // their forms, longest first
};

}  // namespace dbserve_query
