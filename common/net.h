// TCP helpers shared by the walsink (client and server), the proxy and the
// API: host:port parsing, connect with a timeout, listen, socket tuning, the
// name of a peer, full reads and writes that never raise SIGPIPE, and the
// accept loop of a thread-per-connection server.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd_util.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace strata {

struct HostPort {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 0;
};

// "host:port" or "[v6addr]:port". The port must be 1..65535, or 0 when
// `allow_zero_port` (listen on any free port).
Result<HostPort> ParseHostPort(std::string_view text, bool allow_zero_port = false);
std::string FormatHostPort(const HostPort& hp);

// Connects to hp within `timeout_ms` (across all of its addresses; the name
// lookup itself is not bounded); the socket is blocking, close-on-exec, with
// TCP_NODELAY. kUnavailable (retryable) when the peer cannot be reached.
Result<int> ConnectTcp(const HostPort& hp, int timeout_ms);

// A listening socket bound to hp (SO_REUSEADDR). *bound_port gets the port
// actually bound (useful with port 0).
Result<int> ListenTcp(const HostPort& hp, uint16_t* bound_port);

// Reads exactly n bytes. kNotFound if the peer closed (or reset) the
// connection before the first byte; kIO ("connection closed after k of n bytes") if it closed
// in the middle; kIO on a socket error. `what` names the connection.
Status ReadFull(int fd, char* buf, size_t n, const std::string& what);
// Writes all of data with send(MSG_NOSIGNAL).
Status SendAll(int fd, std::string_view data, const std::string& what);

// "host:port" of the peer of a connected TCP socket, or "unknown peer".
std::string PeerName(int fd);
// The same for an address (IPv4 or IPv6); "unknown peer" for anything else.
std::string SockaddrName(const struct sockaddr* sa);
// "10.0.0.1" of "10.0.0.1:5000", "::1" of "[::1]:5000"; `peer` itself if
// it does not parse: the key of per-address limits.
std::string AddressOf(const std::string& peer);

// Ignores SIGPIPE for the whole process unless the program handles it.
// OpenSSL writes to its socket with write(2), so a TLS peer that went away
// would otherwise kill the process. Idempotent.
void IgnoreSigpipe();

// How a long-lived TCP connection is tuned. Keepalive probes an idle
// connection: a dead peer (a lost machine sends no RST) is noticed after
// idle + interval * probes seconds. A zero field leaves that option alone.
struct SocketTuning {
  bool no_delay = false;         // TCP_NODELAY
  int keepalive_idle_s = 0;      // SO_KEEPALIVE + TCP_KEEPIDLE
  int keepalive_interval_s = 0;  // TCP_KEEPINTVL
  int keepalive_probes = 0;      // TCP_KEEPCNT
  int send_timeout_ms = 0;       // SO_SNDTIMEO: a peer that stops reading
  int recv_timeout_ms = 0;       // SO_RCVTIMEO
  int unacked_timeout_ms = 0;    // TCP_USER_TIMEOUT: sent data left unacknowledged
};
// What the servers (proxy, walsink) give an accepted client: no Nagle delay,
// and a dead client noticed within about two minutes (60 s + 6 x 10 s).
SocketTuning ServerConnectionTuning(int send_timeout_ms);
void TuneSocket(int fd, const SocketTuning& tuning);

// The accept loop of a thread-per-connection server, on a thread of its own.
// Every accepted socket (close-on-exec) goes to on_accept, which owns it from
// then on. reap runs before each hand-over and whenever accept fails for want
// of fds or memory (then the loop backs off 100 ms instead of spinning while
// connections end), so finished connections are joined as new ones arrive.
//
// Thread-safety: Start and Stop from one thread (the owner's); the callbacks
// run on the acceptor thread. No lock: the members are set by Start before
// the thread starts and read by Stop only after it is joined (stopping_ is
// atomic). The callbacks may take the owner's locks; the owner must not hold
// a lock that reap or on_accept takes when it calls Stop (Stop joins them).
class Acceptor {
 public:
  Acceptor() = default;
  ~Acceptor() { Stop(); }
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Takes listen_fd (from ListenTcp). `what` names the server in the log.
  void Start(std::string what, int listen_fd, uint16_t port, std::function<void()> reap,
             std::function<void(int fd)> on_accept);
  // Wakes the acceptor (shutdown(2) of the listener), joins it, closes the
  // listener. Idempotent; nothing is accepted once it returns.
  void Stop();

 private:
  void Loop();

  std::string what_;
  UniqueFd listen_fd_;
  uint16_t port_ = 0;
  std::function<void()> reap_;
  std::function<void(int)> on_accept_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Joins the threads of the finished connections of a server and drops them.
// `*conns` maps ids to unique_ptrs of connections with an atomic `finished`
// flag; `*mu` (a strata::Mutex, or any lockable) guards the map and is taken
// here. join(conn) joins its thread(s), outside `*mu`. Pointers rather than
// references, so that a caller whose map is GUARDED_BY(*mu) may pass it
// without holding the lock.
template <class Lockable, class Map, class Join>
void ReapFinished(Lockable* mu, Map* conns, Join join) EXCLUDES(*mu) {
  std::vector<typename Map::mapped_type> done;
  {
    std::lock_guard<Lockable> l(*mu);
    for (auto it = conns->begin(); it != conns->end();) {
      if (!it->second->finished) {
        ++it;
        continue;
      }
      done.push_back(std::move(it->second));
      it = conns->erase(it);
    }
  }
  for (auto& c : done) join(*c);
}

}  // namespace strata
