#include "cluster/node_leases.h"

#include <spdlog/spdlog.h>

namespace strata {

NodeLeases::NodeLeases(ObjectStore* store, NodeRegistry* node, Clock* clock)
    : store_(store), node_(node), clock_(clock), live_(StoreLiveness(store, clock)) {}

Result<uint64_t> NodeLeases::Claim(uint32_t branch) {
  if (!node_->Alive()) {
    return Status::Unavailable("node " + node_->self().id +
                               " is no longer a live member of the store (its heartbeat lapsed): "
                               "it takes no branch; restart the daemon");
  }
  {
    MutexLock l(&mu_);
    if (auto it = moving_.find(branch); it != moving_.end()) {
      return Status::Busy("branch " + std::to_string(branch) + " is being moved to node " +
                          it->second);
    }
  }
  STRATA_ASSIGN_OR_RETURN(LeaseGrant grant, ClaimHere(branch));
  return grant.epoch;
}

Result<LeaseGrant> NodeLeases::ClaimHere(uint32_t branch) {
  Result<LeaseGrant> claimed = ClaimLease(store_, branch, node_->self(), live_, clock_);
  if (claimed.status().code() == Code::kBusy) return HeldElsewhere(branch, claimed.status());
  STRATA_RETURN_IF_ERROR(claimed.status());
  MutexLock l(&mu_);
  held_[branch] = *claimed;
  return claimed;
}

Status NodeLeases::BeginMove(uint32_t branch, const std::string& to) {
  MutexLock l(&mu_);
  auto [it, inserted] = moving_.emplace(branch, to);
  if (!inserted) {
    return Status::Busy("branch " + std::to_string(branch) + " is already being moved to node " +
                        it->second);
  }
  return Status::OK();
}

Result<LeaseGrant> NodeLeases::HandOver(uint32_t branch, const NodeRecord& to) {
  Result<LeaseGrant> next = HandOverHeld(branch, to);
  EndMove(branch);
  return next;
}

Result<LeaseGrant> NodeLeases::HandOverHeld(uint32_t branch, const NodeRecord& to) {
  if (!node_->Alive()) {
    return Status::Unavailable("node " + node_->self().id +
                               " is no longer a live member of the store: it hands nothing over");
  }
  std::optional<LeaseGrant> held;
  {
    MutexLock l(&mu_);
    if (auto it = held_.find(branch); it != held_.end()) held = it->second;
  }
  if (!held) {
    STRATA_ASSIGN_OR_RETURN(held, ClaimHere(branch));
  }
  Result<LeaseGrant> next = HandOverLease(store_, *held, to);
  if (next.ok() || next.status().code() == Code::kBusy) Forget(branch);  // not ours either way
  return next;
}

void NodeLeases::EndMove(uint32_t branch) {
  MutexLock l(&mu_);
  moving_.erase(branch);
}

Result<Placement> NodeLeases::Locate(uint32_t branch) {
  using Kind = Placement::Kind;
  if (HeldHere(branch)) return Placement{Kind::kHere, std::nullopt};
  STRATA_ASSIGN_OR_RETURN(std::optional<LeaseGrant> grant, ReadLease(store_, branch, clock_));
  if (!grant || !ValidNodeId(grant->node)) return Placement{Kind::kNobody, std::nullopt};
  // One read of the holder's record says both whether it lives (as
  // StoreLiveness judges) and where it is.
  Result<std::optional<NodeRecord>> node = NodeRegistry::Read(store_, grant->node, clock_);
  if (!node.ok()) {
    return Status::Unavailable("branch " + std::to_string(branch) + " is held by node " +
                               grant->node +
                               ", whose record cannot be read now: " + node.status().message());
  }
  const bool alive = *node && (*node)->incarnation == grant->incarnation &&
                     NodeAlive(**node, clock_->NowNs() / 1'000'000);
  if (!alive) return Placement{Kind::kNobody, std::nullopt};
  if (grant->node == node_->self().id) return Placement{Kind::kHere, std::nullopt};
  return Placement{Kind::kElsewhere, std::move(*node)};
}

Result<std::optional<NodeRecord>> NodeLeases::HolderElsewhere(uint32_t branch) {
  STRATA_ASSIGN_OR_RETURN(Placement p, Locate(branch));
  return std::move(p.node);
}

Status NodeLeases::HeldElsewhere(uint32_t branch, const Status& busy) {
  // Where its clients should go: the holder's proxy.
  Result<Placement> at = Locate(branch);
  if (!at.ok() || !at->node || at->node->proxy_addr.empty()) return busy;
  return Status::Busy(busy.message() + "; its proxy is " + at->node->proxy_addr);
}

Result<bool> NodeLeases::HeldAt(uint32_t branch, uint64_t epoch) {
  Result<std::string> text = store_->Get(LeaseKey(branch, epoch));
  if (text.status().IsNotFound()) return false;
  STRATA_RETURN_IF_ERROR(text.status());
  std::optional<LeaseGrant> grant = DecodeLeaseGrant(*text);
  if (!grant) return Status::Corruption(LeaseKey(branch, epoch) + " is not a lease grant");
  return grant->node == node_->self().id;
}

Status NodeLeases::Release(uint32_t branch) {
  std::optional<LeaseGrant> grant;
  {
    MutexLock l(&mu_);
    auto it = held_.find(branch);
    if (it == held_.end()) return Status::OK();
    grant = std::move(it->second);
    held_.erase(it);
  }
  return ReleaseLease(store_, *grant);
}

Status NodeLeases::ReleaseAll() {
  Status first;
  for (uint32_t branch : Held()) {
    Status st = Release(branch);
    if (!st.ok()) {
      spdlog::warn("branch {}: releasing its lease failed (it expires with this node): {}", branch,
                   st.ToString());
      if (first.ok()) first = st;
    }
  }
  return first;
}

void NodeLeases::Forget(uint32_t branch) {
  MutexLock l(&mu_);
  held_.erase(branch);
}

bool NodeLeases::HeldHere(uint32_t branch) const {
  MutexLock l(&mu_);
  return held_.contains(branch);
}

std::vector<uint32_t> NodeLeases::Held() const {
  MutexLock l(&mu_);
  std::vector<uint32_t> out;
  out.reserve(held_.size());
  for (const auto& [branch, grant] : held_) out.push_back(branch);
  return out;
}

Result<BranchHolder> NodeLeases::HolderOf(uint32_t branch) {
  BranchHolder h;
  STRATA_ASSIGN_OR_RETURN(h.grant, ReadLease(store_, branch, clock_));
  if (h.grant && !h.grant->node.empty()) {
    STRATA_ASSIGN_OR_RETURN(h.alive, live_(h.grant->node, h.grant->incarnation));
  }
  return h;
}

}  // namespace strata
