// DiskCachedStore: the L2 cache, immutable objects kept on local disk in
// front of a (remote) store, least recently used first out, under a byte cap.
//
// Objects the `cacheable` predicate accepts (immutable ones, such as layers)
// are cached as aligned chunks of `chunk_bytes`, one verified file per chunk,
// plus one size record per object (docs/cache.md has the layout). A read
// serves the chunks it finds on disk and fetches each run of adjacent missing
// chunks from the target with one GetRange, so a cold machine downloads what
// is read, not whole objects. Every other key passes straight through.
//
// Optional (docs/design.md invariant 5): answers are the same with the cache cold,
// deleted, full or broken. A cache file that fails its checks is deleted,
// counted and refetched (invariant 6); a cache disk that cannot be written
// (ENOSPC, EIO, a read-only or missing directory) never fails a read: the
// bytes come from the target and the failure is counted and logged at most
// once per interval. Errors of the target are returned unchanged.
//
// Concurrent misses of one chunk fetch it once (single-flight); the mutex
// guards only in-memory state and is never held across disk or target I/O.
// One DiskCachedStore at a time may use a directory, and a directory holds
// the objects of one store (the daemon's CACHE_DIR/LOCK and STORE see to it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "objstore/cache_file.h"
#include "objstore/object_store.h"

namespace strata {

struct DiskCacheOptions {
  static constexpr uint64_t kDefaultChunkBytes = 128 << 10;

  // The cache directory, created (with its parents) if missing.
  std::string dir;
  // Cap on the bytes of all cache files (headers included).
  uint64_t capacity_bytes = 0;
  // Objects are cached in aligned chunks of this many bytes; 0 means the
  // default, more than cache_file::kMaxChunkBytes is clamped to it.
  // Changing it between runs makes the old chunks read as corrupt.
  uint64_t chunk_bytes = kDefaultChunkBytes;
  // Which keys are cached: only objects that never change once written. An
  // empty function caches nothing. Called from many threads at once.
  std::function<bool(const std::string& key)> cacheable;
  // A successful Put/PutIfAbsent of a cacheable key also writes the object's
  // chunks into the cache (a just-flushed layer is likely read back).
  bool populate_on_put = true;
};

// Counters since construction, except bytes and chunks (what is on disk now).
struct DiskCacheStats {
  uint64_t hits = 0;           // chunks served from disk
  uint64_t misses = 0;         // chunks not on disk (fetched, or waited for another fetch)
  uint64_t hit_bytes = 0;      // bytes returned to callers from disk
  uint64_t fetched_bytes = 0;  // bytes read from the target to fill misses
  uint64_t bytes = 0;          // in cache files now, headers and size records included
  uint64_t capacity = 0;       // cap in bytes
  uint64_t chunks = 0;         // chunk files now (size records not counted)
  uint64_t evictions = 0;      // files deleted to stay under the cap
  uint64_t corrupt = 0;        // files that failed verification (deleted, refetched)
  uint64_t write_errors = 0;   // cache files that could not be written
  uint64_t read_errors = 0;    // cache files that could not be read (I/O errors)
};

class DiskCachedStore : public ObjectStoreWrapper {
 public:
  // Caches objects of `target`, which must outlive this store. Creates
  // options.dir if missing and loads what an earlier instance left there
  // (deleting temp files and junk, trimming to the cap). Never fails: a
  // directory that cannot be used leaves a pass-through store that counts
  // every failed write.
  DiskCachedStore(ObjectStore* target, DiskCacheOptions options);
  ~DiskCachedStore() override;

  DiskCachedStore(const DiskCachedStore&) = delete;
  DiskCachedStore& operator=(const DiskCachedStore&) = delete;

  // Forwarded; for a cacheable key, then drops the cached copy and, after a
  // success, caches `data` if populate_on_put.
  Status Put(const std::string& key, std::string_view data) override;
  Status PutIfAbsent(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) override;
  Result<uint64_t> Size(const std::string& key) override;
  // Forwarded, then drops every cached file of `key`.
  Status Delete(const std::string& key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  // Drops every cached file of `key` and forwards to the target.
  void Invalidate(const std::string& key) override;

  DiskCacheStats Stats() const;

 private:
  // A cache file: the hash of its key and its chunk index (or kSizeRecord).
  struct FileId {
    uint64_t hash = 0;
    uint64_t index = 0;
    bool operator==(const FileId& o) const { return hash == o.hash && index == o.index; }
  };
  struct FileIdHash {
    size_t operator()(const FileId& f) const {
      return static_cast<size_t>(f.hash ^ (f.index * 0x9E3779B97F4A7C15ull));
    }
  };
  struct LruEntry {
    FileId id;
    uint64_t bytes = 0;     // file size
    uint64_t serial = 0;    // unique per write, so a stale reader cannot drop a newer file
    int64_t touched_s = 0;  // the file's mtime as last set, in seconds
  };
  using Lru = std::list<LruEntry>;
  // The cached files of one key hash.
  struct Object {
    std::unordered_map<uint64_t, Lru::iterator> files;  // by chunk index
    std::string size_key;  // key whose size record was read or written; "" if not yet
    uint64_t size = 0;     // that key's object size
  };
  using Payload = std::shared_ptr<const std::string>;
  using Flight = std::shared_future<Result<Payload>>;
  struct FlightKey {
    std::string key;
    uint64_t index = 0;
    bool operator==(const FlightKey& o) const { return index == o.index && key == o.key; }
  };
  struct FlightKeyHash {
    size_t operator()(const FlightKey& f) const {
      return std::hash<std::string>{}(f.key) ^ static_cast<size_t>(f.index * 0x9E3779B97F4A7C15ull);
    }
  };
  // One chunk of a read in progress.
  struct Slot;
  // The bytes a read returns, as its chunks arrive.
  struct RangeBuffer;

  bool Cacheable(const std::string& key) const;
  std::string PathOf(FileId id) const;
  // "disk cache <dir>: <op> <key>", the start of every message.
  std::string What(std::string_view op, const std::string& key) const;

  // Indexes what an earlier instance left in dir_ (at construction).
  void Load();
  // The size of `key`: from memory, its size record, or the target.
  Result<uint64_t> ObjectSize(const std::string& key, uint64_t hash);
  // `len` > 0 bytes at `offset` of the cacheable object `key` of `size` bytes.
  Result<std::string> ReadRange(const std::string& key, uint64_t hash, uint64_t offset,
                                uint64_t len, uint64_t size);
  // ReadRange's steps. Finds each chunk in the index (kDisk) or claims its
  // fetch (kMine) or joins another thread's (kWait); returns the epoch of
  // the key's stripe.
  uint64_t ClaimChunks(const std::string& key, uint64_t hash, uint64_t first,
                       std::vector<Slot>& slots) EXCLUDES(mu_);
  // Reads the kDisk chunks; a bad file is dropped and its chunk claimed.
  void ServeHits(const std::string& key, uint64_t hash, std::vector<Slot>& slots,
                 RangeBuffer& range) EXCLUDES(mu_);
  // Fetches every run of kMine chunks; the first error.
  Status FetchClaimed(const std::string& key, uint64_t hash, std::vector<Slot>& slots,
                      uint64_t epoch, RangeBuffer& range) EXCLUDES(mu_);
  // Waits for the kWait chunks; the first error.
  Status CollectWaited(const std::string& key, std::vector<Slot>& slots, RangeBuffer& range)
      EXCLUDES(mu_);
  // Fetches slots [begin, end), adjacent chunks from chunk `first` on that
  // this thread claimed, with one GetRange; hands each chunk to its waiters,
  // caches it and ends its flight. Returns the bytes of the whole run.
  Result<std::string> FetchRun(const std::string& key, uint64_t hash, uint64_t first,
                               std::vector<Slot>& slots, size_t begin, size_t end, uint64_t size,
                               uint64_t epoch);
  // Reads and verifies the cache file `id`, which must belong to `key`; the
  // result points into `buf`. kNotFound if the file is gone.
  Result<cache_file::CacheFile> ReadFile(const std::string& key, FileId id, std::string* buf);
  // Counts and logs a file that failed ReadFile (kNotFound, a benign race,
  // silently) and forgets and deletes it if it is still the one of `serial`.
  void HandleBadFile(const std::string& key, FileId id, uint64_t serial, const Status& s);
  // Writes a cache file and indexes it, unless the key was dropped since
  // `epoch` or the file does not fit. Failures are counted, never returned.
  void Store(const std::string& key, FileId id, uint64_t offset, uint64_t object_size,
             std::string_view payload, uint64_t epoch);
  // Caches a whole object that was just written to the target.
  void Populate(const std::string& key, std::string_view data);
  // Forgets and deletes every file of `key` (and of any key with its hash);
  // reads already under way do not cache what they fetch.
  void DropKey(const std::string& key);
  // Deletes files already forgotten (and listed in unlinking_).
  void Unlink(const std::vector<FileId>& ids);
  // Refreshes a file's mtime, which orders the LRU after a restart.
  void TouchFile(FileId id);
  // Logs a failure of the cache disk, at most once per interval.
  void LogDiskError(const Status& s);

  uint64_t& EpochLocked(uint64_t hash) REQUIRES(mu_) { return epochs_[hash % kEpochStripes]; }
  // Forgets least recently used files until `incoming` more bytes fit under
  // the cap (or nothing is left); they go to `victims` and unlinking_.
  void EvictLocked(uint64_t incoming, std::vector<FileId>* victims) REQUIRES(mu_);
  void RemoveLocked(Lru::iterator it) REQUIRES(mu_);
  // Indexes a file just written (or found at Load, with `key` empty).
  // REQUIRES: `id` is not indexed.
  void InsertLocked(const std::string& key, FileId id, uint64_t bytes, uint64_t object_size,
                    int64_t touched_s) REQUIRES(mu_);
  // Claims the fetch of chunk `index` of `key` for this thread, or joins the
  // one under way.
  void ClaimLocked(const std::string& key, uint64_t index, Slot& slot) REQUIRES(mu_);

  // Fixed at construction.
  const std::string dir_;  // no trailing '/'
  const uint64_t capacity_;
  const uint64_t chunk_bytes_;
  const std::function<bool(const std::string&)> cacheable_;
  const bool populate_on_put_;

  // Lock order: mu_ is a leaf; no I/O, target call or wait on a flight
  // happens under it, so callers may hold their own locks when they call in
  // (and the target's locks are never taken under it).
  mutable Mutex mu_;
  Lru lru_ GUARDED_BY(mu_);                                       // newest first
  std::unordered_map<uint64_t, Object> objects_ GUARDED_BY(mu_);  // by key hash
  std::unordered_map<FlightKey, Flight, FlightKeyHash> flights_ GUARDED_BY(mu_);
  // Files being written (not yet indexed), and files forgotten but not yet
  // unlinked. Store writes a file only if it is in neither set nor indexed,
  // so no two threads ever race on one path.
  std::unordered_set<FileId, FileIdHash> writing_ GUARDED_BY(mu_);
  std::unordered_set<FileId, FileIdHash> unlinking_ GUARDED_BY(mu_);
  // Bumped by DropKey, striped by key hash: a fetch that began before a drop
  // of its stripe serves its bytes but does not cache them.
  static constexpr size_t kEpochStripes = 256;
  uint64_t epochs_[kEpochStripes] GUARDED_BY(mu_) = {};
  uint64_t next_serial_ GUARDED_BY(mu_) = 1;
  uint64_t bytes_ GUARDED_BY(mu_) = 0;  // indexed plus being written
  uint64_t chunks_ GUARDED_BY(mu_) = 0;
  uint64_t evictions_ GUARDED_BY(mu_) = 0;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> hit_bytes_{0};
  std::atomic<uint64_t> fetched_bytes_{0};
  std::atomic<uint64_t> corrupt_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> read_errors_{0};
  std::atomic<int64_t> last_error_log_ns_;  // steady clock; rate-limits error logs
};

}  // namespace strata
