// VersionStore: the versioned keyspace of every branch of a store.
//
// Writes (Commit) get the branch's next seq, go to the sink (the op log) and
// into the branch's memtable. A background flusher turns full memtables into
// immutable layers in the object store, publishes a new manifest, indexes the
// layer in the local RocksDB index and trims the op log. Reads resolve a key
// across a lineage (the branch, then its ancestors up to their fork points).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "layers/index.h"
#include "layers/manifest.h"
#include "layers/memtable.h"
#include "layers/page_cache.h"
#include "objstore/object_store.h"
#include "walsink/sink.h"

namespace strata {

// One step of a lineage: versions of `branch` with seq <= max_seq.
struct Level {
  uint32_t branch = 0;
  uint64_t max_seq = UINT64_MAX;
};
// A branch view: the branch itself first, then each ancestor up to the fork
// point of the level before it (DESIGN.md invariant 2).
using Lineage = std::vector<Level>;

struct VersionStoreOptions {
  std::string index_dir;
  size_t memtable_bytes = 64 << 20;  // a memtable this big is flushed to a layer
  // zstd "fast" level 1: twice the speed of level 1 on PostgreSQL heap pages
  // (1.3 GB/s vs 0.69 GB/s per core, ratio 17.9x vs 20.7x; zstd -b -B8192).
  int zstd_level = -1;
  int idle_flush_seconds = 30;  // a memtable older than this is flushed even if small
  bool background_flush = true;
  // L1: decompressed layer values kept in memory (0 disables).
  uint64_t page_cache_bytes = 256ull << 20;
  // Once flushes to the object store have failed for longer than this, every
  // barrier (Sync) fails with kUnavailable until a flush succeeds again, so
  // the store never falls further behind the acknowledged barriers than this
  // without PostgreSQL hearing of it. 0: barriers ignore the store.
  int max_store_lag_seconds = 0;
  // Asked before every flush writes to the store; a non-OK answer fails the
  // flush (the daemon refuses to write once its store lease is lost).
  std::function<Status()> may_write;
  // The tier of a branch until SetDurability says otherwise.
  Durability default_durability = Durability::kLocal;
};

struct BranchStats {
  uint64_t head_seq = 0;
  uint64_t durable_seq = 0;
  uint64_t memtable_bytes = 0;
  uint64_t layers = 0;
  uint64_t layer_bytes = 0;
  uint64_t acked_seq = 0;  // highest seq the sink has made durable (Sink::AckedSeq)
  Durability durability = Durability::kLocal;
};

class VersionStore {
 public:
  static Result<std::unique_ptr<VersionStore>> Open(ObjectStore* store, Sink* sink,
                                                    const VersionStoreOptions& options);
  // Stops the flusher. Does not flush: call FlushAll first for a clean stop.
  ~VersionStore();

  // Loads the manifests of `branches`, indexes any layer the local index
  // lacks, and replays the sink's records past each durable_seq. Call once,
  // before anything else; starts the background flusher.
  Status Recover(const std::vector<uint32_t>& branches);

  // Registers a new, empty branch. Writes nothing to the store.
  Status CreateBranch(uint32_t branch);
  // Forgets a branch: memtable, index entries, op-log records, store objects.
  Status DropBranch(uint32_t branch);
  bool HasBranch(uint32_t branch);
  // The largest branch id Recover met in the op log, known or not. A branch
  // whose creation failed may have left records there, so a new branch must
  // never reuse an id at or below it.
  uint32_t MaxBranchIdInLog() const { return max_branch_in_log_; }

  // Applies `puts` to `branch` under its next seq; returns that seq. The op
  // is in the op log but not yet durable: see Sync.
  Result<uint64_t> Commit(uint32_t branch, std::vector<KeyPut> puts);
  // Barrier for all branches: returns once every op committed so far is
  // durable in the strongest tier the sink offers (Sink::Sync); fails while
  // the store is down (see max_store_lag_seconds). Branch and snapshot
  // creation use it: a fork point must outlive any crash, whatever the tiers.
  Status Sync();
  // Barrier for `branch` in its durability tier (fsync, fdatasync, O_SYNC):
  // every op of the branch committed so far is durable in that tier.
  Status Sync(uint32_t branch);
  // Changes the tier of `branch`; later barriers use it.
  Status SetDurability(uint32_t branch, Durability tier);
  uint64_t HeadSeq(uint32_t branch);
  // A fresh counter for inode numbers and data ids of `branch` (layers/key.h).
  uint64_t AllocCounter(uint32_t branch);

  // The value of `key` as seen by `lineage`; nullopt if absent or deleted.
  Result<std::optional<std::string>> Get(const Lineage& lineage, std::string_view key);
  // fn(key, value) for each live key starting with `prefix`, in key order.
  Status Scan(const Lineage& lineage, std::string_view prefix,
              const std::function<void(std::string_view, const std::string&)>& fn);
  // fn(key) for each live key with `prefix` that is >= `start`, in key order,
  // without reading any value.
  Status ScanKeys(const Lineage& lineage, std::string_view prefix, std::string_view start,
                  const std::function<void(std::string_view)>& fn);
  // The highest seq of `branch` whose op happened at or before `time_ns`;
  // kNotFound if the branch had no op by then.
  Result<uint64_t> SeqAtTime(uint32_t branch, uint64_t time_ns);

  // Writes every memtable of `branch` to layers and publishes the manifest.
  Status Flush(uint32_t branch);
  Status FlushAll();

  BranchStats Stats(uint32_t branch);
  CacheStats PageCacheStats() { return page_cache_.Stats(); }
  Index* index() { return index_.get(); }

 private:
  struct BranchState {
    explicit BranchState(uint32_t id) : id(id) {}
    const uint32_t id;
    std::mutex commit_mu;  // orders seq assignment with the sink append; before mu
    std::mutex flush_mu;   // one flush at a time; before mu
    std::shared_mutex mu;  // guards the fields below
    uint64_t head_seq = 0;
    uint64_t last_time_ns = 0;
    uint64_t next_counter = 2;
    std::shared_ptr<Memtable> active;
    std::vector<std::shared_ptr<Memtable>> frozen;  // oldest first
    Manifest manifest;
    int64_t active_since_ns = 0;
    bool dropped = false;  // set under flush_mu and commit_mu by DropBranch
    // Sink token of the branch's newest record: what its barrier waits for.
    std::atomic<uint64_t> last_token{0};
    std::atomic<Durability> durability{Durability::kLocal};
  };

  VersionStore(ObjectStore* store, Sink* sink, std::unique_ptr<Index> index,
               const VersionStoreOptions& options);
  std::shared_ptr<BranchState> Find(uint32_t branch);
  std::shared_ptr<BranchState> NewBranchState(uint32_t branch);
  // Fails barriers once the store has been failing too long.
  Status CheckStoreHealth();
  // The newest visible version of every key with `prefix` (>= `start`) across
  // `lineage`; nullopt marks a deleted key.
  Result<std::map<std::string, std::optional<IndexedVersion>, std::less<>>> Collect(
      const Lineage& lineage, std::string_view prefix, std::string_view start, bool with_values);
  Status IndexLayerFromStore(uint32_t branch, const LayerMeta& meta);
  Status IndexLayerOnce(uint32_t branch, const LayerMeta& meta);
  // Records whether a flush reached the store (for max_store_lag_seconds).
  void NoteFlushResult(const Status& st);
  Status FlushOne(BranchState* bs, const std::shared_ptr<Memtable>& mt);
  Result<std::string> ReadValue(const IndexedVersion& v);
  void ApplyToMemtable(BranchState* bs, const OpRecord& rec);
  void FlusherLoop();
  // The branch's memtables, newest first (active, then frozen).
  std::vector<std::shared_ptr<Memtable>> Tables(BranchState* bs);
  // Bytes of a branch's memtables not yet in layers.
  size_t Backlog(BranchState* bs);

  ObjectStore* const store_;
  Sink* const sink_;
  const std::unique_ptr<Index> index_;
  const VersionStoreOptions options_;
  PageCache page_cache_;

  uint32_t max_branch_in_log_ = 0;  // set once by Recover

  std::mutex store_health_mu_;
  int64_t flush_failing_since_ns_ = 0;  // GUARDED_BY(store_health_mu_); 0: healthy
  std::string last_flush_error_;        // GUARDED_BY(store_health_mu_)

  std::shared_mutex branches_mu_;
  std::map<uint32_t, std::shared_ptr<BranchState>> branches_;  // GUARDED_BY(branches_mu_)

  std::mutex flusher_mu_;
  std::condition_variable flusher_cv_;
  bool stop_ = false;  // GUARDED_BY(flusher_mu_)
  std::thread flusher_;
};

}  // namespace strata
