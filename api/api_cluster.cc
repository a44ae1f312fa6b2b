// The routes about the daemons sharing the store (docs/cluster.md):
// GET /v1/nodes, where a branch is held (GetBranch's "holder"), and
// POST /v1/branches/{name}/endpoint/move.
#include <nlohmann/json.hpp>

#include "api/api.h"
#include "api/api_request.h"
#include "cluster/node_leases.h"
#include "cluster/node_registry.h"

namespace strata {

using json = nlohmann::json;

namespace {

json OrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json NodeJson(const NodeRecord& n, const std::string& self, int64_t now_ms) {
  return {{"id", n.id},
          {"here", n.id == self},
          {"alive", NodeAlive(n, now_ms)},
          {"host", n.host},
          {"pid", n.pid},
          {"mount", n.mountpoint},
          {"proxy", OrNull(n.proxy_addr)},
          {"api", OrNull(n.api_addr)},
          {"started", FormatRfc3339(n.started_ns)},
          {"heartbeat", FormatRfc3339(n.heartbeat_ns)},
          {"expires", FormatRfc3339(n.expires_unix_ms * 1'000'000)},
          {"load", n.load}};
}

}  // namespace

Result<ApiResult> Api::ListNodes(const Params&, const json& body) {
  STRATA_RETURN_IF_ERROR(Fields::Of(body, {}).status());
  STRATA_ASSIGN_OR_RETURN(std::vector<NodeRecord> nodes, NodeRegistry::List(ctx_.store));
  const std::string self = ctx_.leases ? ctx_.leases->node()->self().id : "";
  const int64_t now_ms = ctx_.clock->NowNs() / 1'000'000;
  json out = json::array();
  for (const NodeRecord& n : nodes) out.push_back(NodeJson(n, self, now_ms));
  return Ok(out);
}

Result<ApiResult> Api::MoveEndpoint(const Params& p, const json& body) {
  STRATA_ASSIGN_OR_RETURN(Fields f, Fields::Of(body, {"to"}));
  STRATA_ASSIGN_OR_RETURN(const std::string to, f.Required("to"));
  if (!ctx_.mover) return Status::NotSupported("this daemon cannot move branches");
  STRATA_ASSIGN_OR_RETURN(MoveResult m, ctx_.mover->Move(p[0], to));
  return Ok({{"branch", m.branch},
             {"from", m.from},
             {"to", m.to},
             {"moved", m.from != m.to},
             {"epoch", m.epoch},
             {"was_running", m.was_running}});
}

Result<json> Api::HolderJson(uint32_t branch) {
  if (!ctx_.leases) return json(nullptr);
  STRATA_ASSIGN_OR_RETURN(BranchHolder h, ctx_.leases->HolderOf(branch));
  if (!h.grant || h.grant->node.empty()) {
    return json{{"node", nullptr}, {"epoch", h.grant ? h.grant->epoch : 0}};
  }
  return json{{"node", h.grant->node},
              {"epoch", h.grant->epoch},
              {"alive", h.alive},
              {"here", h.grant->node == ctx_.leases->node()->self().id},
              {"since", FormatRfc3339(h.grant->taken_ns)}};
}

}  // namespace strata
