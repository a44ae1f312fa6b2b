// The restore and promote routes (docs/api.md, "Restore and promote"): a
// branch name moves to another branch; the answer is the branch the name
// names afterwards.
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/api_request.h"

namespace strata {

using json = nlohmann::json;

Result<ApiResult> Api::RestoreBranch(const Params& p, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"to", "preserve_as"}));
  STRATA_ASSIGN_OR_RETURN(const std::string to, f.Required("to"));
  STRATA_ASSIGN_OR_RETURN(const std::optional<std::string> preserve_as, f.Str("preserve_as"));
  const auto started = ctx_.clock->SteadyNow();
  STRATA_ASSIGN_OR_RETURN(const BranchInfo b,
                          ctx_.fleet->RestoreBranch(p[0], to, preserve_as.value_or("")));
  json j = BranchJson(*ctx_.catalog->Current(), b);
  j["elapsed_us"] = MicrosSince(ctx_.clock, started);
  return Ok(j);
}

Result<ApiResult> Api::PromoteBranch(const Params& p, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"preserve_as"}));
  STRATA_ASSIGN_OR_RETURN(const std::optional<std::string> preserve_as, f.Str("preserve_as"));
  const auto started = ctx_.clock->SteadyNow();
  STRATA_ASSIGN_OR_RETURN(const BranchInfo b,
                          ctx_.fleet->PromoteBranch(p[0], preserve_as.value_or("")));
  json j = BranchJson(*ctx_.catalog->Current(), b);
  j["elapsed_us"] = MicrosSince(ctx_.clock, started);
  return Ok(j);
}

}  // namespace strata
