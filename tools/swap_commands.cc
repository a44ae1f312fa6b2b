// `strata branch restore` and `strata branch promote` (docs/cli.md): a
// branch name moves to another branch, through the daemon's API.
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/names.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/render.h"

namespace strata::cli {

using nlohmann::json;

namespace {

Status AddPreserveAs(const BranchSwapArgs& args, json* body) {
  if (args.preserve_as.empty()) return Status::OK();
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.preserve_as));
  (*body)["preserve_as"] = args.preserve_as;
  return Status::OK();
}

}  // namespace

Result<json> BranchRestoreBody(const BranchSwapArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.name));
  if (args.to.empty() || args.to[0] != '@') {
    return Status::Invalid("--to takes @seq:N, @time:RFC3339 or @SNAPSHOT, not '" + args.to + "'");
  }
  json body = {{"to", args.to}};
  STRATA_RETURN_IF_ERROR(AddPreserveAs(args, &body));
  return body;
}

Result<json> BranchPromoteBody(const BranchSwapArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.name));
  json body = json::object();
  STRATA_RETURN_IF_ERROR(AddPreserveAs(args, &body));
  return body;
}

Status BranchRestore(const BranchSwapArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, BranchRestoreBody(args));
  // The branch's server stops first (a clean shutdown checkpoint).
  STRATA_ASSIGN_OR_RETURN(
      json branch,
      CallDaemon(args.daemon, "POST", "/v1/branches/" + PathSegment(args.name) + "/restore", body,
                 kLongControlTimeout));
  PrintResult(args.daemon, branch, DescribeBranchRestored(branch, args.to, args.preserve_as) + "\n",
              out);
  return Status::OK();
}

Status BranchPromote(const BranchSwapArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, BranchPromoteBody(args));
  STRATA_ASSIGN_OR_RETURN(
      json branch,
      CallDaemon(args.daemon, "POST", "/v1/branches/" + PathSegment(args.name) + "/promote", body,
                 kLongControlTimeout));
  PrintResult(args.daemon, branch,
              DescribeBranchPromoted(branch, args.name, args.preserve_as) + "\n", out);
  return Status::OK();
}

}  // namespace strata::cli
