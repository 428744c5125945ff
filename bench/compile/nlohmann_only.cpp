// The reference: a translation unit that parses and writes JSON with nlohmann/json alone.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    const auto doc = nlohmann::json::parse(argc > 1 ? argv[1] : R"({"inputs":[1,2,3]})", nullptr, false);
    const std::string text = doc.dump();
    std::puts(text.c_str());
    return doc.is_discarded() ? 1 : 0;
}
