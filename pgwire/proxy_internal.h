// Private to Proxy's parts: proxy.cc (accepting, stopping, cancel
// forwarding and the byte relay), proxy_session.cc (session start,
// authentication and routing of one client connection) and proxy_relay.cc
// (both sides of the relay handshake between two daemons' proxies).
//
// Contract: a Conn is owned by Proxy::conns_ and served by its own thread,
// the session thread. Only that thread opens and closes the Conn's sockets,
// under the Conn's mu (Stop shuts them down from another thread, under the
// same lock); so the session thread may use an fd it read under mu without
// holding mu: nobody else can close it meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "common/byte_stream.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "common/tls.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy.h"

namespace strata {

namespace proxy_internal {

// PostgreSQL's own limit on a SASL message (PG_MAX_AUTH_TOKEN_LENGTH); the
// relay's challenge and proof are held to it too.
inline constexpr size_t kMaxAuthMessage = 65535;
// Server messages before ReadyForQuery are small; this only stops a runaway.
inline constexpr size_t kMaxServerStartupMessage = 1 << 20;
// The branch's server is local and was just opened: a server that does not
// finish the session start in this time is stuck, and the client is told so.
// The entry's side of a relay (connect, handshake, the holder's Open and its
// server's session start) is held to it as a whole.
inline constexpr auto kServerStartupTimeout = std::chrono::seconds(60);
// A client that stops reading its session start's answers is dropped after this.
inline constexpr auto kClientSendTimeout = std::chrono::seconds(30);

// Names from unauthenticated clients go into the log: no control characters,
// so no one can forge log lines.
std::string ForLog(std::string_view text);

}  // namespace proxy_internal

struct Proxy::Conn {
  Conn(uint64_t id, UniqueFd fd, std::string peer)
      : id(id), peer(std::move(peer)), client(std::move(fd)) {}

  // Set at construction.
  const uint64_t id;
  const std::string peer;

  // Started by Accept; joined by whoever takes the Conn out of conns_
  // (ReapFinished, on the acceptor's thread as Accept is; Stop, after the
  // acceptor has stopped).
  std::thread thread;
  std::atomic<bool> finished{false};

  // Taken after Proxy::mu_ (Stop and EndConn hold both), never before it.
  Mutex mu;
  UniqueFd client GUARDED_BY(mu);   // invalid once closed
  UniqueFd backend GUARDED_BY(mu);  // likewise; invalid until the branch's server is reached

  // The fds, for the session thread (see the contract above).
  int client_fd() EXCLUDES(mu) {
    MutexLock l(&mu);
    return client.get();
  }
  int backend_fd() EXCLUDES(mu) {
    MutexLock l(&mu);
    return backend.get();
  }
};

// One client connection from its first byte to the relay's end: the
// session start, authentication (SCRAM with a client, or the relay proof of
// another daemon's proxy), opening the branch, and the session start of its
// server (or of the holder's proxy) passed through. Every refusal goes
// through Refuse: one FATAL to the client, one counter, one audit line, and
// the reason returned for Serve to log. Used by the session thread alone.
class Proxy::SessionStart {
 public:
  SessionStart(Proxy* proxy, Conn* c);
  Status Run();

 private:
  struct Route {
    std::string branch, database;
  };
  // The other end of an opened session: the branch's server, or the
  // holder's proxy.
  struct Upstream {
    std::unique_ptr<ByteStream> stream;  // over c_->backend; dropped before that socket closes
    TlsStream* tls = nullptr;            // `stream` when it is TLS
    std::string what;     // for messages: "the branch's server", "node N's proxy at H:P"
    CancelTarget cancel;  // where this session's CancelRequests go
    bool relay = false;   // the holder's proxy
  };

  // proxy_session.cc: the session start of a client.

  // `counter` (null: counted elsewhere) goes up by one.
  Status Refuse(std::atomic<uint64_t>* counter, const char* sqlstate, const std::string& message);
  // The audit line of a session start that named a user (no-op before that).
  void Audit(const std::string& result);
  // FATAL 28000 when the client's address has failed too often (limiter).
  std::optional<Status> Throttle();
  // A client read that failed: a clean close is not worth a line; the rest is refused.
  Status ClientFailed(const Status& st);
  // The session start: at most one SSLRequest (answered 'S' and a TLS
  // handshake when the proxy has a certificate, else 'N') and one
  // GSSENCRequest (answered 'N'), then a StartupMessage or a RelayRequest
  // (into *startup) or a CancelRequest. A Status when the session ends here.
  std::optional<Status> ReadStartup(pgwire::Startup* startup);
  // Answers SSLRequest: 'S' and the server's side of the handshake.
  Status StartTls();
  Status Send(std::string_view data);
  // FATAL 28000 for a session without TLS when TLS is required.
  std::optional<Status> RequireTls();
  // The route of dbname, after the checks that need no credential; or the
  // refusal, already sent.
  Result<Route> Routed(const pgwire::Startup& startup);
  // A credential lookup that failed for another reason than kNotFound.
  Status CredentialsUnavailable(const Status& st);
  // From an authenticated client (or relay) to the relay's end.
  Status OpenAndRelay(const pgwire::Startup& startup, const Route& route,
                      const ProxyCredential& cred);
  // Connects to the branch's server and passes its session start through.
  Status StartLocal(const std::string& socket_path, const pgwire::Startup& startup,
                    const Route& route, const ProxyCredential& cred);
  // The upstream's session start, passed through message by message up to
  // ReadyForQuery: the client sees the server's own AuthenticationOk,
  // ParameterStatus and BackendKeyData, so its cancel requests carry the
  // real pid and key.
  Status PassStartup(std::chrono::steady_clock::time_point deadline);
  // An ErrorResponse of the upstream, forwarded unchanged; the session ends.
  Status UpstreamRefused(const pgwire::Message& error);
  void LogSession(const pgwire::Startup& startup, const Route& route, const ProxyCredential& cred,
                  const std::optional<RelayTarget>& relay);

  // proxy_relay.cc, the entry's side: relays an authenticated client's
  // session to the holder's proxy.
  Status RelayOut(const pgwire::Startup& startup, const Route& route, const RelayTarget& target);
  // SSLRequest, the client's side of the handshake, the fingerprint check.
  Status StartRelayTls(const RelayTarget& target, std::chrono::steady_clock::time_point deadline);
  // RelayRequest, the holder's challenge, the proof.
  Status ProveRelay(const pgwire::Startup& startup, const RelayTarget& target,
                    std::chrono::steady_clock::time_point deadline);
  Status RelayFailed(const Status& st);  // FATAL 57P03 naming the holder's proxy

  // proxy_relay.cc, the holder's side: a RelayRequest from an entry proxy.
  Status RunRelayed(const pgwire::Startup& request);
  // The challenge and the entry's proof: kPermission for a wrong proof.
  Status CheckRelayProof(const pgwire::Startup& request);

  Proxy* const proxy_;
  Conn* const c_;
  // Plain, or TLS once StartTls succeeded. Dropped before the Conn's
  // sockets close (OpenAndRelay, and this object's end in Serve).
  std::unique_ptr<ByteStream> client_;
  TlsStream* tls_ = nullptr;  // client_ when it is TLS
  Upstream up_;               // once the branch is opened
  const std::chrono::steady_clock::time_point deadline_;
  std::string who_;            // " (user U, dbname D)" once known, for the log
  const std::string address_;  // the client's address without the port: the limiter's key
  std::string user_, branch_;  // from the startup packet, for the audit line
  // A relayed session: "node N, client ADDR" as the entry said; else empty.
  std::string origin_;
};

}  // namespace strata
