// Catalog: the branch tree and the snapshots of a store.
//
// Stored as one small JSON object per version ("catalog/<version>.json"),
// written with PutIfAbsent, so a change is atomic and two writers can never
// overwrite each other. Creating a branch or snapshot adds one entry: O(1) in
// the size of the data (docs/design.md invariant 1). Format: docs/store-layout.md.
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
};

// Per-owner limits; -1: unlimited.
struct OwnerQuota {
  int64_t max_branches = -1;
  int64_t max_bytes = -1;
};

struct SnapshotInfo {
  std::string name;
  uint32_t branch = 0;
  uint64_t seq = 0;
  int64_t created_ns = 0;
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

std::string EncodeCatalog(const CatalogData& c);
Result<CatalogData> DecodeCatalog(const std::string& data, const std::string& name);

class Catalog {
 public:
  // Loads the newest catalog of `store`, or an empty one if it has none.
  static Result<std::unique_ptr<Catalog>> Load(ObjectStore* store);

  // The current catalog; never modified once published.
  std::shared_ptr<const CatalogData> Current() const EXCLUDES(mu_);
  // Applies `mutate` to a copy and stores it as the next version. If mutate or
  // the write fails nothing changes. `mutate` runs under update_mu_: it may
  // call Current() but not Update().
  Status Update(const std::function<Status(CatalogData&)>& mutate) EXCLUDES(update_mu_, mu_);

 private:
  Catalog(ObjectStore* store, std::shared_ptr<const CatalogData> data)
      : store_(store), data_(std::move(data)) {}
  ObjectStore* const store_;

  // Lock order: update_mu_ -> mu_. Callers may hold their own locks
  // (BranchManager::mu_, FuseServer::fs_mu_): Catalog calls back into no
  // one but the object store (with update_mu_ held, never mu_).
  // Serializes Update, across its catalog write to the store.
  Mutex update_mu_ ACQUIRED_BEFORE(mu_);
  // Guards only the pointer swap: a leaf, held for no call out.
  mutable Mutex mu_;
  std::shared_ptr<const CatalogData> data_ GUARDED_BY(mu_);
};

}  // namespace strata
