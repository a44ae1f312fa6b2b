// BranchFs: POSIX file and directory semantics on one branch's head, over
// the versioned keyspace. Every mutation is one VersionStore commit (one seq),
// so each operation is atomic in the op log and in every snapshot.
//
// Knows nothing of FUSE: errors are Status, converted to errno by the caller.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
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
  // Replaces the lineage (after `strata branch detach` it is the branch
  // alone) and drops every cached attribute. Operations already running
  // finish on the lineage they started with.
  // REQUIRES: lineage.front().branch == branch().
  void SetLineage(Lineage lineage);

  Result<InodeAttr> GetAttr(uint64_t ino);
  Result<InodeAttr> Lookup(uint64_t dir, std::string_view name);
  // A regular file, fifo, socket or device (mode carries the type) or, with
  // S_IFDIR, a directory. kExists if the name is taken.
  Result<InodeAttr> MakeNode(uint64_t dir, std::string_view name, uint32_t mode, uint32_t uid,
                             uint32_t gid, uint64_t rdev);
  Result<InodeAttr> Symlink(uint64_t dir, std::string_view name, std::string_view target,
                            uint32_t uid, uint32_t gid);
  Result<std::string> ReadLink(uint64_t ino);
  Result<InodeAttr> Link(uint64_t ino, uint64_t new_dir, std::string_view new_name);
  Status Unlink(uint64_t dir, std::string_view name);
  Status Rmdir(uint64_t dir, std::string_view name);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  Status Rename(uint64_t old_dir, std::string_view old_name, uint64_t new_dir,
                std::string_view new_name, unsigned flags);
  Result<InodeAttr> SetAttr(uint64_t ino, const SetAttrRequest& req);
  // Reads up to `size` bytes at `offset` into buf; short at end of file.
  Result<size_t> Read(uint64_t ino, uint64_t offset, size_t size, char* buf);
  Result<size_t> Write(uint64_t ino, uint64_t offset, const char* data, size_t size);
  // Mode 0 (extend the size) and FALLOC_FL_KEEP_SIZE; others are EOPNOTSUPP.
  Status Fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length);
  Result<std::vector<DirEntry>> ReadDir(uint64_t dir);
  // Barrier: every operation so far is durable.
  Status Sync();
  // Deletes an inode with no name left (nlink 0) once nothing can have it
  // open: its attributes, symlink target and orphan marker, plus a kDead
  // marker for a regular file's data (docs/gc.md). An inode still linked or
  // already gone only loses a stale orphan marker, if it has one.
  Status Purge(uint64_t ino);
  // Purges every inode with an orphan marker. Only safe while nothing on
  // the branch is open (a fresh mount).
  Status PurgeOrphans();

 private:
  // One operation's view of the lineage, taken once at its start.
  using LineageRef = std::shared_ptr<const Lineage>;
  LineageRef CurrentLineage();
  Result<InodeAttr> LoadAttr(const LineageRef& lin, uint64_t ino);
  void CacheAttr(const InodeAttr& a);
  void UncacheAttr(uint64_t ino);
  Result<std::optional<std::pair<uint64_t, uint32_t>>> LookupEntry(const LineageRef& lin,
                                                                   uint64_t dir,
                                                                   std::string_view name);
  Result<InodeAttr> LoadDir(const LineageRef& lin, uint64_t dir);
  Result<bool> DirIsEmpty(const LineageRef& lin, uint64_t dir);
  Status Commit(std::vector<KeyPut> puts);
  // A fresh inode of `mode` under directory *parent, whose times and link
  // count are updated (not stored). REQUIRES: mu_ held.
  InodeAttr NewInode(InodeAttr* parent, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev);
  Result<std::string> ReadPage(const LineageRef& lin, uint64_t data_id, uint64_t block);
  // Puts for truncating `a` to `size` (a is updated, not stored).
  Status TruncatePuts(const LineageRef& lin, InodeAttr* a, uint64_t size,
                      std::vector<KeyPut>* puts);
  // Puts that delete the unlinked inode `a`.
  std::vector<KeyPut> PurgePuts(const InodeAttr& a);
  // Tombstones the orphan marker of `ino` if `lin` shows one. REQUIRES: mu_ held.
  Status DropStaleOrphan(const LineageRef& lin, uint64_t ino);
  // Whether `dir` is `ancestor` or lies below it (rename cycle check).
  Result<bool> IsWithin(const LineageRef& lin, uint64_t dir, uint64_t ancestor);

  VersionStore* const versions_;
  const uint32_t branch_;
  const uint64_t root_;

  // Lock order: mu_ before cache_mu_.
  std::mutex mu_;  // serializes mutations of this branch, and SetLineage with them
  std::mutex cache_mu_;
  // GUARDED_BY(cache_mu_): replaced by SetLineage (which also holds mu_), so
  // a mutation sees one lineage from start to end.
  LineageRef lineage_;
  std::unordered_map<uint64_t, InodeAttr> attrs_;  // GUARDED_BY(cache_mu_): write-through
  // GUARDED_BY(cache_mu_): bumped by every mutation's CacheAttr and by SetLineage
  uint64_t cache_gen_ = 0;
};

}  // namespace strata
