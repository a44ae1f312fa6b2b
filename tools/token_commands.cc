// Owner-token commands on the control API (docs/api.md, "Owner tokens"):
// issue, list and revoke the tokens that reach one owner's branches only.
// The daemon answers them for its admin (the control socket this CLI uses,
// or the admin token), never for an owner token.
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/names.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/control_client.h"
#include "tools/render_fleet.h"

namespace strata::cli {

using nlohmann::json;

Result<json> TokenIssueBody(const TokenIssueArgs& args) {
  STRATA_RETURN_IF_ERROR(ValidateName("owner", args.owner));
  json body = {{"owner", args.owner}};
  STRATA_RETURN_IF_ERROR(AddExpiry(args.ttl, args.expires_at, &body));
  return body;
}

Status TokenIssue(const TokenIssueArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json body, TokenIssueBody(args));
  STRATA_ASSIGN_OR_RETURN(json t, CallDaemon(args.daemon, "POST", "/v1/tokens", body));
  PrintResult(args.daemon, t, RenderTokenIssued(t), out);
  return Status::OK();
}

Status TokenList(const DaemonArgs& args, std::ostream& out) {
  STRATA_ASSIGN_OR_RETURN(json list, CallDaemon(args, "GET", "/v1/tokens"));
  PrintResult(args, list, RenderTokenTable(list), out);
  return Status::OK();
}

Status TokenRevoke(const DaemonArgs& args, const std::string& id, std::ostream& out) {
  if (!IsValidName(id)) {
    return Status::Invalid("invalid token id '" + id + "': see 'strata token list' for the ids");
  }
  STRATA_ASSIGN_OR_RETURN(json result, CallDaemon(args, "DELETE", "/v1/tokens/" + PathSegment(id)));
  PrintResult(args, result, "revoked token " + id + "\n", out);
  return Status::OK();
}

}  // namespace strata::cli
