// Private to Proxy's two halves: proxy.cc (accepting, stopping, cancel
// forwarding and the byte relay) and proxy_session.cc (session start,
// authentication and routing of one client connection).
//
// Contract: a Conn is owned by Proxy::conns_ and served by its own thread.
// client and backend are written only under Proxy::mu_ (Stop shuts them down
// from another thread); EndConn closes them and sets them to -1.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include "pgwire/proxy.h"

namespace strata {

struct Proxy::Conn {
  Conn(uint64_t id, int fd, std::string peer) : id(id), client(fd), peer(std::move(peer)) {}
  const uint64_t id;
  int client;        // guarded by mu_ against Stop's shutdown; -1 once closed
  int backend = -1;  // likewise
  const std::string peer;
  std::thread thread;
  std::atomic<bool> finished{false};
};

}  // namespace strata
