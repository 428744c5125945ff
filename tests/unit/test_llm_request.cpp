#include <dbserve/payload/llm_request.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace dbserve;

namespace {
chat_request hello() {
    chat_request chat;
    chat.messages = {{"system", "Be brief."}, {"user", "Hi"}};
    return chat;
}
std::string error_of(const result<std::string>& body) {
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().code == errc::invalid_argument);
    return body.error().message;
}
}  // namespace

TEST_CASE("a chat request has messages and only the options that were set") {
    auto chat = hello();
    auto body = chat.to_body();
    REQUIRE(body.has_value());
    CHECK(*body == R"({"messages":[{"content":"Be brief.","role":"system"},{"content":"Hi","role":"user"}]})");
    chat.max_tokens = 100;
    chat.temperature = 0.2;
    chat.n = 2;
    chat.stop = {"\n\n"};
    chat.stream = true;
    chat.extra_params = {{"seed", "3"}};
    auto full = nlohmann::json::parse(*chat.to_body());
    CHECK(full["max_tokens"] == 100);
    CHECK(full["temperature"] == 0.2);
    CHECK(full["n"] == 2);
    CHECK(full["stop"] == nlohmann::json{"\n\n"});
    CHECK(full["stream"] == true);
    CHECK(full["extra_params"]["seed"] == "3");
    CHECK(full.size() == 7);
}

TEST_CASE("temperature outside 0 to 2 is refused") {
    auto chat = hello();
    chat.temperature = 2.5;
    CHECK(error_of(chat.to_body()).find("temperature") != std::string::npos);
    chat.temperature = -0.1;
    CHECK_FALSE(chat.to_body().has_value());
    chat.temperature = std::nan("");
    CHECK_FALSE(chat.to_body().has_value());
    chat.temperature = 2.0;
    CHECK(chat.to_body().has_value());
    chat.temperature = 0.0;
    CHECK(chat.to_body().has_value());
}

TEST_CASE("n outside 1 to 5 is refused") {
    auto chat = hello();
    chat.n = 0;
    CHECK(error_of(chat.to_body()).find("n is 0") != std::string::npos);
    chat.n = 6;
    CHECK(error_of(chat.to_body()).find("between 1 and 5") != std::string::npos);
    chat.n = 5;
    CHECK(chat.to_body().has_value());
}

TEST_CASE("max_tokens, top_p, top_k and stop sequences are checked") {
    auto chat = hello();
    chat.max_tokens = 0;
    CHECK(error_of(chat.to_body()).find("max_tokens") != std::string::npos);
    chat = hello();
    chat.top_p = 0;
    CHECK(error_of(chat.to_body()).find("top_p") != std::string::npos);
    chat = hello();
    chat.top_k = -1;
    CHECK(error_of(chat.to_body()).find("top_k") != std::string::npos);
    chat = hello();
    chat.stop = {"ok", ""};
    CHECK(error_of(chat.to_body()).find("stop[1]") != std::string::npos);
}

TEST_CASE("a chat needs messages with known roles") {
    chat_request empty;
    CHECK(error_of(empty.to_body()).find("messages is empty") != std::string::npos);
    auto chat = hello();
    chat.messages.push_back({"robot", "x"});
    CHECK(error_of(chat.to_body()).find("messages[2].role") != std::string::npos);
}

TEST_CASE("invalid UTF-8 in a message is refused or replaced") {
    auto chat = hello();
    chat.messages[1].content = "caf\xE9";
    CHECK(error_of(chat.to_body()).find("messages[1].content") != std::string::npos);
    chat.invalid_utf8 = invalid_utf8_policy::replace;
    auto body = chat.to_body();
    REQUIRE(body.has_value());
    CHECK(body->find("caf\xEF\xBF\xBD") != std::string::npos);
}

TEST_CASE("completions take one prompt or a batch") {
    completions_request one;
    one.prompt = {"Once upon"};
    one.max_tokens = 5;
    CHECK(*one.to_body() == R"({"max_tokens":5,"prompt":"Once upon"})");
    completions_request batch;
    batch.prompt = {"a", "b"};
    CHECK(*batch.to_body() == R"({"prompt":["a","b"]})");
    CHECK(error_of(completions_request{}.to_body()).find("prompt is empty") != std::string::npos);
    batch.temperature = 3;
    CHECK_FALSE(batch.to_body().has_value());
}

TEST_CASE("embeddings take one input or a batch") {
    embeddings_request one;
    one.input = {"hello"};
    CHECK(*one.to_body() == R"({"input":"hello"})");
    embeddings_request batch;
    batch.input = {"a", "b"};
    CHECK(*batch.to_body() == R"({"input":["a","b"]})");
    CHECK_FALSE(embeddings_request{}.to_body().has_value());
}

TEST_CASE("an LLM body over 4 MB is refused by default") {
    embeddings_request big;
    big.input = {std::string(4u * 1024 * 1024, 'x')};
    auto body = big.to_body();
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().message.find("4194304 bytes") != std::string::npos);
    CHECK(big.to_body(default_body_limit).has_value());
}

TEST_CASE("a request body can be appended to a caller's buffer, untouched on error") {
    std::string out = "x";
    auto chat = hello();
    REQUIRE(chat.append_body_to(out));
    CHECK(out == R"(x{"messages":[{"content":"Be brief.","role":"system"},{"content":"Hi","role":"user"}]})");
    std::string before = out;
    chat.temperature = 9;
    CHECK_FALSE(chat.append_body_to(out));
    chat.temperature.reset();
    chat.messages[1].content = "\xFF";
    CHECK_FALSE(chat.append_body_to(out));
    chat.messages[1].content = "ok";
    CHECK_FALSE(chat.append_body_to(out, 10));
    CHECK(out == before);
}
