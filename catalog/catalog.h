// Catalog: the branch tree and the snapshots of a store.
//
// Stored as one JSON object per version ("catalog/<version>.json"), written
// with PutIfAbsent, so a change is atomic and two writers can never overwrite
// each other. A version is a delta on the one before (catalog/catalog_delta.h)
// and every kCheckpointEvery-th is whole, so a change writes an amount of
// metadata independent of the number of branches, and creating a branch or
// snapshot is O(1) in the size of the data (docs/design.md invariant 1).
// Format: docs/store-layout.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "layers/version_store.h"
#include "objstore/object_store.h"

namespace strata {

struct BranchInfo {
  uint32_t id = 0;
  std::string name;
  uint32_t parent = 0;  // 0: a root branch
  uint64_t fork_seq = 0;
  uint64_t root_ino = 0;
  int64_t created_ns = 0;
  // How durable the branch's barriers are; unset in catalogs older than
  // durability tiers, which means the mount's default.
  std::optional<Durability> durability;
  // Fleet controls (docs/api.md): who the branch counts against, when the
  // reaper deletes it (0: never), and after how many seconds without a client
  // its server is suspended (0: the mount's default).
  std::string owner;
  int64_t expires_ns = 0;
  int64_t idle_timeout_s = 0;
  // Its history window in seconds (docs/gc.md); unset: the mount's default.
  std::optional<int64_t> history_s;
  // The name of the parent it was detached from ("" if never detached).
  std::string detached_from;
  // A retired branch: the state a name named before a restore or promote
  // moved the name to another branch (docs/design.md, "Restore and
  // promote"). `name` keeps the name it had, for messages only: lookups by
  // name and listings skip it, and the name is free. Kept while children or
  // snapshots read it; deleted with the last of them.
  bool retired = false;

  bool operator==(const BranchInfo&) const = default;
};

// A password credential for one branch's endpoint. Only the SCRAM verifier is
// kept; `id` is the user name a client connects with.
struct CredentialInfo {
  std::string id;
  uint32_t branch =
      0;             // the only branch it opens (an id: a new branch of the same name is another)
  std::string role;  // the role the session runs as in the branch's server
  std::string verifier;  // "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey"
  int64_t created_ns = 0;
  int64_t expires_ns = 0;  // 0: never

  bool operator==(const CredentialInfo&) const = default;
};

// Per-owner limits; -1: unlimited.
struct OwnerQuota {
  int64_t max_branches = -1;
  int64_t max_bytes = -1;

  bool operator==(const OwnerQuota&) const = default;
};

struct SnapshotInfo {
  std::string name;
  uint32_t branch = 0;
  uint64_t seq = 0;
  int64_t created_ns = 0;

  bool operator==(const SnapshotInfo&) const = default;
};

// An owner token of the control API (docs/api.md, "Owner tokens"). Only the
// SHA-256 of its secret is kept; `id` is public: it names the token in
// lists, logs and revocations, and is the lookup key of a presented token.
struct TokenInfo {
  std::string id;             // 12 lowercase hex digits
  std::string owner;          // the only owner whose branches it reaches
  std::string secret_sha256;  // lowercase hex of SHA-256(secret)
  int64_t created_ns = 0;
  int64_t expires_ns = 0;  // 0: never
  int64_t revoked_ns = 0;  // 0: not revoked; kept so a refusal can say so

  bool operator==(const TokenInfo&) const = default;
};

struct CatalogData {
  uint64_t version = 0;
  uint32_t next_branch_id = 1;
  std::vector<BranchInfo> branches;
  std::vector<SnapshotInfo> snapshots;
  std::vector<CredentialInfo> credentials;
  std::map<std::string, OwnerQuota> quotas;  // by owner
  std::vector<TokenInfo> tokens;             // in the order they were issued

  // The live branch named `name` (never a retired one).
  const BranchInfo* FindBranch(const std::string& name) const;
  // Any branch, retired ones included.
  const BranchInfo* FindBranchById(uint32_t id) const;
  const SnapshotInfo* FindSnapshot(const std::string& name) const;
  const CredentialInfo* FindCredential(const std::string& id) const;
  const TokenInfo* FindToken(const std::string& id) const;
  std::vector<std::string> ChildrenOf(uint32_t id) const;
  std::vector<std::string> SnapshotsOf(uint32_t id) const;
  // The read path of branch `id` at `max_seq` (layers/version_store.h).
  Lineage LineageOf(uint32_t id, uint64_t max_seq = UINT64_MAX) const;
  // The branches users see: every branch but the retired ones.
  std::vector<const BranchInfo*> LiveBranches() const;
  // Removes the retired branches that no child and no snapshot reads any
  // more (repeatedly: a retired parent may be next). Returns their ids: the
  // caller drops their data once the catalog no longer names them.
  std::vector<uint32_t> PruneRetired();
};

// The newest catalog of `store` (an empty one at version 0 if it has none):
// the newest version's chain, its checkpoint (a whole version) and the deltas
// after it. *checkpoint, if given, gets the checkpoint's version (0: none).
// A version deleted while it reads (another writer's cleanup) makes it start
// over, at most three times.
Result<CatalogData> LoadCatalogData(ObjectStore* store, uint64_t* checkpoint = nullptr);

// The store key of catalog version `version`.
std::string CatalogKey(uint64_t version);

class Catalog {
 public:
  // Every this-many versions the catalog is stored whole (a checkpoint); the
  // versions between are deltas on the version before. A load reads at most
  // this many objects.
  static constexpr uint64_t kCheckpointEvery = 32;

  // Loads the newest catalog of `store`, or an empty one if it has none.
  static Result<std::unique_ptr<Catalog>> Load(ObjectStore* store);

  // The current catalog; never modified once published.
  std::shared_ptr<const CatalogData> Current() const EXCLUDES(mu_);
  // Applies `mutate` to a copy of the current catalog and stores the result
  // as the next version (PutIfAbsent), as a delta or, every kCheckpointEvery
  // versions, whole. If another writer stored that version first, reads what
  // it wrote and runs `mutate` again on the newer catalog, after a random
  // pause that doubles each time (at most 16 tries, then kBusy). If mutate
  // or the write fails nothing changes. `mutate` runs under update_mu_: it
  // may call Current() but not Update().
  //
  // After its write, a writer checks that its version is not behind the
  // newest checkpoint (one LIST): a writer that was paused or cut off while
  // others wrote two checkpoints could otherwise store a version number
  // their cleanup deleted, "succeed", and be read by no one. It then reloads
  // and runs `mutate` again. (If it was only slow, and its version was real
  // but others already wrote a checkpoint past it, `mutate` runs on a
  // catalog that holds its change, and usually fails, e.g. with kExists: an
  // unknown outcome reported as an error, never a lost change.)
  Status Update(const std::function<Status(CatalogData&)>& mutate) EXCLUDES(update_mu_, mu_);
  // Reads the versions other writers stored since the current one.
  Status Refresh() EXCLUDES(update_mu_, mu_);
  // `fn` sees every catalog other writers changed (Refresh, and an Update
  // that lost a race) before it becomes Current(): what must know a branch
  // before anyone can name it (the version store attaching branches made
  // elsewhere). Runs under update_mu_; it may not call Update or Refresh. An
  // error keeps the current catalog and fails the Refresh or Update. Set it
  // once, before others use the catalog.
  void SetBeforeCatchUp(std::function<Status(const CatalogData&)> fn) EXCLUDES(update_mu_);

 private:
  Catalog(ObjectStore* store, std::shared_ptr<const CatalogData> data, uint64_t checkpoint)
      : store_(store), checkpoint_(checkpoint), data_(std::move(data)) {}
  // Stores `next` (the current catalog's successor) as its version: true
  // once it is the real successor, false if another writer had that version
  // or this writer had fallen behind the newest checkpoint (see Update).
  Result<bool> WriteLocked(const CatalogData& next) REQUIRES(update_mu_) EXCLUDES(mu_);
  // The newest version stored (0: none): one LIST.
  Result<uint64_t> NewestVersion() REQUIRES(update_mu_);
  // The checkpoint the chain of stored `version` starts from: one GET.
  Result<uint64_t> CheckpointOf(uint64_t version) REQUIRES(update_mu_);
  // Reads the versions stored after the current one.
  Status CatchUpLocked() REQUIRES(update_mu_) EXCLUDES(mu_);
  // After a new checkpoint: deletes every version before the previous
  // checkpoint (a failure leaves them for the next checkpoint). A reader
  // catching up from the previous chain still finds it whole.
  void DeleteOldVersions(uint64_t previous_checkpoint) REQUIRES(update_mu_);
  void Publish(std::shared_ptr<const CatalogData> data) EXCLUDES(mu_);

  ObjectStore* const store_;

  // Lock order: update_mu_ -> mu_. Callers may hold their own locks
  // (BranchManager::mu_, FuseServer::fs_mu_): Catalog calls back into no
  // one but the object store and before_catch_up_ (with update_mu_ held,
  // never mu_), which takes only the version store's locks.
  // Serializes Update and Refresh, across their reads and writes of the
  // store.
  Mutex update_mu_ ACQUIRED_BEFORE(mu_);
  uint64_t checkpoint_ GUARDED_BY(update_mu_);  // the current chain's whole version
  std::function<Status(const CatalogData&)> before_catch_up_ GUARDED_BY(update_mu_);
  // Guards only the pointer swap: a leaf, held for no call out.
  mutable Mutex mu_;
  std::shared_ptr<const CatalogData> data_ GUARDED_BY(mu_);
};

}  // namespace strata
