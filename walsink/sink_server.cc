#include "walsink/sink_server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/fd_util.h"
#include "common/net.h"
#include "oplog/local_sink.h"
#include "walsink/sink_server_internal.h"

namespace strata {

Result<std::unique_ptr<SinkServer>> SinkServer::Start(const SinkServerOptions& options) {
  if (options.dir.empty()) return Status::Invalid("walsink: no directory given");
  STRATA_ASSIGN_OR_RETURN(const HostPort hp, ParseHostPort(options.listen, true));
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create walsink directory " + options.dir);
  SinkServerOptions opts = options;
  if (!opts.open_log) {
    opts.open_log = [](const std::string& dir) { return OpenLocalSink(dir); };
  }
  std::unique_ptr<SinkServer> s(new SinkServer(std::move(opts)));
  STRATA_ASSIGN_OR_RETURN(const int lock_fd,
                          LockDirectory(options.dir, "walsink directory " + options.dir +
                                                         " is in use by another walsink server"));
  s->lock_fd_.reset(lock_fd);
  STRATA_ASSIGN_OR_RETURN(const int listen_fd, ListenTcp(hp, &s->port_));
  s->acceptor_.Start(
      "walsink", listen_fd, s->port_, [p = s.get()] { p->ReapFinished(); },
      [p = s.get()](int fd) { p->Accept(fd); });
  return s;
}

SinkServer::SinkServer(SinkServerOptions options) : opts_(std::move(options)) {}

SinkServer::~SinkServer() { Stop(); }

void SinkServer::Stop() {
  MutexLock stop(&stop_mu_);
  stopping_ = true;
  acceptor_.Stop();
  std::map<uint64_t, std::unique_ptr<Connection>> conns;
  {
    MutexLock l(&conns_mu_);
    for (auto& [id, c] : conns_) ::shutdown(c->fd.get(), SHUT_RDWR);
    conns.swap(conns_);
  }
  for (auto& [id, c] : conns) c->reader.join();
  conns.clear();
  {
    MutexLock l(&ns_mu_);
    namespaces_.clear();  // closes every log
  }
  lock_fd_.reset();
}

SinkServerStats SinkServer::Stats() const {
  SinkServerStats s;
  s.connections = connections_;
  s.frames = frames_;
  s.appended = appended_;
  s.duplicates = duplicates_;
  s.acks = acks_;
  s.errors = errors_;
  s.refused = refused_;
  {
    MutexLock l(&conns_mu_);
    for (const auto& [id, c] : conns_) s.open_connections += c->finished ? 0 : 1;
  }
  MutexLock l(&ns_mu_);
  s.namespaces = namespaces_.size();
  return s;
}

Result<SinkStats> SinkServer::LogStats(const std::string& store_id) {
  MutexLock l(&ns_mu_);
  auto it = namespaces_.find(store_id);
  if (it == namespaces_.end()) return Status::NotFound("store " + store_id + " is not open");
  MutexLock nl(&it->second->mu);
  if (!it->second->log) return Status::NotFound("store " + store_id + " is not open");
  return it->second->log->Stats();
}

void SinkServer::Accept(int fd) {
  TuneSocket(fd, ServerConnectionTuning(static_cast<int>(
                     kSinkSendTimeout.count())));  // no Nagle: ACK latency is fsync latency
  MutexLock l(&conns_mu_);
  auto c = std::make_unique<Connection>(next_conn_id_++, fd, PeerName(fd));
  Connection* raw = c.get();
  conns_.emplace(raw->id, std::move(c));
  connections_++;
  raw->reader = std::thread([this, raw] { Serve(raw); });
}

void SinkServer::ReapFinished() {
  strata::ReapFinished(&conns_mu_, &conns_, [](Connection& c) { c.reader.join(); });
}

Result<std::shared_ptr<SinkServer::Namespace>> SinkServer::Acquire(const std::string& store_id) {
  std::shared_ptr<Namespace> ns;
  {
    MutexLock l(&ns_mu_);
    std::shared_ptr<Namespace>& slot = namespaces_[store_id];
    if (!slot) slot = std::make_shared<Namespace>(store_id, opts_.dir + "/" + store_id);
    if (slot->failed) {
      return Status::IO("the op log of store " + store_id + " failed; it is reopened once its " +
                        std::to_string(slot->users) + " remaining connection(s) close");
    }
    slot->users++;
    ns = slot;
  }
  Status st;
  {
    // Opening (recovery reads the whole log) holds only this namespace.
    MutexLock l(&ns->mu);
    if (!ns->log && ns->error.ok()) {
      if (st = OpenLog(ns.get()); !st.ok()) {
        ns->error =
            Status(st.code(), "cannot open the op log of store " + store_id + ": " + st.message());
        ns->failed = true;
        spdlog::error("walsink: {}", ns->error.message());
      }
    }
    st = ns->error;
  }
  if (!st.ok()) {
    Release(ns);
    return st;
  }
  return ns;
}

Status SinkServer::OpenLog(Namespace* ns) {
  ns->mu.AssertHeld();  // Acquire holds it; the header cannot name ns->mu (incomplete type)
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Sink> log, opts_.open_log(ns->dir));
  std::map<uint32_t, uint64_t> last;
  STRATA_RETURN_IF_ERROR(log->Replay([&](const OpRecord& rec) {
    uint64_t& m = last[rec.branch];
    m = std::max(m, rec.seq);
    return Status::OK();
  }));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<MarkFile> epochs, MarkFile::Open(ns->dir + "/epochs"));
  spdlog::info("walsink: opened the op log of store {} ({} branches, {} fenced, {} bytes)", ns->id,
               last.size(), epochs->branches(), log->Stats().bytes_on_disk);
  ns->epochs = std::move(epochs);
  ns->log = std::move(log);
  ns->last = std::move(last);
  return Status::OK();
}

void SinkServer::Release(const std::shared_ptr<Namespace>& ns) {
  MutexLock l(&ns_mu_);
  if (--ns->users > 0 || !ns->failed) return;
  // The last user of a failed log is gone: close it (and its flock) now, so
  // the next HELLO recovers the log from disk.
  auto it = namespaces_.find(ns->id);
  if (it != namespaces_.end() && it->second == ns) namespaces_.erase(it);
  MutexLock nl(&ns->mu);
  ns->log.reset();
}

void SinkServer::FailNamespace(Namespace* ns, const Status& st) {
  {
    MutexLock l(&ns->mu);
    if (!ns->failed) {
      ns->error = Status::IO("store " + ns->id + ": " + st.message());
      ns->failed = true;
      spdlog::error(
          "walsink: the op log of store {} failed; closing its connections, and it is "
          "reopened from disk once they are gone: {}",
          ns->id, st.message());
    }
  }
  // Wake every reader of the namespace (also those blocked in recv): each
  // then sends ERROR `sink I/O error` and closes.
  MutexLock l(&conns_mu_);
  for (auto& [id, c] : conns_) {
    if (c->ns.get() == ns && !c->killed.exchange(true)) ::shutdown(c->fd.get(), SHUT_RD);
  }
}

}  // namespace strata
