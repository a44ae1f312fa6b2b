// BranchFs: POSIX file and directory semantics on one branch's head, over
// the versioned keyspace. Every mutation is one VersionStore commit (one seq),
// so each operation is atomic in the op log and in every snapshot.
//
// Knows nothing of FUSE: errors are Status, converted to errno by the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "layers/inode.h"
#include "layers/version_store.h"

namespace strata {

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IFMT bits
};

struct SetAttrRequest {
  std::optional<uint32_t> mode;  // permission bits only
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;
  std::optional<int64_t> atime_ns;
  std::optional<int64_t> mtime_ns;
};

class BranchFs {
 public:
  BranchFs(VersionStore* versions, Lineage lineage, uint64_t root_ino);

  uint32_t branch() const { return branch_; }
  uint64_t root() const { return root_; }
  // Several daemons on one store: called when a mutation here claimed the
  // branch (it was read-only here until then), after every cached
  // attribute was dropped, with this object's mu_ held: it must only note
  // the branch (FuseServer drops the kernel's caches of it later). Set
  // before the object is shared.
  void SetClaimHook(std::function<void(uint32_t branch)> hook) { on_claim_ = std::move(hook); }
  // Replaces the lineage (after `strata branch detach` it is the branch
  // alone) and drops every cached attribute. Operations already running
  // finish on the lineage they started with.
  // REQUIRES: lineage.front().branch == branch().
  void SetLineage(Lineage lineage) EXCLUDES(mu_);

  Result<InodeAttr> GetAttr(uint64_t ino);
  Result<InodeAttr> Lookup(uint64_t dir, std::string_view name);
  // A regular file, fifo, socket or device (mode carries the type) or, with
  // S_IFDIR, a directory. kExists if the name is taken.
  Result<InodeAttr> MakeNode(uint64_t dir, std::string_view name, uint32_t mode, uint32_t uid,
                             uint32_t gid, uint64_t rdev) EXCLUDES(mu_);
  Result<InodeAttr> Symlink(uint64_t dir, std::string_view name, std::string_view target,
                            uint32_t uid, uint32_t gid) EXCLUDES(mu_);
  Result<std::string> ReadLink(uint64_t ino);
  Result<InodeAttr> Link(uint64_t ino, uint64_t new_dir, std::string_view new_name) EXCLUDES(mu_);
  Status Unlink(uint64_t dir, std::string_view name) EXCLUDES(mu_);
  Status Rmdir(uint64_t dir, std::string_view name) EXCLUDES(mu_);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  Status Rename(uint64_t old_dir, std::string_view old_name, uint64_t new_dir,
                std::string_view new_name, unsigned flags) EXCLUDES(mu_);
  Result<InodeAttr> SetAttr(uint64_t ino, const SetAttrRequest& req) EXCLUDES(mu_);
  // Reads up to `size` bytes at `offset` into buf; short at end of file.
  Result<size_t> Read(uint64_t ino, uint64_t offset, size_t size, char* buf);
  Result<size_t> Write(uint64_t ino, uint64_t offset, const char* data, size_t size) EXCLUDES(mu_);
  // Mode 0 (extend the size) and FALLOC_FL_KEEP_SIZE; others are EOPNOTSUPP.
  Status Fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) EXCLUDES(mu_);
  Result<std::vector<DirEntry>> ReadDir(uint64_t dir);
  // Barrier: every operation so far is durable. Takes no lock of this class:
  // mutations go on while it waits.
  Status Sync();
  // Deletes an inode with no name left (nlink 0) once nothing can have it
  // open: its attributes, symlink target and orphan marker, plus a kDead
  // marker for a regular file's data (docs/gc.md). An inode still linked or
  // already gone only loses a stale orphan marker, if it has one.
  Status Purge(uint64_t ino) EXCLUDES(mu_);
  // Purges every inode with an orphan marker. Only safe while nothing on
  // the branch is open (a fresh mount).
  Status PurgeOrphans() EXCLUDES(mu_);

 private:
  // One operation's view of the lineage, taken once at its start.
  using LineageRef = std::shared_ptr<const Lineage>;
  LineageRef CurrentLineage() EXCLUDES(cache_mu_);
  Result<InodeAttr> LoadAttr(const LineageRef& lin, uint64_t ino) EXCLUDES(cache_mu_);
  void CacheAttr(const InodeAttr& a) EXCLUDES(cache_mu_);
  void UncacheAttr(uint64_t ino) EXCLUDES(cache_mu_);
  Result<std::optional<std::pair<uint64_t, uint32_t>>> LookupEntry(const LineageRef& lin,
                                                                   uint64_t dir,
                                                                   std::string_view name);
  // The attributes of the inode entry `name` of `dir` names; kNotFound
  // without such an entry.
  Result<InodeAttr> LoadEntryAttr(const LineageRef& lin, uint64_t dir, std::string_view name);
  Result<InodeAttr> LoadDir(const LineageRef& lin, uint64_t dir);
  Result<bool> DirIsEmpty(const LineageRef& lin, uint64_t dir);
  // The start of every mutation, with mu_ held: claims the branch first if
  // this process does not hold it yet (several daemons), dropping every
  // cached attribute then; the lineage to read.
  Result<LineageRef> BeginMutation() REQUIRES(mu_);
  // One mutation's puts as one commit (one seq).
  Status Commit(std::vector<KeyPut> puts) REQUIRES(mu_);
  // A fresh inode of `mode` under directory *parent, whose times and link
  // count are updated (not stored).
  InodeAttr NewInode(InodeAttr* parent, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev)
      REQUIRES(mu_);
  Result<std::string> ReadPage(const LineageRef& lin, uint64_t data_id, uint64_t block);
  // Puts for truncating `a` to `size` (a is updated, not stored).
  Status TruncatePuts(const LineageRef& lin, InodeAttr* a, uint64_t size, std::vector<KeyPut>* puts)
      REQUIRES(mu_);
  // Puts that delete the unlinked inode `a`.
  std::vector<KeyPut> PurgePuts(const InodeAttr& a);
  // Tombstones the orphan marker of `ino` if `lin` shows one.
  Status DropStaleOrphan(const LineageRef& lin, uint64_t ino) REQUIRES(mu_);
  // Whether `dir` is `ancestor` or lies below it (rename cycle check).
  Result<bool> IsWithin(const LineageRef& lin, uint64_t dir, uint64_t ancestor);
  struct RenameOp;
  // RENAME_EXCHANGE: the two names swap inodes. Adds the entries' puts and
  // the target's attributes; updates the parents' link counts.
  Status ExchangeNames(const LineageRef& lin, RenameOp* r) REQUIRES(mu_);
  // A plain rename, replacing (and unlinking) the target if there is one.
  Status MoveName(const LineageRef& lin, RenameOp* r) REQUIRES(mu_);

  // Set at construction.
  VersionStore* const versions_;
  const uint32_t branch_;
  const uint64_t root_;
  std::function<void(uint32_t)> on_claim_;  // set before sharing, then only read

  // Locks, outer to inner: mu_ -> cache_mu_. cache_mu_ is a leaf: held only
  // to read or change the fields below, never across a call out.
  //
  // The chain from a FUSE request down to the op log (issue 12), outer to
  // inner; each lock is released when the call below it returns:
  //   FuseServer callback: no FuseServer lock (nodes_mu_ and fs_mu_ are
  //     released before any BranchFs call, fs/fuse_server.h)
  //   -> BranchFs::mu_, held by every mutation from its first read to its
  //      Commit (reads take only cache_mu_, briefly)
  //   -> VersionStore (layers/version_store.h): Get/Scan/ScanKeys take the
  //      branch's mu briefly, then read the index and, on a cache miss, the
  //      object store; AllocCounter takes mu; Commit may first wait for the
  //      flusher (backpressure, at most 120 s), then takes commit_mu (mu
  //      briefly inside it)
  //   -> Sink::Append with commit_mu held (oplog/sink.h): the local sink's
  //      mu_ across write(2) (and an fdatasync when a segment rotates), then
  //      the shipping sink's mu_ briefly.
  // A barrier (Sync: fsync, fdatasync, O_SYNC and O_DSYNC writes) runs with
  // no lock of this class held: it waits for an fdatasync, or up to the
  // walsink's barrier timeout for its ack, and must not stall the branch's
  // other operations. Nothing below calls back into BranchFs.
  // From above: BranchManager::mu_ -> (its lineage listener, through
  // FuseServer::SetLineage) -> mu_ (SetLineage). So mu_ must never be held
  // while calling into the BranchManager or the FuseServer.
  // Serializes the mutations of this branch, and SetLineage with them.
  Mutex mu_ ACQUIRED_BEFORE(cache_mu_);
  Mutex cache_mu_;
  // Replaced by SetLineage (which also holds mu_), so a mutation sees one
  // lineage from start to end.
  LineageRef lineage_ GUARDED_BY(cache_mu_);
  std::unordered_map<uint64_t, InodeAttr> attrs_ GUARDED_BY(cache_mu_);  // write-through
  // Bumped by every mutation's CacheAttr and by SetLineage.
  uint64_t cache_gen_ GUARDED_BY(cache_mu_) = 0;
};

}  // namespace strata
