// The diff route (docs/api.md, "Diff"): what a branch changed against
// another since their common ancestor point. The work is BranchDiff's
// (endpoint/branch_diff.h); this only reads the query and writes the JSON.
#include "api/api.h"
#include "api/api_request.h"
#include "endpoint/branch_diff.h"

namespace strata {

namespace {

using json = nlohmann::json;

json DiffJson(const DiffReport& r) {
  json rels = json::array(), files = json::array();
  for (const RelationChange& c : r.relations) {
    rels.push_back({{"name", c.name},
                    {"kind", c.kind},
                    {"side", c.side},
                    {"pages_changed", c.pages},
                    {"bytes", c.bytes},
                    {"parts", c.parts}});
  }
  for (const FileDiffEntry& f : r.files) {
    files.push_back({{"path", f.path},
                     {"side", f.side},
                     {"pages_changed", f.pages},
                     {"bytes", f.bytes},
                     {"created", f.created},
                     {"deleted", f.deleted},
                     {"truncated", f.truncated}});
  }
  json j = {{"branch", r.branch},
            {"against", r.against},
            {"base", {{"branch", r.base_branch}, {"seq", r.base_seq}}},
            {"relations", rels},
            {"files", files},
            {"keys_changed", r.keys_changed},
            {"keyspace_ms", r.keyspace_ms},
            {"elapsed_ms", r.elapsed_ms}};
  if (r.schema_diff) j["schema_diff"] = *r.schema_diff;
  return j;
}

}  // namespace

Result<ApiResult> Api::GetDiff(const Params& p, const json& args) {
  if (!ctx_.diff) return Status::NotSupported("diff needs the daemon's endpoints");
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(args, {"against", "schema"}));
  STRATA_ASSIGN_OR_RETURN(const std::optional<bool> schema_arg, f.QueryBool("schema"));
  const bool schema = schema_arg.value_or(true);
  std::string against;
  if (args.contains("against")) {
    if (!args["against"].is_string() || args["against"].get<std::string>().empty()) {
      return Status::Invalid("against must be a branch name");
    }
    against = args["against"].get<std::string>();
  }
  STRATA_ASSIGN_OR_RETURN(DiffReport r, ctx_.diff->Diff(p[0], against, schema));
  return ApiResult{200, DiffJson(r)};
}

}  // namespace strata
