// One connection of the walsink server: its reader thread (Serve), which
// applies messages in order, and its acknowledger thread (AckLoop).
// Protocol: docs/sink-protocol.md.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <unordered_map>

#include "common/crypto.h"
#include "common/net.h"
#include "walsink/sink_server.h"
#include "walsink/sink_server_internal.h"

namespace strata {

namespace {

// Replayed records are sent in batches of about this many bytes.
constexpr size_t kReplayBatchBytes = 1 << 20;

// After an ERROR, reads and drops what the client still sends until it
// closes (at most 2 s): closing a socket with unread data sends a reset,
// which can destroy the ERROR before the client has read it.
void Linger(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char buf[16 << 10];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

std::string TypeName(SinkMsg t) { return "type " + SinkTypeName(static_cast<uint8_t>(t)); }

StreamDeadline SendDeadline() { return std::chrono::steady_clock::now() + kSinkSendTimeout; }

}  // namespace

bool SinkServer::OpenStream(Connection* c) {
  if (!opts_.tls) {
    c->stream = std::make_unique<SharedStream>(std::make_unique<PlainStream>(c->fd.get()));
    return true;
  }
  const auto deadline = std::chrono::steady_clock::now() + kSinkHelloTimeout;
  Result<std::unique_ptr<TlsStream>> tls = TlsStream::Accept(opts_.tls, c->fd.get(), deadline);
  if (!tls.ok()) {
    errors_++;
    refused_++;
    if (!stopping_) {
      spdlog::warn("walsink: {}: TLS handshake failed: {}", c->peer, tls.status().message());
    }
    return false;
  }
  c->stream = std::make_unique<SharedStream>(std::move(tls).value());
  return true;
}

void SinkServer::Serve(Connection* c) {
  if (!OpenStream(c)) {
    ::shutdown(c->fd.get(), SHUT_RDWR);
    c->finished = true;
    return;
  }
  Next end = Hello(c);
  std::thread acker;
  if (!end) {
    acker = std::thread([this, c] { AckLoop(c); });
    while (!end) end = ReadAndApply(c);
    {
      MutexLock l(&c->ack_mu);
      c->reader_done = true;
    }
    c->ack_cv.Signal();
    // The acker first acknowledges everything applied, so an ERROR comes
    // after the ACK of every message before the bad one.
    acker.join();
  }
  if (c->killed) {
    MutexLock l(&c->ns->mu);
    end = End{SinkError::kIO, c->ns->error.message()};
  }
  if (end->code) {
    Refuse(c, *end);
  } else if (c->ns) {
    spdlog::info("walsink: {} (store {}) disconnected", c->peer, c->store_id);
  }
  // Release before the socket closes: a client that saw the close may HELLO
  // again at once, and must then find a failed namespace reopenable.
  if (c->ns) Release(c->ns);
  if (end->code && !stopping_) {
    ::shutdown(c->fd.get(), SHUT_WR);
    Linger(c->fd.get());
  }
  ::shutdown(c->fd.get(), SHUT_RDWR);
  c->finished = true;
}

void SinkServer::AckLoop(Connection* c) {
  Sink* const log = c->ns->log.get();
  uint64_t acked = 0;
  MutexLock l(&c->ack_mu);
  for (;;) {
    c->ack_cv.Wait(&c->ack_mu,
                   [&]() REQUIRES(c->ack_mu) { return c->count > acked || c->reader_done; });
    if (c->count == acked || stopping_ || c->killed) return;
    const uint64_t count = c->count, token = c->token;
    l.Unlock();
    // The log's group commit shares one fdatasync among all waiting threads,
    // while the reader goes on appending.
    const Status st = log->Sync(token);
    if (!st.ok()) {
      FailNamespace(c->ns.get(), st);
      return;
    }
    std::string ack;
    EncodeAck(count, &ack);
    acks_++;                    // before the send, so a client that has the ACK sees it counted
    if (!Send(c, ack)) return;  // the reader sees the dead socket
    acked = count;
    l.Lock();
  }
}

void SinkServer::Publish(Connection* c, uint64_t token) {
  {
    MutexLock l(&c->ack_mu);
    c->count++;
    c->token = std::max(c->token, token);
  }
  c->ack_cv.Signal();
}

SinkServer::Next SinkServer::ReadFailed(Connection* c, const Status& st) {
  if (stopping_ || c->killed || st.IsNotFound()) return End{};
  // kCorruption: bad type, length or checksum; kIO: the peer closed (or the
  // socket failed) inside a frame. Both are a bad frame.
  return End{SinkError::kBadFrame, st.message()};
}

SinkServer::Next SinkServer::Hello(Connection* c) {
  SinkFrame f;
  const auto deadline = std::chrono::steady_clock::now() + kSinkHelloTimeout;
  Status st = ReadSinkFrame(c->stream.get(), c->peer, deadline, &f);
  if (st.code() == Code::kUnavailable) {
    refused_++;
    return End{SinkError::kBadMessage,
               "no HELLO within " + std::to_string(kSinkHelloTimeout.count() / 1000) + " s"};
  }
  if (!st.ok()) return ReadFailed(c, st);
  frames_++;
  if (f.type != SinkMsg::kHello) {
    return End{SinkError::kBadMessage, "the first message must be HELLO, got " + TypeName(f.type)};
  }
  uint16_t version = 0;
  std::string id, token;
  if (st = ParseHello(f.body, &version, &id, &token); !st.ok()) {
    return End{SinkError::kBadMessage, st.message()};
  }
  if (Next refused = Admit(version, token, id)) {
    refused_++;
    return refused;
  }
  c->store_id = id;
  Result<std::shared_ptr<Namespace>> ns = Acquire(id);
  if (!ns.ok()) return End{SinkErrorFor(ns.status()), ns.status().message()};
  {
    MutexLock l(&conns_mu_);
    c->ns = std::move(ns).value();
  }
  std::string out;
  EncodeHelloOk(&out);
  if (!Send(c, out)) return End{};
  spdlog::info("walsink: {} connected to store {}", c->peer, id);
  return std::nullopt;
}

SinkServer::Next SinkServer::Admit(uint16_t version, const std::string& token,
                                   const std::string& store_id) {
  if (version < kSinkOldestProtocolVersion || version > kSinkProtocolVersion) {
    return End{SinkError::kVersion, "protocol version " + std::to_string(version) +
                                        " is not supported (this server speaks " +
                                        std::to_string(kSinkOldestProtocolVersion) + " to " +
                                        std::to_string(kSinkProtocolVersion) + ")"};
  }
  // Hashes of equal length: the comparison tells nothing of the token's length.
  if (!opts_.token.empty() &&
      !crypto::ConstantTimeEqual(crypto::Sha256(token), crypto::Sha256(opts_.token))) {
    return End{SinkError::kUnauthorized, token.empty()
                                             ? "this walsink takes only clients with its token "
                                               "(strata mount --sink-token-file)"
                                             : "the token is not this walsink's"};
  }
  if (Status st = CheckSinkStoreId(store_id); !st.ok()) {
    return End{SinkError::kBadStoreId, st.message()};
  }
  if (!opts_.store_ids.empty() && !opts_.store_ids.count(store_id)) {
    return End{SinkError::kStoreNotServed, "store " + store_id + " is not served here"};
  }
  return std::nullopt;
}

SinkServer::Next SinkServer::ReadAndApply(Connection* c) {
  SinkFrame f;
  const Status st = ReadSinkFrame(c->stream.get(), c->peer, kNoStreamDeadline, &f);
  if (!st.ok()) return ReadFailed(c, st);
  frames_++;
  switch (f.type) {
    case SinkMsg::kBranch:
      return Branch(c, f.body);
    case SinkMsg::kDrop:
      return Drop(c, f.body);
    case SinkMsg::kAppend:
      return Append(c, f.raw);
    case SinkMsg::kReplay:
      return Replay(c, f.body);
    case SinkMsg::kHello:
      return End{SinkError::kBadMessage, "HELLO sent twice"};
    default:
      return End{SinkError::kBadMessage, TypeName(f.type) + " is not a client message"};
  }
}

SinkServer::Next SinkServer::Branch(Connection* c, std::string_view body) {
  uint32_t branch = 0;
  uint64_t covered = 0, epoch = 0;
  if (Status st = ParseBranch(body, &branch, &covered, &epoch); !st.ok()) {
    return End{SinkError::kBadMessage, st.message()};
  }
  Namespace* ns = c->ns.get();
  Status fence_failed;
  {
    MutexLock l(&ns->mu);
    if (ns->failed) return End{SinkError::kIO, ns->error.message()};
    // The fence: from now on APPENDs of the branch from connections that
    // registered it with a lower epoch are refused. Durable before the ACK.
    if (epoch > ns->epochs->Get(branch)) {
      fence_failed = ns->epochs->Raise(branch, epoch);
      if (fence_failed.ok()) {
        spdlog::info("walsink: store {}: branch {} is written at epoch {} from {}", ns->id, branch,
                     epoch, c->peer);
      }
    }
    // Covered seqs come from published manifests, so a fenced writer's are
    // true too.
    if (fence_failed.ok()) {
      uint64_t& last = ns->last[branch];
      last = std::max(last, covered);
    }
  }
  if (!fence_failed.ok()) {
    // As a failed log: the namespace is reopened from disk once its
    // connections are gone (the fence file's torn record cut then).
    FailNamespace(
        ns, Status(fence_failed.code(), "fencing branch " + std::to_string(branch) + " at epoch " +
                                            std::to_string(epoch) + ": " + fence_failed.message()));
    MutexLock l(&ns->mu);
    return End{SinkError::kIO, ns->error.message()};
  }
  c->held[branch] = epoch;
  // A failed unlink only costs space; the records stay replayable.
  if (Status st = ns->log->Trim(branch, covered); !st.ok()) {
    spdlog::warn("walsink: store {}: trimming branch {}: {}", ns->id, branch, st.message());
  }
  Publish(c, 0);
  return std::nullopt;
}

SinkServer::Next SinkServer::Drop(Connection* c, std::string_view body) {
  uint32_t branch = 0;
  if (Status st = ParseDrop(body, &branch); !st.ok()) {
    return End{SinkError::kBadMessage, st.message()};
  }
  Namespace* ns = c->ns.get();
  {
    MutexLock l(&ns->mu);
    if (ns->failed) return End{SinkError::kIO, ns->error.message()};
    ns->last.erase(branch);
  }
  if (Status st = ns->log->Trim(branch, UINT64_MAX); !st.ok()) {
    spdlog::warn("walsink: store {}: dropping branch {}: {}", ns->id, branch, st.message());
  }
  Publish(c, 0);
  return std::nullopt;
}

SinkServer::Next SinkServer::Append(Connection* c, std::string_view frame) {
  OpRecord rec;
  size_t used = 0;
  if (Status st = DecodeOpRecord(frame, &rec, &used); !st.ok()) {
    return End{SinkError::kBadFrame, st.message()};
  }
  Namespace* ns = c->ns.get();
  const std::string where =
      "branch " + std::to_string(rec.branch) + " seq " + std::to_string(rec.seq);
  uint64_t token = 0;
  Status failure;
  {
    MutexLock l(&ns->mu);
    if (ns->failed) return End{SinkError::kIO, ns->error.message()};
    auto it = ns->last.find(rec.branch);
    if (it == ns->last.end()) {
      return End{SinkError::kUnknownBranch,
                 "APPEND of " + where + ": the branch is not registered"};
    }
    if (rec.seq <= it->second) {
      // Already here (resent after a reconnect) but maybe not synced yet:
      // the ACK waits for a sync of everything appended so far.
      duplicates_++;
      token = ns->log->Tail();
    } else if (const uint64_t fence = ns->epochs->Get(rec.branch), held = c->held[rec.branch];
               held < fence) {
      return End{SinkError::kFenced, "APPEND of " + where + ": a writer of epoch " +
                                         std::to_string(fence) +
                                         " holds the branch; this connection registered it at "
                                         "epoch " +
                                         std::to_string(held) + " (another daemon took it over)"};
    } else if (rec.seq > it->second + 1) {
      return End{SinkError::kSeqGap,
                 "APPEND of " + where + ": the branch's last seq is " + std::to_string(it->second)};
    } else if (Result<uint64_t> r = ns->log->Append(rec); r.ok()) {
      it->second = rec.seq;
      token = *r;
      appended_++;
    } else {
      failure = r.status();
    }
  }
  if (!failure.ok()) return LogFailed(c, Status(failure.code(), where + ": " + failure.message()));
  Publish(c, token);
  return std::nullopt;
}

SinkServer::End SinkServer::LogFailed(Connection* c, const Status& st) {
  Namespace* ns = c->ns.get();
  if (st.code() == Code::kNoSpace) {
    // A failed write was cut back and the log goes on, unless the log itself
    // failed for good (a sync hit ENOSPC): a sync tells the two apart.
    const Status probe = ns->log->Sync(ns->log->Tail());
    if (probe.ok()) return End{SinkError::kNoSpace, st.message()};
    FailNamespace(ns, probe);
  } else {
    FailNamespace(ns, st);
  }
  MutexLock l(&ns->mu);
  return End{SinkError::kIO, ns->error.message()};
}

SinkServer::Next SinkServer::Replay(Connection* c, std::string_view body) {
  BranchSeqs list;
  if (Status st = ParseBranchSeqs(body, &list); !st.ok()) {
    return End{SinkError::kBadMessage, st.message()};
  }
  Namespace* ns = c->ns.get();
  // Only durable records go out: a client that recovered a record this
  // server then lost would meet a seq gap later.
  if (Status st = ns->log->Sync(ns->log->Tail()); !st.ok()) return LogFailed(c, st);
  const std::unordered_map<uint32_t, uint64_t> after(list.begin(), list.end());
  std::string out;
  bool sent = true;
  const Status st = ns->log->Replay([&](const OpRecord& rec) {
    auto it = after.find(rec.branch);
    if (it == after.end() || rec.seq <= it->second) return Status::OK();
    EncodeOpRecord(rec, &out);
    if (out.size() >= kReplayBatchBytes) {
      sent = Send(c, out);
      out.clear();
      if (!sent) return Status::IO("send failed");
    }
    return Status::OK();
  });
  if (!sent) return End{};
  if (!st.ok()) return End{SinkError::kIO, "replay of store " + ns->id + ": " + st.message()};
  BranchSeqs last;
  {
    MutexLock l(&ns->mu);
    last.assign(ns->last.begin(), ns->last.end());
  }
  EncodeReplayEnd(last, &out);
  if (!Send(c, out)) return End{};
  return std::nullopt;
}

bool SinkServer::Send(Connection* c, std::string_view bytes) {
  MutexLock l(&c->write_mu);
  if (c->write_closed) return false;
  if (c->stream->WriteAll(bytes, SendDeadline()).ok()) return true;
  c->write_closed = true;
  return false;
}

void SinkServer::Refuse(Connection* c, const End& end) {
  errors_++;
  spdlog::warn("walsink: {} (store {}): {}: {}; closing the connection", c->peer, c->store_id,
               SinkErrorName(*end.code), end.message);
  std::string out;
  EncodeError(*end.code, end.message, &out);
  MutexLock l(&c->write_mu);
  if (c->write_closed) return;
  c->write_closed = true;
  c->stream->WriteAll(out, SendDeadline()).PermitUnchecked();  // the peer may be gone already
}

}  // namespace strata
