// ShippingSink: the op log on local disk, shipped in order to a walsink
// server (docs/sink-protocol.md).
//
// Every record is appended to the local sink first (a page-cache write), and
// a shipper thread streams the local log from its cursor to the server; an
// ack reader moves the acknowledged offset forward. After a dropped
// connection the shipper reconnects with backoff and resends everything past
// the acknowledged offset; the server drops what it already has, so nothing
// is duplicated or reordered. Barriers honour the branch's tier: kRemote
// waits for the server's acknowledgement (failing with kUnavailable after
// `barrier_timeout_ms`), kLocal fdatasyncs the local log, kEphemeral returns.
//
// Replay hands out the server's records of the registered branches first,
// then the local log's; the caller skips seqs it already has. Register each
// known branch with Trim(branch, durable_seq) before Replay. Shipping starts
// when Replay finishes (or at the first Append if there is no Replay); with
// `shared`, at Start, the first Append, Barrier or TakeOver instead, so that
// Recover can Disown first.
//
// Several daemons on one store (`shared`, docs/cluster.md): the server's log
// holds every daemon's records. TakeOver fences a branch at this process's
// lease epoch (BRANCH with the epoch) and replays its records from the
// server; every BRANCH of the main connection carries the epoch too, so the
// server refuses records of a daemon that lost the branch (ERROR fenced).
// Such an error is final: this sink ships nothing more and fails every
// remote barrier (the daemon has lost its lease and must be restarted).
// Disown voids this process's own local records of a branch another
// daemon took over, durably (the void marks file), so they are never
// shipped or replayed. A shared sink never DROPs a branch it does not know:
// another daemon may have just created it.
//
// Threads: the shipper (started by StartShipping, joined by the destructor)
// connects, reconnects with backoff (50 ms doubling to 2 s) and sends; the
// ack reader of each connection (started by Connect, joined by Disconnect,
// both on the shipper) reads ACKs. Neither sends, receives, connects or
// reads the local log (ReadFrames) with mu_ held; only shutdown(2) and
// close(2) of the connection happen under it, tied to its generation. The
// shipper's idle wait reads local_->Tail() under mu_, the one place a local
// sink lock is taken with mu_ held. Append, Trim and Barrier(kLocal) call
// the local sink without mu_.
//
// Lock order (see oplog/sink.h for the callers' side): mu_, then the local
// sink's locks (LocalSink::mu_ via Tail). The local sink never calls back,
// so nothing takes mu_ while holding a local sink lock. Callers may hold
// their own locks (the version store's branch commit lock across Append);
// Barrier may block for up to barrier_timeout_ms, so callers should not hold
// a lock other threads need while they wait on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/byte_stream.h"
#include "common/clock.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/net.h"
#include "common/tls.h"
#include "oplog/mark_file.h"
#include "oplog/sink.h"
#include "walsink/sink_protocol.h"

namespace strata {

struct ShippingSinkOptions {
  HostPort server;
  std::string store_id;  // the namespace on the server (store.json's id)
  // TLS to the server, which must hold a certificate for server.host that
  // this context trusts; null: plaintext (strata mount --sink-insecure).
  std::shared_ptr<const TlsContext> tls;
  std::string token;  // sent in HELLO; empty when the server asks for none
  // A kRemote barrier fails after waiting this long; Replay keeps trying to
  // reach the server this long.
  int barrier_timeout_ms = 60000;
  int connect_timeout_ms = 2000;
  size_t batch_bytes = 1 << 20;  // frames read from the local log per send
  // Several daemons write the store through this server (see above).
  bool shared = false;
  // With shared: where the void marks are kept (the local log's directory
  // + "/void"); required.
  std::string void_file;
  // Times the barrier timeout, the replay's connect retries and the
  // reconnect backoff (CondVar::WaitUntil with a clock follows a test's
  // ManualClock).
  Clock* clock = Clock::Real();
};

struct ShippingStats {
  std::string server;
  bool tls = false;  // the connection is TLS (else plaintext)
  bool connected = false;
  uint64_t tail = 0;          // local log offset after the last record
  uint64_t acked_offset = 0;  // everything below is durable on the server
  uint64_t reconnects = 0;
  uint64_t frames_sent = 0;  // resends included
  uint64_t bytes_sent = 0;
  uint64_t acks = 0;
  uint64_t barrier_timeouts = 0;
  std::string last_error;  // empty while healthy
};

class ShippingSink final : public Sink {
 public:
  static Result<std::unique_ptr<ShippingSink>> Open(std::unique_ptr<Sink> local,
                                                    const ShippingSinkOptions& options);
  ~ShippingSink() override;

  Result<uint64_t> Append(const OpRecord& rec) override;
  // A kRemote barrier: the strongest this sink offers.
  Status Sync(uint64_t token) override { return Barrier(token, Durability::kRemote); }
  Status Barrier(uint64_t token, Durability tier) override;
  uint64_t Tail() override { return local_->Tail(); }
  Status Replay(const std::function<Status(const OpRecord&)>& fn) override;
  Status Trim(uint32_t branch, uint64_t seq) override;
  SinkStats Stats() override { return local_->Stats(); }
  // The highest seq of `branch` the server has acknowledged.
  uint64_t AckedSeq(uint32_t branch) override;
  Status ReadFrames(uint64_t from, size_t max_bytes, std::string* frames, uint64_t* first,
                    uint64_t* next) override {
    return local_->ReadFrames(from, max_bytes, frames, first, next);
  }

  // Several daemons (options.shared): see the header comment and oplog/sink.h.
  Status TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                  const std::function<Status(const OpRecord&)>& fn) override EXCLUDES(mu_);
  Status Disown(uint32_t branch) override EXCLUDES(mu_);
  bool Shared() const override { return opts_.shared; }
  std::vector<uint32_t> BranchesInLog() override { return local_->BranchesInLog(); }
  void Start() override { StartShipping(); }

  ShippingStats Shipping();
  Sink* local() { return local_.get(); }

 private:
  // A position in the local log that becomes acknowledged once the server
  // has acknowledged `msg` messages of the current connection.
  struct Pending {
    uint64_t msg = 0;
    uint64_t end = 0;  // local log offset reached
    uint32_t branch = 0;
    uint64_t seq = 0;  // 0: no record
  };

  // One connection: the socket, and the stream over it (TLS or plain) that
  // the shipper writes and the ack reader reads.
  struct Conn {
    UniqueFd fd;
    std::unique_ptr<SharedStream> stream;
    bool valid() const { return fd.valid(); }
  };

  ShippingSink(std::unique_ptr<Sink> local, const ShippingSinkOptions& options,
               std::unique_ptr<MarkFile> voids);
  // Whether the local record of `branch` ending at local offset `end` is
  // void (Disown).
  bool VoidLocked(uint32_t branch, uint64_t end) REQUIRES(mu_);
  // Hands fn the local log's records that are not void, in order.
  Status ReplayLocal(const std::function<Status(const OpRecord&)>& fn) EXCLUDES(mu_);
  // Reads one REPLAY's records up to REPLAY_END (skipping ACKs) into fn.
  Status ReadReplayed(ByteStream* stream, const std::function<Status(const OpRecord&)>& fn,
                      uint64_t* records, BranchSeqs* known);
  std::string Peer() const;
  // Connects, runs the TLS handshake if asked, and says HELLO.
  Status Handshake(Conn* out);
  void StartShipping() EXCLUDES(mu_);
  void ShipLoop() EXCLUDES(mu_);
  void AckLoop(ByteStream* stream, uint64_t generation) EXCLUDES(mu_);
  // Takes the ACK counting `count` messages; an error if it cannot be one.
  Status TakeAckLocked(uint64_t count) REQUIRES(mu_);
  // One pass of the shipper: reads what is new and sends it. Returns false
  // if there was nothing to do.
  Result<bool> ShipOnce(ByteStream* stream) EXCLUDES(mu_);
  // The control messages and frames of one ShipOnce, into *out; the count of
  // records goes to *records.
  void EncodeBatchLocked(const std::string& frames, uint64_t first, std::string* out,
                         uint64_t* records) REQUIRES(mu_);
  Status Connect(Conn* conn) EXCLUDES(mu_);
  void Disconnect(Conn* conn) EXCLUDES(mu_);
  // Marks the connection of `generation` broken (the shipper reconnects).
  void Break(uint64_t generation, const Status& why) EXCLUDES(mu_);
  // Records that `p` is reached once `p.msg` messages are acknowledged.
  void AddPendingLocked(const Pending& p) REQUIRES(mu_);
  void ApplyLocked(const Pending& p) REQUIRES(mu_);
  Status ReplayRemote(const std::function<Status(const OpRecord&)>& fn) EXCLUDES(mu_);
  // Connects for Replay, retrying while the server cannot be reached, up to
  // barrier_timeout_ms.
  Status ConnectForReplay(Conn* conn);

  // Set at construction.
  const std::unique_ptr<Sink> local_;
  const ShippingSinkOptions opts_;

  // Guards everything below but the shipper-only members and the atomics.
  Mutex mu_;
  CondVar work_cv_;  // wakes the shipper
  CondVar ack_cv_;   // wakes barriers
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<bool> started_{false};  // set under mu_; read without it
  std::thread shipper_;               // started under mu_ (once), joined by the destructor

  // Branch bookkeeping.
  std::map<uint32_t, uint64_t> covered_ GUARDED_BY(mu_);  // registered branch -> seq in layers
  std::set<uint32_t> dirty_ GUARDED_BY(mu_);              // covered moved; send BRANCH again
  std::vector<uint32_t> drops_ GUARDED_BY(mu_);           // DROP still to send
  std::set<uint32_t> dropped_ GUARDED_BY(mu_);            // never ship these again
  // From REPLAY_END: the server has these.
  std::map<uint32_t, uint64_t> server_last_ GUARDED_BY(mu_);
  std::map<uint32_t, uint64_t> acked_seq_ GUARDED_BY(mu_);
  // The lease epoch this process writes each branch under (TakeOver); sent
  // in every BRANCH. Absent: 0.
  std::map<uint32_t, uint64_t> epoch_ GUARDED_BY(mu_);
  // With shared: the void marks (Disown); null otherwise.
  const std::unique_ptr<MarkFile> voids_ GUARDED_BY(mu_);
  // Set once the server fenced this process (ERROR fenced): final.
  Status fenced_ GUARDED_BY(mu_);

  // The current connection. The shipper owns it (a Conn of its own);
  // conn_fd_ is a copy of its fd for shutdown(2) by Break and the destructor.
  int conn_fd_ GUARDED_BY(mu_) = -1;
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  bool broken_ GUARDED_BY(mu_) = false;
  std::thread ack_reader_;  // shipper thread only
  // Branches sent BRANCH on this connection.
  std::set<uint32_t> conn_registered_ GUARDED_BY(mu_);
  uint64_t sent_msgs_ GUARDED_BY(mu_) = 0;  // counted messages sent on this connection
  uint64_t acked_msgs_ GUARDED_BY(mu_) = 0;
  std::deque<Pending> pending_ GUARDED_BY(mu_);
  // Next local offset to ship: written by the shipper only, always under mu_.
  uint64_t cursor_ GUARDED_BY(mu_) = 0;
  uint64_t acked_ GUARDED_BY(mu_) = 0;  // local offset acknowledged by the server

  ShippingStats stats_ GUARDED_BY(mu_);
};

}  // namespace strata
