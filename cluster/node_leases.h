// NodeLeases: the branch leases one node holds (docs/cluster.md).
//
// The version store asks Claim before the first write of a branch and
// writes under the epoch it returns (VersionStoreOptions::claim). A claim is
// refused once the node's own registry is no longer Alive(): a node that may
// already be judged dead must not take anything. Release gives a branch up
// (a clean stop releases every lease, so another node claims at once instead
// of waiting for the record to expire).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/branch_lease.h"
#include "cluster/node_registry.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

// Who holds a branch, as the store says: its newest grant (none: never
// claimed) and whether the grant's node is alive now.
struct BranchHolder {
  std::optional<LeaseGrant> grant;
  bool alive = false;
};

// NodeLeases::Locate's answer.
struct Placement {
  enum class Kind { kHere, kElsewhere, kNobody };
  Kind kind = Kind::kNobody;
  std::optional<NodeRecord> node;  // kElsewhere: the holder's record
};

class NodeLeases {
 public:
  // `node` must outlive this.
  NodeLeases(ObjectStore* store, NodeRegistry* node, Clock* clock = Clock::Real());

  // The fencing epoch of this node's lease on `branch`, taking it if need
  // be. kBusy naming the holder and its proxy if a live node holds it;
  // kUnavailable once this node is no longer a live member.
  Result<uint64_t> Claim(uint32_t branch) EXCLUDES(mu_);
  // Gives `branch` up if this node holds it; the caller flushed it first.
  Status Release(uint32_t branch) EXCLUDES(mu_);
  // Releases every lease held; the first error (the rest are still tried).
  Status ReleaseAll() EXCLUDES(mu_);
  // Whether this node (any incarnation) took `branch` at `epoch`: false if
  // another node did or the grant is gone (two newer claims deleted it).
  Result<bool> HeldAt(uint32_t branch, uint64_t epoch);
  // Forgets the lease of a branch whose objects (its lease among them) are
  // being deleted.
  void Forget(uint32_t branch) EXCLUDES(mu_);

  // From now until HandOver or EndMove, Claim of `branch` is refused (kBusy
  // "being moved to node TO"), so that nothing here writes it again once the
  // caller flushed it and the version store forgot its claim. kBusy if a move
  // of it is already under way.
  Status BeginMove(uint32_t branch, const std::string& to) EXCLUDES(mu_);
  // Hands the lease of `branch` to `to` (HandOverLease), claiming it first if
  // this node does not hold it yet (kBusy naming the holder if a live node
  // does), and forgets it; ends the move, also on failure.
  Result<LeaseGrant> HandOver(uint32_t branch, const NodeRecord& to) EXCLUDES(mu_);
  // Ends a move that did not happen: claims are allowed again.
  void EndMove(uint32_t branch) EXCLUDES(mu_);

  // Whether this node holds `branch` (no store call).
  bool HeldHere(uint32_t branch) const EXCLUDES(mu_);
  // The branches held here, in id order.
  std::vector<uint32_t> Held() const EXCLUDES(mu_);
  // Who holds `branch` according to the store (one LIST and a GET or two).
  Result<BranchHolder> HolderOf(uint32_t branch);
  // Where `branch` is written: here (held, or handed here and not claimed
  // yet; no store call when held), by another live node (with its record),
  // or by nobody (never claimed, released, or its holder is dead), so a
  // session may claim it here. kUnavailable if the holder's record cannot
  // be read.
  Result<Placement> Locate(uint32_t branch) EXCLUDES(mu_);
  // Locate's node when the branch is written elsewhere; nullopt otherwise.
  Result<std::optional<NodeRecord>> HolderElsewhere(uint32_t branch) EXCLUDES(mu_);
  NodeRegistry* node() const { return node_; }

 private:
  // ClaimLease for this node, recorded in held_; a refusal names the holder.
  Result<LeaseGrant> ClaimHere(uint32_t branch) EXCLUDES(mu_);
  Result<LeaseGrant> HandOverHeld(uint32_t branch, const NodeRecord& to) EXCLUDES(mu_);
  // `busy` (a refused claim) with the holder's proxy address added.
  Status HeldElsewhere(uint32_t branch, const Status& busy);

  ObjectStore* const store_;
  NodeRegistry* const node_;
  Clock* const clock_;
  const NodeLiveness live_;

  // Guards held_ and moving_; a leaf, never held across a store call. Two claims
  // of one branch at once do not happen (the version store serializes them
  // per branch), and ClaimLease returns the grant a node already holds.
  mutable Mutex mu_;
  std::map<uint32_t, LeaseGrant> held_ GUARDED_BY(mu_);
  std::map<uint32_t, std::string> moving_ GUARDED_BY(mu_);  // branch -> the node it goes to
};

}  // namespace strata
