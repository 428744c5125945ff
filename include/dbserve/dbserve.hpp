// The umbrella header: the whole core, never an adapter. The core comes in three layers,
// each a folder that includes only itself and the ones before it:
//   protocol/  the service's protocol as values and pure functions (URLs, HTTP values,
//              errors, token and error bodies, secrets);
//   payload/   request bodies and the responses read from them;
//   client/    the policies, credentials, caches, retries and basic_client.
// The fakes for tests (dbserve/testing.hpp) are not included here.
#pragma once

#include <dbserve/protocol/detail/config.hpp>

#include <dbserve/protocol/authorization_details.hpp>
#include <dbserve/protocol/error.hpp>
#include <dbserve/protocol/form_encoding.hpp>
#include <dbserve/protocol/http.hpp>
#include <dbserve/protocol/result.hpp>
#include <dbserve/protocol/retry_after.hpp>
#include <dbserve/protocol/secret.hpp>
#include <dbserve/protocol/service_error.hpp>
#include <dbserve/protocol/token_response.hpp>
#include <dbserve/protocol/url.hpp>

#include <dbserve/payload/payload.hpp>
#include <dbserve/payload/responses.hpp>
#include <dbserve/payload/sse.hpp>

#include <dbserve/client/client.hpp>
#include <dbserve/client/compiled_clients.hpp>
#include <dbserve/client/client_config.hpp>
#include <dbserve/client/clock.hpp>
#include <dbserve/client/credentials.hpp>
#include <dbserve/client/endpoint.hpp>
#include <dbserve/client/policies.hpp>
#include <dbserve/client/policy_checks.hpp>
#include <dbserve/client/query_group.hpp>
#include <dbserve/client/query_operation.hpp>
#include <dbserve/client/query_response.hpp>
#include <dbserve/client/retry.hpp>
#include <dbserve/client/secret_sources.hpp>
#include <dbserve/client/throwing.hpp>
#include <dbserve/client/token_cache.hpp>
#include <dbserve/client/transport.hpp>
#include <dbserve/client/transport_options.hpp>
#include <dbserve/client/workspace.hpp>
#include <dbserve/client/transport_ref.hpp>
