// Branch leases: which node writes a branch.
//
// A branch is written by one node at a time. Its lease is a chain of
// immutable objects, one per epoch,
//   branches/<branch id>/lease/<epoch, 20 digits>.json
// each a LeaseGrant naming the node (and its incarnation) that took the branch
// at that epoch, or no node for a release. The newest epoch is the current
// state. Taking the branch writes epoch + 1 with PutIfAbsent, so of two
// takers of the same epoch exactly one wins: the epoch is a fencing token,
// and whatever the holder writes can carry it so that a reader prefers the
// higher epoch's writes.
//
// A claim takes the branch when it has no grant, was released, or names a
// node the caller's NodeLiveness judges dead (StoreLiveness: its registry
// record is gone, expired, or of another incarnation). A node's leases are
// only valid while its NodeRegistry is Alive(): that self-fencing rule stops
// the holder ttl/3 before anyone can judge it dead.
//
// Deleting a branch deletes its lease objects with everything else under
// its prefix. Old epochs are deleted by the winner of a newer one: after
// winning epoch e, epochs <= e-2 go. Epoch e-1 stays, so a reader that
// LISTed before e was written still finds the object it is about to GET.
// Because old keys vanish, a claimer that read long ago could re-create a
// deleted epoch below the newest; a claim therefore LISTs again after its
// PutIfAbsent and only counts as won if nothing newer exists.
//
// Every function is stateless: thread-safe as long as the store is.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cluster/node_registry.h"
#include "common/clock.h"
#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

// "branches/<branch id>/lease/": deleting a branch's objects deletes its lease.
std::string LeasePrefix(uint32_t branch);
// LeasePrefix(branch) + "<epoch, 20 digits>.json".
std::string LeaseKey(uint32_t branch, uint64_t epoch);

struct LeaseGrant {
  uint32_t branch = 0;
  uint64_t epoch = 0;
  std::string node;  // empty: released, nobody holds the branch
  std::string incarnation;
  int64_t taken_ns = 0;  // the taker's wall clock, for people
};

// A compact JSON object.
std::string EncodeLeaseGrant(const LeaseGrant& grant);
// nullopt unless `json` is an object with every field of the right type.
std::optional<LeaseGrant> DecodeLeaseGrant(std::string_view json);

// The newest grant of `branch`; nullopt if it has none. kCorruption naming the
// key if the newest object never decodes or disagrees with its key; kBusy if
// the newest object keeps vanishing (the branch's leases are being deleted).
// `clock` times the pauses between re-reads of a torn object.
Result<std::optional<LeaseGrant>> ReadLease(ObjectStore* store, uint32_t branch,
                                            Clock* clock = Clock::Real());

// Whether the node `node` in incarnation `incarnation` is alive.
using NodeLiveness =
    std::function<Result<bool>(const std::string& node, const std::string& incarnation)>;
// Liveness from the node registry: true iff the node's record exists, has that
// incarnation, and is NodeAlive at `clock`'s wall time.
NodeLiveness StoreLiveness(ObjectStore* store, Clock* clock = Clock::Real());

// Takes `branch` for `self` (its id and incarnation), or returns the grant it
// already holds unchanged. kBusy naming the holder if another live node holds
// it; an earlier incarnation of self.id is taken over without asking `live`.
// kBusy as well if other claimers keep winning (8 rounds).
Result<LeaseGrant> ClaimLease(ObjectStore* store, uint32_t branch, const NodeRecord& self,
                              const NodeLiveness& live, Clock* clock = Clock::Real());

// Gives up `held` by writing an empty grant at held.epoch + 1. OK (logged) if
// someone already took that epoch over: there is nothing of ours to release.
Status ReleaseLease(ObjectStore* store, const LeaseGrant& held);

// Hands `held` over to the node `to` (an id and incarnation) by writing a
// grant naming it at held.epoch + 1: `to` then holds the branch without a
// claim of its own (ClaimLease returns the grant it already holds). The
// caller flushed the branch and writes nothing more of it. kBusy if someone
// already took that epoch over: the branch was no longer ours to give.
Result<LeaseGrant> HandOverLease(ObjectStore* store, const LeaseGrant& held, const NodeRecord& to);

}  // namespace strata
