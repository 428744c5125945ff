// Every request payload builder: custom model bodies (tables, tensors, params), LLM requests
// and feature lookups, with the size limits. Include the single headers to compile less.
#pragma once

#include <dbserve/payload/array_views.hpp>
#include <dbserve/payload/body_limits.hpp>
#include <dbserve/payload/cell.hpp>
#include <dbserve/payload/dataframe.hpp>
#include <dbserve/payload/feature_lookup.hpp>
#include <dbserve/payload/json_writer.hpp>
#include <dbserve/payload/llm_request.hpp>
#include <dbserve/payload/model_request.hpp>
#include <dbserve/payload/tensor.hpp>
#include <dbserve/protocol/detail/config.hpp>
