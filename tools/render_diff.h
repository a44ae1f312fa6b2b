// Text rendering of a diff (GET /v1/branches/{name}/diff, docs/api.md,
// "Diff"): a header line, a table of relations, a table of the other files,
// then the schema diff. Missing fields show as "-", as in render.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace strata::cli {

std::string RenderDiff(const nlohmann::json& diff);

}  // namespace strata::cli
