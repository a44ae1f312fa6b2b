// SinkServer's per-namespace and per-connection state, shared by
// sink_server.cc (lifecycle, accept, namespaces) and sink_server_session.cc
// (one connection's reader and acknowledger). Not for other users.
#pragma once

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "walsink/sink_server.h"

namespace strata {

// One store id's op log, shared by every connection of that store.
struct SinkServer::Namespace {
  Namespace(std::string i, std::string d) : id(std::move(i)), dir(std::move(d)) {}
  const std::string id;
  const std::string dir;
  int users = 0;  // GUARDED_BY(SinkServer::ns_mu_): connections holding it
  std::atomic<bool> failed{false};
  // mu makes "check last[], append, update last[]" atomic across connections.
  std::mutex mu;
  // Set by the first Acquire; reset (closing the log and its flock) only when
  // the last user of a failed namespace releases it, so threads of a
  // connection may use it without mu.
  std::unique_ptr<Sink> log;
  std::map<uint32_t, uint64_t> last;  // GUARDED_BY(mu): branch -> highest seq
  Status error;                       // GUARDED_BY(mu): why it failed or did not open
};

struct SinkServer::Connection {
  Connection(uint64_t i, int f, std::string p) : id(i), fd(f), peer(std::move(p)) {}
  ~Connection() { ::close(fd); }
  const uint64_t id;
  const int fd;  // closed only when reaped, so shutdown() never hits a reused fd
  const std::string peer;
  std::string store_id = "-";     // set by the reader at HELLO
  std::shared_ptr<Namespace> ns;  // set at HELLO under conns_mu_ (FailNamespace reads it)
  std::thread reader;
  std::atomic<bool> finished{false};
  std::atomic<bool> killed{false};  // its namespace failed

  std::mutex write_mu;        // the reader sends ERROR and replay frames, the acker ACKs
  bool write_closed = false;  // GUARDED_BY(write_mu): ERROR sent or a send failed

  std::mutex ack_mu;
  std::condition_variable ack_cv;
  uint64_t count = 0;        // GUARDED_BY(ack_mu): messages applied
  uint64_t token = 0;        // GUARDED_BY(ack_mu): log position covering their records
  bool reader_done = false;  // GUARDED_BY(ack_mu)
};

}  // namespace strata
