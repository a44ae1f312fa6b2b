// SinkServer's per-namespace and per-connection state, shared by
// sink_server.cc (lifecycle, accept, namespaces) and sink_server_session.cc
// (one connection's reader and acknowledger). Not for other users.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "common/byte_stream.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "oplog/mark_file.h"
#include "walsink/sink_server.h"

namespace strata {

// Lock order, with SinkServer's own (sink_server.h): ns_mu_, then a
// Namespace's mu, then the locks of that namespace's log (LocalSink::mu_,
// taken by Append, Tail and Stats called under mu). conns_mu_, a
// connection's write_mu and its ack_mu are leaves: nothing else is locked
// while one is held, and none is held across a call into a log. The checker
// cannot relate locks of different objects, so these are comments.

// A client that stops reading must not pin a thread forever, and one whose
// machine vanished must not hold its namespace open.
inline constexpr std::chrono::milliseconds kSinkSendTimeout{60000};
// The TLS handshake and HELLO, each: an unauthenticated connection holds a
// thread no longer.
inline constexpr std::chrono::milliseconds kSinkHelloTimeout{10000};

// One store id's op log, shared by every connection of that store.
struct SinkServer::Namespace {
  Namespace(std::string i, std::string d) : id(std::move(i)), dir(std::move(d)) {}
  const std::string id;
  const std::string dir;
  int users = 0;  // guarded by the server's ns_mu_: connections holding it
  std::atomic<bool> failed{false};
  // mu makes "check last[], append, update last[]" atomic across connections.
  Mutex mu;
  // Set by the first Acquire; reset (closing the log and its flock) only when
  // the last user of a failed namespace releases it, so threads of a
  // connection may use it without mu.
  std::unique_ptr<Sink> log;
  std::map<uint32_t, uint64_t> last GUARDED_BY(mu);  // branch -> highest seq
  // The fence: branch -> the highest writer epoch registered (set with log).
  std::unique_ptr<MarkFile> epochs GUARDED_BY(mu);
  Status error GUARDED_BY(mu);  // why it failed or did not open
};

struct SinkServer::Connection {
  Connection(uint64_t i, int f, std::string p) : id(i), fd(f), peer(std::move(p)) {}
  const uint64_t id;
  // Closed only when reaped (the Connection is destroyed), so shutdown()
  // never hits a reused fd.
  const UniqueFd fd;
  const std::string peer;
  // Set by the reader before the acknowledger starts; a SharedStream
  // because the reader reads while the acknowledger writes.
  std::unique_ptr<SharedStream> stream;
  std::string store_id = "-";     // set by the reader at HELLO
  std::shared_ptr<Namespace> ns;  // set at HELLO under conns_mu_ (FailNamespace reads it)
  std::thread reader;
  std::atomic<bool> finished{false};
  std::atomic<bool> killed{false};  // its namespace failed
  // The reader's alone: branch -> the epoch this connection registered it
  // with (its last BRANCH); APPENDs of a branch are refused below the fence.
  std::map<uint32_t, uint64_t> held;

  Mutex write_mu;  // the reader sends ERROR and replay frames, the acker ACKs
  bool write_closed GUARDED_BY(write_mu) = false;  // ERROR sent or a send failed

  Mutex ack_mu;
  CondVar ack_cv;
  uint64_t count GUARDED_BY(ack_mu) = 0;  // messages applied
  uint64_t token GUARDED_BY(ack_mu) = 0;  // log position covering their records
  bool reader_done GUARDED_BY(ack_mu) = false;
};

}  // namespace strata
