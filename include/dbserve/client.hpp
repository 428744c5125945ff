// Entry point for a first program: basic_client and basic_workspace and everything they
// need to be configured (client/client.hpp, client/workspace.hpp), and query_group for
// poll loops. Request bodies are in dbserve/payload/, the whole core in
// dbserve/dbserve.hpp.
#pragma once

#include <dbserve/client/client.hpp>
#include <dbserve/client/query_group.hpp>
#include <dbserve/client/workspace.hpp>
#include <dbserve/client/compiled_clients.hpp>
