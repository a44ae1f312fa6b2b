// Proxy: the PostgreSQL endpoint of strata (docs/proxy.md). Clients connect
// over TCP with dbname=BRANCH or BRANCH.DATABASE and a per-branch credential;
// the proxy runs the session start itself (TLS when it has a certificate: it
// answers SSLRequest with 'S' and a handshake, otherwise 'N'; GSSENCRequest
// always with 'N'), authenticates the client with SCRAM-SHA-256 (and
// SCRAM-SHA-256-PLUS, bound to the certificate, over TLS) against the
// credential's verifier, and only then asks the delegate to open
// the branch, connects to the branch's postmaster on its unix socket as the
// credential's role (the server must trust local connections), passes the
// server's startup messages through unchanged and relays bytes blindly from
// there on.
//
// A branch held by another daemon of the same store is served by that
// daemon: the delegate answers Open with a RelayTarget, and this proxy (the
// entry) connects to the holder's proxy, proves with the store's relay key
// that it is a daemon of the store (docs/proxy.md, "Relay between daemons"),
// and from then on passes the holder's messages, and then bytes, through.
// The holder opens the branch without a second SCRAM exchange.
//
// Contract:
//  - An unknown user and a wrong password are indistinguishable to the client
//    (a full SCRAM exchange against a dummy verifier, the same FATAL 28P01).
//  - ProxyDelegate::Open is never called before the client proved its
//    password, or, for a relayed session, before the entry proxy proved the
//    relay key; ProxySession::release is called exactly once for every
//    successful Open (a relay answer included), when that session ends (also
//    when the server or the holder's proxy cannot be reached).
//  - A relayed session is never relayed again: the holder refuses it 57P03.
//  - Every refusal is one ErrorResponse with severity FATAL, then the
//    connection is closed. With require_tls, a session (or a relay) started
//    without TLS is refused (FATAL 28000) before authentication. A refusal by
//    the holder's proxy reaches the client unchanged.
//  - Failed authentications (passwords, relay proofs) are limited per client
//    address (auth_limits: a burst, then one attempt per refill); an address
//    over its limit is refused with FATAL 28000 before any password exchange,
//    and counted in auth_throttled.
//  - With an audit log, every session start that named a user ends in one
//    audit line: "ok" once relayed, else the FATAL's code and message. The
//    holder of a relayed session writes one too, naming the relay's origin.
//  - CancelRequests are forwarded to the server of the session whose
//    BackendKeyData matches (for a relayed session: to the holder's proxy,
//    which forwards it to its server), and to nothing else.
//  - Thread per connection. The delegate is called from those threads,
//    concurrently, and never with a lock of the proxy held (see the lock
//    order below), so it may block for seconds and take locks of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>

#include "common/audit_log.h"
#include "common/failure_limiter.h"
#include "common/mutex.h"
#include "common/net.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "common/tls.h"
#include "pgwire/scram.h"

namespace strata {

struct ProxyCredential {
  std::string user;  // the startup packet's user name (a credential id)
  scram::Verifier verifier;
  uint32_t branch_id = 0;  // the only branch it opens
  std::string role;        // the role the session runs as in the branch's server
};

// Where a branch held by another daemon is served.
struct RelayTarget {
  HostPort proxy;    // the holder's proxy address
  std::string node;  // the holder's node id (for messages and logs; its proxy must answer as it)
  // SHA-256 fingerprint of the holder proxy's TLS certificate, in
  // TlsContext::fingerprint() format; empty: the holder has no TLS, the relay
  // runs in plain TCP.
  std::string fingerprint;
};

struct ProxySession {
  // Unix socket of the branch's running postmaster, e.g. DIR/.s.PGSQL.5432;
  // empty when `relay` is set.
  std::string socket_path;
  // Set: the branch is served by another daemon; relay this session to its proxy.
  std::optional<RelayTarget> relay;
  // Called exactly once when the session ends, also when connecting to the
  // backend (or the holder's proxy) fails.
  std::function<void()> release;
};

class ProxyDelegate {
 public:
  virtual ~ProxyDelegate() = default;
  // The credential named `user`; kNotFound when unknown, revoked or expired.
  virtual Result<ProxyCredential> FindCredential(const std::string& user) = 0;
  // After authentication succeeded: opens `branch` for a session of `cred`,
  // starting the branch's server if it is suspended (may block for seconds),
  // or answers with `relay` when another daemon holds the branch.
  // `relayed`: the session arrived from another daemon's proxy through a
  // relay handshake; the delegate must then never answer with `relay` (it
  // returns an error instead; the proxy refuses a relay answer 57P03).
  // Errors become the client's FATAL: kNotFound 3D000, kPermission 28000,
  // kBusy 57P03, kQuota 53400, anything else 57P03; the message is shown.
  virtual Result<ProxySession> Open(const ProxyCredential& cred, const std::string& branch,
                                    bool relayed) = 0;
};

struct ProxyOptions {
  HostPort listen;                 // port 0: any free port
  int startup_timeout_ms = 10000;  // the client must finish startup and authentication within this
  int max_connections = 2000;      // more get FATAL 53300 too_many_connections
  // The server certificate; null: no TLS (SSLRequest answered 'N').
  std::shared_ptr<const TlsContext> tls;
  bool require_tls = false;           // refuse sessions that did not start TLS (needs `tls`)
  FailureLimiterOptions auth_limits;  // failed authentications per client address
  AuditLog* audit = nullptr;          // not owned; null: no audit lines
  std::string node_id;                // this daemon's node id, sent in relay requests
  // The secret shared by the daemons of one store (bytes, at least 32; Start
  // refuses a shorter one). Empty: relay disabled both ways: a relay request
  // is refused (FATAL 28000), and an Open answering `relay` is refused 57P03.
  std::string relay_key;
  // The client context for relaying over TLS. The holder's certificate is
  // checked by its fingerprint (RelayTarget::fingerprint), after whatever
  // this context checks itself. Null: Start makes one with
  // TlsContext::ForPinnedClient(), which checks nothing else (the usual case:
  // self-signed certificates, addresses that are not in them).
  std::shared_ptr<const TlsContext> relay_tls_client;
};

struct ProxyStats {
  uint64_t accepted = 0;         // TCP connections accepted
  uint64_t active = 0;           // connections being served now (any phase)
  uint64_t sessions = 0;         // sessions relayed: authenticated, opened, server ready
  uint64_t auth_failures = 0;    // FATAL 28P01: unknown user or wrong password
  uint64_t refused = 0;          // other FATALs of a well-formed client (no branch, Open failed,
                                 // server unreachable or refusing, too many connections)
  uint64_t cancels = 0;          // CancelRequests forwarded to a server
  uint64_t protocol_errors = 0;  // malformed or unexpected packets and messages, startup
                                 // timeouts, clients lost in the middle of a message,
                                 // failed TLS handshakes
  uint64_t tls_sessions = 0;     // of `sessions`, those over TLS
  uint64_t auth_throttled = 0;   // FATAL 28000: too many failed authentications from the address
  uint64_t relayed_out = 0;      // of `sessions`, those relayed to another daemon's proxy
  uint64_t relayed_in = 0;       // of `sessions`, those accepted from another daemon's proxy
};

class Proxy {
 public:
  Proxy(ProxyOptions opts, ProxyDelegate* delegate);
  ~Proxy();  // Stop()
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds (kBusy "proxy address H:P is in use" on EADDRINUSE) and starts
  // accepting; kInvalid for a relay key shorter than 32 bytes. From the
  // owner's thread, once.
  Status Start();
  uint16_t port() const { return port_; }  // the bound port (the owner's thread)
  // Stops accepting, ends every session (shutdown(2) both sockets), joins all
  // threads. Idempotent. Never from a delegate's callback: it joins the
  // thread that runs it.
  void Stop() EXCLUDES(stop_mu_, mu_);
  ProxyStats Stats() const;

 private:
  struct Conn;
  // proxy_session.cc, proxy_relay.cc: one connection up to the relay.
  class SessionStart;
  // Where a session's CancelRequests go: its server's unix socket, or the
  // proxy of the daemon it was relayed to.
  using CancelTarget = std::variant<std::string, HostPort>;
  void Accept(int fd) EXCLUDES(mu_);  // on the acceptor's thread
  void Serve(Conn* c) EXCLUDES(mu_);
  // `end_point_hash`: the channel binding data of a TLS session (SCRAM-SHA-256-PLUS
  // is offered), empty without TLS.
  Status Authenticate(ByteStream* client, const std::string& user,
                      const Result<ProxyCredential>& found, const std::string& end_point_hash,
                      std::chrono::steady_clock::time_point deadline);
  // Connects to the branch's server and registers the socket in `c`; returns its fd.
  Result<int> ConnectBackend(Conn* c, const std::string& path) EXCLUDES(mu_);
  // Connects to another daemon's proxy and registers the socket in `c`; returns its fd.
  Result<int> ConnectRelay(Conn* c, const HostPort& proxy) EXCLUDES(mu_);
  // Makes `fd` the backend socket of `c`, unless the proxy is stopping.
  Result<int> RegisterBackend(Conn* c, UniqueFd fd) EXCLUDES(mu_);
  void Relay(ByteStream* client, ByteStream* backend);
  void EndConn(Conn* c) EXCLUDES(mu_);  // forgets its cancel keys, closes both sockets; idempotent
  void AddCancelKey(const Conn& c, std::pair<uint32_t, uint32_t> key, const CancelTarget& target)
      EXCLUDES(mu_);
  void ForwardCancel(uint32_t pid, uint32_t key) EXCLUDES(mu_);
  scram::Verifier DummyVerifier(const std::string& user) const;

  // Set at construction.
  const ProxyOptions opts_;
  ProxyDelegate* const delegate_;
  const scram::Verifier dummy_;  // keys of a random password; the salt is derived per user
  const std::string dummy_salt_secret_;
  FailureLimiter auth_limiter_;  // keyed by the client's address (no port)

  // The owner's thread only (Start, port, Stop).
  uint16_t port_ = 0;
  bool started_ = false;
  Acceptor acceptor_;

  // Set by Start before the acceptor starts, read-only afterwards (the
  // session threads read it without a lock).
  std::shared_ptr<const TlsContext> relay_tls_;  // opts_.relay_tls_client, or a pinned one

  // Lock order: stop_mu_, then mu_, then a Conn's mu (proxy_internal.h).
  // None of them is held while the proxy calls its delegate, a session's
  // release, or does blocking I/O on a socket; so the delegate's own locks
  // (BranchAccess: the catalog, the endpoint manager and its endpoints)
  // never nest inside the proxy's, and the delegate may block.
  Mutex stop_mu_ ACQUIRED_BEFORE(mu_);  // serializes Stop
  std::atomic<bool> stopping_{false};   // checked under mu_ where a socket is registered

  mutable Mutex mu_;
  uint64_t next_conn_id_ GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_ GUARDED_BY(mu_);
  // (pid, key) of a relayed session's BackendKeyData -> (its conn id, where its cancels go).
  std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, CancelTarget>> cancel_
      GUARDED_BY(mu_);

  std::atomic<uint64_t> accepted_{0}, active_{0}, sessions_{0}, auth_failures_{0}, refused_{0},
      cancels_{0}, protocol_errors_{0}, tls_sessions_{0}, relayed_out_{0}, relayed_in_{0};
};

}  // namespace strata
