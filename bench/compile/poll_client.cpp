// A minimal poll client: the umbrella, one basic_client instantiated, one query started and
// driven by the caller (no transport: every request is answered with a 503 here, so the
// program links without any network code).
#include <dbserve/dbserve.hpp>

#include <cstdio>
#include <string>

int main() {
    dbserve::client_config config;
    config.url = "https://abc.7.serving.azuredatabricks.net/1/serving-endpoints/m/invocations";
    dbserve::basic_client<> client(config);  // no transport, system clock, default secret source
    auto op = client.start_query(std::string(R"({"inputs":[1]})"));
    for (int i = 0; i < 100; ++i) {
        auto step = op.next();
        if (step.kind == dbserve::operation_step::send) {
            dbserve::http_response unavailable;
            unavailable.status = 503;
            op.on_response(step.request_id, unavailable);
        } else if (step.kind == dbserve::operation_step::done) {
            std::printf("%s\n", (*step.outcome) ? "ok" : step.outcome->error().message.c_str());
            return 0;
        } else if (step.kind != dbserve::operation_step::chunk) {
            break;
        }
    }
    return 1;
}
