#include <dbserve/payload/responses.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

using namespace dbserve;

TEST_CASE("bare NaN, Infinity and -Infinity parse to non-finite numbers") {
    auto parsed = parse_response_json(R"({"predictions": [1.5, NaN, Infinity, -Infinity, -2, 1e-3]})");
    REQUIRE(parsed.has_value());
    const auto& p = (*parsed)["predictions"];
    REQUIRE(p.size() == 6);
    CHECK(p[0].get<double>() == 1.5);
    CHECK(std::isnan(p[1].get<double>()));
    CHECK(p[2].get<double>() == INFINITY);
    CHECK(p[3].get<double>() == -INFINITY);
    CHECK(p[4].get<int>() == -2);
    CHECK(p[5].get<double>() == 1e-3);
}

TEST_CASE("NaN and Infinity inside strings are left untouched") {
    auto parsed = parse_response_json(
        R"({"NaN": "NaN", "s": "Infinity and -Infinity \"NaN\" \\", "v": NaN, "w": [3, "x NaN", -Infinity]})");
    REQUIRE(parsed.has_value());
    const auto& doc = *parsed;
    CHECK(doc["NaN"] == "NaN");
    CHECK(doc["s"] == "Infinity and -Infinity \"NaN\" \\");
    CHECK(std::isnan(doc["v"].get<double>()));
    CHECK(doc["w"][0] == 3);
    CHECK(doc["w"][1] == "x NaN");
    CHECK(doc["w"][2].get<double>() == -INFINITY);
}

TEST_CASE("a body with the letters N and I only in strings parses unchanged") {
    auto parsed = parse_response_json(R"({"predictions": ["Iris", "NaNa"], "n": 1e5})");
    REQUIRE(parsed.has_value());
    CHECK((*parsed)["predictions"][0] == "Iris");
    CHECK((*parsed)["n"].get<double>() == 1e5);
}

TEST_CASE("exponents, negative numbers and non-finite tokens keep their positions") {
    auto parsed = parse_response_json(R"([1e-5, -3, NaN, 2E+2, -Infinity, 0.5, Infinity, -0])");
    REQUIRE(parsed.has_value());
    const auto& a = *parsed;
    CHECK(a[0].get<double>() == 1e-5);
    CHECK(a[1].get<int>() == -3);
    CHECK(std::isnan(a[2].get<double>()));
    CHECK(a[3].get<double>() == 200);
    CHECK(a[4].get<double>() == -INFINITY);
    CHECK(a[5].get<double>() == 0.5);
    CHECK(a[6].get<double>() == INFINITY);
}

TEST_CASE("a bare non-finite token as the whole document parses") {
    auto parsed = parse_response_json("NaN");
    REQUIRE(parsed.has_value());
    CHECK(std::isnan(parsed->get<double>()));
}

TEST_CASE("look-alike tokens are not rewritten into valid JSON") {
    CHECK_FALSE(parse_response_json("[NaNx]").has_value());
    CHECK_FALSE(parse_response_json("[Infinityy]").has_value());
    CHECK_FALSE(parse_response_json("[nan]").has_value());
    CHECK_FALSE(parse_response_json("[1NaN]").has_value());
    CHECK_FALSE(parse_response_json("[1-Infinity]").has_value());
    CHECK_FALSE(parse_response_json("[-NaN]").has_value());
    CHECK_FALSE(parse_response_json("[1.Infinity]").has_value());
    CHECK_FALSE(parse_response_json("").has_value());
}

TEST_CASE("text that is not JSON is a bad_response error quoting the start of the body") {
    auto parsed = parse_response_json("upstream connect error");
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().code == errc::bad_response);
    CHECK(parsed.error().message.find("upstream connect error") != std::string::npos);
}

TEST_CASE("a 200 whose body is an HTML login page is an error, not data") {
    const char* page = "\n<!DOCTYPE html><html><head><title>Sign in</title></head></html>";
    auto parsed = parse_response_json(page);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().code == errc::bad_response);
    CHECK(parsed.error().message.find("login page") != std::string::npos);
    CHECK_FALSE(parse_predictions(page).has_value());

    http_response response;
    response.status = 200;
    REQUIRE(response.headers.add("Content-Type", "text/html; charset=utf-8"));
    response.body = "{}";  // even a JSON-looking body is refused when the type says HTML
    CHECK_FALSE(parse_response_json(response).has_value());
}

TEST_CASE("nesting is limited: 512 levels parse, deeper is a clear error instead of a stack overflow") {
    auto nest = [](std::size_t depth, const char* open, const char* close) {
        std::string text;
        for (std::size_t i = 0; i < depth; ++i) text += open;
        text += "1";
        for (std::size_t i = 0; i < depth; ++i) text += close;
        return text;
    };
    CHECK(parse_response_json(nest(detail::max_json_depth, "[", "]")).has_value());
    CHECK(parse_response_json(nest(detail::max_json_depth - 1, "{\"a\":", "}")).has_value());
    // The lenient path (a NaN in the body) is limited the same way.
    CHECK(parse_response_json("[NaN," + nest(detail::max_json_depth - 1, "[", "]") + "]").has_value());
    for (const std::string& body :
         {nest(detail::max_json_depth + 1, "[", "]"), nest(200000, "[", "]"), nest(200000, "{\"a\":", "}"),
          "[NaN," + nest(200000, "[", "]") + "]", std::string(200000, '[')}) {
        auto parsed = parse_response_json(body);
        REQUIRE_FALSE(parsed.has_value());
        CHECK(parsed.error().code == errc::bad_response);
        CHECK(parsed.error().message.find("512 levels deep") != std::string::npos);
    }
}

TEST_CASE("predictions as a list of numbers") {
    auto r = parse_predictions(R"({"predictions": [0.25, null, NaN]})");
    REQUIRE(r.has_value());
    CHECK(r->size() == 3);
    CHECK_FALSE(r->is_records());
    auto values = r->as_doubles();
    REQUIRE(values.has_value());
    CHECK((*values)[0] == 0.25);
    CHECK(std::isnan((*values)[1]));
    CHECK(std::isnan((*values)[2]));
    CHECK(r->raw.contains("predictions"));
}

TEST_CASE("predictions as records give columns by name") {
    auto r = parse_predictions(R"({"predictions": [{"score": 1, "label": "a"}, {"score": 2.5, "label": "b"}]})");
    REQUIRE(r.has_value());
    CHECK(r->is_records());
    auto score = r->column("score");
    REQUIRE(score.has_value());
    CHECK(*score == std::vector<double>{1, 2.5});
    auto label = r->column("label");
    REQUIRE_FALSE(label.has_value());
    CHECK(label.error().message.find("row 0") != std::string::npos);
    CHECK(r->column("missing").error().message.find("'missing'") != std::string::npos);
}

TEST_CASE("predictions as columns and as split tables give columns by name") {
    auto columns = parse_predictions(R"({"predictions": {"a": [1, 2], "b": {"0": 3, "1": 4}}})");
    REQUIRE(columns.has_value());
    CHECK(*columns->column("a") == std::vector<double>{1, 2});
    CHECK(*columns->column("b") == std::vector<double>{3, 4});
    auto split = parse_predictions(R"({"predictions": {"columns": ["x", "y"], "data": [[1, 2], [3, 4]]}})");
    REQUIRE(split.has_value());
    CHECK(*split->column("y") == std::vector<double>{2, 4});
}

TEST_CASE("a nested tensor of predictions stays reachable as JSON") {
    auto r = parse_predictions(R"({"predictions": [[[1, 2]], [[3, 4]]]})");
    REQUIRE(r.has_value());
    CHECK(r->predictions()[1][0][1] == 4);
    CHECK_FALSE(r->as_doubles().has_value());
}

TEST_CASE("a bare array is accepted as predictions from an older MLflow server") {
    auto r = parse_predictions("[1, 2]");
    REQUIRE(r.has_value());
    CHECK(r->size() == 2);
}

TEST_CASE("an error object where predictions were expected is returned as the service error") {
    auto r = parse_predictions(R"({"error_code": "BAD_REQUEST", "message": "Model failed"})");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::bad_request);
    CHECK(r.error().service_code == "BAD_REQUEST");
    CHECK(r.error().message == "Model failed");
    auto other = parse_predictions(R"({"outputs": []})");
    REQUIRE_FALSE(other.has_value());
    CHECK(other.error().message.find("parse_outputs") != std::string::npos);
}

TEST_CASE("feature serving outputs are records") {
    auto r = parse_outputs(R"({"outputs": [{"id": 1, "avg_spend": 12.5}, {"id": 2, "avg_spend": null}]})");
    REQUIRE(r.has_value());
    CHECK(r->size() == 2);
    auto spend = r->column("avg_spend");
    REQUIRE(spend.has_value());
    CHECK((*spend)[0] == 12.5);
    CHECK(std::isnan((*spend)[1]));
    CHECK_FALSE(parse_outputs(R"({"predictions": []})").has_value());
}

TEST_CASE("a chat response gives choices, message content, finish reason and usage") {
    auto r = parse_chat_response(R"({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"},
                    {"index": 1, "message": {"role": "assistant", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}, "finishReason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})");
    REQUIRE(r.has_value());
    CHECK(r->id == "chatcmpl-1");
    CHECK(r->object == "chat.completion");
    CHECK(r->created == 1700000000);
    REQUIRE(r->choices.size() == 2);
    CHECK(r->content() == "Hi");
    CHECK(r->choices[0].role == "assistant");
    CHECK(r->choices[0].finish_reason == "stop");
    CHECK(r->choices[1].content == "AB");
    CHECK(r->choices[1].finish_reason == "length");  // finishReason spelling
    REQUIRE(r->usage.has_value());
    CHECK(r->usage->total_tokens == 7);
    CHECK(r->raw["model"] == "m");
}

TEST_CASE("a completions response gives the text of each choice") {
    auto r = parse_completions_response(
        R"({"object": "text_completion", "choices": [{"text": "once upon", "finish_reason": null}]})");
    REQUIRE(r.has_value());
    CHECK(r->content() == "once upon");
    CHECK(r->choices[0].finish_reason.empty());
    CHECK_FALSE(r->usage.has_value());
}

TEST_CASE("an embeddings response gives vectors in input order") {
    auto r = parse_embeddings_response(R"({"object": "list", "model": "bge",
        "data": [{"index": 1, "embedding": [0.5, -1]}, {"index": 0, "embedding": [1e-3, 2]}],
        "usage": {"prompt_tokens": 3, "total_tokens": 3}})");
    REQUIRE(r.has_value());
    REQUIRE(r->data.size() == 2);
    CHECK(r->data[0].index == 0);
    CHECK(r->data[0].values == std::vector<double>{1e-3, 2});
    CHECK(r->data[1].values == std::vector<double>{0.5, -1});
    CHECK(r->usage->prompt_tokens == 3);
    auto bad = parse_embeddings_response(R"({"data": [{"embedding": [1, "x"]}]})");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message.find("data[0].embedding") != std::string::npos);
}

TEST_CASE("a stream chunk gives the delta content and finish reason") {
    auto first = parse_chat_chunk(
        R"({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"He"},"finish_reason":null}]})");
    REQUIRE(first.has_value());
    CHECK(first->content() == "He");
    CHECK(first->choices[0].role == "assistant");
    CHECK(first->finish_reason().empty());
    auto last = parse_chat_chunk(
        R"({"choices":[{"index":0,"delta":{},"finishReason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})");
    REQUIRE(last.has_value());
    CHECK(last->content().empty());
    CHECK(last->finish_reason() == "stop");
    CHECK(last->usage->completion_tokens == 2);
    auto usage_only = parse_chat_chunk(R"({"choices":[],"usage":{"total_tokens":9}})");
    REQUIRE(usage_only.has_value());
    CHECK(usage_only->content().empty());
}

TEST_CASE("an error object inside a stream is returned as that error") {
    auto r = parse_chat_chunk(R"({"error": {"message": "overloaded", "code": "TEMPORARILY_UNAVAILABLE"}})");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::unavailable);
    CHECK(r.error().message == "overloaded");
    CHECK_FALSE(parse_chat_chunk("not json").has_value());
    CHECK_FALSE(parse_chat_chunk("[1]").has_value());
    CHECK_FALSE(parse_chat_chunk(R"({"id": "x"})").has_value());
}

TEST_CASE("counts and timestamps out of the int64 range are clamped, not converted out of range") {
    const auto largest = std::numeric_limits<std::int64_t>::max();
    const auto smallest = std::numeric_limits<std::int64_t>::min();
    auto r = parse_chat_response(R"({"created": 1e300, "choices": [{"message": {"content": "x"}}],
        "usage": {"prompt_tokens": 18446744073709551615, "completion_tokens": -1e300, "total_tokens": 7.9}})");
    REQUIRE(r.has_value());
    CHECK(r->created == largest);
    REQUIRE(r->usage.has_value());
    CHECK(r->usage->prompt_tokens == largest);
    CHECK(r->usage->completion_tokens == smallest);
    CHECK(r->usage->total_tokens == 7);
    auto nan = parse_chat_response(R"({"created": NaN, "choices": [{"message": {"content": "x"}}]})");
    REQUIRE(nan.has_value());
    CHECK(nan->created == 0);
    auto huge_index = parse_embeddings_response(R"({"data": [{"index": 3.6e20, "embedding": [1]}]})");
    REQUIRE(huge_index.has_value());
    CHECK(huge_index->data[0].index == static_cast<std::size_t>(largest));
}
