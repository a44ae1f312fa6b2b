// `strata gc`: a compaction and GC pass now (POST /v1/gc), with progress from
// GET /v1/gc on a terminal (docs/cli.md).
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/names.h"
#include "tools/call_progress.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/render_gc.h"

namespace strata::cli {

using nlohmann::json;

Result<json> GcBody(const std::string& branch) {
  if (branch.empty()) return json::object();
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  return json{{"branch", branch}};
}

Status RunGc(const DaemonArgs& args, const std::string& branch, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, GcBody(branch));
  STRATA_ASSIGN_OR_RETURN(std::string mount, ResolveMountArg(args.mount));
  // The pass takes as long as it takes; the polls are quick or fail.
  ControlClient pass(mount, kLongControlTimeout);
  ControlClient state(mount, std::chrono::seconds(10));
  ProgressPoll p{[&state] { return state.Call("GET", "/v1/gc"); }, DescribeGcProgress};
  STRATA_ASSIGN_OR_RETURN(json report,
                          CallWithProgress([&] { return pass.Call("POST", "/v1/gc", body); }, p,
                                           isatty(STDERR_FILENO) ? &std::cerr : nullptr));
  PrintResult(args, report, DescribeGcReport(report) + "\n", out);
  return Status::OK();
}

}  // namespace strata::cli
