// Entry point for a first program: basic_client and everything it needs to be configured
// (client/client.hpp). Request bodies are in dbserve/payload/, the whole core in
// dbserve/dbserve.hpp.
#pragma once

#include <dbserve/client/client.hpp>
#include <dbserve/client/compiled_clients.hpp>
