// Private to Proxy's two halves: proxy.cc (accepting, stopping, cancel
// forwarding and the byte relay) and proxy_session.cc (session start,
// authentication and routing of one client connection).
//
// Contract: a Conn is owned by Proxy::conns_ and served by its own thread,
// the session thread. Only that thread opens and closes the Conn's sockets,
// under the Conn's mu (Stop shuts them down from another thread, under the
// same lock); so the session thread may use an fd it read under mu without
// holding mu: nobody else can close it meanwhile.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "pgwire/proxy.h"

namespace strata {

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

}  // namespace strata
