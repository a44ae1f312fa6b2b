// SinkServer: the server side of the walsink protocol (docs/sink-protocol.md),
// run by `strata walsink serve`.
//
// DIR/<store id>/ holds one op log (a LocalSink by default) per namespace,
// shared by every connection of that store id. Each connection has a reader
// thread, which applies messages in order under the namespace's mutex, and an
// acknowledger thread, which syncs the log (group commit across connections)
// and sends ACK for the latest count, so a client can keep sending while a
// sync is in flight. Nothing is acknowledged before it is fdatasync'ed. A
// connection that ends with ERROR first gets the ACK of every message applied
// before the refused one (when the sync of those succeeds).
//
// Access: with `tls`, every connection is TLS (the handshake runs on the
// connection's own thread, within 10 s); with `token`, HELLO must carry it;
// with `store_ids`, HELLO must name one of them. A client that fails any of
// these gets ERROR (after the handshake) and no namespace is opened for it,
// so nothing it sends can reach a log. HELLO must arrive within 10 s.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/net.h"
#include "common/status.h"
#include "common/tls.h"
#include "oplog/sink.h"
#include "walsink/sink_protocol.h"

namespace strata {

struct SinkServerOptions {
  std::string dir;     // created if missing; flock'ed through DIR/LOCK
  std::string listen;  // HOST:PORT or [V6]:PORT; port 0 = any free port
  // Opens the op log of one namespace (DIR/<store id>). Default:
  // OpenLocalSink(ns_dir). Tests wrap the log to inject faults.
  std::function<Result<std::unique_ptr<Sink>>(const std::string& ns_dir)> open_log;
  std::shared_ptr<const TlsContext> tls;  // null: plaintext (strata walsink serve --insecure)
  std::string token;                      // what HELLO must carry; empty: none asked
  std::set<std::string> store_ids;        // the store ids served; empty: any
};

struct SinkServerStats {
  uint64_t connections = 0;       // accepted since Start
  uint64_t open_connections = 0;  // being served now
  uint64_t frames = 0;            // frames read from clients
  uint64_t appended = 0;          // records written to a log
  uint64_t duplicates = 0;        // APPENDs at or below the branch's last seq, not written
  uint64_t acks = 0;              // ACK frames sent
  uint64_t errors = 0;            // connections ended by an error (ERROR sent when possible)
  uint64_t refused = 0;           // of those, refused before HELLO_OK: TLS, token or store id
  uint64_t namespaces = 0;        // namespaces open now
};

class SinkServer {
 public:
  // Creates and locks the directory, binds, and starts accepting. kInvalid
  // for a malformed address, kBusy if another server holds the directory,
  // the bind error if the address cannot be used.
  static Result<std::unique_ptr<SinkServer>> Start(const SinkServerOptions& options);
  ~SinkServer();
  SinkServer(const SinkServer&) = delete;
  SinkServer& operator=(const SinkServer&) = delete;

  // The port actually bound (useful with port 0).
  uint16_t port() const { return port_; }
  // Closes the listener and every connection, joins every thread, closes
  // every log and releases the directory. Idempotent; the destructor calls it.
  void Stop();
  SinkServerStats Stats() const;
  // Stats of one namespace's log; kNotFound if it is not open.
  Result<SinkStats> LogStats(const std::string& store_id);

 private:
  struct Namespace;
  struct Connection;
  // Why a connection ends: with an ERROR `code`, or quietly (the client
  // closed, the server stops, a send failed) when code is empty.
  struct End {
    std::optional<SinkError> code;
    std::string message;
  };
  using Next = std::optional<End>;  // empty: go on reading

  explicit SinkServer(SinkServerOptions options);

  void Accept(int fd);  // on the acceptor's thread
  // Joins the threads of finished connections and closes their sockets.
  void ReapFinished() EXCLUDES(conns_mu_);
  void Serve(Connection* c);    // a connection's reader thread
  void AckLoop(Connection* c);  // its acknowledger thread
  // The TLS handshake, when the server has TLS; sets c->stream.
  bool OpenStream(Connection* c);
  Next Hello(Connection* c);
  // Whether HELLO's version, token and store id may go on; End if not.
  Next Admit(uint16_t version, const std::string& token, const std::string& store_id);
  Next ReadAndApply(Connection* c);
  Next ReadFailed(Connection* c, const Status& st);
  Next Branch(Connection* c, std::string_view body);
  Next Drop(Connection* c, std::string_view body);
  Next Append(Connection* c, std::string_view frame);
  Next Replay(Connection* c, std::string_view body);
  // The End for a failed Append or Sync of the namespace's log.
  End LogFailed(Connection* c, const Status& st);
  // Counts one applied message whose records are covered by log `token`.
  void Publish(Connection* c, uint64_t token);

  Result<std::shared_ptr<Namespace>> Acquire(const std::string& store_id);
  // REQUIRES: ns->mu held.
  Status OpenLog(Namespace* ns);
  void Release(const std::shared_ptr<Namespace>& ns);
  // Marks a namespace's log failed (it refuses everything until reopened)
  // and ends every connection using it with ERROR `sink I/O error`.
  void FailNamespace(Namespace* ns, const Status& st);

  bool Send(Connection* c, std::string_view bytes);
  // One warning naming peer and store, ERROR if the connection is writable,
  // and nothing sent after it.
  void Refuse(Connection* c, const End& end);

  // Set once by Start.
  const SinkServerOptions opts_;  // open_log filled in
  UniqueFd lock_fd_;              // the directory's flock; closed by Stop
  uint16_t port_ = 0;
  Acceptor acceptor_;

  std::atomic<bool> stopping_{false};
  // Serializes Stop. Held while Stop joins the acceptor and every reader, so
  // nothing those threads do may take it; taken before every other lock.
  Mutex stop_mu_ ACQUIRED_BEFORE(ns_mu_, conns_mu_);

  // Lock order: ns_mu_ before a Namespace's mu (and that before its log's
  // locks); conns_mu_, a connection's write_mu and ack_mu are never held
  // while taking another lock (sink_server_internal.h).
  mutable Mutex ns_mu_;
  std::map<std::string, std::shared_ptr<Namespace>> namespaces_ GUARDED_BY(ns_mu_);
  mutable Mutex conns_mu_;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_ GUARDED_BY(conns_mu_);
  uint64_t next_conn_id_ GUARDED_BY(conns_mu_) = 0;

  std::atomic<uint64_t> connections_{0}, frames_{0}, appended_{0}, duplicates_{0}, acks_{0},
      errors_{0}, refused_{0};
};

}  // namespace strata
