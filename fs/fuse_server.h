// FuseServer: the FUSE low-level session. The mount root is a virtual
// directory with one entry per branch (MOUNT/<branch>/ is that branch's
// tree) plus the hidden symlink MOUNT/.strata.sock to the control socket.
//
// FUSE node ids are handed out per (branch, ino) pair and dropped on forget;
// no file descriptor is pinned per inode.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>  // std::once_flag
#include <set>
#include <string>
#include <unordered_map>

#include "catalog/catalog.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "fs/branch_fs.h"
#include "fs/fuse_stats.h"
#include "layers/version_store.h"

struct fuse_session;

namespace strata {

struct FuseOptions {
  std::string mountpoint;
  std::string control_socket;   // target of MOUNT/.strata.sock
  std::string statfs_path;      // statfs answers for the filesystem holding this path
  double attr_timeout = 86400;  // only strata changes a branch, so caches stay valid
  int max_threads = 16;
  // Let SIGTERM/SIGINT/SIGHUP end the loop (libfuse's handlers). Off when the
  // owner must do work first (stop the servers running on the mount) and then
  // calls Exit().
  bool handle_signals = true;
};

class FuseServer {
 public:
  FuseServer(VersionStore* versions, Catalog* catalog, FuseOptions options);
  ~FuseServer();

  // Creates the session and mounts it.
  Status Mount();
  // Serves requests until unmounted, signalled or Exit(). Returns 0 on a
  // clean exit.
  int Loop();
  // Ends Loop() from another thread, as libfuse's signal handler would.
  void Exit();
  // Drops the kernel's cached root entry for `name` (branch created, deleted
  // or reset) and forgets the branch's BranchFs if it is gone.
  void InvalidateBranch(const std::string& name) EXCLUDES(fs_mu_);
  // The branches something on the mount has used since they were last
  // invalidated (each has a BranchFs).
  std::vector<uint32_t> OpenBranches() EXCLUDES(fs_mu_);
  // Forgets the branch's BranchFs and drops what the kernel caches of it
  // (its inodes' attributes and pages, its root entry): another daemon
  // published a newer state of a branch this one only reads.
  void ReloadBranch(uint32_t branch, const std::string& name) EXCLUDES(fs_mu_, nodes_mu_);
  // Drops what the kernel caches of every branch a write on the mount
  // claimed since the last call (a takeover may have changed what was
  // read before it: docs/cluster.md, "Failover"). Not from a FUSE
  // operation: the kernel may hold locks such an operation waits for.
  void InvalidateClaimedBranches() EXCLUDES(claimed_mu_, nodes_mu_);
  // Gives the branch's BranchFs, if one exists, a new lineage (after
  // `strata branch detach`: the branch alone). Call once the catalog shows
  // the new lineage, so that a BranchFs made later starts with it.
  void SetLineage(uint32_t branch, Lineage lineage) EXCLUDES(fs_mu_);

  // Used by the C callbacks in fuse_server.cc.
  struct Node {
    uint32_t branch = 0;
    uint64_t ino = 0;
    uint64_t lookups = 0;
  };
  bool ResolveNode(uint64_t nodeid, Node* out) EXCLUDES(nodes_mu_);
  // Registers one kernel lookup of (branch, ino); returns its node id.
  uint64_t RememberNode(uint32_t branch, uint64_t ino) EXCLUDES(nodes_mu_);
  // Drops n kernel lookups of a node. Once none is left the kernel holds the
  // inode no more (nor any open file of it), so one with no name is purged.
  void ForgetNode(uint64_t nodeid, uint64_t n) EXCLUDES(nodes_mu_, fs_mu_);
  // The branch's BranchFs, made on first use, when it also purges the
  // branch's orphans (nothing of a branch is open before its first use).
  std::shared_ptr<BranchFs> FsFor(uint32_t branch) EXCLUDES(fs_mu_);
  std::shared_ptr<BranchFs> FsForName(const std::string& name) EXCLUDES(fs_mu_);
  Catalog* catalog() const { return catalog_; }
  const FuseOptions& options() const { return options_; }
  // The requests answered so far, per opcode (counted by the callbacks).
  FuseStats* stats() { return &stats_; }

 private:
  // The kernel's cached attributes and pages of the branch's inodes, and
  // its root entry.
  void InvalidateKernelCaches(uint32_t branch, const std::string& name) EXCLUDES(nodes_mu_);

  // Set at construction.
  VersionStore* const versions_;
  Catalog* const catalog_;
  const FuseOptions options_;
  // A branch's BranchFs and whether its orphans were purged.
  struct FsSlot {
    std::shared_ptr<BranchFs> fs;
    std::once_flag orphans_purged;
  };
  // The slot of a branch, made if the catalog knows the branch.
  std::shared_ptr<FsSlot> SlotFor(uint32_t branch) EXCLUDES(fs_mu_);
  void PurgeIfUnlinked(uint32_t branch, uint64_t ino) EXCLUDES(nodes_mu_, fs_mu_);

  // Set by Mount and Loop on the owner's thread before requests are served
  // (looping_ publishes loop_thread_ to Exit).
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  std::atomic<bool> looping_{false};
  pthread_t loop_thread_{};

  // Locks: nodes_mu_ and fs_mu_ are never held together, and neither is held
  // during a BranchFs operation (nor the orphan purge a slot's first use
  // runs), so a slow commit or barrier never blocks node lookups. What is
  // taken under them: under nodes_mu_ nothing; under fs_mu_, Catalog::mu_
  // (Current) and VersionStore::branches_mu_ (HasBranch), each briefly.
  // From above: BranchManager::mu_ -> fs_mu_ (its listeners call
  // InvalidateBranch and SetLineage), so fs_mu_ must never be held while
  // calling into the BranchManager.
  Mutex nodes_mu_;
  std::unordered_map<uint64_t, Node> nodes_ GUARDED_BY(nodes_mu_);
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> ids_ GUARDED_BY(nodes_mu_);
  uint64_t next_nodeid_ GUARDED_BY(nodes_mu_) = 3;  // 1: root, 2: .strata.sock

  Mutex fs_mu_;
  std::unordered_map<uint32_t, std::shared_ptr<FsSlot>> fs_ GUARDED_BY(fs_mu_);
  // Branches a BranchFs claimed (its claim hook, with its mu_ held):
  // claimed_mu_ is a leaf.
  Mutex claimed_mu_;
  std::set<uint32_t> claimed_ GUARDED_BY(claimed_mu_);

  FuseStats stats_;  // atomics: no lock
};

}  // namespace strata
