#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "models.hpp"

using emulator::json;
using emulator::model_call;
using emulator::model_kind;
using emulator::run_model;

namespace {

emulator::model_reply call(model_kind kind, std::string_view body, std::string_view content_type = "application/json") {
    model_call c;
    c.kind = kind;
    c.body = body;
    c.content_type = content_type;
    c.model_name = "m";
    c.created = 1700000000;
    c.sequence = 7;
    return run_model(c);
}

json error_of(const emulator::model_reply& r) { return json::parse(r.body); }

}  // namespace

TEST_CASE("dataframe_split rows predict their sums in order") {
    auto r = call(model_kind::custom, R"({"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4.5]]}})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"predictions":[3,7.5]})");
}

TEST_CASE("dataframe_split refuses keys other than columns, data and index") {
    auto r = call(model_kind::custom, R"({"dataframe_split":{"columns":["a"],"data":[[1]],"extra":1}})");
    CHECK(r.status == 400);
    CHECK(error_of(r)["error_code"] == "BAD_REQUEST");
    CHECK(error_of(r)["message"].get<std::string>().find("'extra'") != std::string::npos);
}

TEST_CASE("dataframe_split refuses columns that do not match the rows") {
    CHECK(call(model_kind::custom, R"({"dataframe_split":{"columns":["a"],"data":[[1,2]]}})").status == 400);
    CHECK(call(model_kind::custom, R"({"dataframe_split":{"data":[[1,2],[1]]}})").status == 400);
    CHECK(call(model_kind::custom, R"({"dataframe_split":{"data":[[1]],"index":[0,1]}})").status == 400);
}

TEST_CASE("exactly one input field is required") {
    auto two = call(model_kind::custom, R"({"instances":[1],"inputs":[2]})");
    CHECK(two.status == 400);
    CHECK(error_of(two)["message"].get<std::string>().find(
              "The input must be a JSON dictionary with exactly one of the input fields") == 0);
    CHECK(call(model_kind::custom, R"({"params":{}})").status == 400);
    CHECK(call(model_kind::custom, R"({"instances":[1],"unknown":1})").status == 400);
    CHECK(call(model_kind::custom, R"([1,2])").status == 400);
}

TEST_CASE("params, client_request_id and usage_context may go beside the input") {
    auto r = call(model_kind::custom,
                  R"({"instances":[[1,2]],"params":{"scale":10},"client_request_id":"x","usage_context":{"a":"b"}})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"predictions":[30]})");
    CHECK(call(model_kind::custom, R"({"instances":[1],"params":[1]})").status == 400);
    CHECK(call(model_kind::custom, R"({"instances":[1],"client_request_id":5})").status == 400);
}

TEST_CASE("records, instances and column-form inputs all predict row sums") {
    CHECK(call(model_kind::custom, R"({"dataframe_records":[{"a":1,"b":2},{"a":3,"b":4}]})").body ==
          R"({"predictions":[3,7]})");
    CHECK(call(model_kind::custom, R"({"instances":[[1,1],{"x":2,"y":[3]},4]})").body == R"({"predictions":[2,5,4]})");
    CHECK(call(model_kind::custom, R"({"inputs":{"a":[1,2],"b":[10,20]}})").body == R"({"predictions":[11,22]})");
    CHECK(call(model_kind::custom, R"({"inputs":{"a":[1,2],"b":[10]}})").status == 400);
}

TEST_CASE("a row holding null predicts a bare NaN token") {
    auto r = call(model_kind::custom, R"({"dataframe_split":{"data":[[1,null],[2,3]]}})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"predictions":[NaN,5]})");
}

TEST_CASE("a string value in a custom model input is a bad request") {
    CHECK(call(model_kind::custom, R"({"instances":[["a"]]})").status == 400);
}

TEST_CASE("only application/json with charset utf-8 (or text/csv) is accepted, else 415") {
    const char* body = R"({"instances":[1]})";
    CHECK(call(model_kind::custom, body, "application/json; charset=utf-8").status == 200);
    CHECK(call(model_kind::custom, body, "application/json; charset=\"UTF-8\"").status == 200);
    CHECK(call(model_kind::custom, body, "application/json; charset=latin-1").status == 415);
    CHECK(call(model_kind::custom, body, "text/plain").status == 415);
    CHECK(call(model_kind::custom, body, "").status == 415);
    CHECK(call(model_kind::chat, R"({"messages":[]})", "text/csv").status == 415);
    auto csv = call(model_kind::custom, "a,b\n1,2\n3,4\n", "text/csv");
    CHECK(csv.status == 200);
    CHECK(csv.body == R"({"predictions":[3,7]})");
}

TEST_CASE("malformed JSON is a 400 BAD_REQUEST") {
    auto r = call(model_kind::custom, R"({"instances":[1)");
    CHECK(r.status == 400);
    CHECK(error_of(r)["error_code"] == "BAD_REQUEST");
    CHECK(call(model_kind::custom, R"({"instances":[NaN]})").status == 400);
}

TEST_CASE("chat refuses unknown top-level fields like the service does") {
    auto r = call(model_kind::chat, R"({"inputs":[1]})");
    CHECK(r.status == 400);
    CHECK(error_of(r)["message"] == "json: unknown field \"inputs\"");
}

TEST_CASE("chat checks temperature, n and max_tokens ranges") {
    const std::string messages = R"("messages":[{"role":"user","content":"hi"}])";
    CHECK(call(model_kind::chat, "{" + messages + R"(,"temperature":2})").status == 200);
    CHECK(call(model_kind::chat, "{" + messages + R"(,"temperature":2.5})").status == 400);
    CHECK(call(model_kind::chat, "{" + messages + R"(,"temperature":-0.1})").status == 400);
    CHECK(call(model_kind::chat, "{" + messages + R"(,"n":5})").status == 200);
    CHECK(call(model_kind::chat, "{" + messages + R"(,"n":6})").status == 400);
    CHECK(call(model_kind::chat, "{" + messages + R"(,"n":0})").status == 400);
    CHECK(call(model_kind::chat, "{" + messages + R"(,"max_tokens":0})").status == 400);
    CHECK(call(model_kind::chat, R"({"messages":[]})").status == 400);
    CHECK(call(model_kind::chat, R"({"messages":[{"role":"robot","content":"x"}]})").status == 400);
}

TEST_CASE("chat echoes the last user message deterministically") {
    auto r = call(model_kind::chat,
                  R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"n":2})");
    REQUIRE(r.status == 200);
    auto body = json::parse(r.body);
    CHECK(body["object"] == "chat.completion");
    CHECK(body["id"] == "chatcmpl-emu-7");
    CHECK(body["model"] == "m");
    CHECK(body["choices"].size() == 2);
    CHECK(body["choices"][0]["message"]["content"] == "Echo: hello there");
    CHECK(body["choices"][0]["finish_reason"] == "stop");
    CHECK(body["usage"]["prompt_tokens"] == 4);
    CHECK(body["usage"]["completion_tokens"] == 6);
}

TEST_CASE("max_tokens cuts the answer and reports finish_reason length") {
    auto r = call(model_kind::chat, R"({"messages":[{"role":"user","content":"a b c d"}],"max_tokens":2})");
    auto body = json::parse(r.body);
    CHECK(body["choices"][0]["message"]["content"] == "Echo: a");
    CHECK(body["choices"][0]["finish_reason"] == "length");
}

TEST_CASE("a streamed chat answers with chunk events and ends with [DONE]") {
    auto r = call(model_kind::chat, R"({"messages":[{"role":"user","content":"one two"}],"stream":true})");
    REQUIRE(r.streaming);
    CHECK(r.content_type == "text/event-stream");
    REQUIRE(r.events.size() == 6);  // role, "Echo:", " one", " two", finish, [DONE]
    CHECK(r.events.back() == "data: [DONE]\n\n");
    std::string text;
    for (std::size_t i = 0; i + 1 < r.events.size(); ++i) {
        const auto& e = r.events[i];
        REQUIRE(e.rfind("data: ", 0) == 0);
        REQUIRE(e.size() > 8);
        CHECK(e.substr(e.size() - 2) == "\n\n");
        auto chunk = json::parse(e.substr(6));
        CHECK(chunk["object"] == "chat.completion.chunk");
        text += chunk["choices"][0]["delta"].value("content", "");
    }
    CHECK(text == "Echo: one two");
    auto last = json::parse(r.events[r.events.size() - 2].substr(6));
    CHECK(last["choices"][0]["finish_reason"] == "stop");
    CHECK(last["usage"]["completion_tokens"] == 3);
}

TEST_CASE("completions and embeddings answer in the OpenAI-like shapes") {
    auto c = json::parse(call(model_kind::completions, R"({"prompt":"say hi","max_tokens":10})").body);
    CHECK(c["object"] == "text_completion");
    CHECK(c["choices"][0]["text"] == "Completion of: say hi");
    auto e = call(model_kind::embeddings, R"({"input":["ab cd","x"]})");
    REQUIRE(e.status == 200);
    auto body = json::parse(e.body);
    CHECK(body["object"] == "list");
    CHECK(body["data"][0]["embedding"] == json::array({5.0, 2.0, 1.0}));
    CHECK(body["data"][1]["index"] == 1);
    CHECK(call(model_kind::embeddings, R"({"input":"x","stream":true})").status == 400);
    CHECK(call(model_kind::completions, R"({"messages":[]})").status == 400);
}

TEST_CASE("feature serving answers outputs with a total per record") {
    auto r = call(model_kind::feature, R"({"dataframe_records":[{"id":1,"x":2.5}]})");
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["outputs"][0]["total"] == 3.5);
    auto split = call(model_kind::feature, R"({"dataframe_split":{"columns":["id"],"data":[[4]]}})");
    CHECK(json::parse(split.body)["outputs"] == json::parse(R"([{"id":4,"total":4}])"));
    CHECK(call(model_kind::feature, R"({"instances":[1]})").status == 400);
}
