// Tool arguments against their JSON Schema. The tools' schemas use a small
// subset of JSON Schema 2020-12, and this checks exactly that subset: an
// object with "properties" of "type" string, integer or boolean (integers
// with "minimum"/"maximum", strings with "minLength"/"maxLength"),
// "required", and "additionalProperties": false. Every tool's arguments are
// checked here before the tool runs, so bad arguments change nothing.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace strata::mcp {

// OK, or kInvalid with one sentence naming the first offending field:
// "unknown argument 'x'", "missing required argument 'branch'",
// "argument 'max_rows' must be an integer from 1 to 1000", ...
// `args` null counts as {}.
Status ValidateArguments(const nlohmann::json& schema, const nlohmann::json& args);

}  // namespace strata::mcp
