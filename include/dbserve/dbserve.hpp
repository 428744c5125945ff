// The umbrella header: the whole core, never an adapter.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/error.hpp>
#include <dbserve/http.hpp>
#include <dbserve/result.hpp>
#include <dbserve/secret.hpp>
#include <dbserve/transport.hpp>
#include <dbserve/transport_options.hpp>
