// `strata branch diff`: what a branch changed against another since their
// common ancestor point (GET /v1/branches/{name}/diff, docs/cli.md).
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/names.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/render_diff.h"

namespace strata::cli {

Result<std::string> BranchDiffPath(const BranchDiffArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.name));
  std::string path = "/v1/branches/" + PathSegment(args.name) + "/diff";
  char sep = '?';
  if (args.against) {
    STRATA_RETURN_IF_ERROR(ValidateName("branch", *args.against));
    path += std::string(1, sep) + "against=" + PathSegment(*args.against);
    sep = '&';
  }
  if (args.no_schema) path += std::string(1, sep) + "schema=false";
  return path;
}

Status BranchDiff(const BranchDiffArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(std::string path, BranchDiffPath(args));
  // Starting both servers and dumping their schemas can take a while.
  STRATA_ASSIGN_OR_RETURN(nlohmann::json diff,
                          CallDaemon(args.daemon, "GET", path, nullptr, kLongControlTimeout));
  PrintResult(args.daemon, diff, RenderDiff(diff), out);
  return Status::OK();
}

}  // namespace strata::cli
