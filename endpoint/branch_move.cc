#include "endpoint/branch_move.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "cluster/node_registry.h"

namespace strata {

namespace {

// Writes that land between a flush and the unclaim send us round again; a
// branch written this hard has a writer on the mount that should stop first.
constexpr int kUnclaimRounds = 5;

Result<NodeRecord> LiveNode(ObjectStore* store, const std::string& id, Clock* clock) {
  if (!ValidNodeId(id)) {
    return Status::Invalid("invalid node id \"" + id +
                           "\": 1-64 characters of a-z 0-9 -, not starting with -");
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<NodeRecord> node, NodeRegistry::Read(store, id, clock));
  if (!node || !NodeAlive(*node, clock->NowNs() / 1'000'000)) {
    return Status::NotFound("node " + id +
                            " is not a live member of the store (see strata node list)");
  }
  return *node;
}

Status HeldBy(const std::string& branch, const NodeRecord& holder) {
  return Status::Busy("branch '" + branch + "' is held by node " + holder.id +
                      "; run the move there" +
                      (holder.api_addr.empty() ? "" : " (its API is " + holder.api_addr + ")"));
}

}  // namespace

Result<MoveResult> BranchMover::Move(const std::string& branch, const std::string& to) {
  uint32_t id = 0;
  {
    auto cat = catalog_->Current();
    const BranchInfo* b = cat->FindBranch(branch);
    if (!b) return Status::NotFound("branch '" + branch + "' does not exist");
    id = b->id;
  }
  const std::string self = leases_->node()->self().id;
  STRATA_ASSIGN_OR_RETURN(NodeRecord target, LiveNode(store_, to, clock_));
  STRATA_ASSIGN_OR_RETURN(std::optional<NodeRecord> holder, leases_->HolderElsewhere(id));
  if (holder && holder->id != to) return HeldBy(branch, *holder);
  MoveResult r{branch, holder ? holder->id : self, to, 0, false};
  if (holder || to == self) return r;  // already there

  Result<EndpointInfo> info = endpoints_->Get(branch);
  r.was_running = info.ok() && info->state == EndpointState::kRunning;
  STRATA_RETURN_IF_ERROR(endpoints_->Block(branch, "being moved to node " + to));
  Result<uint64_t> epoch = HandOver(id, target);
  endpoints_->Unblock(branch);
  STRATA_ASSIGN_OR_RETURN(r.epoch, std::move(epoch));
  spdlog::info("branch {}: moved from node {} to node {} (epoch {}){}", branch, self, to, r.epoch,
               r.was_running ? "; its server starts there at the next session" : "");
  return r;
}

Status BranchMover::FlushAncestors(uint32_t id) {
  const Lineage lineage = catalog_->Current()->LineageOf(id);  // the branch itself first
  for (size_t i = 1; i < lineage.size(); i++) {
    if (leases_->HeldHere(lineage[i].branch)) {
      STRATA_RETURN_IF_ERROR(versions_->Flush(lineage[i].branch));
    }
  }
  return Status::OK();
}

Result<uint64_t> BranchMover::HandOver(uint32_t id, const NodeRecord& to) {
  STRATA_RETURN_IF_ERROR(leases_->BeginMove(id, to.id));
  // The receiver reads what the branch forked from its parents at their
  // published state: the parts this daemon has not flushed yet go first.
  Status st = FlushAncestors(id);
  if (st.ok()) st = FlushAndUnclaim(id);
  if (!st.ok()) {
    leases_->EndMove(id);
    return st;
  }
  STRATA_ASSIGN_OR_RETURN(LeaseGrant grant, leases_->HandOver(id, to));
  return grant.epoch;
}

Status BranchMover::FlushAndUnclaim(uint32_t id) {
  for (int round = 0; round < kUnclaimRounds; round++) {
    STRATA_RETURN_IF_ERROR(versions_->Flush(id));
    Status st = versions_->Unclaim(id);
    if (st.code() != Code::kBusy) return st;
  }
  return Status::Busy("branch " + std::to_string(id) +
                      " keeps being written on this daemon's mount; stop its writers and move "
                      "it again");
}

}  // namespace strata
