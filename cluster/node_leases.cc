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
  Result<LeaseGrant> claimed = ClaimLease(store_, branch, node_->self(), live_, clock_);
  if (claimed.status().code() == Code::kBusy) return HeldElsewhere(branch, claimed.status());
  STRATA_ASSIGN_OR_RETURN(LeaseGrant grant, std::move(claimed));
  const uint64_t epoch = grant.epoch;
  MutexLock l(&mu_);
  held_[branch] = std::move(grant);
  return epoch;
}

Status NodeLeases::HeldElsewhere(uint32_t branch, const Status& busy) {
  // Where its clients should go: the holder's proxy.
  Result<std::optional<LeaseGrant>> grant = ReadLease(store_, branch, clock_);
  if (!grant.ok() || !*grant || (*grant)->node.empty()) return busy;
  Result<std::optional<NodeRecord>> node = NodeRegistry::Read(store_, (*grant)->node, clock_);
  if (!node.ok() || !*node || (*node)->proxy_addr.empty()) return busy;
  return Status::Busy(busy.message() + "; its proxy is " + (*node)->proxy_addr);
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
