// Endpoint, credential and owner commands on the control API (docs/api.md):
// the postgres servers the daemon runs per branch, the passwords that open
// them through the proxy, and per-owner quotas.
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/names.h"
#include "tools/cli_format.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/render.h"
#include "tools/render_fleet.h"

namespace strata::cli {

namespace {

using nlohmann::json;

std::string EndpointPath(const std::string& branch) {
  return "/v1/branches/" + PathSegment(branch) + "/endpoint";
}

}  // namespace

Result<json> CredentialIssueBody(const CredentialIssueArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", args.branch));
  json body = json::object();
  if (args.role) body["role"] = *args.role;  // the daemon checks role names
  STRATA_RETURN_IF_ERROR(AddExpiry(args.ttl, args.expires_at, &body));
  return body;
}

Result<json> QuotaBody(const OwnerQuotaArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("owner", args.owner));
  json body = json::object();
  if (args.max_branches && *args.max_branches < -1) {
    return Status::Invalid("--max-branches must be >= 0, or unlimited (-1)");
  }
  if (args.max_bytes && *args.max_bytes < -1) {
    return Status::Invalid("--max-bytes must be >= 0, or unlimited (-1)");
  }
  if (args.max_branches) body["max_branches"] = *args.max_branches;
  if (args.max_bytes) body["max_bytes"] = *args.max_bytes;
  if (body.empty()) return Status::Invalid("nothing to change: give --max-branches or --max-bytes");
  return body;
}

Status EndpointStart(const DaemonArgs& args, const std::string& branch, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_ASSIGN_OR_RETURN(json e, CallDaemon(args, "POST", EndpointPath(branch) + "/start"));
  PrintResult(args, e, DescribeEndpoint(e) + "\n", out);
  return Status::OK();
}

Status EndpointSuspend(const DaemonArgs& args, const std::string& branch, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_ASSIGN_OR_RETURN(json e, CallDaemon(args, "POST", EndpointPath(branch) + "/suspend"));
  PrintResult(args, e, DescribeEndpoint(e) + "\n", out);
  return Status::OK();
}

Status EndpointStatus(const DaemonArgs& args, const std::string& branch, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_ASSIGN_OR_RETURN(json e, CallDaemon(args, "GET", EndpointPath(branch)));
  PrintResult(args, e, RenderEndpointDetail(e), out);
  return Status::OK();
}

Status EndpointList(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json list, CallDaemon(args, "GET", "/v1/endpoints"));
  PrintResult(args, list, RenderEndpointTable(list), out);
  return Status::OK();
}

Status EndpointMove(const DaemonArgs& args, const std::string& branch, const std::string& to,
                    std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_ASSIGN_OR_RETURN(json m,
                          CallDaemon(args, "POST", EndpointPath(branch) + "/move", {{"to", to}}));
  std::string text;
  if (!m.value("moved", false)) {
    text = "branch " + branch + " is already held by node " + to + "\n";
  } else {
    text = "moved branch " + branch + " from node " + m.value("from", "") + " to node " + to +
           " (lease epoch " + std::to_string(m.value("epoch", 0)) + ")" +
           (m.value("was_running", false) ? "; its server starts there at the next session" : "") +
           "\n";
  }
  PrintResult(args, m, text, out);
  return Status::OK();
}

Status NodeList(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json list, CallDaemon(args, "GET", "/v1/nodes"));
  PrintResult(args, list, RenderNodeTable(list), out);
  return Status::OK();
}

Status CredentialIssue(const CredentialIssueArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, CredentialIssueBody(args));
  STRATA_ASSIGN_OR_RETURN(
      json c, CallDaemon(args.daemon, "POST",
                         "/v1/branches/" + PathSegment(args.branch) + "/credentials", body));
  PrintResult(args.daemon, c, RenderCredentialIssued(c), out);
  return Status::OK();
}

Status CredentialList(const DaemonArgs& args, const std::string& branch, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", branch));
  STRATA_ASSIGN_OR_RETURN(
      json list, CallDaemon(args, "GET", "/v1/branches/" + PathSegment(branch) + "/credentials"));
  PrintResult(args, list, RenderCredentialTable(list), out);
  return Status::OK();
}

Status CredentialRevoke(const DaemonArgs& args, const std::string& id, std::ostream& out) {
  if (!IsValidName(id)) {
    return Status::Invalid("invalid credential id '" + id +
                           "': see 'strata credential list BRANCH' for the ids");
  }
  STRATA_ASSIGN_OR_RETURN(json result,
                          CallDaemon(args, "DELETE", "/v1/credentials/" + PathSegment(id)));
  PrintResult(args, result, "revoked credential " + id + "\n", out);
  return Status::OK();
}

Status OwnerShow(const DaemonArgs& args, const std::string& owner, std::ostream& out) {
  STRATA_RETURN_IF_ERROR(ValidateName("owner", owner));
  STRATA_ASSIGN_OR_RETURN(json o, CallDaemon(args, "GET", "/v1/owners/" + PathSegment(owner)));
  PrintResult(args, o, RenderOwner(o), out);
  return Status::OK();
}

Status OwnerQuota(const OwnerQuotaArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, QuotaBody(args));
  STRATA_ASSIGN_OR_RETURN(
      json o,
      CallDaemon(args.daemon, "PUT", "/v1/owners/" + PathSegment(args.owner) + "/quota", body));
  PrintResult(args.daemon, o, RenderOwner(o), out);
  return Status::OK();
}

}  // namespace strata::cli
