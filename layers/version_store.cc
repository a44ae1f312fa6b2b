#include "layers/version_store.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/clock.h"
#include "common/thread_cpu.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {
namespace {

// A writer waits this long for a stuck flusher before its write fails.
constexpr std::chrono::seconds kStallLimit{120};
// While it waits it polls the flusher's progress this often, and logs every
// kStallWarnEvery.
constexpr std::chrono::milliseconds kStallPoll{5};
constexpr std::chrono::seconds kStallWarnEvery{10};
// Layer names an upload skips at most before it gives up: each is an orphan.
constexpr int kMaxLayerNameSkips = 64;
// Claim manifests a claim writes at most while earlier holders' late
// flushes keep taking the version it aims at.
constexpr int kMaxClaimRounds = 8;

}  // namespace

Result<std::unique_ptr<VersionStore>> VersionStore::Open(ObjectStore* store, Sink* sink,
                                                         const VersionStoreOptions& options) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Index> index, Index::Open(options.index_dir));
  return std::unique_ptr<VersionStore>(new VersionStore(store, sink, std::move(index), options));
}

VersionStore::VersionStore(ObjectStore* store, Sink* sink, std::unique_ptr<Index> index,
                           const VersionStoreOptions& options)
    : store_(store),
      sink_(sink),
      index_(std::move(index)),
      options_(options),
      clock_(options.clock),
      page_cache_(options.page_cache_bytes) {}

VersionStore::~VersionStore() {
  {
    MutexLock lock(&flusher_mu_);
    stop_ = true;
  }
  flusher_cv_.SignalAll();
  if (flusher_.joinable()) flusher_.join();
}

std::shared_ptr<VersionStore::BranchState> VersionStore::Find(uint32_t branch) {
  ReaderLock lock(&branches_mu_);
  auto it = branches_.find(branch);
  return it == branches_.end() ? nullptr : it->second;
}

Status VersionStore::BranchGone(uint32_t branch) {
  return Status::NotFound("branch id " + std::to_string(branch) + " is gone");
}

bool VersionStore::HasBranch(uint32_t branch) { return Find(branch) != nullptr; }

std::vector<uint32_t> VersionStore::Branches() {
  ReaderLock lock(&branches_mu_);
  std::vector<uint32_t> ids;
  ids.reserve(branches_.size());
  for (const auto& [id, bs] : branches_) ids.push_back(id);
  return ids;
}

Status VersionStore::IndexLayerFromStore(uint32_t branch, const LayerMeta& meta) {
  Status st = IndexLayerOnce(branch, meta);
  if (st.code() != Code::kCorruption && st.code() != Code::kInvalid) return st;
  // Maybe a rotten or stale cached copy (L2; a leaked layer number is reused
  // by a later flush): drop it and read the store of record.
  const std::string key = LayerObjectKey(branch, meta.no);
  spdlog::warn("{}; dropping cached copies of {} and reading it again", st.ToString(), key);
  store_->Invalidate(key);
  st = IndexLayerOnce(branch, meta);
  if (!st.ok()) spdlog::error("layer object {}: {}", key, st.ToString());
  return st;
}

Result<LayerIndex> VersionStore::LoadLayerIndex(uint32_t branch, const LayerMeta& meta) {
  const std::string key = LayerObjectKey(branch, meta.no);
  STRATA_ASSIGN_OR_RETURN(uint64_t size, store_->Size(key));
  const uint64_t footer_size = LayerFooterSize();
  if (size < footer_size) return Status::Corruption("layer " + key + ": shorter than its footer");
  STRATA_ASSIGN_OR_RETURN(std::string footer,
                          store_->GetRange(key, size - footer_size, footer_size));
  uint64_t index_offset = 0, index_length = 0;
  STRATA_RETURN_IF_ERROR(DecodeLayerFooter(footer, key, &index_offset, &index_length));
  if (index_offset + index_length + footer_size != size) {
    return Status::Corruption("layer " + key + ": footer does not match object size");
  }
  STRATA_ASSIGN_OR_RETURN(std::string block, store_->GetRange(key, index_offset, index_length));
  STRATA_ASSIGN_OR_RETURN(LayerIndex li, DecodeLayerIndex(block, footer, key));
  // A layer copied or misplaced under another name must not be believed.
  if (li.info.branch != branch || li.info.min_seq != meta.min_seq ||
      li.info.max_seq != meta.max_seq) {
    return Status::Corruption("layer " + key + " holds branch " + std::to_string(li.info.branch) +
                              " seqs " + std::to_string(li.info.min_seq) + ".." +
                              std::to_string(li.info.max_seq) + ", not what the manifest names");
  }
  return li;
}

Status VersionStore::IndexLayerOnce(uint32_t branch, const LayerMeta& meta) {
  STRATA_ASSIGN_OR_RETURN(LayerIndex li, LoadLayerIndex(branch, meta));
  return index_->AddLayer(branch, meta.no, li.entries, li.times);
}

Status VersionStore::ReconcileIndex(uint32_t branch, const Manifest& m) {
  STRATA_ASSIGN_OR_RETURN(std::vector<uint32_t> indexed, index_->Layers(branch));
  std::set<uint32_t> named;
  for (const LayerMeta& meta : m.layers) named.insert(meta.no);
  const bool stale =
      std::any_of(indexed.begin(), indexed.end(), [&](uint32_t no) { return !named.count(no); });
  if (stale) {
    // Entries of layers a compaction replaced may still be here, and one of
    // them could surface where a pruned tombstone used to hide it.
    spdlog::info("branch {}: the index names layers the manifest does not; indexing it anew",
                 branch);
    STRATA_RETURN_IF_ERROR(index_->DropBranch(branch));
  }
  for (const LayerMeta& meta : m.layers) {
    if (stale || !index_->HasLayer(branch, meta.no)) {
      STRATA_RETURN_IF_ERROR(IndexLayerFromStore(branch, meta));
    }
  }
  return Status::OK();
}

// Bumps the branch's id counter past every inode and data id a replayed op
// created, so ids handed out after recovery are fresh.
void VersionStore::ApplyToMemtable(BranchState* bs, const OpRecord& rec) {
  for (const KeyPut& p : rec.puts) {
    if (!p.tombstone && p.key.size() >= 9 && KeyKindOf(p.key) == KeyKind::kAttr) {
      InodeAttr a;
      if (DecodeInodeAttr(p.value, &a)) {
        for (uint64_t id : {a.ino, a.data_id}) {
          if (InoBranch(id) == bs->id)
            bs->next_counter = std::max(bs->next_counter, InoCounter(id) + 1);
        }
      }
    }
    bs->active->Add(p.key, rec.seq, p.tombstone, p.value);
  }
  bs->active->AddTime(rec.seq, rec.time_ns);
  bs->head_seq = rec.seq;
  bs->last_time_ns = std::max(bs->last_time_ns, rec.time_ns);
}

std::shared_ptr<VersionStore::BranchState> VersionStore::NewBranchState(uint32_t branch,
                                                                        Manifest m) {
  auto bs = std::make_shared<BranchState>(branch);
  bs->durability = options_.default_durability;
  WriterLock lock(&bs->mu);  // nobody else sees it yet; the checker wants the lock
  bs->active = std::make_shared<Memtable>();
  bs->active_since_ns = clock_->NowNs();
  bs->head_seq = m.durable_seq;
  bs->last_time_ns = m.last_time_ns;
  bs->next_counter = m.next_counter;
  bs->next_layer_no = m.next_layer_no;
  bs->history_floor = m.history_floor;
  bs->history_floor_ns = m.history_floor_ns;
  bs->manifest = std::move(m);
  return bs;
}

Status VersionStore::Recover(const std::vector<uint32_t>& branches) {
  for (uint32_t b : branches) {
    STRATA_ASSIGN_OR_RETURN(Manifest m, LoadManifest(store_, b));
    STRATA_RETURN_IF_ERROR(ReconcileIndex(b, m));
    const uint64_t durable_seq = m.durable_seq;
    auto bs = NewBranchState(b, std::move(m));
    // Tell the sink what the store holds before replay: a sink with a server
    // registers the branch and asks it only for the records past this.
    STRATA_RETURN_IF_ERROR(sink_->Trim(b, durable_seq));
    WriterLock lock(&branches_mu_);
    branches_[b] = std::move(bs);
  }
  STRATA_RETURN_IF_ERROR(DisownForeignRecords(branches));
  std::set<uint32_t> unknown;
  uint64_t replayed = 0;
  Status st = sink_->Replay([&](const OpRecord& rec) -> Status {
    max_branch_in_log_ = std::max(max_branch_in_log_, rec.branch);
    std::shared_ptr<BranchState> bs = Find(rec.branch);
    if (!bs) {
      unknown.insert(rec.branch);
      return Status::OK();
    }
    WriterLock lock(&bs->mu);
    STRATA_ASSIGN_OR_RETURN(const bool applied, ApplyReplayedLocked(bs.get(), rec, "op log"));
    replayed += applied;
    return Status::OK();
  });
  STRATA_RETURN_IF_ERROR(st);
  for (uint32_t b : unknown) STRATA_RETURN_IF_ERROR(sink_->Trim(b, UINT64_MAX));
  // Records replayed were written under a lease of an earlier run: keep
  // them only if that lease was the one the store's state was written
  // under, and take the branch again before they can be flushed.
  for (uint32_t b : branches) {
    std::shared_ptr<BranchState> bs = Find(b);
    if (Backlog(bs.get()) == 0) continue;
    STRATA_RETURN_IF_ERROR(DropForeignTail(bs.get()));
    if (Backlog(bs.get()) == 0) continue;
    Status held = EnsureHeld(bs.get());
    if (held.code() == Code::kReadOnly) {
      // Its last holder's lease has not run out yet (a machine lost a
      // moment ago): the records wait in memory, unflushed, and the branch
      // is claimed at its next write or flush once the lease has expired.
      spdlog::warn("branch {}: its replayed records wait for the branch's lease: {}", b,
                   held.ToString());
      continue;
    }
    STRATA_RETURN_IF_ERROR(held);
  }
  const uint64_t tail = sink_->Tail();
  // The first barrier after a restart covers whatever replay brought back.
  // (Known branches were trimmed to their durable_seq before the replay.)
  for (uint32_t b : branches) Find(b)->last_token = tail;
  spdlog::info("recovered {} branches; replayed {} op-log records", branches.size(), replayed);
  sink_->Start();
  // Only now: replay fills memtables without the locks a flush takes.
  if (options_.background_flush) flusher_ = NamedThread("strata-flush", [this] { FlusherLoop(); });
  return Status::OK();
}

Result<bool> VersionStore::ApplyReplayedLocked(BranchState* bs, const OpRecord& rec,
                                               const char* source) {
  if (rec.seq <= bs->head_seq) return false;  // already in a layer or applied
  if (rec.seq != bs->head_seq + 1) {
    return Status::Corruption(std::string(source) + ": branch " + std::to_string(rec.branch) +
                              " expected seq " + std::to_string(bs->head_seq + 1) + ", found " +
                              std::to_string(rec.seq));
  }
  ApplyToMemtable(bs, rec);
  return true;
}

Status VersionStore::DisownForeignRecords(const std::vector<uint32_t>& branches) {
  if (!sink_->Shared() || !options_.claim || !options_.held_at) return Status::OK();
  const std::set<uint32_t> known(branches.begin(), branches.end());
  for (uint32_t b : sink_->BranchesInLog()) {
    std::shared_ptr<BranchState> bs = known.count(b) ? Find(b) : nullptr;
    if (!bs) continue;
    Manifest m;
    {
      ReaderLock lock(&bs->mu);
      m = bs->manifest;
    }
    if (m.epoch == 0) continue;
    STRATA_ASSIGN_OR_RETURN(const bool ours, options_.held_at(b, m.epoch));
    if (ours) continue;
    // The shared log has what the new holder kept, and it may reuse the
    // seqs of ours: never ship or replay them again.
    STRATA_RETURN_IF_ERROR(sink_->Disown(b));
    spdlog::warn(
        "branch {}: this daemon's own op-log records of it are void: another daemon "
        "took the branch over (its manifest {} is of epoch {})",
        b, m.version, m.epoch);
  }
  return Status::OK();
}

Status VersionStore::DropForeignTail(BranchState* bs) {
  // A shared log's replayed records are the branch's durable log, whoever
  // wrote them: only this daemon's own were voided (DisownForeignRecords).
  if (!options_.claim || !options_.held_at || sink_->Shared()) return Status::OK();
  Manifest m;
  {
    ReaderLock lock(&bs->mu);
    m = bs->manifest;
  }
  // Epoch 0: written before leases, by a daemon that held the whole store.
  if (m.epoch == 0) return Status::OK();
  STRATA_ASSIGN_OR_RETURN(const bool ours, options_.held_at(bs->id, m.epoch));
  if (ours) return Status::OK();
  WriterLock lock(&bs->mu);
  spdlog::error(
      "branch {}: dropping op-log records {}..{} of an earlier run of this daemon: another "
      "daemon took the branch over (its manifest {} is of epoch {}) and never saw them",
      bs->id, m.durable_seq + 1, bs->head_seq, m.version, m.epoch);
  bs->dropped_tail = bs->head_seq;
  DropUnclaimedLocked(bs);
  return Status::OK();
}

void VersionStore::DropUnclaimedLocked(BranchState* bs) {
  bs->active = std::make_shared<Memtable>();
  bs->frozen.clear();
  bs->head_seq = bs->manifest.durable_seq;
  bs->last_time_ns = bs->manifest.last_time_ns;
}

Status VersionStore::Attach(uint32_t branch) {
  if (Find(branch)) return Status::OK();
  STRATA_ASSIGN_OR_RETURN(Manifest m, LoadManifest(store_, branch));
  STRATA_RETURN_IF_ERROR(ReconcileIndex(branch, m));
  const uint64_t durable_seq = m.durable_seq;
  auto bs = NewBranchState(branch, std::move(m));
  // As at Recover: registers the branch with a walsink.
  STRATA_RETURN_IF_ERROR(sink_->Trim(branch, durable_seq));
  WriterLock lock(&branches_mu_);
  branches_.emplace(branch, std::move(bs));
  return Status::OK();
}

Status VersionStore::Forget(uint32_t branch) {
  STRATA_RETURN_IF_ERROR(Unregister(branch));
  return sink_->Trim(branch, UINT64_MAX);
}

Status VersionStore::Unregister(uint32_t branch) {
  std::shared_ptr<BranchState> bs;
  {
    WriterLock lock(&branches_mu_);
    auto it = branches_.find(branch);
    if (it != branches_.end()) {
      bs = it->second;
      branches_.erase(it);
    }
  }
  if (bs) {
    // Fence in-flight flushes and commits: once `dropped` is set under both
    // locks, neither can write for this branch again.
    // gc_mu: a compaction in flight finishes (or fails) before the objects
    // go, so it cannot leave new layers under a deleted branch.
    MutexLock gc_lock(&bs->gc_mu);
    MutexLock flush_lock(&bs->flush_mu);
    MutexLock commit_lock(&bs->commit_mu);
    bs->dropped = true;
    if (bs->epoch != 0 && options_.forget_claim) options_.forget_claim(branch);
  }
  STRATA_RETURN_IF_ERROR(index_->DropBranch(branch));
  page_cache_.EraseBranch(branch);
  return Status::OK();
}

Result<bool> VersionStore::RefreshForeign(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  if (!options_.claim || bs->epoch != 0) return false;
  MutexLock claim_lock(&bs->claim_mu);  // no claim adopts meanwhile
  if (bs->epoch != 0) return false;
  MutexLock flush_lock(&bs->flush_mu);
  if (bs->dropped) return BranchGone(branch);
  STRATA_ASSIGN_OR_RETURN(const Manifest stored, LoadManifest(store_, branch));
  uint64_t had;
  {
    ReaderLock lock(&bs->mu);
    had = bs->manifest.version;
  }
  STRATA_RETURN_IF_ERROR(AdoptStored(bs.get(), stored));
  return stored.version != had;
}

Status VersionStore::CreateBranch(uint32_t branch) {
  if (Find(branch)) return Status::Exists("branch id " + std::to_string(branch) + " exists");
  // Nothing is written: a branch without a manifest is empty (LoadManifest),
  // which keeps creation O(1) and cheap.
  Manifest empty;
  empty.branch = branch;
  auto bs = NewBranchState(branch, std::move(empty));
  WriterLock lock(&branches_mu_);
  branches_[branch] = std::move(bs);
  return Status::OK();
}

Status VersionStore::DropBranch(uint32_t branch) {
  STRATA_RETURN_IF_ERROR(Unregister(branch));
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store_->List(BranchObjectPrefix(branch)));
  // Manifests last: until they are gone a crash leaves a loadable branch.
  std::stable_partition(keys.begin(), keys.end(), [](const std::string& k) {
    return k.find("/manifest/") == std::string::npos;
  });
  for (const std::string& k : keys) STRATA_RETURN_IF_ERROR(store_->Delete(k));
  return sink_->Trim(branch, UINT64_MAX);
}

Status VersionStore::WaitForFlusher(BranchState* bs) {
  // Backpressure: if flushing falls behind (or the store is failing), writers
  // wait instead of growing memory without bound.
  // After kStallLimit the write fails (EIO): a stuck store must surface as
  // an error, never as a hang or a lie. It fails at once while flushes have
  // failed for longer than the lag bound (CheckStoreHealth): barriers fail
  // then anyway, and a write that waited would hold its FUSE request (and
  // the kernel's writeback behind it) for the whole stall limit. Without a
  // flusher (tests flushing by hand) there is nobody to wait for.
  if (!flusher_.joinable()) return Status::OK();
  const size_t limit = 4 * options_.memtable_bytes;
  const auto start = clock_->SteadyNow();
  auto warn_at = start;
  while (Backlog(bs) > limit) {
    STRATA_RETURN_IF_ERROR(CheckStoreHealth());
    const auto now = clock_->SteadyNow();
    if (now - start >= kStallLimit) {
      return Status::Unavailable("branch " + std::to_string(bs->id) +
                                 ": flushing to the store has been stuck for " +
                                 std::to_string(kStallLimit.count()) + " s");
    }
    flusher_cv_.Signal();
    if (now >= warn_at) {
      spdlog::warn("branch {}: writes wait for the flusher", bs->id);
      warn_at = now + kStallWarnEvery;
    }
    // Waits for the flusher's progress, not for time to pass: a real sleep.
    std::this_thread::sleep_for(kStallPoll);
  }
  return Status::OK();
}

Result<uint64_t> VersionStore::Commit(uint32_t branch, std::vector<KeyPut> puts) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  STRATA_RETURN_IF_ERROR(EnsureHeld(bs.get()));
  STRATA_RETURN_IF_ERROR(WaitForFlusher(bs.get()));
  OpRecord rec;
  rec.branch = branch;
  rec.puts = std::move(puts);
  bool want_flush = false;
  {
    MutexLock commit_lock(&bs->commit_mu);
    if (bs->dropped) return BranchGone(branch);
    std::shared_ptr<Memtable> active;
    {
      ReaderLock lock(&bs->mu);
      rec.seq = bs->head_seq + 1;
      // Keep times monotonic per branch so the time->seq map is searchable.
      rec.time_ns = std::max<uint64_t>(bs->last_time_ns, clock_->NowNs());
      active = bs->active;
    }
    Result<uint64_t> appended = sink_->Append(rec);
    if (!appended.ok()) {
      // kTooBig would read as ENAMETOOLONG at the FUSE boundary.
      if (appended.status().code() == Code::kTooBig) {
        return Status::IO("branch " + std::to_string(branch) + ": " + appended.status().message());
      }
      return appended.status();
    }
    bs->last_token = *appended;
    for (KeyPut& p : rec.puts) active->Add(p.key, rec.seq, p.tombstone, std::move(p.value));
    active->AddTime(rec.seq, rec.time_ns);
    WriterLock lock(&bs->mu);
    bs->head_seq = rec.seq;
    bs->last_time_ns = rec.time_ns;
    want_flush = active->ApproximateBytes() >= options_.memtable_bytes;
  }
  if (want_flush) flusher_cv_.Signal();
  return rec.seq;
}

std::vector<std::shared_ptr<Memtable>> VersionStore::Tables(BranchState* bs) {
  ReaderLock lock(&bs->mu);
  std::vector<std::shared_ptr<Memtable>> tables;
  tables.reserve(bs->frozen.size() + 1);
  tables.push_back(bs->active);
  tables.insert(tables.end(), bs->frozen.rbegin(), bs->frozen.rend());
  return tables;
}

size_t VersionStore::Backlog(BranchState* bs) {
  size_t bytes = 0;
  for (const auto& t : Tables(bs)) bytes += t->ApproximateBytes();
  return bytes;
}

Status VersionStore::Sync() {
  STRATA_RETURN_IF_ERROR(sink_->Sync(sink_->Tail()));
  return CheckStoreHealth();
}

Status VersionStore::Sync(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  const Durability tier = bs->durability;
  if (Status st = sink_->Barrier(bs->last_token, tier); !st.ok()) {
    // A shared log fenced this process (another daemon took a branch of
    // it over): for the fsync that is EIO, as below.
    return st.code() == Code::kReadOnly ? Status::IO(st.message()) : st;
  }
  // A barrier is acknowledged only while this process may still write the
  // branch: once another daemon can have taken it over, records this one
  // appended may be missing from the new holder's replay.
  // EIO, whatever the reason: the barrier did not happen.
  if (bs->fenced) return Status::IO(NotHeld(*bs, "another daemon took it over").message());
  if (options_.may_write) {
    if (Status st = options_.may_write(); !st.ok()) return Status::IO(st.message());
  }
  // An ephemeral barrier promises nothing, so a store outage cannot break it.
  if (tier == Durability::kEphemeral) return Status::OK();
  return CheckStoreHealth();
}

Status VersionStore::SetDurability(uint32_t branch, Durability tier) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  bs->durability = tier;
  return Status::OK();
}

Status VersionStore::CheckStoreHealth() {
  if (options_.max_store_lag_seconds <= 0) return Status::OK();
  MutexLock lock(&store_health_mu_);
  if (!flush_failing_since_) return Status::OK();
  const int64_t failing_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_->SteadyNow() - *flush_failing_since_)
          .count();
  if (failing_s < options_.max_store_lag_seconds) return Status::OK();
  // The op log holds the ops, but the store of record cannot take them: tell
  // the caller rather than let the gap grow without bound.
  return Status::Unavailable("flushes to the object store have failed for " +
                             std::to_string(failing_s) + " s (last: " + last_flush_error_ +
                             "); barriers fail until the store is back");
}

void VersionStore::NoteFlushResult(const Status& st) {
  MutexLock lock(&store_health_mu_);
  if (st.ok()) {
    if (flush_failing_since_) spdlog::info("flushes reach the object store again");
    flush_failing_since_.reset();
    return;
  }
  if (!flush_failing_since_) flush_failing_since_ = clock_->SteadyNow();
  last_flush_error_ = st.ToString();
}

uint64_t VersionStore::HeadSeq(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return 0;
  ReaderLock lock(&bs->mu);
  return bs->head_seq;
}

uint64_t VersionStore::AllocCounter(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return 0;
  WriterLock lock(&bs->mu);
  return bs->next_counter++;
}

Result<std::string> VersionStore::ReadValue(const IndexedVersion& v) {
  if (v.inline_value) return v.value;
  const PageCache::Key cache_key{v.layer_branch, v.layer_no, v.ref.offset};
  if (auto hit = page_cache_.Lookup(cache_key)) return *hit;
  const std::string key = LayerObjectKey(v.layer_branch, v.layer_no);
  Result<std::string> value = Status::OK();
  // A value that fails its checksum (or a range the cached size refuses) may
  // come from a rotten or stale copy in a local cache below (L2): drop the
  // cached copy and read the store of record once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<std::string> bytes = store_->GetRange(key, v.ref.offset, v.ref.length);
    if (bytes.ok()) {
      value = DecodeLayerValue(*bytes, v.ref, key);
    } else if (bytes.status().code() == Code::kInvalid) {
      // The index names a range the object does not have.
      value = Status::Corruption("layer " + key + ": " + bytes.status().message());
    } else {
      spdlog::error("read of layer {} failed: {}", key, bytes.status().ToString());
      return bytes.status();
    }
    if (value.ok() || value.status().code() != Code::kCorruption) break;
    if (attempt == 0) {
      spdlog::warn("{}; dropping cached copies of {} and reading it again",
                   value.status().ToString(), key);
      store_->Invalidate(key);
    }
  }
  if (!value.ok()) {
    spdlog::error("corrupt layer object {} in the store: {}", key, value.status().ToString());
    return value;
  }
  // Layers never change, so a cached value never goes stale.
  page_cache_.Insert(cache_key, std::make_shared<const std::string>(*value));
  return value;
}

void VersionStore::CountReadSources(uint32_t sources) {
  size_t b = 0;
  while (b < std::size(kReadSourceBounds) && sources > kReadSourceBounds[b]) b++;
  read_sources_[b].fetch_add(1, std::memory_order_relaxed);
  read_sources_sum_.fetch_add(sources, std::memory_order_relaxed);
}

ReadSourceStats VersionStore::ReadSources() {
  ReadSourceStats s;
  for (size_t b = 0; b < kReadSourceBuckets; b++) {
    s.buckets[b] = read_sources_[b].load(std::memory_order_relaxed);
    s.count += s.buckets[b];
  }
  s.sum = read_sources_sum_.load(std::memory_order_relaxed);
  return s;
}

Result<std::optional<std::string>> VersionStore::Get(const Lineage& lineage, std::string_view key) {
  using Out = std::optional<std::string>;
  auto guard = readers_.Read();  // the layer an index entry names outlives this read
  uint32_t sources = 0;
  for (const Level& level : lineage) {
    std::shared_ptr<BranchState> bs = Find(level.branch);
    if (!bs) return BranchGone(level.branch);
    const std::vector<std::shared_ptr<Memtable>> tables = Tables(bs.get());
    for (const auto& t : tables) {
      sources++;
      std::optional<Version> v = t->Get(key, level.max_seq);
      if (v) {
        CountReadSources(sources);
        return v->tombstone ? Out() : Out(std::move(v->value));
      }
    }
    sources++;
    STRATA_ASSIGN_OR_RETURN(std::optional<IndexedVersion> iv,
                            index_->Get(level.branch, key, level.max_seq));
    if (iv) {
      CountReadSources(sources);
      if (iv->tombstone) return Out();
      STRATA_ASSIGN_OR_RETURN(std::string value, ReadValue(*iv));
      return Out(std::move(value));
    }
  }
  CountReadSources(sources);
  return Out();
}

Result<std::map<std::string, std::optional<IndexedVersion>, std::less<>>> VersionStore::Collect(
    const Lineage& lineage, std::string_view prefix, std::string_view start, bool with_values) {
  // The newest source that mentions a key decides it; sources go newest first.
  std::map<std::string, std::optional<IndexedVersion>, std::less<>> decided;
  for (const Level& level : lineage) {
    std::shared_ptr<BranchState> bs = Find(level.branch);
    if (!bs) return BranchGone(level.branch);
    for (const auto& t : Tables(bs.get())) {
      t->Scan(
          prefix, level.max_seq,
          [&](std::string_view k, const Version& v) {
            if (decided.count(k)) return;
            std::optional<IndexedVersion> iv;
            if (!v.tombstone) {
              iv.emplace();
              iv->inline_value = true;
              if (with_values) iv->value = v.value;
            }
            decided.emplace(std::string(k), std::move(iv));
          },
          start);
    }
    STRATA_RETURN_IF_ERROR(index_->Scan(
        level.branch, prefix, level.max_seq,
        [&](std::string_view k, const IndexedVersion& v) {
          if (decided.count(k)) return;
          std::optional<IndexedVersion> iv;
          if (!v.tombstone) iv = v;
          decided.emplace(std::string(k), std::move(iv));
        },
        start));
  }
  return decided;
}

Status VersionStore::Scan(const Lineage& lineage, std::string_view prefix,
                          const std::function<void(std::string_view, const std::string&)>& fn) {
  auto guard = readers_.Read();
  STRATA_ASSIGN_OR_RETURN(auto decided, Collect(lineage, prefix, {}, /*with_values=*/true));
  for (const auto& [k, v] : decided) {
    if (!v) continue;
    STRATA_ASSIGN_OR_RETURN(std::string value, ReadValue(*v));
    fn(k, value);
  }
  return Status::OK();
}

Status VersionStore::ScanKeys(const Lineage& lineage, std::string_view prefix,
                              std::string_view start,
                              const std::function<void(std::string_view)>& fn) {
  auto guard = readers_.Read();
  STRATA_ASSIGN_OR_RETURN(auto decided, Collect(lineage, prefix, start, /*with_values=*/false));
  for (const auto& [k, v] : decided) {
    if (v) fn(k);
  }
  return Status::OK();
}

Result<uint64_t> VersionStore::SeqAtTime(uint32_t branch, uint64_t time_ns) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  const std::vector<std::shared_ptr<Memtable>> tables = Tables(bs.get());
  for (const auto& t : tables) {
    std::optional<TimePoint> p = t->SeqAtTime(time_ns);
    if (p) return p->seq;
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<TimePoint> p, index_->SeqAtTime(branch, time_ns));
  if (!p) return Status::NotFound("branch had no operation at or before that time");
  return p->seq;
}

Status VersionStore::FinishPublishedFlush(BranchState* bs, const Manifest& current,
                                          const std::shared_ptr<Memtable>& mt) {
  for (const LayerMeta& meta : current.layers) {
    if (meta.max_seq != mt->MaxSeq()) continue;
    STRATA_RETURN_IF_ERROR(IndexLayerFromStore(bs->id, meta));
    {
      WriterLock lock(&bs->mu);
      bs->frozen.erase(bs->frozen.begin());
    }
    return sink_->Trim(bs->id, current.durable_seq);
  }
  return Status::Corruption("branch " + std::to_string(bs->id) + ": manifest covers seq " +
                            std::to_string(mt->MaxSeq()) + " but names no layer ending there");
}

Status VersionStore::FlushOne(BranchState* bs, const std::shared_ptr<Memtable>& mt) {
  if (options_.may_write) STRATA_RETURN_IF_ERROR(options_.may_write());
  if (bs->fenced) return NotHeld(*bs, "another daemon took it over");
  if (options_.claim && bs->epoch == 0) return NotHeld(*bs, "this daemon holds no lease on it");
  Manifest current;
  uint64_t counter;
  {
    ReaderLock lock(&bs->mu);
    current = bs->manifest;
    counter = bs->next_counter;
  }
  if (mt->MaxSeq() <= current.durable_seq) return FinishPublishedFlush(bs, current, mt);

  LayerBuilder builder(bs->id, options_.zstd_level);
  mt->ForEach([&](std::string_view key, const Version& v) {
    builder.Add(key, v.seq, v.tombstone, v.value);
  });
  const std::vector<TimePoint> times = mt->times();
  for (const TimePoint& t : times) builder.AddTime(t.seq, t.time_ns);
  std::string object = builder.Finish();

  LayerMeta meta;
  meta.no = TakeLayerNo(bs);
  meta.min_seq = mt->MinSeq();
  meta.max_seq = mt->MaxSeq();
  meta.min_time_ns = times.empty() ? 0 : times.front().time_ns;
  meta.max_time_ns = times.empty() ? 0 : times.back().time_ns;
  meta.bytes = object.size();
  meta.entries = builder.entries().size();
  STRATA_RETURN_IF_ERROR(UploadLayer(bs, object, &meta.no));
  // flush_mu is held, so the manifest is still `current`.
  Manifest next = NextManifest(bs);
  next.version++;
  next.durable_seq = meta.max_seq;
  next.last_time_ns = std::max(next.last_time_ns, meta.max_time_ns);
  next.next_counter = std::max(next.next_counter, counter);
  next.layers.push_back(meta);
  // Published: from here on only indexing can be left.
  STRATA_RETURN_IF_ERROR(PublishManifest(bs, next));
  STRATA_RETURN_IF_ERROR(index_->AddLayer(bs->id, meta.no, builder.entries(), times));
  {
    WriterLock lock(&bs->mu);
    bs->frozen.erase(bs->frozen.begin());
  }
  spdlog::debug("branch {}: flushed layer {} (seq {}..{}, {} entries, {} bytes)", bs->id, meta.no,
                meta.min_seq, meta.max_seq, meta.entries, meta.bytes);
  return sink_->Trim(bs->id, next.durable_seq);
}

Status VersionStore::StoreManifestChecked(BranchState* bs, const Manifest& next) {
  Status stored = StoreManifest(store_, next);
  if (stored.ok()) return stored;
  // The write may have happened even though it reported an error (a failed
  // directory fsync, a timed-out request): believe the store, not the error.
  Result<Manifest> now = LoadManifest(store_, bs->id);
  if (stored.IsExists() && now.ok() && now->epoch > bs->epoch) {
    // Another daemon claimed the branch: its claim manifest took the version
    // this write wanted. Nothing of this process may reach the store again.
    if (!bs->fenced.exchange(true)) {
      spdlog::error("branch {}: fenced: the store holds manifest {} of epoch {}, ours is {}",
                    bs->id, now->version, now->epoch, bs->epoch.load());
    }
    return NotHeld(*bs, "another daemon took it over (epoch " + std::to_string(now->epoch) + ")");
  }
  if (!now.ok() || EncodeManifest(*now) != EncodeManifest(next)) return stored;
  spdlog::warn("branch {}: manifest {} was stored despite an error: {}", bs->id, next.version,
               stored.ToString());
  return Status::OK();
}

Status VersionStore::PublishManifest(BranchState* bs, const Manifest& next) {
  STRATA_RETURN_IF_ERROR(StoreManifestChecked(bs, next));
  WriterLock lock(&bs->mu);
  bs->manifest = next;
  return Status::OK();
}

Manifest VersionStore::NextManifest(BranchState* bs) {
  ReaderLock lock(&bs->mu);
  Manifest next = bs->manifest;
  next.next_layer_no = std::max(next.next_layer_no, bs->next_layer_no);
  // Every manifest carries the floor as it stands (docs/gc.md, "The window").
  next.history_floor = std::max(next.history_floor, bs->history_floor);
  next.history_floor_ns = std::max(next.history_floor_ns, bs->history_floor_ns);
  return next;
}

Status VersionStore::UploadLayer(BranchState* bs, std::string_view object, uint32_t* no) {
  for (int skipped = 0;; skipped++) {
    Status st = store_->PutIfAbsent(LayerObjectKey(bs->id, *no), object);
    if (!st.IsExists() || skipped == kMaxLayerNameSkips) return st;
    spdlog::info("branch {}: layer {} exists already (an orphan): taking the next number", bs->id,
                 *no);
    *no = TakeLayerNo(bs);
  }
}

Status VersionStore::NotHeld(const BranchState& bs, const std::string& why) {
  return Status::ReadOnly("branch " + std::to_string(bs.id) + " is read-only here: " + why);
}

Status VersionStore::EnsureHeld(BranchState* bs) {
  if (!options_.claim) return Status::OK();
  if (bs->fenced) return NotHeld(*bs, "another daemon took it over");
  if (bs->epoch != 0) return Status::OK();
  MutexLock claim_lock(&bs->claim_mu);
  if (bs->epoch != 0) return Status::OK();
  if (bs->fenced) return NotHeld(*bs, "another daemon took it over");
  Result<uint64_t> epoch = options_.claim(bs->id);
  if (!epoch.ok()) {
    if (epoch.status().code() == Code::kBusy) return NotHeld(*bs, epoch.status().message());
    return epoch.status();
  }
  MutexLock flush_lock(&bs->flush_mu);
  if (bs->dropped) return BranchGone(bs->id);
  STRATA_RETURN_IF_ERROR(StoreClaimManifest(bs, *epoch));
  // After the claim manifest: the earlier holder can no longer flush, so
  // what it left is the manifest adopted plus the log's tail.
  STRATA_RETURN_IF_ERROR(TakeOverTail(bs, *epoch));
  bs->epoch = *epoch;
  return Status::OK();
}

Status VersionStore::TakeOverTail(BranchState* bs, uint64_t epoch) {
  uint64_t after;
  {
    ReaderLock lock(&bs->mu);
    after = bs->head_seq;
  }
  uint64_t replayed = 0, first = 0;
  Status st = sink_->TakeOver(bs->id, epoch, after, [&](const OpRecord& rec) -> Status {
    WriterLock lock(&bs->mu);
    STRATA_ASSIGN_OR_RETURN(const bool applied, ApplyReplayedLocked(bs, rec, "shared op log"));
    if (applied && replayed++ == 0) first = rec.seq;
    return Status::OK();
  });
  STRATA_RETURN_IF_ERROR(st);
  if (replayed > 0) {
    spdlog::info(
        "branch {}: took over at epoch {} with {} records (seqs {}..{}) its earlier "
        "holder made durable but never flushed",
        bs->id, epoch, replayed, first, first + replayed - 1);
    // The first barrier covers them (they are durable in the shared log
    // already; this only orders it after them).
    bs->last_token = std::max(bs->last_token.load(), sink_->Tail());
  }
  return Status::OK();
}

Status VersionStore::StoreClaimManifest(BranchState* bs, uint64_t epoch) {
  for (int round = 0;; round++) {
    STRATA_ASSIGN_OR_RETURN(const Manifest stored, LoadManifest(store_, bs->id));
    if (stored.epoch > epoch) {
      return NotHeld(*bs, "the store holds epoch " + std::to_string(stored.epoch) +
                              ", newer than the lease taken (" + std::to_string(epoch) + ")");
    }
    STRATA_RETURN_IF_ERROR(AdoptStored(bs, stored));
    // Our own claim manifest, stored by an earlier attempt that reported an
    // error.
    if (stored.epoch == epoch && stored.version > 0) return Status::OK();
    // The claim manifest: the next version is ours, so a late write of an
    // earlier holder (which can only aim at this version) finds it taken.
    Manifest next = NextManifest(bs);
    next.version++;
    next.epoch = epoch;
    uint64_t dropped_tail;
    {
      ReaderLock lock(&bs->mu);
      dropped_tail = bs->dropped_tail;
    }
    // Past the records Recover dropped: the seqs of this daemon's earlier
    // run are never used again, and the op log counts them covered.
    next.durable_seq = std::max(next.durable_seq, dropped_tail);
    Status st = StoreManifest(store_, next);
    if (st.ok()) {
      {
        WriterLock lock(&bs->mu);
        bs->manifest = next;
        bs->head_seq = std::max(bs->head_seq, next.durable_seq);
      }
      spdlog::info("branch {}: claimed at epoch {} (manifest {})", bs->id, epoch, next.version);
      return dropped_tail > 0 ? sink_->Trim(bs->id, next.durable_seq) : st;
    }
    // An earlier holder's last flush landed first: adopt it and go again.
    if (!st.IsExists() || round == kMaxClaimRounds) return st;
  }
}

Status VersionStore::AdoptStored(BranchState* bs, const Manifest& stored) {
  {
    ReaderLock lock(&bs->mu);
    if (stored.version == bs->manifest.version) return Status::OK();
    if (stored.version < bs->manifest.version) {
      return Status::Corruption("branch " + std::to_string(bs->id) + ": the store's manifest " +
                                std::to_string(stored.version) + " is older than this daemon's " +
                                std::to_string(bs->manifest.version));
    }
    if ((!bs->active->Empty() || !bs->frozen.empty()) && !sink_->Shared()) {
      return NotHeld(*bs, "another daemon wrote it (manifest " + std::to_string(stored.version) +
                              ") while this one has unflushed writes");
    }
  }
  if (sink_->Shared()) {
    // Unclaimed records a mount replayed from the shared log (this process
    // has not written the branch since: it holds no lease on it): the
    // daemon that published since continued from them, and a claim gets
    // what it left unflushed from the log again (TakeOverTail).
    WriterLock lock(&bs->mu);
    DropUnclaimedLocked(bs);
  }
  STRATA_RETURN_IF_ERROR(ReconcileIndex(bs->id, stored));
  WriterLock lock(&bs->mu);
  bs->head_seq = stored.durable_seq;
  bs->last_time_ns = std::max(bs->last_time_ns, stored.last_time_ns);
  bs->next_counter = std::max(bs->next_counter, stored.next_counter);
  bs->next_layer_no = std::max(bs->next_layer_no, stored.next_layer_no);
  bs->history_floor = std::max(bs->history_floor, stored.history_floor);
  bs->history_floor_ns = std::max(bs->history_floor_ns, stored.history_floor_ns);
  bs->manifest = stored;
  return Status::OK();
}

Status VersionStore::Claim(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  return EnsureHeld(bs.get());
}

Status VersionStore::Unclaim(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  MutexLock claim_lock(&bs->claim_mu);
  MutexLock flush_lock(&bs->flush_mu);
  MutexLock commit_lock(&bs->commit_mu);
  {
    ReaderLock lock(&bs->mu);
    if (!bs->active->Empty() || !bs->frozen.empty()) {
      return Status::Busy("branch " + std::to_string(branch) + " has unflushed writes");
    }
  }
  bs->epoch = 0;
  return Status::OK();
}

uint64_t VersionStore::Epoch(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  return bs ? bs->epoch.load() : 0;
}

uint32_t VersionStore::TakeLayerNo(BranchState* bs) {
  WriterLock lock(&bs->mu);
  return bs->next_layer_no++;
}

Status VersionStore::Flush(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  // Records replayed while another daemon's lease still ran (Recover).
  if (options_.claim && bs->epoch == 0 && !bs->fenced && Backlog(bs.get()) > 0) {
    STRATA_RETURN_IF_ERROR(EnsureHeld(bs.get()));
  }
  MutexLock flush_lock(&bs->flush_mu);
  if (bs->dropped) return BranchGone(branch);
  {
    // commit_mu: no op may be half-added to the memtable we freeze.
    MutexLock commit_lock(&bs->commit_mu);
    WriterLock lock(&bs->mu);
    if (!bs->active->Empty()) {
      bs->frozen.push_back(bs->active);
      bs->active = std::make_shared<Memtable>();
      bs->active_since_ns = clock_->NowNs();
    }
  }
  while (true) {
    std::shared_ptr<Memtable> oldest;
    {
      ReaderLock lock(&bs->mu);
      if (bs->frozen.empty()) return Status::OK();
      oldest = bs->frozen.front();
    }
    Status st = FlushOne(bs.get(), oldest);
    NoteFlushResult(st);
    STRATA_RETURN_IF_ERROR(st);
  }
}

Status VersionStore::FlushAll() {
  std::vector<uint32_t> ids;
  {
    ReaderLock lock(&branches_mu_);
    for (const auto& [id, bs] : branches_) ids.push_back(id);
  }
  Status not_held;
  for (uint32_t id : ids) {
    Status st = Flush(id);
    if (st.ok() || st.IsNotFound()) continue;
    // A branch this process may not write (its records wait for another
    // daemon's lease) keeps the others from nothing.
    if (st.code() != Code::kReadOnly) return st;
    if (not_held.ok()) not_held = st;
  }
  return not_held;
}

std::vector<std::shared_ptr<VersionStore::BranchState>> VersionStore::DueForFlush() {
  std::vector<std::shared_ptr<BranchState>> due;
  ReaderLock lock(&branches_mu_);
  const int64_t now = clock_->NowNs();
  for (const auto& [id, bs] : branches_) {
    if (bs->fenced) continue;  // nothing of it reaches the store again
    ReaderLock l(&bs->mu);
    bool full = bs->active->ApproximateBytes() >= options_.memtable_bytes;
    bool idle = !bs->active->Empty() &&
                now - bs->active_since_ns > int64_t{options_.idle_flush_seconds} * 1000000000;
    if (full || idle || !bs->frozen.empty()) due.push_back(bs);
  }
  return due;
}

void VersionStore::FlusherLoop() {
  // Flushing is background work (compression, uploads): on a small machine
  // it must yield the CPU to the FUSE threads that serve PostgreSQL. Linux
  // nice values are per thread.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  MutexLock lock(&flusher_mu_);
  while (!stop_) {
    // Woken by a full memtable, or once a second to look for idle ones (a
    // poll of the branches, so it stays on the real clock).
    flusher_cv_.WaitFor(&flusher_mu_, std::chrono::seconds(1));
    if (stop_) break;
    lock.Unlock();
    for (const auto& bs : DueForFlush()) {
      Status st = Flush(bs->id);
      if (!st.ok() && !st.IsNotFound()) {
        spdlog::error("flush of branch {} failed (will retry): {}", bs->id, st.ToString());
      }
    }
    lock.Lock();
  }
}

BranchStats VersionStore::Stats(uint32_t branch) {
  BranchStats s;
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return s;
  s.memtable_bytes = Backlog(bs.get());
  s.acked_seq = sink_->AckedSeq(branch);
  s.durability = bs->durability;
  ReaderLock lock(&bs->mu);
  s.head_seq = bs->head_seq;
  s.durable_seq = bs->manifest.durable_seq;
  s.layers = bs->manifest.layers.size();
  for (const LayerMeta& l : bs->manifest.layers) s.layer_bytes += l.bytes;
  return s;
}

}  // namespace strata
