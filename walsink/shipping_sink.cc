#include "walsink/shipping_sink.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/coding.h"
#include "common/fd_util.h"
#include "common/thread_cpu.h"
#include "walsink/sink_protocol.h"

namespace strata {

namespace {

// A server that stops answering (a dead machine sends no RST) must break the
// connection long before a barrier gives up: TCP_USER_TIMEOUT bounds how long
// sent data may stay unacknowledged, keepalives probe an idle connection.
SocketTuning ClientTuning() {
  SocketTuning t;
  t.unacked_timeout_ms = 10000;
  t.keepalive_idle_s = 5;
  t.keepalive_interval_s = 2;
  t.keepalive_probes = 3;
  return t;
}

// Reads frames until one that is not an ACK; an ERROR becomes its Status.
Status ReadReply(ByteStream* stream, const std::string& peer, StreamDeadline deadline,
                 SinkFrame* f) {
  for (;;) {
    STRATA_RETURN_IF_ERROR(ReadSinkFrame(stream, peer, deadline, f));
    if (f->type == SinkMsg::kAck) continue;
    if (f->type != SinkMsg::kError) return Status::OK();
    return ErrorFrameStatus(f->body);
  }
}

}  // namespace

ShippingSink::ShippingSink(std::unique_ptr<Sink> local, const ShippingSinkOptions& options,
                           std::unique_ptr<MarkFile> voids)
    : local_(std::move(local)), opts_(options), voids_(std::move(voids)) {
  stats_.server = FormatHostPort(opts_.server);
  stats_.tls = opts_.tls != nullptr;
}

Result<std::unique_ptr<ShippingSink>> ShippingSink::Open(std::unique_ptr<Sink> local,
                                                         const ShippingSinkOptions& options) {
  STRATA_RETURN_IF_ERROR(CheckSinkStoreId(options.store_id));
  if (options.server.port == 0) return Status::Invalid("walsink server address has no port");
  std::unique_ptr<MarkFile> voids;
  if (options.shared) {
    if (options.void_file.empty()) return Status::Invalid("a shared shipping sink needs void_file");
    STRATA_ASSIGN_OR_RETURN(voids, MarkFile::Open(options.void_file));
  }
  return std::unique_ptr<ShippingSink>(
      new ShippingSink(std::move(local), options, std::move(voids)));
}

ShippingSink::~ShippingSink() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
  }
  work_cv_.SignalAll();
  ack_cv_.SignalAll();
  if (shipper_.joinable()) shipper_.join();
}

std::string ShippingSink::Peer() const { return "walsink " + FormatHostPort(opts_.server); }

Status ShippingSink::Handshake(Conn* out) {
  const std::string peer = Peer();
  STRATA_ASSIGN_OR_RETURN(int raw, ConnectTcp(opts_.server, opts_.connect_timeout_ms));
  Conn conn;
  conn.fd.reset(raw);
  TuneSocket(raw, ClientTuning());
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::max(opts_.connect_timeout_ms, 1000));
  if (opts_.tls) {
    Result<std::unique_ptr<TlsStream>> tls =
        TlsStream::Connect(opts_.tls, raw, opts_.server.host, deadline);
    if (!tls.ok()) return tls.status();  // "TLS handshake failed: ..."
    conn.stream = std::make_unique<SharedStream>(std::move(tls).value());
  } else {
    conn.stream = std::make_unique<SharedStream>(std::make_unique<PlainStream>(raw));
  }
  std::string hello;
  EncodeHello(opts_.store_id, opts_.token, &hello);
  SinkFrame f;
  Status st = conn.stream->WriteAll(hello, deadline);
  if (st.ok()) st = ReadReply(conn.stream.get(), peer, deadline, &f);
  if (st.IsNotFound() && !opts_.tls) {
    return Status::NotFound(
        st.message() + " after HELLO (a walsink that uses TLS does that to plaintext clients)");
  }
  STRATA_RETURN_IF_ERROR(st);
  if (f.type != SinkMsg::kHelloOk) {
    return Status::Corruption(peer + " answered HELLO with message type " +
                              SinkTypeName(static_cast<uint8_t>(f.type)));
  }
  uint16_t version = 0;
  STRATA_RETURN_IF_ERROR(ParseHelloOk(f.body, &version));
  *out = std::move(conn);
  return Status::OK();
}

void ShippingSink::StartShipping() {
  MutexLock l(&mu_);
  if (started_ || stop_) return;
  started_ = true;
  shipper_ = NamedThread("strata-ship", [this] { ShipLoop(); });
}

Result<uint64_t> ShippingSink::Append(const OpRecord& rec) {
  Result<uint64_t> token = local_->Append(rec);
  if (!token.ok()) return token;
  if (!started_) StartShipping();
  // Take mu_ once before notifying: the shipper checks the tail under mu_,
  // so it either sees this record or is already waiting for the notify.
  { MutexLock l(&mu_); }
  work_cv_.Signal();
  return token;
}

Status ShippingSink::Barrier(uint64_t token, Durability tier) {
  if (tier == Durability::kEphemeral) return Status::OK();
  if (tier == Durability::kLocal) return local_->Sync(token);
  if (!started_) StartShipping();
  MutexLock l(&mu_);
  const auto deadline =
      opts_.clock->SteadyNow() + std::chrono::milliseconds(opts_.barrier_timeout_ms);
  if (ack_cv_.WaitUntil(&mu_, opts_.clock, deadline, [&]() REQUIRES(mu_) {
        return acked_ >= token || stop_ || !fenced_.ok();
      })) {
    if (acked_ >= token) return Status::OK();
    if (!fenced_.ok()) return fenced_;
    return Status::Unavailable("op log shipping is stopping");
  }
  stats_.barrier_timeouts++;
  const std::string why =
      stats_.last_error.empty() ? "" : " (last error: " + stats_.last_error + ")";
  return Status::Unavailable(Peer() + " has not acknowledged the op log within " +
                             std::to_string(opts_.barrier_timeout_ms / 1000) + " s" + why);
}

Status ShippingSink::Trim(uint32_t branch, uint64_t seq) {
  {
    MutexLock l(&mu_);
    if (seq == UINT64_MAX) {
      // Shared: only a branch this process registered (a deleted one) is
      // dropped on the server; an unknown one may be another daemon's.
      const bool known = covered_.erase(branch) > 0;
      if (known || (!opts_.shared && server_last_.count(branch))) drops_.push_back(branch);
      dropped_.insert(branch);
      dirty_.erase(branch);
      acked_seq_.erase(branch);
      server_last_.erase(branch);
    } else {
      // Registered again (Attach): a branch dropped as unknown at Replay
      // that another daemon had just created.
      dropped_.erase(branch);
      auto [it, fresh] = covered_.try_emplace(branch, seq);
      if (fresh || seq > it->second) {
        it->second = std::max(it->second, seq);
        dirty_.insert(branch);
      }
    }
  }
  // Bookkeeping first: a shipper that finds these records gone must already
  // see the new covered seq, so BRANCH reaches the server before any later
  // record of the branch (otherwise the server would see a seq gap).
  work_cv_.Signal();
  return local_->Trim(branch, seq);
}

uint64_t ShippingSink::AckedSeq(uint32_t branch) {
  MutexLock l(&mu_);
  auto it = acked_seq_.find(branch);
  return it == acked_seq_.end() ? 0 : it->second;
}

ShippingStats ShippingSink::Shipping() {
  const uint64_t tail = local_->Tail();
  MutexLock l(&mu_);
  ShippingStats s = stats_;
  s.connected = conn_fd_ >= 0 && !broken_;
  s.tail = tail;
  s.acked_offset = acked_;
  return s;
}

void ShippingSink::ApplyLocked(const Pending& p) {
  acked_ = std::max(acked_, p.end);
  if (p.seq != 0 && !dropped_.count(p.branch)) {
    uint64_t& a = acked_seq_[p.branch];
    a = std::max(a, p.seq);
  }
}

void ShippingSink::AddPendingLocked(const Pending& p) {
  if (pending_.empty() && p.msg <= acked_msgs_) {
    ApplyLocked(p);
    ack_cv_.SignalAll();
  } else {
    pending_.push_back(p);
  }
}

void ShippingSink::Break(uint64_t generation, const Status& why) {
  MutexLock l(&mu_);
  if (generation != generation_ || broken_) return;
  broken_ = true;
  stats_.last_error = why.message();
  if (why.code() == Code::kReadOnly && fenced_.ok()) {
    // Another daemon took over a branch this one still ships: it lost its
    // lease, and resending would only be refused again.
    fenced_ = Status::ReadOnly(Peer() + " fenced this daemon (" + why.message() +
                               "): it ships nothing more and fails every remote barrier; "
                               "restart it");
    spdlog::error("{}", fenced_.message());
    ack_cv_.SignalAll();
  }
  if (!stop_) spdlog::warn("{}: connection lost, will reconnect: {}", Peer(), why.message());
  if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
  work_cv_.SignalAll();
}

void ShippingSink::AckLoop(ByteStream* stream, uint64_t generation) {
  const std::string peer = Peer();
  for (;;) {
    SinkFrame f;
    Status st = ReadSinkFrame(stream, peer, kNoStreamDeadline, &f);
    if (st.ok() && f.type == SinkMsg::kError) {
      st = ErrorFrameStatus(f.body);
    } else if (st.ok() && f.type != SinkMsg::kAck) {
      st = Status::Corruption(peer + " sent an unexpected message type " +
                              SinkTypeName(static_cast<uint8_t>(f.type)));
    }
    uint64_t count = 0;
    if (st.ok()) st = ParseAck(f.body, &count);
    if (st.ok()) {
      MutexLock l(&mu_);
      st = TakeAckLocked(count);
    }
    if (!st.ok()) return Break(generation, st);
  }
}

Status ShippingSink::TakeAckLocked(uint64_t count) {
  if (count < acked_msgs_ || count > sent_msgs_) {
    // Counts only grow and never pass what was sent: a confused server.
    return Status::Corruption(Peer() + " acknowledged " + std::to_string(count) + " messages, " +
                              std::to_string(sent_msgs_) + " were sent");
  }
  acked_msgs_ = count;
  stats_.acks++;
  while (!pending_.empty() && pending_.front().msg <= count) {
    ApplyLocked(pending_.front());
    pending_.pop_front();
  }
  ack_cv_.SignalAll();
  return Status::OK();
}

Status ShippingSink::Connect(Conn* conn) {
  STRATA_RETURN_IF_ERROR(Handshake(conn));
  MutexLock l(&mu_);
  generation_++;
  broken_ = false;
  conn_fd_ = conn->fd.get();
  conn_registered_.clear();
  sent_msgs_ = acked_msgs_ = 0;
  pending_.clear();
  // Resend everything the server has not acknowledged; it drops duplicates.
  cursor_ = acked_;
  if (!stats_.last_error.empty()) spdlog::info("{}: connected again", Peer());
  stats_.last_error.clear();
  const uint64_t gen = generation_;
  ack_reader_ = NamedThread("strata-acks",
                            [this, stream = conn->stream.get(), gen] { AckLoop(stream, gen); });
  return Status::OK();
}

void ShippingSink::Disconnect(Conn* conn) {
  if (!conn->valid()) return;
  ::shutdown(conn->fd.get(), SHUT_RDWR);
  if (ack_reader_.joinable()) ack_reader_.join();
  MutexLock l(&mu_);
  conn->stream.reset();
  conn->fd.reset();
  conn_fd_ = -1;
  pending_.clear();
  stats_.reconnects++;
}

Result<bool> ShippingSink::ShipOnce(ByteStream* stream) {
  uint64_t from;
  {
    MutexLock l(&mu_);
    from = cursor_;
  }
  std::string frames;
  uint64_t first = 0, next = 0;
  STRATA_RETURN_IF_ERROR(local_->ReadFrames(from, opts_.batch_bytes, &frames, &first, &next));
  std::string out;
  {
    MutexLock l(&mu_);
    uint64_t records = 0;
    EncodeBatchLocked(frames, first, &out, &records);
    cursor_ = std::max(cursor_, next);
    stats_.frames_sent += records;
    stats_.bytes_sent += out.size();
  }
  if (!out.empty()) {
    // A connection problem, never kIO: that code means the local log failed (ShipLoop).
    Status st = stream->WriteAll(out, kNoStreamDeadline);
    if (!st.ok()) return Status::Unavailable("sending to " + Peer() + ": " + st.message());
  }
  return !out.empty() || first != next;
}

void ShippingSink::EncodeBatchLocked(const std::string& frames, uint64_t first, std::string* out,
                                     uint64_t* records) {
  // Control messages after the read and before its frames: a Trim that
  // removed records the read skipped has already marked its branch dirty.
  for (uint32_t b : drops_) {
    EncodeDrop(b, out);
    conn_registered_.erase(b);
    AddPendingLocked({++sent_msgs_, cursor_, 0, 0});
  }
  drops_.clear();
  for (uint32_t b : dirty_) {
    if (!conn_registered_.count(b)) continue;  // registered with the new value when used
    EncodeBranch(b, covered_[b], epoch_[b], out);
    AddPendingLocked({++sent_msgs_, cursor_, 0, 0});
  }
  dirty_.clear();
  if (first > cursor_) AddPendingLocked({sent_msgs_, first, 0, 0});  // trimmed away
  for (size_t off = 0; off < frames.size();) {
    const size_t len = kOpRecordHeaderBytes + DecodeFixed32(frames.data() + off + 1);
    const std::string_view frame(frames.data() + off, len);
    off += len;
    const uint64_t end = first + off;
    uint32_t b = 0;
    uint64_t seq = 0;
    PeekOpRecordId(frame, &b, &seq);
    auto known = server_last_.find(b);
    if (dropped_.count(b) || VoidLocked(b, end)) {
      AddPendingLocked({sent_msgs_, end, 0, 0});  // never shipped: not acknowledged either
      continue;
    }
    if (known != server_last_.end() && seq <= known->second) {
      AddPendingLocked({sent_msgs_, end, b, seq});
      continue;
    }
    if (conn_registered_.insert(b).second) {
      EncodeBranch(b, covered_.try_emplace(b, 0).first->second, epoch_[b], out);
      AddPendingLocked({++sent_msgs_, end - len, 0, 0});
    }
    out->append(frame);
    (*records)++;
    AddPendingLocked({++sent_msgs_, end, b, seq});
  }
}

void ShippingSink::ShipLoop() {
  Conn conn;
  std::chrono::milliseconds backoff(50);
  MutexLock l(&mu_);
  while (!stop_ && fenced_.ok()) {
    if (conn.valid() && broken_) {
      l.Unlock();
      Disconnect(&conn);
      l.Lock();
      continue;
    }
    if (!conn.valid()) {
      l.Unlock();
      Status st = Connect(&conn);
      l.Lock();
      if (!st.ok()) {
        if (stats_.last_error != st.message()) {
          spdlog::warn("{}: cannot connect, retrying: {}", Peer(), st.message());
        }
        stats_.last_error = st.message();
        work_cv_.WaitUntil(&mu_, opts_.clock, opts_.clock->SteadyNow() + backoff,
                           [&]() REQUIRES(mu_) { return stop_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      backoff = std::chrono::milliseconds(50);
    }
    const uint64_t gen = generation_;
    l.Unlock();
    Result<bool> did = ShipOnce(conn.stream.get());
    if (!did.ok()) {
      if (did.status().code() == Code::kCorruption || did.status().code() == Code::kIO) {
        // The local log itself failed: nothing to resend from. Keep trying;
        // barriers time out and report it.
        spdlog::error("{}: reading the local op log failed: {}", Peer(), did.status().message());
      }
      Break(gen, did.status());
    }
    l.Lock();
    if (!did.ok() || *did) continue;
    // Idle: wait for an append, a trim, a drop or a broken connection. The
    // wait is about events, not time: the 1 s bound only re-checks.
    work_cv_.WaitFor(&mu_, std::chrono::seconds(1), [&]() REQUIRES(mu_) {
      return stop_ || broken_ || !dirty_.empty() || !drops_.empty() || local_->Tail() > cursor_;
    });
  }
  l.Unlock();
  Disconnect(&conn);
}

Status ShippingSink::ConnectForReplay(Conn* conn) {
  const auto deadline =
      opts_.clock->SteadyNow() + std::chrono::milliseconds(opts_.barrier_timeout_ms);
  for (;;) {
    Status st = Handshake(conn);
    if (st.ok()) return st;
    if (!st.retryable() || opts_.clock->SteadyNow() >= deadline) {
      return Status(st.code(), "cannot replay the op log from " + Peer() + ": " + st.message());
    }
    opts_.clock->SleepFor(std::chrono::milliseconds(200));
  }
}

Status ShippingSink::ReadReplayed(ByteStream* stream,
                                  const std::function<Status(const OpRecord&)>& fn,
                                  uint64_t* records, BranchSeqs* known) {
  const std::string peer = Peer();
  for (;;) {
    SinkFrame f;
    STRATA_RETURN_IF_ERROR(ReadReply(stream, peer, kNoStreamDeadline, &f));
    if (f.type == SinkMsg::kReplayEnd) return ParseBranchSeqs(f.body, known);
    if (f.type != SinkMsg::kAppend) {
      return Status::Corruption(peer + " sent message type " +
                                SinkTypeName(static_cast<uint8_t>(f.type)) + " during replay");
    }
    OpRecord rec;
    size_t used = 0;
    STRATA_RETURN_IF_ERROR(DecodeOpRecord(f.raw, &rec, &used));
    STRATA_RETURN_IF_ERROR(fn(rec));
    (*records)++;
  }
}

Status ShippingSink::ReplayRemote(const std::function<Status(const OpRecord&)>& fn) {
  BranchSeqs after;
  {
    MutexLock l(&mu_);
    for (const auto& [b, covered] : covered_) after.emplace_back(b, covered);
  }
  const std::string peer = Peer();
  Conn conn;
  STRATA_RETURN_IF_ERROR(ConnectForReplay(&conn));
  ByteStream* const stream = conn.stream.get();
  std::string req;
  EncodeReplay(after, &req);
  STRATA_RETURN_IF_ERROR(stream->WriteAll(req, kNoStreamDeadline));
  uint64_t records = 0;
  BranchSeqs known;
  STRATA_RETURN_IF_ERROR(ReadReplayed(stream, fn, &records, &known));
  // Branches the server holds that we do not know were left by a branch
  // creation that failed: forget them there too. Not when several daemons
  // share the server: another may have just created one.
  std::string drops;
  uint64_t ndrops = 0;
  {
    MutexLock l(&mu_);
    for (const auto& [b, last] : known) {
      if (covered_.count(b)) {
        server_last_[b] = last;
      } else if (!opts_.shared) {
        EncodeDrop(b, &drops);
        ndrops++;
      }
    }
  }
  if (ndrops > 0) {
    STRATA_RETURN_IF_ERROR(stream->WriteAll(drops, kNoStreamDeadline));
    for (uint64_t acked = 0; acked < ndrops;) {
      SinkFrame f;
      STRATA_RETURN_IF_ERROR(ReadSinkFrame(stream, peer, kNoStreamDeadline, &f));
      if (f.type == SinkMsg::kError) return ErrorFrameStatus(f.body);
      if (f.type == SinkMsg::kAck) STRATA_RETURN_IF_ERROR(ParseAck(f.body, &acked));
    }
  }
  spdlog::info("{}: replayed {} records of {} branches; dropped {} unknown branches", peer, records,
               after.size(), ndrops);
  return Status::OK();
}

bool ShippingSink::VoidLocked(uint32_t branch, uint64_t end) {
  return voids_ && end <= voids_->Get(branch);
}

Status ShippingSink::ReplayLocal(const std::function<Status(const OpRecord&)>& fn) {
  if (!opts_.shared) return local_->Replay(fn);
  uint64_t skipped = 0;
  STRATA_RETURN_IF_ERROR(ReplayLocalExcept(
      local_.get(), opts_.batch_bytes,
      [&](uint32_t b, uint64_t end) {
        MutexLock l(&mu_);
        return VoidLocked(b, end);
      },
      fn, &skipped));
  if (skipped > 0) spdlog::info("local op log: skipped {} void records", skipped);
  return Status::OK();
}

Status ShippingSink::Replay(const std::function<Status(const OpRecord&)>& fn) {
  STRATA_RETURN_IF_ERROR(ReplayRemote(fn));
  STRATA_RETURN_IF_ERROR(ReplayLocal(fn));
  if (!opts_.shared) StartShipping();
  return Status::OK();
}

Status ShippingSink::TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                              const std::function<Status(const OpRecord&)>& fn) {
  if (!opts_.shared) return Status::OK();
  {
    MutexLock l(&mu_);
    if (!fenced_.ok()) return fenced_;
    epoch_[branch] = epoch;
    // The main connection registers the branch again, with the epoch,
    // before it ships any later record of it.
    dirty_.insert(branch);
  }
  work_cv_.Signal();
  if (!started_) StartShipping();
  Conn conn;
  STRATA_RETURN_IF_ERROR(ConnectForReplay(&conn));
  // BRANCH raises the fence (durably, before anything after it is read);
  // REPLAY then syncs the log, so it hands out every record an earlier
  // writer got in before the fence.
  std::string req;
  EncodeBranch(branch, after, epoch, &req);
  EncodeReplay({{branch, after}}, &req);
  STRATA_RETURN_IF_ERROR(conn.stream->WriteAll(req, kNoStreamDeadline));
  uint64_t records = 0;
  BranchSeqs known;
  Status st = ReadReplayed(conn.stream.get(), fn, &records, &known);
  if (!st.ok()) {
    return Status(st.code(), "taking branch " + std::to_string(branch) + " over at epoch " +
                                 std::to_string(epoch) + ": " + st.message());
  }
  spdlog::info("{}: branch {} fenced at epoch {}; replayed {} records past seq {}", Peer(), branch,
               epoch, records, after);
  return Status::OK();
}

Status ShippingSink::Disown(uint32_t branch) {
  if (!opts_.shared) return Sink::Disown(branch);
  const uint64_t tail = local_->Tail();
  MutexLock l(&mu_);
  return voids_->Raise(branch, tail);
}

}  // namespace strata
