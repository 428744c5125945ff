#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "emulator_process.hpp"

#include <signal.h>

TEST_CASE("the process helper starts the emulator, reads its JSON line and stops it") {
    int pid = 0;
    {
        dbserve_emulator::process emulator({"--token-lifetime", "5"});
        pid = emulator.pid();
        CHECK(::kill(pid, 0) == 0);
        CHECK(emulator.port() > 0);
        CHECK(emulator.info()["token_lifetime_seconds"] == 5);
        CHECK(emulator.info()["emulator"] == "dbserve-emulator");
        CHECK(emulator.resolve().count(emulator.info()["workspace_host"].get<std::string>()) == 1);
        CHECK(emulator.workspace_url().find(std::to_string(emulator.port())) != std::string::npos);
        CHECK_FALSE(emulator.ca_file().empty());
    }
    CHECK(::kill(pid, 0) != 0);
}

TEST_CASE("the process helper reports a binary that does not start") {
    CHECK_THROWS_AS(dbserve_emulator::process({}, std::chrono::seconds(5), "/nonexistent/dbserve-emulator"),
                    std::runtime_error);
    CHECK_THROWS_AS(dbserve_emulator::process({"--no-such-option"}), std::runtime_error);
}
