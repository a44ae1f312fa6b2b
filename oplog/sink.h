// Sink: where the op log goes to be durable.
//
// The local sink is a directory of segment files on local disk
// (oplog/local_sink.h); the shipping sink (walsink/shipping_sink.h) wraps a
// local sink and ships every record to a walsink server over TCP; the store
// sink (storelog/store_sink.h) wraps one and copies its records into log
// objects in the object store.
//
// Locking across modules. The commit path is BranchFs (fs/) -> VersionStore
// (layers/) -> Sink, and calls only go down it: a sink never calls back into
// layers/ or fs/ (Replay's fn is the one callback, and no sink lock is held
// while it runs), so a sink's locks always come after the caller's. What a
// caller may hold when it calls in:
//   Append   the branch's commit lock (VersionStore's commit_mu), which is
//            what keeps a branch's seqs in order; Append may do a write(2)
//            and, at a segment rotation, an fdatasync under it.
//   Trim     the branch's flush lock (flush_mu) while a flush retires a
//            memtable; Trim unlinks files, outside its own locks.
//   Sync, Barrier
//            nothing a commit needs: they wait for an fdatasync or, for a
//            kRemote barrier, for the server (up to its timeout).
//   Replay, Tail, Stats, AckedSeq, ReadFrames
//            anything: Replay runs at open, before the sink is shared; the
//            others take a sink lock briefly and do no waiting (ReadFrames
//            reads a file, outside the lock).
// Sinks are leaves below that: the shipping sink takes the local sink's
// locks under its own, never the other way round.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "oplog/op_record.h"

namespace strata {

// How durable a branch's barriers are (docs/design.md, durability tiers).
enum class Durability : uint8_t {
  kRemote = 0,     // the walsink server has fdatasync'ed the records
  kLocal = 1,      // the local op log is fdatasync'ed; shipping is asynchronous
  kEphemeral = 2,  // nothing is waited for; a crash keeps an ordered prefix
};
const char* DurabilityName(Durability d);
// "remote", "local" or "ephemeral"; kInvalid naming the choices otherwise.
Result<Durability> ParseDurability(std::string_view s);

struct SinkStats {
  uint64_t bytes_on_disk = 0;  // size of all live segments
  uint64_t segments = 0;
  uint64_t appended_bytes = 0;  // since open
  uint64_t syncs = 0;           // fdatasync calls made (group commits)
  uint64_t sync_waits = 0;      // Sync calls answered (>= syncs under load)
};

class Sink {
 public:
  virtual ~Sink() = default;

  // Appends `rec`. Thread-safe. Records of one branch must be appended in
  // increasing seq order (the caller holds the branch's lock). Returns a
  // token that Sync accepts. The record is not durable until Sync.
  virtual Result<uint64_t> Append(const OpRecord& rec) = 0;
  // Blocks until every record appended before `token` was returned is durable.
  // Concurrent callers share one fdatasync (group commit). Never returns OK
  // for data that is not durable: after one failed sync the sink is failed and
  // every later Append and Sync returns an error. kInvalid for a token past
  // Tail().
  virtual Status Sync(uint64_t token) = 0;
  // Token covering everything appended so far.
  virtual uint64_t Tail() = 0;
  // Calls fn on every live record in append order, up to the tail as of the
  // call; stops at the first error fn returns. A torn tail (a partial last
  // record, normal after a crash) is truncated away before any record is
  // handed out (the local sink does it in OpenLocalSink); any other damage is
  // kCorruption naming the file and offset. Covered records may still be
  // handed out: the caller filters by its durable seqs.
  virtual Status Replay(const std::function<Status(const OpRecord&)>& fn) = 0;
  // Records of `branch` with seq <= `seq` are covered by layers in the store
  // and may be dropped. Whole segments other than the one being appended to
  // are deleted once every record in them is covered. Nothing is persisted:
  // after a restart, call Trim again. Trim(branch, UINT64_MAX) forgets a
  // deleted branch.
  virtual Status Trim(uint32_t branch, uint64_t seq) = 0;
  virtual SinkStats Stats() = 0;

  // A barrier in tier `tier`: kEphemeral returns at once; otherwise as Sync.
  // A sink with a remote part overrides it (walsink/shipping_sink.h).
  virtual Status Barrier(uint64_t token, Durability tier) {
    return tier == Durability::kEphemeral ? Status::OK() : Sync(token);
  }
  // The highest seq of `branch` the sink has made durable (0: none or unknown).
  virtual uint64_t AckedSeq(uint32_t branch) = 0;
  // Whole frames from logical offset `from` (a token): at most about
  // `max_bytes`, but always at least one frame if there is one. *first is
  // where they start (past `from` if the records there were trimmed away),
  // *next where they end; an empty result means nothing past `from` yet.
  virtual Status ReadFrames(uint64_t from, size_t max_bytes, std::string* frames, uint64_t* first,
                            uint64_t* next) {
    (void)from, (void)max_bytes, (void)frames, (void)first, (void)next;
    return Status::NotSupported("this sink cannot be read by offset");
  }

  // Several daemons on one store (docs/cluster.md, "Failover").
  //
  // Whether the log holds other daemons' records of the store's branches
  // too (a walsink they share): then a new holder gets a branch's unflushed
  // tail from it (TakeOver), and Recover voids this process's own records
  // of branches taken over (Disown) instead of dropping what it replayed.
  virtual bool Shared() const { return false; }
  // This process writes `branch` from now on, under lease epoch `epoch`. A
  // shared log first fences every writer of an older epoch (their later
  // records are refused), then hands fn the branch's records past seq
  // `after`, in order: what earlier holders made durable but never flushed.
  // A log of this process's records alone hands out nothing (Recover
  // replayed them). Call with no lock fn needs.
  virtual Status TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                          const std::function<Status(const OpRecord&)>& fn) {
    (void)branch, (void)epoch, (void)after, (void)fn;
    return Status::OK();
  }
  // Every record of `branch` appended so far belongs to a past another
  // daemon took over: a shared log never ships or replays them again
  // (durably). NotSupported for a log that is not shared.
  virtual Status Disown(uint32_t branch) {
    (void)branch;
    return Status::NotSupported("this sink keeps no void marks");
  }
  // The branches with live records in this process's own log.
  virtual std::vector<uint32_t> BranchesInLog() { return {}; }
  // Recover is done: a sink that ships starts shipping (it may start
  // earlier, at an Append or a barrier).
  virtual void Start() {}
};

// Hands fn the records of `local` in order, reading `batch_bytes` at a time
// (ReadFrames), but for those skip(branch, local offset where the record
// ends) says to leave out; *skipped counts them. The sinks that keep void
// marks use it for their local log.
Status ReplayLocalExcept(Sink* local, size_t batch_bytes,
                         const std::function<bool(uint32_t branch, uint64_t end)>& skip,
                         const std::function<Status(const OpRecord&)>& fn, uint64_t* skipped);

// A sink in directory `dir` (created if missing). Segments rotate at
// `segment_bytes`. Recovers the directory before returning (torn tail cut,
// every record checked); more options in oplog/local_sink.h.
Result<std::unique_ptr<Sink>> OpenLocalSink(const std::string& dir,
                                            uint64_t segment_bytes = 64ull << 20);

}  // namespace strata
