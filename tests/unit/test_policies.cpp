// What a client asks of its policies: only the Clock members its way of driving uses, any
// monotonic time base, construction by name (policies<Traits>), transports held by
// reference, and the adapters' aliases being the types they say.
#include <dbserve/client/client.hpp>
#include <dbserve/client/policies.hpp>
#include <dbserve/client/transport_ref.hpp>
#include <dbserve/testing/fakes.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

using namespace dbserve;
using namespace std::chrono_literals;

namespace {

const char* url = "https://abc123.7.serving.azuredatabricks.net/1234567890123456/serving-endpoints/my-ep/invocations";

client_config configured() {
    client_config c;
    c.url = url;
    c.jitter = [] { return 0.0; };
    return c;
}

// An engine's time base: its own clock type, counted in milliseconds since the engine
// started; nothing about it is std::chrono::steady_clock.
struct engine_time {
    using rep = std::int64_t;
    using period = std::milli;
    using duration = std::chrono::milliseconds;
    using time_point = std::chrono::time_point<engine_time>;
    [[maybe_unused]] static constexpr bool is_steady = true;
};

// A poll-only engine clock: readings only, no way to wait.
struct engine_frame_clock {
    std::shared_ptr<engine_time::time_point> now = std::make_shared<engine_time::time_point>(5000ms);
    std::chrono::system_clock::time_point wall_now() const {
        return std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600)) + now->time_since_epoch();
    }
    engine_time::time_point monotonic_now() const { return *now; }
};
struct engine_poll_traits {
    using transport = no_transport;
    using clock = engine_frame_clock;
    using secret_source = static_secret_source;
};

// A clock that counts plain durations and sleeps by moving its own count.
struct duration_clock {
    std::shared_ptr<std::chrono::microseconds> now = std::make_shared<std::chrono::microseconds>(7s);
    std::shared_ptr<std::vector<std::chrono::microseconds>> slept =
        std::make_shared<std::vector<std::chrono::microseconds>>();
    std::chrono::system_clock::time_point wall_now() const {
        return std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600)) + *now;
    }
    std::chrono::microseconds monotonic_now() const { return *now; }
    void sleep_until(std::chrono::microseconds until) const {
        slept->push_back(until);
        if (until > *now) *now = until;
    }
};
struct duration_clock_traits {
    using transport = testing::fake_transport;
    using clock = duration_clock;
    using secret_source = static_secret_source;
};

testing::fake_transport throttled_once() {
    testing::fake_transport t;
    t.replies().on("/oidc/v1/token").always(testing::token_reply("tok"));
    t.replies()
        .on("/invocations")
        .reply(testing::json_response(503, R"({"error_code":"TEMPORARILY_UNAVAILABLE"})", {{"Retry-After", "2"}}))
        .always(testing::json_response(200, R"({"predictions":[1]})"));
    return t;
}

// An engine's HTTP service: a singleton that can be neither copied nor moved.
class engine_http {
public:
    engine_http() = default;
    engine_http(const engine_http&) = delete;
    engine_http& operator=(const engine_http&) = delete;
    result<http_response> send(const http_request& request, const send_options&) {
        ++calls;
        if (request.url.find("/oidc/") != std::string::npos) return testing::token_reply("tok");
        return testing::json_response(200, R"({"predictions":[2]})");
    }
    int calls = 0;
};

}  // namespace

TEST_CASE("a poll-only client takes a clock with readings only, in the engine's own time base") {
    static_assert(!detail::has_sleep_until<engine_frame_clock>::value);
    static_assert(!detail::has_async_wait_until<engine_frame_clock>::value);
    static_assert(!is_clock_v<engine_frame_clock>);  // not every way of driving can use it
    engine_frame_clock clock;
    basic_client<engine_poll_traits> client(
        configured(), policies<engine_poll_traits>().with_clock(clock).with_secret_source(
                          static_secret_source{testing::service_principal()}));
    auto transport = throttled_once();
    auto op = client.start_query(std::string("{}"));
    result<query_response>* outcome = nullptr;
    std::vector<std::chrono::steady_clock::time_point> waits;
    for (int i = 0; i < 20 && !outcome; ++i) {
        operation_step step = op.next();
        if (step.kind == operation_step::send) {
            op.on_response(step.request_id, transport.send(*step.request, step.options()));
        } else if (step.kind == operation_step::wait_until) {
            waits.push_back(step.deadline);
            *clock.now = engine_time::time_point(
                std::chrono::duration_cast<engine_time::duration>(step.deadline.time_since_epoch()));
        } else if (step.kind == operation_step::load_credentials) {
            op.load_credentials();
        } else if (step.kind == operation_step::done) {
            outcome = step.outcome;
        }
    }
    REQUIRE(outcome);
    REQUIRE(*outcome);
    CHECK((*outcome)->status == 200);
    // Retry-After: 2 from the engine's 5 s: the wait ends at 7 s on the engine's count.
    REQUIRE(waits.size() == 1);
    CHECK(waits[0].time_since_epoch() == 7s);
}

TEST_CASE("a blocking client sleeps in the clock's own duration type, never before the deadline") {
    duration_clock clock;
    basic_client<duration_clock_traits> client(configured(), policies<duration_clock_traits>(throttled_once())
                                                                 .with_clock(clock)
                                                                 .with_secret_source(static_secret_source{
                                                                     testing::service_principal()}));
    auto r = client.query(std::string("{}"));
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(clock.slept->size() == 1);
    CHECK(clock.slept->front() == 9s);  // 7 s + Retry-After 2 s
}

TEST_CASE("policies set by name leave the others default-constructed") {
    struct source_only_traits : default_traits {
        using transport = no_transport;
        using secret_source = static_secret_source;
    };
    auto credentials = testing::service_principal();
    basic_client<source_only_traits> client(configured(),
                                            policies<source_only_traits>().with_secret_source({credentials}));
    CHECK(client.check_configuration());
    static_assert(std::is_same_v<decltype(client.clock()), const system_clock_policy&>);

    policies<testing::traits> set;
    set.with_clock(manual_clock{});
    CHECK(set.secret_source().values.client_id.empty());
}

TEST_CASE("a transport that cannot move is used through transport_ref") {
    using ref_traits = traits_for<transport_ref<engine_http>, manual_clock, static_secret_source>;
    static_assert(is_sync_transport_v<transport_ref<engine_http>>);
    static_assert(!is_async_transport_v<transport_ref<engine_http>>);
    engine_http http;
    basic_client<ref_traits> client(configured(), policies<ref_traits>(transport_ref<engine_http>(http))
                                                      .with_secret_source({testing::service_principal()}));
    auto r = client.query(std::string("{}"));
    REQUIRE(r);
    CHECK(r->json()["predictions"][0] == 2);
    CHECK(http.calls == 2);
    CHECK(&client.transport().get() == &http);
}

TEST_CASE("default_secret_source and profile_file_secret_source take their leading fields alone") {
    // Built with -Wextra -Werror: these lines are the test that no field goes uninitialised.
    credentials creds = testing::service_principal();
    default_secret_source from_code{creds};
    profile_file_secret_source from_file{"/nonexistent/dbserve.cfg"};
    CHECK(from_code.values.client_id == creds.client_id);
    CHECK(from_code.profile.empty());
    CHECK(from_file.profile.empty());
}
