#include <dbserve/client/secret_sources.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

using namespace dbserve;

namespace {

constexpr std::string_view the_secret = "dose-s3cr3t-value-that-must-not-leak";

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// A fake environment: getenv answers from a map, never from the process.
struct fake_environment {
    std::map<std::string, std::string> vars;

    // The function keeps its own copy of the variables, so it outlives this object.
    getenv_function getenv() const {
        return [vars = vars](const char* name) -> const char* {
            auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    }
};

// A fresh directory under the system temporary directory, removed at the end.
struct temp_dir {
    std::filesystem::path path;

    temp_dir() {
        static std::atomic<int> counter{0};
        std::error_code ec;
        path = std::filesystem::temp_directory_path(ec) /
               ("dbserve-secret-sources-" + std::to_string(std::random_device{}()) + "-" + std::to_string(++counter));
        std::filesystem::remove_all(path, ec);
        std::filesystem::create_directories(path, ec);
        REQUIRE_FALSE(ec);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, std::string_view text) const {
        const auto file = path / name;
        std::ofstream out(file, std::ios::binary);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        return file.string();
    }
};

result<credentials> from_text(std::string_view text, std::string_view profile = {}) {
    auto file = detail::parse_ini(text, "/home/me/.databrickscfg");
    if (!file) return std::move(file).error();
    return detail::credentials_from_profile(*file, profile, "/home/me/.databrickscfg");
}

}  // namespace

// ---------------------------------------------------------------- environment

TEST_CASE("the environment source reads every DATABRICKS_ variable through the injected getenv") {
    fake_environment env;
    env.vars = {{"DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net"},
                {"DATABRICKS_CLIENT_ID", "sp-id"},
                {"DATABRICKS_CLIENT_SECRET", std::string(the_secret)},
                {"DATABRICKS_TOKEN", "eyJ.token"},
                {"DATABRICKS_WORKSPACE_ID", "1234567890"},
                {"DATABRICKS_AUTH_TYPE", "oauth-m2m"}};
    auto c = environment_secret_source{env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host == "https://adb-1.2.azuredatabricks.net");
    CHECK(c->client_id == "sp-id");
    CHECK(c->client_secret.reveal() == the_secret);
    CHECK(c->token.reveal() == "eyJ.token");
    CHECK(c->workspace_id == "1234567890");
    CHECK(c->auth_type == "oauth-m2m");
}

TEST_CASE("unset or empty variables leave fields empty; values are trimmed") {
    fake_environment env;
    env.vars = {{"DATABRICKS_HOST", ""}, {"DATABRICKS_CLIENT_ID", "  sp-id\n"}};
    auto c = environment_secret_source{env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host.empty());
    CHECK(c->client_id == "sp-id");
    CHECK(c->client_secret.empty());
    CHECK(c->token.empty());
}

TEST_CASE("the environment source asks only for the variables it knows") {
    std::vector<std::string> asked;
    getenv_function spy = [&](const char* name) -> const char* {
        asked.emplace_back(name);
        return nullptr;
    };
    auto c = environment_secret_source{spy}.load();
    REQUIRE(c);
    // DATABRICKS_* and, for github-oidc, the two variables GitHub Actions sets.
    for (const auto& name : asked)
        CHECK((name.rfind("DATABRICKS_", 0) == 0 || name.rfind("ACTIONS_ID_TOKEN_REQUEST_", 0) == 0));
    // Host, client id and secret, token, workspace id, auth type; OIDC token env and
    // token, token file, audience, account id, the two GitHub Actions variables.
    CHECK(asked.size() == 13);
}

// ---------------------------------------------------------------- the INI format

TEST_CASE("a DEFAULT profile is read when no profile is named") {
    auto c = from_text("[DEFAULT]\nhost = https://a.example\nclient_id = id\nclient_secret = s\n"
                       "token = t\nworkspace_id = 42\nauth_type = oauth-m2m\n");
    REQUIRE(c);
    CHECK(c->host == "https://a.example");
    CHECK(c->client_id == "id");
    CHECK(c->client_secret.reveal() == "s");
    CHECK(c->token.reveal() == "t");
    CHECK(c->workspace_id == "42");
    CHECK(c->auth_type == "oauth-m2m");
}

TEST_CASE("a named profile is read, and only that profile") {
    const char* text =
        "[DEFAULT]\nhost = https://default.example\ntoken = dapi-default\n\n"
        "[prod]\nhost = https://prod.example\nclient_id = prod-id\n\n"
        "[dev]\nhost = https://dev.example\n";
    auto c = from_text(text, "prod");
    REQUIRE(c);
    CHECK(c->host == "https://prod.example");
    CHECK(c->client_id == "prod-id");
    // DEFAULT values are not inherited (as in the Databricks SDKs).
    CHECK(c->token.empty());
}

TEST_CASE("[__settings__] default_profile picks the profile when none is named") {
    const char* text =
        "[__settings__]\ndefault_profile = dev\n\n[DEFAULT]\nhost = https://default.example\n\n"
        "[dev]\nhost = https://dev.example\n";
    auto c = from_text(text);
    REQUIRE(c);
    CHECK(c->host == "https://dev.example");
    // A profile named explicitly still wins.
    auto d = from_text(text, "DEFAULT");
    REQUIRE(d);
    CHECK(d->host == "https://default.example");
}

TEST_CASE("a default_profile that is not in the file is an error naming it and the file") {
    auto c = from_text("[__settings__]\ndefault_profile = gone\n[DEFAULT]\nhost = h\n");
    REQUIRE_FALSE(c);
    CHECK(c.error().code == errc::configuration);
    CHECK(contains(c.error().message, "'gone'"));
    CHECK(contains(c.error().message, "default_profile"));
    CHECK(contains(c.error().message, "fix default_profile"));
    CHECK(contains(c.error().message, "/home/me/.databrickscfg"));
}

TEST_CASE("a named profile that is not in the file is an error naming the profile, the file and the choices") {
    auto c = from_text("[DEFAULT]\nhost = h\n[dev]\nhost = d\n[__settings__]\ndefault_profile = dev\n", "prod");
    REQUIRE_FALSE(c);
    CHECK(c.error().code == errc::configuration);
    CHECK(contains(c.error().message, "'prod'"));
    CHECK(contains(c.error().message, "/home/me/.databrickscfg"));
    CHECK(contains(c.error().message, "DEFAULT, dev"));
    CHECK_FALSE(contains(c.error().message, "__settings__"));
}

TEST_CASE("a file without a DEFAULT profile gives empty credentials when no profile is named") {
    auto c = from_text("[dev]\nhost = https://dev.example\n");
    REQUIRE(c);
    CHECK(c->host.empty());
    auto e = from_text("");
    REQUIRE(e);
    CHECK(e->host.empty());
}

TEST_CASE("comments start with # or ; and there are no inline comments") {
    auto c = from_text("# a comment\n; another\n  # indented comment\n[DEFAULT]\n"
                       "client_secret = abc#def;ghi ; not a comment\nhost = https://h # kept\n");
    REQUIRE(c);
    CHECK(c->client_secret.reveal() == "abc#def;ghi ; not a comment");
    CHECK(c->host == "https://h # kept");
}

TEST_CASE("odd whitespace around sections, keys and values is ignored") {
    auto p = from_text("\n\n   [  prod  ]   \n\t host\t=\t https://prod.example \t\n"
                       "client_id=id-no-spaces\n   client_secret   =   spaced secret   \n  \t \n"
                       "token =\n",
                       "prod");
    REQUIRE(p);
    CHECK(p->host == "https://prod.example");
    CHECK(p->client_id == "id-no-spaces");
    CHECK(p->client_secret.reveal() == "spaced secret");
    CHECK(p->token.empty());
}

TEST_CASE("a comment may follow a section header") {
    auto c = from_text("[prod] # production workspace\nhost = https://prod\n[dev]   ; dev\nhost = https://dev\n", "prod");
    REQUIRE(c);
    CHECK(c->host == "https://prod");
    auto bad = from_text("[prod] host = x\n", "prod");
    REQUIRE_FALSE(bad);
    CHECK(contains(bad.error().message, "line 1"));
}

TEST_CASE("CRLF line ends, a UTF-8 BOM and a missing final newline are accepted") {
    auto c = from_text("\xEF\xBB\xBF[DEFAULT]\r\nhost = https://h\r\nclient_id = id\r\n\r\nclient_secret = s");
    REQUIRE(c);
    CHECK(c->host == "https://h");
    CHECK(c->client_id == "id");
    CHECK(c->client_secret.reveal() == "s");
}

TEST_CASE("key: value lines are accepted and values keep later = and : characters") {
    auto c = from_text("[DEFAULT]\nhost: https://h:8443/\nclient_secret = a=b:c==\n");
    REQUIRE(c);
    CHECK(c->host == "https://h:8443/");
    CHECK(c->client_secret.reveal() == "a=b:c==");
}

TEST_CASE("keys are matched as written, in lower case; unknown keys are ignored") {
    auto c = from_text("[DEFAULT]\nHOST = https://upper\nClient_Id = x\ncluster_id = 123\n"
                       "jobs-api-version = 2.1\nhost = https://lower\n");
    REQUIRE(c);
    CHECK(c->host == "https://lower");
    CHECK(c->client_id.empty());
}

TEST_CASE("a repeated key or section: the last value wins") {
    auto c = from_text("[DEFAULT]\nhost = first\n[dev]\nhost = d\n[DEFAULT]\nhost = second\nclient_id = id\n");
    REQUIRE(c);
    CHECK(c->host == "second");
    CHECK(c->client_id == "id");
}

TEST_CASE("a malformed line is an error naming the line number but never its content") {
    auto c = from_text(std::string("[DEFAULT]\nhost = h\n") + std::string(the_secret) + "\n");
    REQUIRE_FALSE(c);
    CHECK(c.error().code == errc::configuration);
    CHECK(contains(c.error().message, "line 3"));
    CHECK(contains(c.error().message, "/home/me/.databrickscfg"));
    CHECK_FALSE(contains(c.error().message, the_secret));

    auto unterminated = from_text(std::string("[DEFAULT\n"));
    REQUIRE_FALSE(unterminated);
    CHECK(contains(unterminated.error().message, "line 1"));

    auto empty_name = from_text("[ ]\n");
    REQUIRE_FALSE(empty_name);

    auto no_key = from_text("[DEFAULT]\n = value\n");
    REQUIRE_FALSE(no_key);
    CHECK(contains(no_key.error().message, "line 2"));
}

TEST_CASE("a key before any section is an error") {
    auto c = from_text("host = h\n[DEFAULT]\n");
    REQUIRE_FALSE(c);
    CHECK(contains(c.error().message, "line 1"));
}

TEST_CASE("the parser survives arbitrary input and never quotes it in a parse error") {
    // Deterministic pseudo-random files built from the characters that matter to INI.
    const std::string_view alphabet = "[]=:#; \t\r\nabcXYZ_-.~\xEF\xBB\xBF\0";
    const std::string marker = "Q7secretQ7";
    std::uint32_t state = 12345;
    auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const std::uint32_t length = next() % 80;
        for (std::uint32_t i = 0; i < length; ++i) {
            if (next() % 16 == 0) text += marker;
            else text += alphabet[next() % alphabet.size()];
        }
        auto file = detail::parse_ini(text, "fuzz.cfg");
        if (!file) {
            CHECK(file.error().code == errc::configuration);
            CHECK_FALSE(contains(file.error().message, marker));
            continue;
        }
        // Selecting a profile may quote profile names (never values): it must just not fail
        // in any other way.
        for (const char* profile : {"", "DEFAULT", "abc"}) {
            auto c = detail::credentials_from_profile(*file, profile, "fuzz.cfg");
            if (!c) CHECK(c.error().code == errc::configuration);
        }
    }
}

TEST_CASE("wipe zeroes every value of a parsed file") {
    auto file = detail::parse_ini("[DEFAULT]\nclient_secret = abc\n", "f");
    REQUIRE(file);
    const std::string* value = file->sections[0].find("client_secret");
    REQUIRE(value != nullptr);
    file->wipe();
    CHECK(*value == std::string(3, '\0'));
}

// ---------------------------------------------------------------- profile files on disk

TEST_CASE("the profile file is $HOME/.databrickscfg, HOME taken from the injected getenv") {
    temp_dir home;
    home.write(".databrickscfg", "[DEFAULT]\nhost = https://from-home\n");
    fake_environment env;
    env.vars["HOME"] = home.path.string();
    auto c = profile_file_secret_source{"", "", env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host == "https://from-home");
}

TEST_CASE("DATABRICKS_CONFIG_FILE names the profile file and DATABRICKS_CONFIG_PROFILE the profile") {
    temp_dir dir;
    const std::string path = dir.write("custom.cfg", "[DEFAULT]\nhost = https://default\n[ci]\nhost = https://ci\n");
    fake_environment env;
    env.vars = {{"HOME", "/nonexistent"}, {"DATABRICKS_CONFIG_FILE", path}, {"DATABRICKS_CONFIG_PROFILE", "ci"}};
    auto c = profile_file_secret_source{"", "", env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host == "https://ci");
}

TEST_CASE("DATABRICKS_CONFIG_FILE may start with ~/") {
    temp_dir home;
    home.write("my.cfg", "[DEFAULT]\nhost = https://tilde\n");
    fake_environment env;
    env.vars = {{"HOME", home.path.string() + "/"}, {"DATABRICKS_CONFIG_FILE", "~/my.cfg"}};
    auto c = profile_file_secret_source{"", "", env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host == "https://tilde");
}

TEST_CASE("a path and a profile given in code win over the environment") {
    temp_dir dir;
    const std::string path = dir.write("a.cfg", "[ci]\nhost = https://ci\n[mine]\nhost = https://mine\n");
    fake_environment env;
    env.vars = {{"DATABRICKS_CONFIG_FILE", "/nonexistent/file"}, {"DATABRICKS_CONFIG_PROFILE", "ci"}};
    auto c = profile_file_secret_source{path, "mine", env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host == "https://mine");
}

TEST_CASE("a missing profile file is not an error when no profile was asked for") {
    temp_dir home;
    fake_environment env;
    env.vars["HOME"] = home.path.string();
    auto c = profile_file_secret_source{"", "", env.getenv()}.load();
    REQUIRE(c);
    CHECK(c->host.empty());
    auto d = profile_file_secret_source{(home.path / "nope" / "x.cfg").string(), "", env.getenv()}.load();
    REQUIRE(d);
}

TEST_CASE("a missing profile file is an error naming the profile and the file when a profile was asked for") {
    temp_dir home;
    fake_environment env;
    env.vars["HOME"] = home.path.string();
    const std::string expected_path = home.path.string() + "/.databrickscfg";

    auto c = profile_file_secret_source{"", "prod", env.getenv()}.load();
    REQUIRE_FALSE(c);
    CHECK(c.error().code == errc::configuration);
    CHECK(contains(c.error().message, "'prod'"));
    CHECK(contains(c.error().message, expected_path));

    env.vars["DATABRICKS_CONFIG_PROFILE"] = "staging";
    auto d = profile_file_secret_source{"", "", env.getenv()}.load();
    REQUIRE_FALSE(d);
    CHECK(contains(d.error().message, "'staging'"));
    CHECK(contains(d.error().message, expected_path));
}

TEST_CASE("without HOME or DATABRICKS_CONFIG_FILE there is no file; that is an error only if a profile was asked for") {
    fake_environment env;
    auto c = profile_file_secret_source{"", "", env.getenv()}.load();
    REQUIRE(c);
    auto d = profile_file_secret_source{"", "prod", env.getenv()}.load();
    REQUIRE_FALSE(d);
    CHECK(contains(d.error().message, "'prod'"));
    CHECK(contains(d.error().message, "DATABRICKS_CONFIG_FILE"));
}

TEST_CASE("a profile file that cannot be read (a directory) is an error naming it") {
    temp_dir dir;
    auto c = profile_file_secret_source{dir.path.string(), "", fake_environment{}.getenv()}.load();
    // Reading a directory fails on Linux either at open or at read.
    REQUIRE_FALSE(c);
    CHECK(contains(c.error().message, dir.path.string()));
}

TEST_CASE("a malformed profile file on disk is an error without its content") {
    temp_dir dir;
    const std::string path = dir.write("bad.cfg", "[DEFAULT]\nclient_secret " + std::string(the_secret) + "\n");
    auto c = profile_file_secret_source{path, "", fake_environment{}.getenv()}.load();
    REQUIRE_FALSE(c);
    CHECK(contains(c.error().message, "line 2"));
    CHECK_FALSE(contains(c.error().message, the_secret));
}

// ---------------------------------------------------------------- code and callbacks

TEST_CASE("the static source returns the values given in code") {
    credentials v;
    v.client_id = "id";
    v.client_secret.assign(the_secret);
    auto c = static_secret_source{v}.load();
    REQUIRE(c);
    CHECK(c->client_id == "id");
    CHECK(c->client_secret.reveal() == the_secret);
}

TEST_CASE("the callback source calls its function each time and passes its errors on") {
    int calls = 0;
    callback_secret_source source{[&]() -> result<credentials> {
        ++calls;
        if (calls == 2) return unexpected(errc::configuration, "vault sealed");
        credentials c;
        c.client_id = "vault-id";
        return c;
    }};
    auto first = source.load();
    REQUIRE(first);
    CHECK(first->client_id == "vault-id");
    auto second = source.load();
    REQUIRE_FALSE(second);
    CHECK(second.error().message == "vault sealed");
    CHECK(calls == 2);
}

TEST_CASE("a callback source without a callback is a configuration error") {
    auto c = callback_secret_source{}.load();
    REQUIRE_FALSE(c);
    CHECK(c.error().code == errc::configuration);
}

// ---------------------------------------------------------------- default: code, environment, file

TEST_CASE("default source: code, then environment, then file, field by field") {
    temp_dir home;
    home.write(".databrickscfg",
               "[DEFAULT]\nhost = https://file-host\nclient_id = file-id\nclient_secret = file-secret\n"
               "workspace_id = 111\nauth_type = oauth-m2m\n");
    fake_environment env;
    env.vars = {{"HOME", home.path.string()},
                {"DATABRICKS_CLIENT_ID", "env-id"},
                {"DATABRICKS_CLIENT_SECRET", "env-secret"},
                {"DATABRICKS_WORKSPACE_ID", "222"}};
    default_secret_source source;
    source.values.client_secret.assign("code-secret");
    source.getenv = env.getenv();
    auto c = source.load();
    REQUIRE(c);
    CHECK(c->client_secret.reveal() == "code-secret");  // code
    CHECK(c->client_id == "env-id");                     // environment over file
    CHECK(c->workspace_id == "222");                     // environment over file
    CHECK(c->host == "https://file-host");               // only in the file
    CHECK(c->auth_type == "oauth-m2m");                  // only in the file
    CHECK(c->token.empty());
}

TEST_CASE("default source: the profile and file given in code are used") {
    temp_dir dir;
    const std::string path = dir.write("cfg", "[DEFAULT]\nhost = https://default\n[prod]\nhost = https://prod\n");
    fake_environment env;
    env.vars = {{"DATABRICKS_CONFIG_PROFILE", "missing"}};
    default_secret_source source;
    source.profile = "prod";
    source.config_file = path;
    source.getenv = env.getenv();
    auto c = source.load();
    REQUIRE(c);
    CHECK(c->host == "https://prod");
}

TEST_CASE("default source: a missing profile that was asked for is an error") {
    temp_dir home;
    home.write(".databrickscfg", "[DEFAULT]\nhost = h\n");
    fake_environment env;
    env.vars = {{"HOME", home.path.string()}, {"DATABRICKS_CONFIG_PROFILE", "prod"}};
    default_secret_source source;
    source.getenv = env.getenv();
    auto c = source.load();
    REQUIRE_FALSE(c);
    CHECK(contains(c.error().message, "'prod'"));
}

TEST_CASE("default source: works with no environment and no file at all") {
    default_secret_source source;
    source.values.host = "https://h";
    source.getenv = fake_environment{}.getenv();
    auto c = source.load();
    REQUIRE(c);
    CHECK(c->host == "https://h");
}

TEST_CASE("default source: a PAT in the environment beside client credentials in code is caught by the check") {
    fake_environment env;
    env.vars = {{"DATABRICKS_TOKEN", "dapi0123456789abcdef"}};
    default_secret_source source;
    source.values.client_id = "id";
    source.values.client_secret.assign(the_secret);
    source.getenv = env.getenv();
    auto c = source.load();
    REQUIRE(c);
    auto checked = check_credentials_for_route_optimized(*c);
    REQUIRE_FALSE(checked);
    CHECK(contains(checked.error().message, "auth_type"));
    CHECK_FALSE(contains(checked.error().message, the_secret));
    CHECK_FALSE(contains(checked.error().message, "0123456789abcdef"));
}

// ---------------------------------------------------------------- layered sources

TEST_CASE("a layered source takes each field from the first source that sets it") {
    credentials vault;
    vault.client_secret.assign(the_secret);
    fake_environment env;
    env.vars = {{"DATABRICKS_HOST", "https://env-host"}, {"DATABRICKS_CLIENT_SECRET", "env-secret"},
                {"DATABRICKS_CLIENT_ID", "env-id"}};
    auto source = make_layered_secret_source(callback_secret_source{[vault] { return result<credentials>(vault); }},
                                             environment_secret_source{env.getenv()});
    auto c = source.load();
    REQUIRE(c);
    CHECK(c->client_secret.reveal() == the_secret);
    CHECK(c->client_id == "env-id");
    CHECK(c->host == "https://env-host");
}

TEST_CASE("a layered source stops at the first error and does not ask later sources") {
    int later_calls = 0;
    auto source = make_layered_secret_source(
        static_secret_source{},
        callback_secret_source{[] { return result<credentials>(unexpected(errc::configuration, "vault sealed")); }},
        callback_secret_source{[&] {
            ++later_calls;
            return result<credentials>(credentials{});
        }});
    auto c = source.load();
    REQUIRE_FALSE(c);
    CHECK(c.error().message == "vault sealed");
    CHECK(later_calls == 0);
}

TEST_CASE("an empty layered source loads empty credentials") {
    auto c = layered_secret_source<>{}.load();
    REQUIRE(c);
    CHECK(c->host.empty());
}
