// Entry point for users' tests: scripted fake transports, a manual clock and static
// secrets (testing/fakes.hpp). Not part of the umbrella header.
#pragma once

#include <dbserve/testing/fakes.hpp>
