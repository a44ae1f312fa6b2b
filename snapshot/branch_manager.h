// BranchManager: creates, resets and deletes branches and snapshots.
//
// Every operation either completes (catalog published) or leaves nothing
// behind. A fork point is made durable (op-log barrier) before the catalog
// names it, so a crash can never leave a branch whose history is gone.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "layers/version_store.h"
#include "snapshot/catalog.h"
#include "snapshot/fork_spec.h"

namespace strata {

class BranchManager {
 public:
  BranchManager(Catalog* catalog, VersionStore* versions)
      : catalog_(catalog), versions_(versions) {}

  // Called after a branch name stops naming the branch it named (delete or
  // reset), so the filesystem can drop cached entries.
  void SetBranchGoneListener(std::function<void(const std::string& name)> fn) {
    gone_ = std::move(fn);
  }

  // `from` empty: a new root branch whose top directory is owned by uid/gid,
  // mode 0700. Otherwise a fork spec (snapshot/fork_spec.h).
  Result<BranchInfo> CreateBranch(const std::string& name, const std::string& from, uint32_t uid,
                                  uint32_t gid);
  Status DeleteBranch(const std::string& name);
  // Moves the branch to its parent's current head, dropping its own changes.
  Result<BranchInfo> ResetBranch(const std::string& name);
  Result<SnapshotInfo> CreateSnapshot(const std::string& branch, const std::string& name);
  Status DeleteSnapshot(const std::string& name);

 private:
  // The seq of the parent named by `spec`. The caller syncs it (StartChild).
  Result<uint64_t> ResolveForkSeq(const CatalogData& cat, const BranchInfo& parent,
                                  const ForkSpec& spec);
  // Makes a child of a running cluster start as its own server: removes
  // postmaster.pid, which names the parent's postmaster (docs/postgres.md).
  Status ApplyPostgresFixups(const Lineage& child, uint64_t root);
  // A new branch in the version store forked at (parent, seq), with fixups.
  Status StartChild(uint32_t id, const Lineage& lineage, uint64_t root);

  // An id never used before, not even by a creation that failed and left
  // op-log records behind. REQUIRES: mu_ held.
  uint32_t NextId(const CatalogData& cat);

  Catalog* const catalog_;
  VersionStore* const versions_;
  std::mutex mu_;         // one branch/snapshot change at a time
  uint32_t next_id_ = 0;  // GUARDED_BY(mu_)
  std::function<void(const std::string&)> gone_;
};

}  // namespace strata
