// SecretSource policies: where credentials come from.
//
// A SecretSource has
//     dbserve::result<dbserve::credentials> load() const;
// It returns the fields it knows (empty strings for the rest) or an error saying what is
// wrong with the configuration; it never judges whether the fields are enough, that is
// check_credentials_for_route_optimized's job.
//
// - environment_secret_source: DATABRICKS_HOST, DATABRICKS_CLIENT_ID,
//   DATABRICKS_CLIENT_SECRET, DATABRICKS_TOKEN, DATABRICKS_WORKSPACE_ID,
//   DATABRICKS_AUTH_TYPE, and for token federation DATABRICKS_OIDC_TOKEN (or the variable
//   named by DATABRICKS_OIDC_TOKEN_ENV), DATABRICKS_OIDC_TOKEN_FILEPATH,
//   DATABRICKS_TOKEN_AUDIENCE, DATABRICKS_ACCOUNT_ID, ACTIONS_ID_TOKEN_REQUEST_URL and
//   ACTIONS_ID_TOKEN_REQUEST_TOKEN.
// - profile_file_secret_source: a profile of ~/.databrickscfg (or DATABRICKS_CONFIG_FILE),
//   chosen by name, DATABRICKS_CONFIG_PROFILE, `[__settings__] default_profile`, or DEFAULT.
// - static_secret_source: values given in code.
// - callback_secret_source: a function (a key vault, a secrets manager).
// - default_secret_source: code values, then the environment, then the profile file,
//   field by field, like the Databricks SDKs.
// - layered_secret_source: any sources, layered field by field in the order given.
// Every source that reads the environment takes an injectable getenv, so tests never
// touch the process environment.
//
// When a source is read: at a client's first use (or load_credentials()), and again after
// the token endpoint refused the credentials (invalid_client or HTTP 401: once per query,
// one reload however many queries saw the refusal) or at reload_credentials(). Between
// loads the client keeps what it loaded; a file-oidc token file is read at each exchange.
#pragma once

#include <dbserve/client/credentials.hpp>
#include <dbserve/client/detail/bounded_read.hpp>
#include <dbserve/client/detail/profile_file.hpp>
#include <dbserve/client/subject_token_sources.hpp>
#include <dbserve/protocol/detail/config.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/secret.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

DBSERVE_BEGIN_NAMESPACE

// Looks an environment variable up: returns its value or nullptr. An empty function means
// std::getenv. The returned pointer only has to stay valid until the next call.
using getenv_function = std::function<const char*(const char*)>;

namespace detail {

// The variable's value with surrounding whitespace trimmed; empty when unset.
inline std::string environment_value(const getenv_function& getenv, const char* name) {
    const char* value = getenv ? getenv(name) : std::getenv(name);
    if (value == nullptr) return {};
    return std::string(trim_ini(value));
}

inline secret_string environment_secret(const getenv_function& getenv, const char* name) {
    const char* value = getenv ? getenv(name) : std::getenv(name);
    if (value == nullptr) return {};
    return secret_string(trim_ini(value));
}

// A file read whole; nullopt when it does not exist. Config files are small: anything
// over 1 MiB is refused rather than read.
inline result<std::optional<std::string>> read_profile_file(const std::string& path) {
    errno = 0;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR) return std::optional<std::string>();
        return unexpected(errc::configuration, "cannot read the Databricks profile file " + path + ": " +
                                                   std::generic_category().message(err));
    }
    bounded_read read = read_bounded(f, 1024u * 1024u);
    std::fclose(f);
    if (read.too_large || read.failed) {
        return unexpected(errc::configuration,
                          read.too_large ? "the Databricks profile file " + path +
                                               " is larger than 1 MiB; point DATABRICKS_CONFIG_FILE at the right file"
                                         : "reading the Databricks profile file " + path + " failed");
    }
    return std::optional<std::string>(std::move(read.text));
}

// DATABRICKS_CONFIG_FILE (with a leading "~/" expanded), else $HOME/.databrickscfg
// (%USERPROFILE% on Windows); empty when neither can be found.
inline std::string default_profile_path(const getenv_function& getenv) {
    std::string home = environment_value(getenv, "HOME");
    if (home.empty()) home = environment_value(getenv, "USERPROFILE");
    std::string path = environment_value(getenv, "DATABRICKS_CONFIG_FILE");
    if (!path.empty()) {
        if ((path == "~" || path.rfind("~/", 0) == 0) && !home.empty()) path = home + path.substr(1);
        return path;
    }
    if (home.empty()) return {};
    if (home.back() == '/' || home.back() == '\\') home.pop_back();
    return home + "/.databrickscfg";
}

inline void copy_profile_value(const ini_section& section, std::string_view key, std::string& into) {
    if (const std::string* v = section.find(key)) into = *v;
}
inline void copy_profile_value(const ini_section& section, std::string_view key, secret_string& into) {
    if (const std::string* v = section.find(key)) into.assign(*v);
}

// Picks the profile out of parsed file text. `requested` is the profile asked for by name
// (empty: none). Without one, `[__settings__] default_profile` names it; without that,
// DEFAULT is used if present. A profile asked for by name (or by default_profile) that is
// not in the file is an error naming both the profile and the file.
// `token_env`, when given, receives the profile's oidc_token_env (the variable holding the
// env-oidc JWT).
inline result<credentials> credentials_from_profile(const ini_file& file, std::string_view requested,
                                                    std::string_view path, std::string* token_env = nullptr) {
    std::string name(requested);
    std::string chosen_by = "was asked for";
    std::string fix = "fix the name (the profile given in code or DATABRICKS_CONFIG_PROFILE)";
    if (name.empty()) {
        if (const ini_section* settings = file.find("__settings__"))
            if (const std::string* v = settings->find("default_profile"))
                if (!v->empty()) {
                    name = *v;
                    chosen_by = "is named by [__settings__] default_profile";
                    fix = "fix default_profile";
                }
    }
    const bool named = !name.empty();
    if (!named) name = "DEFAULT";
    const ini_section* section = file.find(name);
    if (section == nullptr) {
        if (!named) return credentials{};
        return unexpected(errc::configuration,
                          "profile '" + name + "' " + chosen_by + " but is not in " + std::string(path) +
                              " (profiles there: " + ini_profile_names(file) +
                              "); " + fix + " or add a [" + name + "] section");
    }
    credentials out;
    copy_profile_value(*section, "host", out.host);
    copy_profile_value(*section, "client_id", out.client_id);
    copy_profile_value(*section, "client_secret", out.client_secret);
    copy_profile_value(*section, "token", out.token);
    copy_profile_value(*section, "workspace_id", out.workspace_id);
    copy_profile_value(*section, "auth_type", out.auth_type);
    copy_profile_value(*section, "oidc_token_filepath", out.oidc_token_filepath);
    copy_profile_value(*section, "token_audience", out.token_audience);
    copy_profile_value(*section, "account_id", out.account_id);
    if (token_env) copy_profile_value(*section, "oidc_token_env", *token_env);
    return out;
}

// The federation fields the environment gives, after `out`'s own; `token_env`: the
// variable holding the env-oidc JWT when a profile's oidc_token_env names one.
inline void federation_from_environment(const getenv_function& getenv, credentials& out,
                                        std::string_view token_env = {}) {
    out.oidc_token = subject_token_from_environment(getenv, token_env);
    out.oidc_token_filepath = environment_value(getenv, "DATABRICKS_OIDC_TOKEN_FILEPATH");
    out.token_audience = environment_value(getenv, "DATABRICKS_TOKEN_AUDIENCE");
    out.account_id = environment_value(getenv, "DATABRICKS_ACCOUNT_ID");
    out.actions_id_token_request_url = environment_value(getenv, "ACTIONS_ID_TOKEN_REQUEST_URL");
    out.actions_id_token_request_token = environment_secret(getenv, "ACTIONS_ID_TOKEN_REQUEST_TOKEN");
}

}  // namespace detail

struct environment_secret_source {
    getenv_function getenv;  // empty: std::getenv

    result<credentials> load() const {
        credentials out;
        out.host = detail::environment_value(getenv, "DATABRICKS_HOST");
        out.client_id = detail::environment_value(getenv, "DATABRICKS_CLIENT_ID");
        out.client_secret = detail::environment_secret(getenv, "DATABRICKS_CLIENT_SECRET");
        out.token = detail::environment_secret(getenv, "DATABRICKS_TOKEN");
        out.workspace_id = detail::environment_value(getenv, "DATABRICKS_WORKSPACE_ID");
        out.auth_type = detail::environment_value(getenv, "DATABRICKS_AUTH_TYPE");
        detail::federation_from_environment(getenv, out);
        return out;
    }
};

// A profile of a Databricks configuration file.
// - path: empty means DATABRICKS_CONFIG_FILE, else ~/.databrickscfg (HOME from getenv).
// - profile: empty means DATABRICKS_CONFIG_PROFILE, else `[__settings__] default_profile`,
//   else DEFAULT.
// A missing file, or a missing DEFAULT profile, gives empty credentials; when a profile was
// named (here, by DATABRICKS_CONFIG_PROFILE or by default_profile), its absence is an error.
struct profile_file_secret_source {
    std::string path;
    std::string profile;
    getenv_function getenv;  // empty: std::getenv

    // Constructors rather than aggregate initialisation, so `{path}` leaves the rest empty
    // without a -Wmissing-field-initializers warning.
    profile_file_secret_source() = default;
    profile_file_secret_source(std::string path_, std::string profile_ = {}, getenv_function getenv_ = {})
        : path(std::move(path_)), profile(std::move(profile_)), getenv(std::move(getenv_)) {}

    result<credentials> load() const {
        std::string requested = profile.empty() ? detail::environment_value(getenv, "DATABRICKS_CONFIG_PROFILE")
                                                : profile;
        const std::string file_path = path.empty() ? detail::default_profile_path(getenv) : path;
        if (file_path.empty()) {
            if (requested.empty()) return credentials{};
            return unexpected(errc::configuration,
                              "profile '" + requested +
                                  "' was asked for but there is no profile file to read it from: HOME is not "
                                  "set; set DATABRICKS_CONFIG_FILE to the path of your .databrickscfg");
        }
        auto text = detail::read_profile_file(file_path);
        if (!text) return std::move(text).error();
        if (!text->has_value()) {
            if (requested.empty()) return credentials{};
            return unexpected(errc::configuration,
                              "profile '" + requested + "' was asked for but the profile file " + file_path +
                                  " does not exist; create it (databricks auth login, or by hand) or set "
                                  "DATABRICKS_CONFIG_FILE to the right path");
        }
        std::string& raw = **text;
        auto parsed = detail::parse_ini(raw, file_path);
        if (!raw.empty()) detail::secure_zero(&raw[0], raw.size());
        if (!parsed) return std::move(parsed).error();
        std::string token_env;
        auto out = detail::credentials_from_profile(*parsed, requested, file_path, &token_env);
        // oidc_token_env names the variable that holds the env-oidc JWT.
        if (out && !token_env.empty()) out->oidc_token = subject_token_from_environment(getenv, token_env);
        return out;
    }
};

struct static_secret_source {
    credentials values;

    result<credentials> load() const { return values; }
};

struct callback_secret_source {
    std::function<result<credentials>()> callback;

    result<credentials> load() const {
        if (!callback)
            return unexpected(errc::configuration, "callback_secret_source has no callback: give it a function "
                                                   "that returns the credentials");
        return callback();
    }
};

// Several sources layered field by field: each field comes from the first source that
// sets it. The first error stops the load. E.g. a key vault over the environment:
//     auto source = make_layered_secret_source(callback_secret_source{from_vault},
//                                              environment_secret_source{});
template <class... Sources>
struct layered_secret_source {
    std::tuple<Sources...> sources;

    result<credentials> load() const {
        credentials out;
        dbserve::error failure;
        bool failed = false;
        std::apply(
            [&](const auto&... source) {
                // Left to right, stopping at the first error (&& short-circuits).
                (void)(... && load_one(source, out, failure, failed));
            },
            sources);
        if (failed) return failure;
        return out;
    }

private:
    template <class Source>
    static bool load_one(const Source& source, credentials& out, dbserve::error& failure, bool& failed) {
        auto loaded = source.load();
        if (!loaded) {
            failure = std::move(loaded).error();
            failed = true;
            return false;
        }
        fill_missing(out, *loaded);
        return true;
    }
};

template <class... Sources>
layered_secret_source<std::decay_t<Sources>...> make_layered_secret_source(Sources&&... sources) {
    return {std::tuple<std::decay_t<Sources>...>(std::forward<Sources>(sources)...)};
}

// Code values, then the environment, then the profile file, field by field: a field set
// in code wins, an empty one is taken from the environment, and what is still empty from
// the profile. `profile` and `config_file` given here win over DATABRICKS_CONFIG_PROFILE
// and DATABRICKS_CONFIG_FILE.
struct default_secret_source {
    credentials values;       // given in code; empty fields are unset
    std::string profile;      // empty: DATABRICKS_CONFIG_PROFILE, default_profile, DEFAULT
    std::string config_file;  // empty: DATABRICKS_CONFIG_FILE, else ~/.databrickscfg
    getenv_function getenv;   // empty: std::getenv

    // Constructors rather than aggregate initialisation, so `default_secret_source{creds}`
    // compiles clean under -Wextra (-Wmissing-field-initializers).
    default_secret_source() = default;
    default_secret_source(credentials values_, std::string profile_ = {}, std::string config_file_ = {},
                          getenv_function getenv_ = {})
        : values(std::move(values_)),
          profile(std::move(profile_)),
          config_file(std::move(config_file_)),
          getenv(std::move(getenv_)) {}

    result<credentials> load() const {
        credentials out = values;
        auto environment = environment_secret_source{getenv}.load();
        if (!environment) return std::move(environment).error();
        fill_missing(out, *environment);
        auto file = profile_file_secret_source{config_file, profile, getenv}.load();
        if (!file) return std::move(file).error();
        fill_missing(out, *file);
        return out;
    }
};

DBSERVE_END_NAMESPACE
