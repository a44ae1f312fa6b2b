// BranchManager: creates, resets and deletes branches and snapshots.
//
// Every operation either completes (catalog published) or leaves nothing
// behind. A fork point is made durable (op-log barrier) before the catalog
// names it, so a crash can never leave a branch whose history is gone.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/fork_spec.h"
#include "catalog/history.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "layers/key.h"
#include "layers/version_store.h"

namespace strata {

// What a new branch starts with besides its name and fork point.
struct BranchOptions {
  uint32_t uid = 0, gid = 0;         // owner of a new root branch's top directory
  std::optional<Durability> tier;    // unset: the default tier
  std::string owner;                 // fleet label quotas count against; "" = none
  int64_t expires_ns = 0;            // when the reaper deletes it; 0 = never
  int64_t idle_timeout_s = 0;        // its endpoint's idle timeout; 0 = the mount's
  std::optional<int64_t> history_s;  // its history window; unset = the default
};

// A change of a branch's settings; unset fields stay as they are.
struct BranchPatch {
  std::optional<Durability> tier;
  std::optional<int64_t> expires_ns;
  std::optional<int64_t> idle_timeout_s;
  // Set to nullopt: back to the default window.
  std::optional<std::optional<int64_t>> history_s;
};

// What changed on `parent` since `since_seq`, named for a person (relations
// such as "public.t", or "seqs 5..7"); empty: nothing changed.
using DivergedFn =
    std::function<Result<std::vector<std::string>>(const BranchInfo& parent, uint64_t since_seq)>;
// The refusal of a promote whose parent moved: kBusy, one line naming `changed`.
Status ParentMoved(const std::string& parent, const std::string& child,
                   const std::vector<std::string>& changed);

class BranchManager {
 public:
  // `clock` stamps created_ns, judges `@time:` fork points (the future, the
  // history window) and must be the clock `versions` stamps commits with.
  // Attaches to `versions`, before the catalog publishes them, the branches
  // other daemons made (Catalog::SetBeforeCatchUp): a branch anyone can
  // name here is one the version store knows.
  BranchManager(Catalog* catalog, VersionStore* versions, Clock* clock = Clock::Real());
  ~BranchManager();  // removes that hook
  BranchManager(const BranchManager&) = delete;
  BranchManager& operator=(const BranchManager&) = delete;

  // Called, under the manager's lock, after a branch name stops naming the
  // branch it named (delete, reset, restore, promote), so the filesystem can
  // drop cached entries.
  void SetBranchGoneListener(std::function<void(const std::string& name)> fn) {
    gone_ = std::move(fn);
  }

  // The tier of branches created without one, and whether a durable log off
  // this machine (a walsink, or the store's log objects) makes kRemote
  // possible. Call before anything else.
  void SetDurabilityPolicy(Durability default_tier, bool remote_available) {
    default_tier_ = default_tier;
    remote_available_ = remote_available;
  }
  // The history window of branches without one of their own (docs/gc.md).
  void SetDefaultHistory(int64_t seconds) { default_history_s_ = seconds; }
  int64_t default_history() const { return default_history_s_; }
  int64_t HistoryOf(const BranchInfo& b) const;
  // The oldest point of `b` a fork may still use (catalog/history.h).
  Result<std::optional<TimePoint>> OldestPointOf(const BranchInfo& b) EXCLUDES(mu_);

  // Called, under the manager's lock, with the new read path of a branch
  // whose lineage changed while it exists (detach), so the filesystem stops
  // reading the old one.
  void SetLineageListener(std::function<void(uint32_t, const Lineage&)> fn) {
    lineage_changed_ = std::move(fn);
  }

  // Hands every branch's tier to the version store (after Recover). Fails if
  // a branch wants kRemote and there is no durable log off this machine.
  Status ApplyDurabilities() EXCLUDES(mu_);

  // Asked, under the manager's lock, before a branch of `owner` is created;
  // a non-OK status refuses the creation before anything is made (quotas).
  using Admission = std::function<Status(const CatalogData&, const std::string& owner)>;
  void SetAdmission(Admission fn) { admit_ = std::move(fn); }

  // `from` empty: a new root branch whose top directory is owned by uid/gid,
  // mode 0700. Otherwise a fork spec (catalog/fork_spec.h). An unset tier is
  // the default tier (SetDurabilityPolicy), recorded in the catalog.
  Result<BranchInfo> CreateBranch(const std::string& name, const std::string& from,
                                  const BranchOptions& opts) EXCLUDES(mu_);
  Result<BranchInfo> CreateBranch(const std::string& name, const std::string& from, uint32_t uid,
                                  uint32_t gid, std::optional<Durability> tier = std::nullopt) {
    return CreateBranch(name, from, BranchOptions{uid, gid, tier, "", 0, 0, std::nullopt});
  }
  // Changes a branch's settings; a new tier applies from the next barrier.
  Result<BranchInfo> UpdateBranch(const std::string& name, const BranchPatch& patch) EXCLUDES(mu_);
  Result<BranchInfo> SetDurability(const std::string& name, Durability tier) {
    return UpdateBranch(name, BranchPatch{tier, std::nullopt, std::nullopt, std::nullopt});
  }
  // Deletes the branch and its credentials.
  Status DeleteBranch(const std::string& name) EXCLUDES(mu_);
  // Moves the branch to its parent's current head, dropping its own changes.
  Result<BranchInfo> ResetBranch(const std::string& name) EXCLUDES(mu_);
  // Copies into the branch what it reads from its ancestors and makes it a
  // root branch (docs/gc.md, "Detach"). kInvalid for a root branch.
  Result<BranchInfo> DetachBranch(const std::string& name) EXCLUDES(mu_);
  // Restore and promote (docs/design.md, "Restore and promote") move a name
  // to another branch in one catalog write: its credentials and settings
  // (owner, expiry, idle timeout, history window, tier) follow the name. The
  // state the name had is kept as `preserve_as` (the one name rule; kExists
  // if taken) or, if that is empty, retired (BranchInfo::retired).
  //
  // Rewinds `name` to `to` ("@seq:N", "@time:RFC3339" or "@SNAPSHOT" of the
  // branch, as in a fork spec and under a fork's history-window checks): a
  // new branch forked from the current one there takes the name. Children
  // and snapshots of the old state stay with it.
  Result<BranchInfo> RestoreBranch(const std::string& name, const std::string& to,
                                   const std::string& preserve_as) EXCLUDES(mu_);
  // Fast-forwards the parent of `child` to it: the parent's name names the
  // child's branch (its children and snapshots with it) and the child's name
  // is gone, its credentials deleted. kBusy, naming what `diverged` (null:
  // SeqDiverged()) reports, if the parent changed since the fork point;
  // kInvalid for a root branch or one whose parent is retired; kBusy while
  // either is being detached. Returns the branch under the parent's name.
  Result<BranchInfo> PromoteBranch(const std::string& child, const std::string& preserve_as,
                                   const DivergedFn& diverged) EXCLUDES(mu_);
  // The default check of PromoteBranch: the parent moved iff its head seq is
  // past the fork point, named "seqs X..Y". A DivergedFn runs under the
  // manager's lock (no branch changes meanwhile): keyspace reads only.
  DivergedFn SeqDiverged();

  // Brings this daemon's view up to the current catalog after other
  // daemons changed it (docs/cluster.md; the caller refreshes the catalog
  // first): a branch that appeared since `before` is attached to the version
  // store (read-only until claimed), one that disappeared is forgotten
  // (nothing in the store is deleted), names that appeared, went or moved
  // to another id go to the gone listener, lineages that changed to the
  // lineage listener, and changed tiers to the version store. Changes this
  // daemon made itself are already in place and are left alone. Returns the
  // catalog it brought the view up to: the next call's `before`.
  Result<std::shared_ptr<const CatalogData>> Follow(const CatalogData& before) EXCLUDES(mu_);

  // The points collection must keep for branch `id` now. Raises the
  // branch's history floor to the start of its window first, so that no
  // fork can name a point this plan lets go (docs/gc.md, "The window").
  Result<GcPoints> PlanRetention(uint32_t id) EXCLUDES(mu_);
  Result<SnapshotInfo> CreateSnapshot(const std::string& branch, const std::string& name)
      EXCLUDES(mu_);
  Status DeleteSnapshot(const std::string& name) EXCLUDES(mu_);

  // The largest branch id there can be: MakeIno (layers/key.h) keeps 24 bits
  // for it. Ids are never reused, so a store hands out at most this many.
  static constexpr uint32_t kMaxBranchId = kMaxInoBranch;

 private:
  // The seq of the parent named by `spec`. The caller syncs it (StartChild).
  // Under mu_, as PlanRetention: no collection can let the point go between
  // the check and the catalog naming the fork.
  Result<uint64_t> ResolveForkSeq(const CatalogData& cat, const BranchInfo& parent,
                                  const ForkSpec& spec) REQUIRES(mu_);
  // The seq of `parent` at `spec`'s time (kTime), checked against the clock
  // and the parent's creation.
  Result<uint64_t> ResolveForkTime(const BranchInfo& parent, const ForkSpec& spec, uint64_t first);
  // Makes a child of a running cluster start as its own server: removes
  // postmaster.pid, which names the parent's postmaster (docs/postgres.md).
  Status ApplyPostgresFixups(const Lineage& child, uint64_t root) REQUIRES(mu_);
  // A new branch in the version store forked at (parent, seq), with fixups.
  Status StartChild(uint32_t id, const Lineage& lineage, uint64_t root, Durability tier)
      REQUIRES(mu_);
  // A new root branch `info` in the version store: its top directory at
  // seq 1, made durable.
  Status StartRoot(const BranchInfo& info, uint32_t uid, uint32_t gid) REQUIRES(mu_);

  // An id never used before, not even by a creation that failed and left
  // op-log records behind: ids come from a block reserved in the catalog.
  // kNoSpace once ids above kMaxBranchId would be needed.
  Result<uint32_t> NextId(const CatalogData& cat) REQUIRES(mu_);

  // kInvalid if `tier` cannot be honoured on this mount.
  Status CheckTier(Durability tier) const;
  // kBusy if the branch is being detached.
  Status CheckNotDetaching(const BranchInfo& b) const REQUIRES(mu_);
  // Takes the branch's lease before a change that drops or moves its data
  // (delete, reset, restore, promote): kBusy naming the daemon that writes
  // it, if one does (docs/cluster.md).
  Status ClaimForChange(const BranchInfo& b) REQUIRES(mu_);
  // Hands the new lineage of `id` and of its descendants to the listener.
  void AnnounceLineages(const CatalogData& cat, uint32_t id) REQUIRES(mu_);
  // kNotFound "no branch named ..."; kInvalid for a branch whose parent is
  // retired (no reset, no promote).
  static Status NoBranch(const std::string& name);
  static Status RetiredParent(const std::string& name);
  // "a, b, c": names in a message.
  static std::string Join(const std::vector<std::string>& v);
  // The branch a fork by `spec` reads: the live branch its parent names, or,
  // for a snapshot taken while that name named a branch now retired, that
  // branch. Null if none.
  static const BranchInfo* ForkParentOf(const CatalogData& cat, const ForkSpec& spec);
  // Drops the data of retired branches a catalog change let go
  // (CatalogData::PruneRetired); a failure only leaks objects.
  void DropRetired(const std::vector<uint32_t>& ids) REQUIRES(mu_);
  // kInvalid/kExists unless `preserve_as` is empty or a free valid name.
  Status CheckPreserveAs(const CatalogData& cat, const std::string& preserve_as) const;
  // The catalog change of a swap: `old_id` becomes `preserve_as` or retired,
  // its credentials move to `new_id`.
  static void KeepOldState(CatalogData& c, uint32_t old_id, uint32_t new_id,
                           const std::string& preserve_as);

  // Set at construction.
  Catalog* const catalog_;
  VersionStore* const versions_;
  Clock* const clock_;

  // Set once, by the Set* calls before any other call; read without a lock.
  Durability default_tier_ = Durability::kLocal;
  bool remote_available_ = false;
  int64_t default_history_s_ = 3600;
  std::function<void(const std::string&)> gone_;
  std::function<void(uint32_t, const Lineage&)> lineage_changed_;
  Admission admit_;

  // One branch or snapshot change at a time. Lock order, outer to inner:
  //   Collector::pass_mu_ -> mu_ (PlanRetention runs inside a GC pass);
  //   mu_ -> Catalog::update_mu_ -> Catalog::mu_;
  //   mu_ -> every VersionStore lock (it calls CreateBranch, Commit, Sync,
  //     DropBranch, ... with mu_ held; Detach's copy runs without it). Sync
  //     waits for a barrier of the sink with mu_ held: creations queue
  //     behind it, which is what makes a fork point durable first;
  //   mu_ -> what the listeners take: gone_ and lineage_changed_ take
  //     FuseServer::fs_mu_, then (released) BranchFs::mu_ and cache_mu_
  //     (fs/branch_fs.h); admit_ takes Collector::mu_ (SpaceOf) and
  //     VersionStore locks; PromoteBranch's DivergedFn reads the version
  //     store (its locks only).
  // So a listener, admission or DivergedFn must never call back into this
  // manager, and nothing that holds BranchFs::mu_, FuseServer::fs_mu_ or
  // Collector::mu_ may call into it.
  Mutex mu_;
  uint32_t next_id_ GUARDED_BY(mu_) = 0;
  uint32_t reserved_end_ GUARDED_BY(mu_) = 0;  // ids below this (from next_id_) are ours
  // Branches whose detach copy runs outside mu_.
  std::set<uint32_t> detaching_ GUARDED_BY(mu_);
};

}  // namespace strata
