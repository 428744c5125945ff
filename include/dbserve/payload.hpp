// Every request payload builder: custom model bodies (tables, tensors, params), LLM requests
// and feature lookups, with the size limits. Include the single headers to compile less.
#pragma once

#include <dbserve/detail/config.hpp>
#include <dbserve/array_views.hpp>
#include <dbserve/body_limits.hpp>
#include <dbserve/cell.hpp>
#include <dbserve/dataframe.hpp>
#include <dbserve/feature_lookup.hpp>
#include <dbserve/json_writer.hpp>
#include <dbserve/llm_request.hpp>
#include <dbserve/model_request.hpp>
#include <dbserve/tensor.hpp>
