#include "storelog/store_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/coding.h"
#include "common/thread_cpu.h"

namespace strata {

namespace {

// A fence that keeps finding its number taken this often means something
// else writes the branch's log as fast as we look: give up, loudly.
constexpr int kMaxFenceTries = 1000;

// Runs fn(0..n-1) on up to `threads` threads (the calling one included).
void RunParallel(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  const size_t extra = std::min(n, static_cast<size_t>(std::max(1, threads))) - (n > 0 ? 1 : 0);
  for (size_t t = 0; t < extra; t++) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace

Result<std::unique_ptr<StoreSink>> StoreSink::Open(std::unique_ptr<Sink> local,
                                                   const StoreSinkOptions& options) {
  if (!options.store) return Status::Invalid("a store sink needs a store");
  if (options.void_file.empty()) return Status::Invalid("a store sink needs void_file");
  if (options.round_bytes == 0 || options.parallel < 1 || options.window_ms < 0) {
    return Status::Invalid("a store sink needs round_bytes > 0, parallel >= 1, window_ms >= 0");
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<MarkFile> voids, MarkFile::Open(options.void_file));
  return std::unique_ptr<StoreSink>(new StoreSink(std::move(local), options, std::move(voids)));
}

StoreSink::StoreSink(std::unique_ptr<Sink> local, const StoreSinkOptions& options,
                     std::unique_ptr<MarkFile> voids)
    : local_(std::move(local)), opts_(options), voids_(std::move(voids)) {}

StoreSink::~StoreSink() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  trim_cv_.SignalAll();
  ack_cv_.SignalAll();
  if (shipper_.joinable()) shipper_.join();
  if (trimmer_.joinable()) trimmer_.join();
}

void StoreSink::StartShipping() {
  MutexLock l(&mu_);
  if (started_ || stop_) return;
  started_ = true;
  shipper_ = NamedThread("strata-logput", [this] { ShipLoop(); });
  trimmer_ = NamedThread("strata-logtrim", [this] { TrimLoop(); });
}

Result<uint64_t> StoreSink::Append(const OpRecord& rec) {
  Result<uint64_t> token = local_->Append(rec);
  if (!token.ok()) return token;
  if (!started_) StartShipping();
  bool wake = false;
  {
    MutexLock l(&mu_);
    // The shipper needs waking only to start a time window, or for a full round.
    if (!pending_since_) {
      pending_since_ = opts_.clock->SteadyNow();
      wake = true;
    }
    if (*token - cursor_ >= opts_.round_bytes) wake = true;
    if (wake) kicked_ = true;
  }
  if (wake) work_cv_.Signal();
  return token;
}

Status StoreSink::Barrier(uint64_t token, Durability tier) {
  if (tier == Durability::kEphemeral) return Status::OK();
  if (tier == Durability::kLocal) return local_->Sync(token);
  if (!started_) StartShipping();
  MutexLock l(&mu_);
  if (acked_ >= token) return Status::OK();
  if (!fenced_.ok()) return fenced_;
  barriers_waiting_++;
  kicked_ = true;
  work_cv_.Signal();
  const auto deadline =
      opts_.clock->SteadyNow() + std::chrono::milliseconds(opts_.barrier_timeout_ms);
  const bool done = ack_cv_.WaitUntil(&mu_, opts_.clock, deadline, [&]() REQUIRES(mu_) {
    return acked_ >= token || stop_ || !fenced_.ok();
  });
  barriers_waiting_--;
  if (acked_ >= token) return Status::OK();
  if (!fenced_.ok()) return fenced_;
  if (done) return Status::Unavailable("op log shipping to the store is stopping");
  stats_.barrier_timeouts++;
  const std::string why =
      stats_.last_error.empty() ? "" : " (last error: " + stats_.last_error + ")";
  return Status::Unavailable("the store has not taken the op log within " +
                             std::to_string(opts_.barrier_timeout_ms / 1000) + " s" + why);
}

Status StoreSink::Trim(uint32_t branch, uint64_t seq) {
  {
    MutexLock l(&mu_);
    if (seq == UINT64_MAX) {
      // Only a branch this process registered (a deleted one) loses its
      // objects; an unknown one may be another daemon's new branch.
      if (covered_.erase(branch)) deletes_.insert(branch);
      dropped_.insert(branch);
      trims_.erase(branch);
      acked_seq_.erase(branch);
    } else {
      dropped_.erase(branch);  // registered again (another daemon had just made it)
      auto [it, fresh] = covered_.try_emplace(branch, seq);
      if (!fresh && seq > it->second) {
        it->second = seq;
        trims_.insert(branch);
      }
    }
  }
  trim_cv_.Signal();
  return local_->Trim(branch, seq);
}

uint64_t StoreSink::AckedSeq(uint32_t branch) {
  MutexLock l(&mu_);
  auto it = acked_seq_.find(branch);
  return it == acked_seq_.end() ? 0 : it->second;
}

StoreShippingStats StoreSink::Shipping() {
  const uint64_t tail = local_->Tail();
  MutexLock l(&mu_);
  StoreShippingStats s = stats_;
  s.tail = tail;
  s.acked_offset = acked_;
  return s;
}

Status StoreSink::Disown(uint32_t branch) {
  const uint64_t tail = local_->Tail();
  MutexLock l(&mu_);
  return voids_->Raise(branch, tail);
}

void StoreSink::FailLocked(const std::string& why) {
  fenced_ = Status::ReadOnly(why +
                             "; this daemon writes nothing more to the op log and fails every "
                             "remote barrier: restart it");
  spdlog::error("{}", fenced_.message());
  ack_cv_.SignalAll();
}

// ---- The shipper.

bool StoreSink::RoundDueLocked(std::chrono::steady_clock::time_point* wake) {
  const uint64_t tail = local_->Tail();
  if (tail <= cursor_) return false;
  if (barriers_waiting_ > 0 || tail - cursor_ >= opts_.round_bytes) return true;
  const auto now = opts_.clock->SteadyNow();
  if (!pending_since_) pending_since_ = now;  // left over from a round that hit round_bytes
  const auto due = *pending_since_ + std::chrono::milliseconds(opts_.window_ms);
  if (now >= due) return true;
  *wake = std::min(*wake, due);
  return false;
}

void StoreSink::ShipLoop() {
  std::chrono::milliseconds backoff(50);
  MutexLock l(&mu_);
  while (!stop_ && fenced_.ok()) {
    kicked_ = false;
    auto wake = opts_.clock->SteadyNow() + std::chrono::seconds(1);
    const bool due = RoundDueLocked(&wake);
    if (!due) {
      work_cv_.WaitUntil(&mu_, opts_.clock, wake, [&]() REQUIRES(mu_) { return stop_ || kicked_; });
      continue;
    }
    l.Unlock();
    Status st;
    {
      MutexLock r(&round_mu_);
      st = RunRound();
    }
    l.Lock();
    if (st.ok()) {
      backoff = std::chrono::milliseconds(50);
      continue;
    }
    if (!fenced_.ok()) break;
    if (stats_.last_error != st.message()) {
      spdlog::warn("op log to the store: a round failed, retrying: {}", st.message());
    }
    stats_.last_error = st.message();
    work_cv_.WaitUntil(&mu_, opts_.clock, opts_.clock->SteadyNow() + backoff,
                       [&]() REQUIRES(mu_) { return stop_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

Status StoreSink::RunRound() {
  uint64_t from;
  {
    MutexLock l(&mu_);
    from = cursor_;
    pending_since_.reset();  // an Append from here on starts the next window
  }
  std::string frames;
  uint64_t first = 0, next = 0;
  STRATA_RETURN_IF_ERROR(local_->ReadFrames(from, opts_.round_bytes, &frames, &first, &next));
  std::vector<Batch> batches;
  std::map<uint32_t, uint64_t> seqs;  // the highest seq of each branch in the round
  {
    MutexLock l(&mu_);
    batches = BatchLocked(frames, first, &seqs);
  }
  for (const Batch& b : batches) STRATA_RETURN_IF_ERROR(ListIfUnknown(b.branch));
  {
    MutexLock l(&mu_);
    for (const Batch& b : batches) {
      if (!logs_[b.branch].lost) continue;
      FailLocked("branch " + std::to_string(b.branch) + ": records " +
                 std::to_string(b.obj.first_seq) + ".." + std::to_string(b.obj.last_seq) +
                 " were written after another daemon took the branch over");
      return fenced_;
    }
    for (Batch& b : batches) {
      b.number = logs_[b.branch].next;
      b.obj.epoch = epoch_[b.branch];
    }
  }
  WriteBatches(&batches);
  MutexLock l(&mu_);
  stats_.rounds++;
  Status failed;
  for (const Batch& b : batches) {
    Status st = RecordBatchLocked(b);
    if (failed.ok()) failed = st;
  }
  if (!failed.ok()) return failed;
  cursor_ = std::max(cursor_, next);
  acked_ = std::max(acked_, next);
  stats_.last_error.clear();  // healthy again, as the barriers it wakes see
  for (const auto& [b, seq] : seqs) {
    if (!dropped_.count(b)) acked_seq_[b] = std::max(acked_seq_[b], seq);
  }
  ack_cv_.SignalAll();
  return Status::OK();
}

std::vector<StoreSink::Batch> StoreSink::BatchLocked(const std::string& frames, uint64_t first,
                                                     std::map<uint32_t, uint64_t>* seqs) {
  std::map<uint32_t, size_t> index;
  std::vector<Batch> batches;
  for (size_t off = 0; off < frames.size();) {
    const size_t len = kOpRecordHeaderBytes + DecodeFixed32(frames.data() + off + 1);
    const std::string_view frame(frames.data() + off, len);
    off += len;
    uint32_t b = 0;
    uint64_t seq = 0;
    PeekOpRecordId(frame, &b, &seq);
    if (dropped_.count(b) || seq == 0 || first + off <= voids_->Get(b)) continue;
    uint64_t& high = (*seqs)[b];
    high = std::max(high, seq);
    auto cov = covered_.find(b);
    if (cov != covered_.end() && seq <= cov->second) continue;  // in layers already
    auto log = logs_.find(b);
    if (log != logs_.end() && seq <= log->second.shipped) continue;  // in the store already
    auto [it, fresh] = index.try_emplace(b, batches.size());
    if (fresh) {
      batches.emplace_back();
      batches.back().branch = b;
      batches.back().obj.branch = b;
      batches.back().obj.first_seq = seq;
    }
    LogObject& obj = batches[it->second].obj;
    obj.frames.append(frame);
    obj.last_seq = seq;
    obj.count++;
  }
  return batches;
}

Status StoreSink::ListIfUnknown(uint32_t branch) {
  {
    MutexLock l(&mu_);
    auto it = logs_.find(branch);
    if (it != logs_.end() && it->second.next != 0) return Status::OK();
  }
  // A branch made since Replay: its objects, if any, are not read (Trim
  // reads their headers before it deletes any).
  STRATA_ASSIGN_OR_RETURN(auto listed, ListNumbers(LogObjectPrefix(branch)));
  MutexLock l(&mu_);
  LearnLocked(branch, listed[branch], {});
  return Status::OK();
}

void StoreSink::WriteBatches(std::vector<Batch>* batches) {
  RunParallel(batches->size(), opts_.parallel, [&](size_t i) {
    Batch& b = (*batches)[i];
    b.result = opts_.store->PutIfAbsent(LogObjectKey(b.branch, b.number), EncodeLogObject(b.obj));
  });
}

Status StoreSink::RecordBatchLocked(const Batch& b) {
  const std::string key = LogObjectKey(b.branch, b.number);
  BranchLog& log = logs_[b.branch];
  if (b.result.ok()) {
    log.objects[b.number] = ObjectInfo{ObjectInfo::kRecords, b.obj.last_seq};
    log.next = b.number + 1;
    log.shipped = std::max(log.shipped, b.obj.last_seq);
    stats_.objects_written++;
    stats_.bytes_written += kLogObjectHeaderBytes + b.obj.frames.size() + kLogObjectTrailerBytes;
    return Status::OK();
  }
  if (!b.result.IsExists()) {
    return Status(b.result.code(), "writing log object " + key + ": " + b.result.message());
  }
  // The number is another writer's: the branch was taken over or handed on,
  // and this process writes it again only after a TakeOver of its own.
  log.lost = true;
  auto cov = covered_.find(b.branch);
  if (dropped_.count(b.branch) || (cov != covered_.end() && b.obj.last_seq <= cov->second)) {
    // Flushed to layers meanwhile (a hand-over flushes first): nothing is lost.
    return Status::OK();
  }
  FailLocked("branch " + std::to_string(b.branch) + ": another daemon took the branch over (" +
             key + " is its), so records " + std::to_string(b.obj.first_seq) + ".." +
             std::to_string(b.obj.last_seq) + " of this daemon are not in the op log");
  return fenced_;
}

void StoreSink::TrimLoop() {
  MutexLock l(&mu_);
  while (!stop_) {
    if (trims_.empty() && deletes_.empty()) {
      trim_cv_.Wait(&mu_);
      continue;
    }
    l.Unlock();
    DeleteTrimmed();
    l.Lock();
  }
}

void StoreSink::DeleteTrimmed() {
  std::vector<std::string> keys;
  std::vector<LogId> unread;
  std::set<uint32_t> deleted;
  {
    MutexLock l(&mu_);
    for (uint32_t b : trims_) {
      auto it = logs_.find(b);
      if (it == logs_.end() || it->second.objects.size() < 2) continue;
      const uint64_t covered = covered_[b];
      std::map<uint64_t, ObjectInfo>& objs = it->second.objects;
      const uint64_t newest = objs.rbegin()->first;
      for (auto o = objs.begin(); o->first != newest;) {
        if (o->second.state == ObjectInfo::kUnread) unread.push_back({b, o->first});
        if (o->second.state == ObjectInfo::kRecords && o->second.last_seq <= covered) {
          keys.push_back(LogObjectKey(b, o->first));
          o = objs.erase(o);
        } else {
          ++o;
        }
      }
    }
    trims_.clear();
    deleted.swap(deletes_);
    for (uint32_t b : deleted) logs_.erase(b);
  }
  ProbeUnread(&unread, &keys);
  for (uint32_t b : deleted) {
    Result<std::vector<std::string>> all = opts_.store->List(LogObjectPrefix(b));
    if (!all.ok()) {
      spdlog::warn("op log: branch {} was deleted, but listing its log objects failed: {}", b,
                   all.status().ToString());
      continue;
    }
    keys.insert(keys.end(), all->begin(), all->end());
  }
  // In batches (one DeleteObjects request each on s3://), one at a time:
  // the rounds' PUTs go first.
  uint64_t n = 0;
  for (size_t i = 0; i < keys.size(); i += ObjectStore::kMaxDeleteBatch) {
    const std::vector<std::string> batch(
        keys.begin() + static_cast<ptrdiff_t>(i),
        keys.begin() +
            static_cast<ptrdiff_t>(std::min(keys.size(), i + ObjectStore::kMaxDeleteBatch)));
    Status st = opts_.store->DeleteMany(batch);
    if (st.ok()) {
      n += batch.size();
    } else {
      spdlog::warn(
          "op log: deleting {} log objects from {} failed (they stay until the branch is "
          "deleted): {}",
          batch.size(), batch[0], st.ToString());
    }
  }
  MutexLock l(&mu_);
  stats_.objects_deleted += n;
}

void StoreSink::ProbeUnread(std::vector<LogId>* ids, std::vector<std::string>* deletes) {
  std::vector<Result<std::string>> headers(ids->size(), Result<std::string>(std::string()));
  RunParallel(ids->size(), opts_.parallel, [&](size_t i) {
    headers[i] = opts_.store->GetRange(LogObjectKey((*ids)[i].branch, (*ids)[i].number), 0,
                                       kLogObjectHeaderBytes);
  });
  MutexLock l(&mu_);
  for (size_t i = 0; i < ids->size(); i++) {
    const auto [b, n] = (*ids)[i];
    auto log = logs_.find(b);
    if (log == logs_.end()) continue;
    const std::string key = LogObjectKey(b, n);
    if (headers[i].status().IsNotFound()) {
      log->second.objects.erase(n);
      continue;
    }
    Result<LogObject> h = headers[i].ok() ? DecodeLogObjectHeader(*headers[i], key)
                                          : Result<LogObject>(headers[i].status());
    if (!h.ok()) {
      spdlog::warn("op log: cannot read the header of {}, keeping it: {}", key,
                   h.status().ToString());
      continue;
    }
    ObjectInfo& info = log->second.objects[n];
    if (h->kind == LogObjectKind::kFence) {
      info.state = ObjectInfo::kFence;
    } else if (h->last_seq <= covered_[b]) {
      deletes->push_back(key);
      log->second.objects.erase(n);
    } else {
      info = ObjectInfo{ObjectInfo::kRecords, h->last_seq};
    }
  }
}

// ---- Reading the log back.

Result<std::vector<StoreSink::Found>> StoreSink::ReadObjects(const std::vector<LogId>& ids,
                                                             std::set<uint32_t>* gone) {
  std::vector<Result<std::string>> data(ids.size(), Result<std::string>(std::string()));
  RunParallel(ids.size(), opts_.parallel, [&](size_t i) {
    data[i] = opts_.store->Get(LogObjectKey(ids[i].branch, ids[i].number));
  });
  std::vector<Found> found;
  for (size_t i = 0; i < ids.size(); i++) {
    const std::string key = LogObjectKey(ids[i].branch, ids[i].number);
    if (data[i].status().IsNotFound()) {
      gone->insert(ids[i].branch);  // trimmed since the listing: covered by layers
      continue;
    }
    STRATA_RETURN_IF_ERROR(data[i].status());
    STRATA_ASSIGN_OR_RETURN(LogObject obj, DecodeLogObject(*data[i], key));
    if (obj.branch != ids[i].branch) {
      return Status::Corruption("log object " + key + " holds branch " +
                                std::to_string(obj.branch));
    }
    found.push_back(Found{ids[i].branch, ids[i].number, std::move(obj)});
  }
  return found;
}

Result<std::map<uint32_t, std::vector<uint64_t>>> StoreSink::ListNumbers(
    const std::string& prefix) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, opts_.store->List(prefix));
  std::map<uint32_t, std::vector<uint64_t>> listed;
  for (const std::string& key : keys) {
    LogId id;
    if (ParseLogObjectKey(key, &id.branch, &id.number)) listed[id.branch].push_back(id.number);
  }
  for (auto& [b, numbers] : listed) std::sort(numbers.begin(), numbers.end());
  return listed;
}

Result<std::vector<StoreSink::Found>> StoreSink::ReadTails(
    const std::map<uint32_t, std::vector<uint64_t>>& listed,
    const std::map<uint32_t, uint64_t>& after, std::set<uint32_t>* gone) {
  std::map<uint32_t, size_t> left;  // branch -> how many of its numbers are not read yet
  for (const auto& [b, numbers] : listed) {
    if (after.count(b) && !numbers.empty()) left[b] = numbers.size();
  }
  std::vector<Found> found;
  while (!left.empty()) {
    // One wave: the next objects back of every branch still reading.
    const size_t per = std::max<size_t>(1, opts_.parallel / left.size());
    std::vector<LogId> ids;
    for (auto& [b, n] : left) {
      const std::vector<uint64_t>& numbers = listed.at(b);
      for (size_t k = 0; k < per && n > 0; k++) ids.push_back({b, numbers[--n]});
    }
    STRATA_ASSIGN_OR_RETURN(std::vector<Found> wave, ReadObjects(ids, gone));
    for (const Found& f : wave) {
      // Older objects hold only records at or below `after`: those before a
      // record object that starts at or below after + 1, and those before a
      // fence whose taker had read up to `after` or less.
      const uint64_t a = after.at(f.branch);
      const bool reaches =
          f.obj.kind == LogObjectKind::kRecords ? f.obj.first_seq <= a + 1 : f.obj.last_seq <= a;
      if (reaches) left[f.branch] = 0;
    }
    for (Found& f : wave) found.push_back(std::move(f));
    for (auto it = left.begin(); it != left.end();) {
      it = it->second == 0 || gone->count(it->first) ? left.erase(it) : std::next(it);
    }
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return a.branch != b.branch ? a.branch < b.branch : a.number < b.number;
  });
  return found;
}

void StoreSink::LearnLocked(uint32_t branch, const std::vector<uint64_t>& listed,
                            std::span<const Found> found) {
  BranchLog& log = logs_[branch];
  log.next = std::max<uint64_t>(log.next, 1);
  for (uint64_t n : listed) {
    log.objects.try_emplace(n);
    log.next = std::max(log.next, n + 1);
  }
  for (const Found& f : found) {
    const bool fence = f.obj.kind == LogObjectKind::kFence;
    log.objects[f.number] =
        ObjectInfo{fence ? ObjectInfo::kFence : ObjectInfo::kRecords, f.obj.last_seq};
    log.next = std::max(log.next, f.number + 1);
    if (!fence) log.shipped = std::max(log.shipped, f.obj.last_seq);
  }
}

Result<uint64_t> StoreSink::WriteFence(uint32_t branch, uint64_t epoch, uint64_t after,
                                       uint64_t number, std::vector<Found>* found) {
  LogObject fence;
  fence.kind = LogObjectKind::kFence;
  fence.branch = branch;
  fence.epoch = epoch;
  for (int i = 0; i < kMaxFenceTries; i++, number++) {
    // What a later reader needs to read no further back than the fence.
    fence.last_seq = after;
    for (const Found& f : *found) fence.last_seq = std::max(fence.last_seq, f.obj.last_seq);
    Status st = opts_.store->PutIfAbsent(LogObjectKey(branch, number), EncodeLogObject(fence));
    if (st.ok()) return number;
    if (!st.IsExists()) return st;
    // The earlier holder's write got this number first: it is part of the
    // log the new holder replays.
    std::set<uint32_t> gone;
    STRATA_ASSIGN_OR_RETURN(std::vector<Found> more, ReadObjects({LogId{branch, number}}, &gone));
    found->insert(found->end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
  }
  return Status::Busy("branch " + std::to_string(branch) + ": no free number for a fence after " +
                      std::to_string(kMaxFenceTries) + " tries");
}

Status StoreSink::TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                           const std::function<Status(const OpRecord&)>& fn) {
  {
    MutexLock l(&mu_);
    if (!fenced_.ok()) return fenced_;
    epoch_[branch] = epoch;
  }
  if (!started_) StartShipping();
  std::vector<Found> found;
  uint64_t fence = 0;
  Status st = [&]() -> Status {
    MutexLock r(&round_mu_);
    STRATA_ASSIGN_OR_RETURN(auto listed, ListNumbers(LogObjectPrefix(branch)));
    const std::vector<uint64_t>& numbers = listed[branch];
    // Objects gone since the listing held records at or below `after`: the
    // earlier holder trims only what the manifest adopted covers.
    std::set<uint32_t> gone;
    STRATA_ASSIGN_OR_RETURN(found, ReadTails(listed, {{branch, after}}, &gone));
    // After the read: a record object written since lands at the next
    // number, and the fence then reads it and moves on.
    const uint64_t next = numbers.empty() ? 1 : numbers.back() + 1;
    STRATA_ASSIGN_OR_RETURN(fence, WriteFence(branch, epoch, after, next, &found));
    MutexLock l(&mu_);
    LearnLocked(branch, numbers, found);
    BranchLog& log = logs_[branch];
    log.objects[fence] = ObjectInfo{ObjectInfo::kFence, 0};
    log.next = fence + 1;
    log.lost = false;
    stats_.fences++;
    return Status::OK();
  }();
  if (!st.ok()) {
    return Status(st.code(), "taking branch " + std::to_string(branch) + " over at epoch " +
                                 std::to_string(epoch) + ": " + st.message());
  }
  uint64_t records = 0;
  for (const Found& f : found) {
    STRATA_RETURN_IF_ERROR(ForEachLogRecord(f.obj, [&](const OpRecord& rec) -> Status {
      if (rec.seq <= after) return Status::OK();
      records++;
      return fn(rec);
    }));
  }
  spdlog::info(
      "op log: branch {} fenced at epoch {} ({}); read {} log objects, replayed {} records past "
      "seq {}",
      branch, epoch, LogObjectKey(branch, fence), found.size(), records, after);
  return Status::OK();
}

Status StoreSink::Replay(const std::function<Status(const OpRecord&)>& fn) {
  std::map<uint32_t, uint64_t> registered;
  {
    MutexLock l(&mu_);
    registered = covered_;
  }
  STRATA_ASSIGN_OR_RETURN(auto listed, ListNumbers(std::string(kLogObjectRoot)));
  std::vector<Found> found;
  std::set<uint32_t> gone;
  {
    MutexLock r(&round_mu_);
    STRATA_ASSIGN_OR_RETURN(found, ReadTails(listed, registered, &gone));
    MutexLock l(&mu_);
    for (const auto& [b, seq] : registered) {
      auto first = std::lower_bound(found.begin(), found.end(), b,
                                    [](const Found& f, uint32_t v) { return f.branch < v; });
      auto last = std::upper_bound(first, found.end(), b,
                                   [](uint32_t v, const Found& f) { return v < f.branch; });
      LearnLocked(b, listed[b], std::span<const Found>(first, last));
    }
  }
  uint64_t records = 0;
  for (const Found& f : found) {
    // Another daemon is trimming it: it holds the branch, and a takeover
    // here reads the log again.
    if (gone.count(f.branch)) continue;
    const uint64_t covered = registered[f.branch];
    STRATA_RETURN_IF_ERROR(ForEachLogRecord(f.obj, [&](const OpRecord& rec) -> Status {
      if (rec.seq <= covered) return Status::OK();
      records++;
      return fn(rec);
    }));
  }
  spdlog::info("op log: read {} log objects of {} branches from the store; replayed {} records",
               found.size(), registered.size(), records);
  uint64_t skipped = 0;
  STRATA_RETURN_IF_ERROR(ReplayLocalExcept(
      local_.get(), opts_.round_bytes,
      [&](uint32_t b, uint64_t end) {
        MutexLock l(&mu_);
        return end <= voids_->Get(b);
      },
      fn, &skipped));
  if (skipped > 0) spdlog::info("local op log: skipped {} void records", skipped);
  return Status::OK();
}

}  // namespace strata
