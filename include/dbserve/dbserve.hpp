// The umbrella header: the whole core, never an adapter.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/authorization_details.hpp>
#include <dbserve/client.hpp>
#include <dbserve/client_config.hpp>
#include <dbserve/clock.hpp>
#include <dbserve/credentials.hpp>
#include <dbserve/endpoint.hpp>
#include <dbserve/error.hpp>
#include <dbserve/form_encoding.hpp>
#include <dbserve/http.hpp>
#include <dbserve/policy_checks.hpp>
#include <dbserve/query_operation.hpp>
#include <dbserve/query_response.hpp>
#include <dbserve/result.hpp>
#include <dbserve/retry.hpp>
#include <dbserve/retry_after.hpp>
#include <dbserve/secret.hpp>
#include <dbserve/secret_sources.hpp>
#include <dbserve/service_error.hpp>
#include <dbserve/throwing.hpp>
#include <dbserve/token_cache.hpp>
#include <dbserve/token_response.hpp>
#include <dbserve/transport.hpp>
#include <dbserve/transport_options.hpp>
#include <dbserve/url.hpp>
