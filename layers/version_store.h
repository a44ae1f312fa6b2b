// VersionStore: the versioned keyspace of every branch of a store.
//
// Writes (Commit) get the branch's next seq, go to the sink (the op log) and
// into the branch's memtable. A background flusher turns full memtables into
// immutable layers in the object store, publishes a new manifest, indexes the
// layer in the local RocksDB index and trims the op log. Reads resolve a key
// across a lineage (the branch, then its ancestors up to their fork points).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/reader_epochs.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "layers/gc_plan.h"
#include "layers/index.h"
#include "layers/manifest.h"
#include "layers/memtable.h"
#include "layers/page_cache.h"
#include "objstore/object_store.h"
#include "oplog/sink.h"

namespace strata {

// One step of a lineage: versions of `branch` with seq <= max_seq.
struct Level {
  uint32_t branch = 0;
  uint64_t max_seq = UINT64_MAX;
};
// A branch view: the branch itself first, then each ancestor up to the fork
// point of the level before it (docs/design.md invariant 2).
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
  // Several daemons on one store (docs/cluster.md). Unset: this process
  // writes every branch (one daemon per store, epoch 0). Set: a branch is
  // written only after claim(branch) has returned the fencing epoch of a
  // lease this process took on it; the first write then stores a claim
  // manifest carrying that epoch, after adopting whatever another daemon
  // published, and every later manifest carries it too. A manifest write
  // that finds a newer epoch in the store fences the branch: kReadOnly for
  // every write and barrier from then on. claim must not call into this
  // store; it runs with the branch's claim_mu held and nothing else.
  std::function<Result<uint64_t>(uint32_t branch)> claim;
  // With claim: whether this process's node held `branch` at lease epoch
  // `epoch`. Recover asks it about the epoch of each branch's stored
  // manifest before it keeps op-log records it replayed for the branch:
  // records of an earlier run are this node's only if the store's newest
  // manifest was written under this node's lease (another node may have
  // taken the branch over since, and its state must not get them).
  std::function<Result<bool>(uint32_t branch, uint64_t epoch)> held_at;
  // With claim: called once DropBranch or Forget removed a branch this
  // process had claimed (its lease objects go with the branch's).
  std::function<void(uint32_t branch)> forget_claim;
  // The tier of a branch until SetDurability says otherwise.
  Durability default_durability = Durability::kLocal;
  // Every time the store reads: the stamp of each commit (the time -> seq
  // map), a memtable's age (idle_flush_seconds), how long flushes have been
  // failing (max_store_lag_seconds) and how long a writer has waited for
  // the flusher. Tests pass a ManualClock.
  Clock* clock = Clock::Real();
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

// When Compact rewrites a layer (docs/gc.md, "Compaction").
struct CompactionPolicy {
  double rewrite_garbage_ratio = 0.5;     // a layer at least this much garbage is rewritten
  uint64_t small_layer_bytes = 16 << 20;  // layers below this are merged ...
  size_t merge_small_layers = 8;          // ... once there are this many of them
  uint64_t max_input_bytes = 256 << 20;   // layer bytes read per Compact call, at most
  uint64_t target_layer_bytes = 64 << 20;
};

struct CompactionResult {
  uint64_t layers_before = 0, layers_after = 0;
  uint64_t bytes_before = 0, bytes_after = 0;
  uint64_t read_bytes = 0;     // layer objects read to rewrite them
  uint64_t written_bytes = 0;  // layer objects written
  uint64_t deleted_layers = 0, written_layers = 0;
  uint64_t pruned_versions = 0;  // garbage versions dropped from the index
  SpaceAccount space;            // of the layers before this pass
};

// Read-source histogram of Get: how many sources (memtables and index
// levels) one key read consulted. Bucket i counts reads with at most
// kReadSourceBounds[i] sources; the last bucket is everything above.
inline constexpr uint32_t kReadSourceBounds[] = {1, 2, 3, 4, 6, 8, 12, 16};
inline constexpr size_t kReadSourceBuckets = std::size(kReadSourceBounds) + 1;
struct ReadSourceStats {
  uint64_t buckets[kReadSourceBuckets] = {};
  uint64_t count = 0;
  uint64_t sum = 0;
};

// A key a branch wrote, with its newest version in the seq range asked for
// (VersionStore::ChangedKeys).
struct KeyChange {
  std::string key;
  uint64_t seq = 0;
  bool tombstone = false;
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
  // Registers a branch another daemon created (docs/cluster.md): loads its
  // newest manifest and indexes its layers; read-only here until claimed.
  // OK if the branch is known already.
  Status Attach(uint32_t branch);
  // Forgets a branch another daemon deleted: its memtables, index entries
  // and op-log records here. Deletes nothing in the store. OK if unknown.
  Status Forget(uint32_t branch);
  // Reads the newest manifest of a branch this process does not hold (it
  // holds no lease on it), so that reads and forks see what its holder
  // published last: true if that is newer than what it read before. Does
  // nothing (false) for a held branch.
  Result<bool> RefreshForeign(uint32_t branch);
  // Whether branches have leases here (options.claim): several daemons may
  // share the store.
  bool Shared() const { return static_cast<bool>(options_.claim); }
  // Forgets a branch: memtable, index entries, op-log records, store objects.
  Status DropBranch(uint32_t branch);
  bool HasBranch(uint32_t branch);
  // Every branch known here, in id order.
  std::vector<uint32_t> Branches();
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
  // The lease epoch this process writes `branch` under: 0 when it does not
  // hold it (options.claim set) or when there are no leases (unset).
  uint64_t Epoch(uint32_t branch);
  // Claims `branch` now (options.claim), as its first write would.
  Status Claim(uint32_t branch);
  // Forgets the claim on `branch` after the caller released its lease; the
  // branch must have nothing unflushed (call Flush first). A later write
  // claims it again.
  Status Unclaim(uint32_t branch);
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
  // Flushes every branch. Stops at the first error, except kReadOnly (a
  // branch this process may not write yet): the others are flushed, and
  // that error is returned after them.
  Status FlushAll();

  // Garbage collection (docs/gc.md). Compact analyzes the branch's layers
  // against `points`, rewrites the layers the policy picks into compacted
  // ones, publishes a manifest naming them (and the history floor), prunes
  // the index, waits for readers that may still use the old layers, and
  // deletes them. kill -9 at any moment leaves either the old or the new
  // manifest, and every object the surviving one names.
  Result<CompactionResult> Compact(uint32_t branch, const GcPoints& points,
                                   const CompactionPolicy& policy);
  // The analysis alone: what the branch's layers hold against `points`.
  Result<SpaceAccount> Analyze(uint32_t branch, const GcPoints& points);
  // Copies into `branch`, at seq 0, every live key `ancestors` (the
  // branch's lineage without its own level) show, so that the branch no
  // longer reads them. Returns the bytes of the layers written. The caller
  // then changes the catalog so the branch's lineage is itself alone.
  Result<uint64_t> Detach(uint32_t branch, const Lineage& ancestors);
  // Deletes objects under the branch's prefix that no manifest names: layers
  // of a crashed flush or compaction, manifests older than the previous one.
  Result<uint64_t> SweepLeaked(uint32_t branch);
  // Points older than the floor are gone (seq, time). RaiseHistoryFloor
  // only ever raises it; Compact persists it in the next manifest it writes.
  std::pair<uint64_t, uint64_t> HistoryFloor(uint32_t branch);
  void RaiseHistoryFloor(uint32_t branch, uint64_t seq, uint64_t time_ns);
  // The newest op of `branch` at or before `time_ns` (seq and its time), or
  // nullopt if it had none by then.
  Result<std::optional<TimePoint>> PointAtTime(uint32_t branch, uint64_t time_ns);
  ReadSourceStats ReadSources();
  // Bytes of every layer of every branch.
  uint64_t StoreBytes();

  // Every key `branch` wrote itself with a seq in (from, to], once, with its
  // newest version in that range, in key order (docs/diff.md). Reads the
  // branch's memtables and the index blocks of those of its layers whose
  // manifest seq range meets (from, to]; never an ancestor, never a value:
  // the cost follows what the branch wrote in the range, not the size of
  // what it reads. Versions GC dropped are not reported, but the newest
  // version of a key (the head reads it) always is.
  Result<std::vector<KeyChange>> ChangedKeys(uint32_t branch, uint64_t from, uint64_t to);

  BranchStats Stats(uint32_t branch);
  CacheStats PageCacheStats() { return page_cache_.Stats(); }
  Index* index() { return index_.get(); }

 private:
  // Locks, and what may be held when calling out (docs/design.md invariant 4
  // for the barrier rules). Each chain runs outer to inner: a thread holding
  // one lock takes only locks further along, never one before it.
  //
  // Within the store, per branch (BranchState):
  //   claim_mu -> gc_mu -> flush_mu -> commit_mu -> mu -> Memtable::mu_
  //   (layers/memtable.h). claim_mu is taken only by EnsureHeld (and
  //   Unclaim), before any other lock of the branch: Commit, Compact,
  //   Detach and SweepLeaked call it first.
  // and across branches:
  //   branches_mu_ -> a branch's mu (DueForFlush and StoreBytes read every
  //   branch's fields under branches_mu_). branches_mu_ is never held while
  //   taking gc_mu, flush_mu or commit_mu, nor across any I/O.
  //   store_health_mu_ and PageCache::mu_ are leaves. flusher_mu_ guards
  //   stop_ alone and is released before the flusher does any work.
  //   ReaderEpochs: Compact waits in Synchronize with gc_mu held for every
  //   read in flight; a read holds its guard while it takes branches_mu_ or
  //   mu (briefly) and never waits for gc_mu, so the wait ends.
  //
  // Threads:
  //   A committing thread takes commit_mu, mu briefly inside it, and holds
  //   commit_mu across Sink::Append. Its backpressure wait (WaitForFlusher,
  //   at most 120 s) comes first and holds no lock of this class.
  //   The flusher (FlusherLoop) takes branches_mu_ -> mu to pick branches,
  //   then per branch Flush: flush_mu -> commit_mu -> mu to freeze the
  //   memtable, then flush_mu alone across options.may_write, the upload,
  //   the manifest write, the index batch and Sink::Trim (FlushOne).
  //   Compact, Detach and SweepLeaked (the Collector's thread, or an API
  //   call) hold gc_mu across their reads and uploads and take flush_mu only
  //   to publish.
  //
  // Callers (the chain BranchFs -> VersionStore -> Sink of issue 12):
  //   BranchFs::mu_ (fs/branch_fs.h), BranchManager::mu_ (catalog/
  //   branch_manager.h) and Collector::pass_mu_ (catalog/collector.h) may
  //   be held when calling any method here: no lock of this class is held
  //   when it returns, and it calls back into none of them. Sync() and
  //   Sync(branch) may block for a whole barrier (a kRemote one up to the
  //   walsink's barrier timeout, 60 s by default): BranchFs calls Sync
  //   without its mu_; BranchManager calls Sync() with its mu_ held, which
  //   is what serializes branch creation. The callbacks this class runs:
  //   options.may_write (with gc_mu and/or flush_mu held: it must not call
  //   into this store), options.claim (with the branch's claim_mu held; it
  //   does store I/O), options.held_at (Recover, no lock held),
  //   options.forget_claim (with gc_mu, flush_mu and commit_mu held: leaf
  //   locks only), the fn of Scan and ScanKeys (no lock of this class
  //   held, but inside a ReaderEpochs read: fn must not call Compact, whose
  //   Synchronize would wait for it).
  //
  // Into the sink (oplog/sink.h; its own locks are in oplog/local_sink.cc and
  // walsink/shipping_sink.h):
  //   Append: with the branch's commit_mu held and nothing else (commit_mu
  //     keeps a branch's records in seq order in the log). The local sink
  //     holds its mu_ across write(2), and across an fdatasync when it
  //     rotates a segment; the shipping sink then takes its mu_ briefly. So
  //     commit_mu can wait for the local disk, never for the network.
  //   Trim: with the branch's flush_mu held (FlushOne), or nothing
  //     (Recover, DropBranch). The shipping sink takes its mu_, releases it,
  //     then the local sink's mu_.
  //   Sync, Barrier, Tail, AckedSeq, Replay: with no lock of this class
  //     held. A barrier waits for an fdatasync or for the walsink server's
  //     ack; holding commit_mu or mu across it would stall the branch's
  //     writes or reads for as long.
  //   The sink never calls into this class, except Replay's callback, which
  //   it runs with none of its locks held (Recover then takes mu).
  // Into the object store and the index: with gc_mu and/or flush_mu held
  // (uploads, manifest writes, index batches), never with commit_mu, mu or
  // branches_mu_.
  struct BranchState {
    explicit BranchState(uint32_t id) : id(id) {}
    const uint32_t id;
    // One claim at a time (EnsureHeld): held across options.claim, the
    // manifest read and the claim manifest's write.
    Mutex claim_mu ACQUIRED_BEFORE(gc_mu);
    // One Compact, Detach or SweepLeaked at a time; held across their
    // layer reads and uploads.
    Mutex gc_mu ACQUIRED_BEFORE(flush_mu);
    // One flush (or GC publish) at a time: held across the upload, the
    // manifest write, the index batch and the sink's Trim.
    Mutex flush_mu ACQUIRED_BEFORE(commit_mu);
    // Orders seq assignment with the sink append; held across Append.
    Mutex commit_mu ACQUIRED_BEFORE(mu);
    // Guards the fields below; never held across I/O or a call out.
    SharedMutex mu;
    uint64_t head_seq GUARDED_BY(mu) = 0;
    uint64_t last_time_ns GUARDED_BY(mu) = 0;
    uint64_t next_counter GUARDED_BY(mu) = 2;
    // Replaced only with commit_mu held too, so a commit adds to the table
    // it read under mu.
    std::shared_ptr<Memtable> active GUARDED_BY(mu);
    std::vector<std::shared_ptr<Memtable>> frozen GUARDED_BY(mu);  // oldest first
    Manifest manifest GUARDED_BY(mu);
    uint32_t next_layer_no GUARDED_BY(mu) = 1;  // >= manifest.next_layer_no; see TakeLayerNo
    uint64_t history_floor GUARDED_BY(mu) = 0;  // >= manifest.history_floor; see HistoryFloor
    uint64_t history_floor_ns GUARDED_BY(mu) = 0;
    int64_t active_since_ns GUARDED_BY(mu) = 0;
    // Set by DropBranch with gc_mu, flush_mu and commit_mu all held, so a
    // holder of any one of them reads a value that cannot change under it
    // (atomic only because the checker cannot express "any one of").
    std::atomic<bool> dropped{false};
    // Set when a compaction's index update failed after its manifest was
    // published: the index may still name layers the manifest does not, so
    // no layer of the branch may be deleted until a mount reconciles the
    // index (Recover).
    bool index_stale GUARDED_BY(gc_mu) = false;
    // Sink token of the branch's newest record: what its barrier waits for.
    std::atomic<uint64_t> last_token{0};
    std::atomic<Durability> durability{Durability::kLocal};
    // With options.claim: the epoch of this process's lease, 0 while it
    // holds none. Changed with claim_mu and flush_mu held, so a flush reads
    // a value that cannot change under it.
    std::atomic<uint64_t> epoch{0};
    // Set once another daemon's newer epoch was found in the store; never
    // cleared: this process does not write the branch again.
    std::atomic<bool> fenced{false};
    // The highest seq of records Recover found in the op log but dropped
    // (DropForeignTail): the claim manifest moves the branch past it, so
    // that they are covered (never replayed) and no new record reuses a
    // seq of theirs.
    uint64_t dropped_tail GUARDED_BY(mu) = 0;
  };

  VersionStore(ObjectStore* store, Sink* sink, std::unique_ptr<Index> index,
               const VersionStoreOptions& options);
  std::shared_ptr<BranchState> Find(uint32_t branch) EXCLUDES(branches_mu_);
  // kNotFound: the branch was dropped (or never existed).
  static Status BranchGone(uint32_t branch);
  // A branch's state as manifest `m` leaves it, with an empty memtable.
  std::shared_ptr<BranchState> NewBranchState(uint32_t branch, Manifest m);
  // Removes the branch from this process (DropBranch, Forget): fences what
  // is in flight for it and drops its index entries and cached pages.
  Status Unregister(uint32_t branch) EXCLUDES(branches_mu_);
  // With options.claim: claims the branch unless this process holds it
  // already; kReadOnly once it is fenced.
  Status EnsureHeld(BranchState* bs) EXCLUDES(bs->claim_mu, bs->gc_mu, bs->flush_mu);
  // Recover: drops the records replayed for `bs` if the store's newest
  // manifest was not written under this node's lease (see held_at); not
  // with a shared log (DisownForeignRecords instead).
  Status DropForeignTail(BranchState* bs);
  // Recover, before the replay, with a shared log: voids this daemon's own
  // records of every branch another daemon took over since (Sink::Disown).
  Status DisownForeignRecords(const std::vector<uint32_t>& branches);
  // Forgets the branch's unflushed records (never claimed here): back to
  // its manifest.
  void DropUnclaimedLocked(BranchState* bs) REQUIRES(bs->mu);
  // After a claim manifest at `epoch`: fences the branch's log and applies
  // the records an earlier holder made durable there but never flushed
  // (Sink::TakeOver).
  Status TakeOverTail(BranchState* bs, uint64_t epoch) REQUIRES(bs->flush_mu);
  // Publishes the manifest that makes `epoch` the branch's: the store's
  // newest, adopted, with the epoch, one version on.
  Status StoreClaimManifest(BranchState* bs, uint64_t epoch) REQUIRES(bs->flush_mu);
  // Makes the branch's state the one `stored` (newer than ours) describes:
  // another daemon wrote it since this process read it.
  Status AdoptStored(BranchState* bs, const Manifest& stored) REQUIRES(bs->flush_mu);
  // kReadOnly naming the branch: it is held (or was taken) elsewhere.
  static Status NotHeld(const BranchState& bs, const std::string& why);
  // Stores a layer under *no, or under the next free number: a name is
  // never overwritten (an object there belongs to a crashed or fenced
  // writer, or to another daemon).
  Status UploadLayer(BranchState* bs, std::string_view object, uint32_t* no);
  // Fails barriers once the store has been failing too long.
  Status CheckStoreHealth() EXCLUDES(store_health_mu_);
  // Backpressure: waits while the branch's unflushed memtables exceed four
  // memtables; kUnavailable once the flusher has been stuck for too long.
  Status WaitForFlusher(BranchState* bs);
  // The newest visible version of every key with `prefix` (>= `start`) across
  // `lineage`; nullopt marks a deleted key.
  Result<std::map<std::string, std::optional<IndexedVersion>, std::less<>>> Collect(
      const Lineage& lineage, std::string_view prefix, std::string_view start, bool with_values);
  Status IndexLayerFromStore(uint32_t branch, const LayerMeta& meta);
  Status IndexLayerOnce(uint32_t branch, const LayerMeta& meta);
  // The index block of one layer, verified against what the manifest says.
  Result<LayerIndex> LoadLayerIndex(uint32_t branch, const LayerMeta& meta);
  // Drops the index of a branch whose markers name layers its manifest does
  // not (a compaction's index batch lost in a crash) and indexes it anew.
  Status ReconcileIndex(uint32_t branch, const Manifest& m);
  Result<std::vector<LayerContents>> LoadContents(uint32_t branch, const Manifest& m);
  // A fresh layer number of the branch (never reused by this process).
  uint32_t TakeLayerNo(BranchState* bs);
  struct Rewrite;
  Status BuildRewrite(BranchState* bs, const std::vector<LayerContents>& layers,
                      const GcAnalysis& a, const GcPoints& points, const CompactionPolicy& policy,
                      Rewrite* rw) REQUIRES(bs->gc_mu);
  Status PublishRewrite(BranchState* bs, const std::vector<LayerContents>& layers,
                        const GcAnalysis& a, Rewrite* rw) REQUIRES(bs->gc_mu);
  // Deletes the layers a published rewrite replaced, once no reader can
  // still use them, and fills in what the pass did.
  void DeleteReplaced(uint32_t branch, const std::vector<LayerContents>& layers,
                      const GcAnalysis& a, const Rewrite& rw, CompactionResult* r);
  Status StoreManifestChecked(BranchState* bs, const Manifest& next) REQUIRES(bs->flush_mu);
  // The branch's manifest with its layer counter and history floor brought
  // up to date, for the caller to change and publish.
  Manifest NextManifest(BranchState* bs) REQUIRES(bs->flush_mu);
  // Makes `next` the branch's manifest: stores it, then publishes it in memory.
  Status PublishManifest(BranchState* bs, const Manifest& next) REQUIRES(bs->flush_mu);
  // kUnavailable once the branch's index went stale (BranchState::index_stale).
  static Status CheckIndexFresh(const BranchState& bs) REQUIRES(bs.gc_mu);
  void CountReadSources(uint32_t sources);
  // Records whether a flush reached the store (for max_store_lag_seconds).
  void NoteFlushResult(const Status& st) EXCLUDES(store_health_mu_);
  Status FlushOne(BranchState* bs, const std::shared_ptr<Memtable>& mt) REQUIRES(bs->flush_mu);
  // A previous FlushOne of `mt` published the manifest but failed to index
  // the layer: only the (cache) indexing is left to do.
  Status FinishPublishedFlush(BranchState* bs, const Manifest& current,
                              const std::shared_ptr<Memtable>& mt) REQUIRES(bs->flush_mu);
  Result<std::string> ReadValue(const IndexedVersion& v);
  void ApplyToMemtable(BranchState* bs, const OpRecord& rec) REQUIRES(bs->mu);
  // One replayed record (Recover, TakeOverTail): skipped (false) at or below
  // the head, applied (true) at head + 1, kCorruption naming `source` past it.
  Result<bool> ApplyReplayedLocked(BranchState* bs, const OpRecord& rec, const char* source)
      REQUIRES(bs->mu);
  void FlusherLoop() EXCLUDES(flusher_mu_);
  // The branches whose memtables the flusher should write now.
  std::vector<std::shared_ptr<BranchState>> DueForFlush() EXCLUDES(branches_mu_);
  // The branch's memtables, newest first (active, then frozen).
  std::vector<std::shared_ptr<Memtable>> Tables(BranchState* bs);
  // Bytes of a branch's memtables not yet in layers.
  size_t Backlog(BranchState* bs);

  // Set at construction, never changed.
  ObjectStore* const store_;
  Sink* const sink_;
  const std::unique_ptr<Index> index_;
  const VersionStoreOptions options_;
  Clock* const clock_;

  PageCache page_cache_;  // thread-safe (its own leaf lock)
  // Readers of layer objects found through the index hold a guard; GC waits
  // for them before it deletes a layer it unpublished.
  ReaderEpochs readers_;
  std::atomic<uint64_t> read_sources_[kReadSourceBuckets] = {};
  std::atomic<uint64_t> read_sources_sum_{0};

  // Written only by Recover (before the store is shared), read after.
  uint32_t max_branch_in_log_ = 0;

  Mutex store_health_mu_;
  // Since when flushes have been failing; nullopt while they succeed.
  std::optional<std::chrono::steady_clock::time_point> flush_failing_since_
      GUARDED_BY(store_health_mu_);
  std::string last_flush_error_ GUARDED_BY(store_health_mu_);

  SharedMutex branches_mu_;
  std::map<uint32_t, std::shared_ptr<BranchState>> branches_ GUARDED_BY(branches_mu_);

  // Guards only stop_; never held while flushing.
  Mutex flusher_mu_;
  CondVar flusher_cv_;  // wakes the flusher: a memtable is full, or stop
  bool stop_ GUARDED_BY(flusher_mu_) = false;
  std::thread flusher_;  // started by Recover, joined by the destructor
};

}  // namespace strata
