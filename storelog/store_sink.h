// StoreSink: the op log on local disk, made durable as objects in the store
// itself (`strata mount --sink store`; docs/design.md, "Durability tiers";
// docs/cluster.md, "Failover").
//
// Every record is appended to the local sink first (a page-cache write). A
// shipper thread reads the local log from its cursor in rounds and writes,
// per branch with records in the round, one log object (log_object.h)
// at the branch's next object number, with PutIfAbsent; the round's records
// are durable once every one of its objects is in. A kRemote barrier waits
// for the round that holds its token. Group commit: at most one round is in
// flight, so the barriers that arrive during one round share the next; a
// round takes at most `round_bytes` of the local log (the rest waits for the
// next round), and records no barrier waits for (the local and ephemeral
// tiers) wait at most `window_ms` before a round takes them. A failed round
// is retried with backoff (50 ms doubling to 2 s) until barriers time out
// (`barrier_timeout_ms`, kUnavailable naming the last error).
//
// Several daemons on one store: a branch's objects are numbered 1, 2, ...
// and only the branch's holder writes them, each at the number after its
// last. TakeOver lists the branch's objects, reads them from the newest
// back as far as they may hold records past the manifest's seq (ReadTails),
// then writes a fence object at the next free number (a record object that
// got there first is read too, and the fence tries the number after): from
// then on the earlier holder's next write finds its number taken (kExists),
// and that is final for this sink: it ships nothing more and fails every
// remote barrier (kReadOnly). Disown voids this process's own local records
// of a branch taken over (the void marks file), as the walsink client does.
// Trim deletes a branch's objects whose records are all covered, but never
// its newest object and never a fence: a writer that was fenced must still
// find its next number taken (an object listed but never read has its
// header read first).
//
// Replay (at mount, after Trim registered each branch's durable seq): lists
// `oplog/` once, reads each registered branch's tail the same way (in
// parallel), hands out their records past the durable seq, then the local
// log's records that are not void. Shipping starts at Start, the first
// Append, a kRemote barrier or a TakeOver.
//
// Threads and locks. The shipper ("strata-logput") runs rounds; the trimmer
// ("strata-logtrim") deletes what Trim covered, beside them (a delete
// never touches a number a round or a fence may write: not the newest, not
// a fence). `round_mu_` serializes rounds and TakeOver, so one branch's
// objects are written by one of them at a time, in number order. `mu_`
// guards the bookkeeping and is never held across a store call or a wait on
// the store. Lock order: round_mu_, then mu_, then the local sink's locks
// (LocalSink::mu_ via Tail). No sink lock is held while TakeOver's or
// Replay's fn runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "objstore/object_store.h"
#include "oplog/mark_file.h"
#include "oplog/sink.h"
#include "storelog/log_object.h"

namespace strata {

struct StoreSinkOptions {
  ObjectStore* store = nullptr;  // required; outlives the sink (retries below it)
  // Where the void marks are kept (the local log's directory + "/void"); required.
  std::string void_file;
  // A kRemote barrier fails after waiting this long.
  int barrier_timeout_ms = 60000;
  // The size window: a round reads at most this much of the local log.
  size_t round_bytes = 8 << 20;
  // The time window for records no barrier waits for.
  int window_ms = 100;
  // Log objects written (or read, at Replay) at once.
  int parallel = 16;
  Clock* clock = Clock::Real();
};

struct StoreShippingStats {
  uint64_t tail = 0;          // local log offset after the last record
  uint64_t acked_offset = 0;  // everything below is durable in the store
  uint64_t rounds = 0;
  uint64_t objects_written = 0;
  uint64_t bytes_written = 0;
  uint64_t objects_deleted = 0;
  uint64_t fences = 0;  // fence objects written (TakeOver)
  uint64_t barrier_timeouts = 0;
  std::string last_error;  // empty while healthy
};

class StoreSink final : public Sink {
 public:
  static Result<std::unique_ptr<StoreSink>> Open(std::unique_ptr<Sink> local,
                                                 const StoreSinkOptions& options);
  ~StoreSink() override;

  Result<uint64_t> Append(const OpRecord& rec) override EXCLUDES(mu_);
  Status Sync(uint64_t token) override { return Barrier(token, Durability::kRemote); }
  Status Barrier(uint64_t token, Durability tier) override EXCLUDES(mu_);
  uint64_t Tail() override { return local_->Tail(); }
  Status Replay(const std::function<Status(const OpRecord&)>& fn) override EXCLUDES(round_mu_, mu_);
  Status Trim(uint32_t branch, uint64_t seq) override EXCLUDES(mu_);
  SinkStats Stats() override { return local_->Stats(); }
  uint64_t AckedSeq(uint32_t branch) override EXCLUDES(mu_);
  Status ReadFrames(uint64_t from, size_t max_bytes, std::string* frames, uint64_t* first,
                    uint64_t* next) override {
    return local_->ReadFrames(from, max_bytes, frames, first, next);
  }
  bool Shared() const override { return true; }
  Status TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                  const std::function<Status(const OpRecord&)>& fn) override
      EXCLUDES(round_mu_, mu_);
  Status Disown(uint32_t branch) override EXCLUDES(mu_);
  std::vector<uint32_t> BranchesInLog() override { return local_->BranchesInLog(); }
  void Start() override EXCLUDES(mu_) { StartShipping(); }

  StoreShippingStats Shipping() EXCLUDES(mu_);

 private:
  struct ObjectInfo {
    // kUnread: listed only (its header is read when a Trim might delete it).
    enum State : uint8_t { kUnread, kRecords, kFence } state = kUnread;
    uint64_t last_seq = 0;  // its header's
  };
  // What this process knows of one branch's log objects.
  struct BranchLog {
    uint64_t next = 0;  // the number this process writes next; 0: list first
    // Another writer took a number of ours: no more writes until TakeOver.
    bool lost = false;
    uint64_t shipped = 0;  // the highest seq in the store's objects
    std::map<uint64_t, ObjectInfo> objects;
  };
  // One branch's part of a round.
  struct Batch {
    uint32_t branch = 0;
    LogObject obj;
    uint64_t number = 0;
    Status result;
  };
  struct LogId {
    uint32_t branch = 0;
    uint64_t number = 0;
  };
  struct Found {
    uint32_t branch = 0;
    uint64_t number = 0;
    LogObject obj;
  };

  StoreSink(std::unique_ptr<Sink> local, const StoreSinkOptions& options,
            std::unique_ptr<MarkFile> voids);
  void StartShipping() EXCLUDES(mu_);
  void ShipLoop() EXCLUDES(round_mu_, mu_);
  // Whether the shipper should run a round now; else *wake is when to look again.
  bool RoundDueLocked(std::chrono::steady_clock::time_point* wake) REQUIRES(mu_);
  // Reads the local log past the cursor and makes it durable in the store.
  Status RunRound() REQUIRES(round_mu_) EXCLUDES(mu_);
  // Splits `frames` (starting at local offset `first`) into per-branch
  // batches, leaving out what needs no shipping; *seqs gets each branch's
  // highest seq in them.
  std::vector<Batch> BatchLocked(const std::string& frames, uint64_t first,
                                 std::map<uint32_t, uint64_t>* seqs) REQUIRES(mu_);
  // Lists the branch's objects if this process does not know its next number.
  Status ListIfUnknown(uint32_t branch) REQUIRES(round_mu_) EXCLUDES(mu_);
  // Writes the batches' objects, `parallel` at a time.
  void WriteBatches(std::vector<Batch>* batches) REQUIRES(round_mu_) EXCLUDES(mu_);
  // Books one written batch, or the conflict that fenced this process.
  Status RecordBatchLocked(const Batch& b) REQUIRES(mu_);
  // The trimmer: DeleteTrimmed whenever a Trim asks, beside the rounds.
  void TrimLoop() EXCLUDES(mu_);
  // Deletes the objects of trimmed branches that are all covered (and every
  // object of a deleted branch this process knew).
  void DeleteTrimmed() EXCLUDES(mu_);
  // Reads and checks the objects, `parallel` at a time; in the order given,
  // less those deleted since they were listed (their branches go to *gone).
  Result<std::vector<Found>> ReadObjects(const std::vector<LogId>& ids, std::set<uint32_t>* gone);
  // The log objects under `prefix`: each branch's numbers, in order.
  Result<std::map<uint32_t, std::vector<uint64_t>>> ListNumbers(const std::string& prefix);
  // Reads each listed branch's objects from the newest back to the first
  // whose records start at or below after[branch] + 1 (the older ones hold
  // only records at or below it), `parallel` at a time. In (branch, number)
  // order; a branch with an object gone since the listing goes to *gone
  // (another daemon trimmed it) and is read no further.
  Result<std::vector<Found>> ReadTails(const std::map<uint32_t, std::vector<uint64_t>>& listed,
                                       const std::map<uint32_t, uint64_t>& after,
                                       std::set<uint32_t>* gone);
  // Books a branch's listed objects, and those of them read, as its log.
  void LearnLocked(uint32_t branch, const std::vector<uint64_t>& listed,
                   std::span<const Found> found) REQUIRES(mu_);
  // Reads the headers of objects listed but not read, so Trim knows them.
  void ProbeUnread(std::vector<LogId>* ids, std::vector<std::string>* deletes) EXCLUDES(mu_);
  // Writes the branch's fence at the first free number from `number`, and
  // appends the objects it finds on the way to *found. `after` and *found
  // give the fence's last seq.
  Result<uint64_t> WriteFence(uint32_t branch, uint64_t epoch, uint64_t after, uint64_t number,
                              std::vector<Found>* found) REQUIRES(round_mu_) EXCLUDES(mu_);
  void FailLocked(const std::string& why) REQUIRES(mu_);

  // Set at construction.
  const std::unique_ptr<Sink> local_;
  const StoreSinkOptions opts_;

  Mutex round_mu_ ACQUIRED_BEFORE(mu_);
  // Guards everything below but the thread and the atomic.
  Mutex mu_;
  CondVar work_cv_;  // wakes the shipper
  CondVar ack_cv_;   // wakes barriers
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<bool> started_{false};  // set under mu_; read without it
  std::thread shipper_;               // started under mu_ (once), joined by the destructor
  std::thread trimmer_;               // likewise
  CondVar trim_cv_;                   // wakes the trimmer

  std::map<uint32_t, uint64_t> covered_ GUARDED_BY(mu_);  // registered branch -> seq in layers
  std::set<uint32_t> dropped_ GUARDED_BY(mu_);            // never ship these again
  std::set<uint32_t> trims_ GUARDED_BY(mu_);              // objects to delete, maybe
  std::set<uint32_t> deletes_ GUARDED_BY(mu_);            // deleted branches: all their objects
  std::map<uint32_t, uint64_t> epoch_ GUARDED_BY(mu_);    // TakeOver's, written in objects
  // Written numbers are added with round_mu_ held too (the shipper,
  // TakeOver, Replay); the trimmer removes deleted ones.
  std::map<uint32_t, BranchLog> logs_ GUARDED_BY(mu_);
  std::map<uint32_t, uint64_t> acked_seq_ GUARDED_BY(mu_);
  const std::unique_ptr<MarkFile> voids_ GUARDED_BY(mu_);
  Status fenced_ GUARDED_BY(mu_);  // set once another holder's object took our number: final

  uint64_t cursor_ GUARDED_BY(mu_) = 0;  // local offset read up to by the last good round
  uint64_t acked_ GUARDED_BY(mu_) = 0;   // local offset durable in the store
  int barriers_waiting_ GUARDED_BY(mu_) = 0;
  bool kicked_ GUARDED_BY(mu_) = false;  // something for the shipper to look at
  // When the oldest record past the cursor was appended (the time window).
  std::optional<std::chrono::steady_clock::time_point> pending_since_ GUARDED_BY(mu_);
  StoreShippingStats stats_ GUARDED_BY(mu_);
};

}  // namespace strata
