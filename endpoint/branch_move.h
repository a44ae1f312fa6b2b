// BranchMover: hands a branch, suspended or running, to another daemon of
// the store (`strata endpoint move`, POST /v1/branches/{name}/endpoint/move;
// docs/cluster.md, "Moving a branch").
//
// The order, each step on this daemon:
//  1. the receiver must be a live node, and no other live node may hold the
//     branch (a move runs on the holder, or on any daemon when nobody holds it);
//  2. new sessions are refused and the server is stopped (EndpointManager::
//     Block), which flushes the branch;
//  3. claims of the branch are refused here (NodeLeases::BeginMove), so
//     nothing on this mount writes it again;
//  4. whatever the mount wrote meanwhile is flushed and the version store
//     forgets its claim (Unclaim);
//  5. the lease grant naming the receiver is written (NodeLeases::HandOver);
//  6. sessions are allowed again: this daemon's proxy now relays them to the
//     receiver, which claims the branch and starts its server at the first one.
// A failure before step 5 leaves the branch here, held as before.
//
// Thread-safety: Move may run on several threads; two moves of one branch
// at once are refused (kBusy) by Block and BeginMove.
#pragma once

#include <cstdint>
#include <string>

#include "catalog/catalog.h"
#include "cluster/node_leases.h"
#include "common/clock.h"
#include "common/status.h"
#include "endpoint/endpoint_manager.h"
#include "layers/version_store.h"
#include "objstore/object_store.h"

namespace strata {

struct MoveResult {
  std::string branch;
  std::string from, to;      // node ids; equal when the branch was already at `to`
  uint64_t epoch = 0;        // the receiver's lease epoch (0 when nothing moved)
  bool was_running = false;  // its server ran here before the move
};

class BranchMover {
 public:
  // All must outlive this.
  // `clock` judges whether the receiver is alive.
  BranchMover(ObjectStore* store, Catalog* catalog, VersionStore* versions,
              EndpointManager* endpoints, NodeLeases* leases, Clock* clock = Clock::Real())
      : store_(store),
        catalog_(catalog),
        versions_(versions),
        endpoints_(endpoints),
        leases_(leases),
        clock_(clock) {}

  // Moves `branch` to the node `to`. kNotFound: no such branch, or `to` is no
  // live node; kBusy: another node holds the branch (its API address named),
  // or the branch is being moved, deleted or reset; kInvalid: a bad node id.
  Result<MoveResult> Move(const std::string& branch, const std::string& to);

 private:
  // Steps 3-5 once the server is stopped.
  Result<uint64_t> HandOver(uint32_t id, const NodeRecord& to);
  // Flushes the branches `id` forked from (and their parents) that this
  // daemon holds: what the receiver reads through the fork.
  Status FlushAncestors(uint32_t id);
  // Flushes `id` until the version store can forget its claim.
  Status FlushAndUnclaim(uint32_t id);

  ObjectStore* const store_;
  Catalog* const catalog_;
  VersionStore* const versions_;
  EndpointManager* const endpoints_;
  NodeLeases* const leases_;
  Clock* const clock_;
};

}  // namespace strata
