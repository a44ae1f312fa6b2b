// The owner-token routes (docs/api.md, "Owner tokens"): issue, list,
// revoke. Admin only (api/api_scope.h): an owner token cannot mint another.
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/api_request.h"
#include "common/names.h"

namespace strata {

using json = nlohmann::json;

namespace {

const char* TokenState(const TokenInfo& t, int64_t now_ns) {
  if (t.revoked_ns) return "revoked";
  if (t.expires_ns && t.expires_ns <= now_ns) return "expired";
  return "active";
}

// Everything about a token but its secret, which is not kept.
json TokenJson(const TokenInfo& t, int64_t now_ns) {
  return {{"id", t.id},
          {"owner", t.owner},
          {"created", FormatRfc3339(t.created_ns)},
          {"expires_at", TimeOrNull(t.expires_ns)},
          {"revoked_at", TimeOrNull(t.revoked_ns)},
          {"state", TokenState(t, now_ns)}};
}

}  // namespace

Result<ApiResult> Api::IssueToken(const Params&, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"owner", "ttl_seconds", "expires_at"}));
  STRATA_ASSIGN_OR_RETURN(const std::string owner, f.Required("owner"));
  STRATA_RETURN_IF_ERROR(ValidateName("owner", owner));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> expiry, f.Expiry(ctx_.clock));
  const int64_t now = ctx_.clock->NowNs();
  const int64_t expires = expiry.value_or(now + ctx_.token_ttl_s * 1'000'000'000);
  STRATA_ASSIGN_OR_RETURN(const IssuedToken t, tokens_.Issue(owner, expires));
  spdlog::info("issued API token {} for owner {} (expires {})", t.info.id, owner,
               FormatRfc3339(expires));
  json j = TokenJson(t.info, now);
  j["token"] = t.token;
  return Ok(j, 201);
}

Result<ApiResult> Api::ListTokens(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  const int64_t now = ctx_.clock->NowNs();
  json out = json::array();
  for (const TokenInfo& t : ctx_.catalog->Current()->tokens) out.push_back(TokenJson(t, now));
  return Ok(out);
}

Result<ApiResult> Api::RevokeToken(const Params& p, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_RETURN_IF_ERROR(tokens_.Revoke(p[0]));
  spdlog::info("revoked API token {}", p[0]);
  return Ok(json::object());
}

}  // namespace strata
