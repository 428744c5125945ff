#include <dbserve/protocol/secret.hpp>

#include <doctest/doctest.h>

#include <string>
#include <type_traits>
#include <utility>

using namespace dbserve;

namespace {
template <class T, class = void>
struct is_streamable : std::false_type {};
template <class T>
struct is_streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<T>())>>
    : std::true_type {};
}  // namespace

TEST_CASE("a secret cannot be written to a stream") {
    CHECK_FALSE(is_streamable<secret_string>::value);
}

TEST_CASE("a secret shows as redacted and reveals its value only on request") {
    secret_string s("hunter2");
    CHECK(to_string(s) == "(redacted)");
    CHECK(to_string(secret_string()) == "(empty)");
    CHECK(s.reveal() == "hunter2");
    CHECK(s.size() == 7);
}

TEST_CASE("copies and moves keep the value; clear empties it") {
    secret_string a("abc");
    secret_string b = a;
    CHECK(b.reveal() == "abc");
    secret_string c = std::move(a);
    CHECK(c.reveal() == "abc");
    CHECK(a.empty());
    c.clear();
    CHECK(c.empty());
    b = secret_string("longer value than before");
    CHECK(b.reveal() == "longer value than before");
    CHECK(b == secret_string("longer value than before"));
}

TEST_CASE("secure_zero overwrites every byte") {
    char buffer[8] = {'s', 'e', 'c', 'r', 'e', 't', '!', '!'};
    detail::secure_zero(buffer, sizeof buffer);
    for (char c : buffer) CHECK(c == 0);
}
