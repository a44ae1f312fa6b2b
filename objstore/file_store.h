// FileObjectStore: an ObjectStore kept in a local directory (file:///path).
//
// Each key is a file under the root ("a/b/c" -> <root>/a/b/c). Writes go to a
// hidden temp file (".tmp-*") that is fsync'ed and then renamed (Put) or
// linked (PutIfAbsent) into place, and the directory is fsync'ed, so an object
// is either absent, the old one, or the whole new one after any crash.
//
// Reserved names, never valid keys and never listed: "LOCK" at the root (the
// flock'ed lease file of daemons from before shared stores, which nothing
// reads or writes today) and any path component starting with ".tmp-".
// Keys must be non-empty, relative, and free of "..", "//", "." components,
// NUL bytes and trailing '/'; anything else is kInvalid.
//
// GetRange keeps an LRU cache of open read-only fds. Put/PutIfAbsent/Delete
// through this object invalidate it; an overwrite made by another process (or
// another FileObjectStore on the same root) can go unseen by GetRange until
// the fd is evicted. That is safe because ranged reads are for immutable
// layers, whose names are never written twice; Get and Size always look at the
// current file.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "objstore/object_store.h"

namespace strata {

class FileObjectStore : public ObjectStore {
 public:
  static constexpr size_t kDefaultFdCacheCapacity = 512;

  // `root` is an absolute directory path; it is created on first write if
  // missing. No I/O happens here.
  explicit FileObjectStore(std::string root, size_t fd_cache_capacity = kDefaultFdCacheCapacity);
  ~FileObjectStore() override;

  FileObjectStore(const FileObjectStore&) = delete;
  FileObjectStore& operator=(const FileObjectStore&) = delete;

  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) override;
  Result<uint64_t> Size(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  std::string Url() const override { return "file://" + root_; }
  // Drops the cached fd of `key` (Put, PutIfAbsent and Delete call it too).
  void Invalidate(const std::string& key) override EXCLUDES(cache_mu_);

  // Number of fds currently cached (for tests).
  size_t CachedFdCount() const EXCLUDES(cache_mu_);

 private:
  struct CachedFd;
  struct CacheEntry;

  // "file store <root>: <op> <key>", the start of every error message.
  std::string What(std::string_view op, const std::string& key) const;
  Status CheckKey(std::string_view op, const std::string& key) const;
  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }

  // Creates every missing directory from the root down to `dir` and makes each
  // durable in its parent.
  Status EnsureDir(const std::string& dir, const std::string& what) REQUIRES_SHARED(dir_mu_)
      EXCLUDES(durable_mu_);
  // Makes `dir` and writes `data` to a new fsync'ed temp file in it, whose
  // path goes to `tmp`. On error no temp file is left.
  Status WriteTemp(const std::string& dir, std::string_view data, const std::string& what,
                   std::string* tmp) EXCLUDES(dir_mu_);
  // Common body of Put and PutIfAbsent.
  Status PutImpl(const std::string& key, std::string_view data, bool if_absent);
  // Removes now-empty directories between `dir` and the root.
  void PruneEmptyDirs(std::string dir) EXCLUDES(dir_mu_);

  // Returns a cached (or freshly opened) fd for `key`.
  Result<std::shared_ptr<CachedFd>> OpenCached(const std::string& key, const std::string& what)
      EXCLUDES(cache_mu_);
  uint64_t& EpochOf(const std::string& key) REQUIRES(cache_mu_);

  // Set at construction.
  const std::string root_;  // absolute, no trailing '/'
  const size_t fd_cache_capacity_;

  // Lock order: dir_mu_ before durable_mu_ and before cache_mu_; those two
  // are never held together. All three are leaves across modules: no other
  // module's lock is taken, and no callback runs, with one held; callers may
  // hold their own locks when they call in.

  // Put/PutIfAbsent hold this shared from "make the directory" until their
  // temp file exists in it (so the directory is non-empty), Delete from its
  // unlink until the directory fsync; pruning empty directories holds it
  // exclusively. Without it a Delete could rmdir the directory a concurrent
  // Put is about to write into, or another Delete is about to fsync.
  SharedMutex dir_mu_;
  Mutex durable_mu_ ACQUIRED_AFTER(dir_mu_);
  // Directories known to exist and be durable in their parent. Only inserted
  // after the parent's fsync, so a hit means no fsync is needed.
  std::unordered_set<std::string> durable_dirs_ GUARDED_BY(durable_mu_);

  mutable Mutex cache_mu_ ACQUIRED_AFTER(dir_mu_);
  std::list<CacheEntry> lru_ GUARDED_BY(cache_mu_);  // front = most recently used
  std::unordered_map<std::string, std::list<CacheEntry>::iterator> cache_ GUARDED_BY(cache_mu_);
  // Bumped by Invalidate, striped by key hash: an fd opened before an
  // invalidation of its stripe is used once but not cached, so a Put racing
  // with a GetRange can never leave the old inode in the cache.
  static constexpr size_t kEpochStripes = 64;
  uint64_t epochs_[kEpochStripes] GUARDED_BY(cache_mu_) = {};
};

}  // namespace strata
