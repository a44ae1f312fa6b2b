// EndpointManager: the postgres servers the daemon runs, one per branch that
// has clients (docs/api.md, "Endpoints").
//
// An endpoint is suspended (no process) until a session or the API asks for
// it; it is then started and counted as running while sessions hold it. When
// no session has held it for its idle timeout it is stopped cleanly (fast
// shutdown: a shutdown checkpoint) and its branch is flushed to the store, so
// a suspended branch costs no process and no memory. A server that dies on
// its own is noticed by the next session or the next idle check and counts as
// suspended; the next session starts it again (crash recovery).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "endpoint/postgres_server.h"

namespace strata {

// What the manager needs to know about a branch (from the catalog).
struct EndpointTarget {
  uint32_t id = 0;             // the branch id: names its run directory
  std::string data_dir;        // PGDATA: MOUNT/<branch>
  int64_t idle_timeout_s = 0;  // 0: EndpointOptions::idle_timeout_s
};
// kNotFound for an unknown branch.
using EndpointResolver = std::function<Result<EndpointTarget>(const std::string& branch)>;

struct EndpointOptions {
  std::string run_dir;  // per-branch socket directories and server logs; made 0711
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string user = "postgres";
  int64_t idle_timeout_s = 300;
  std::vector<std::pair<std::string, std::string>> settings;  // extra -c name=value
  int start_timeout_ms = 60000;
};

enum class EndpointState { kSuspended, kStarting, kRunning, kStopping };
const char* EndpointStateName(EndpointState s);

struct EndpointInfo {
  std::string branch;
  EndpointState state = EndpointState::kSuspended;
  int pid = 0;
  int connections = 0;
  int64_t idle_timeout_s = 0;
  int64_t last_active_ns = 0;  // last session end, or the start
  int64_t started_ns = 0;
  uint64_t starts = 0;  // by this daemon
  double last_start_seconds = 0;
  std::string socket_path;
  std::string last_error;  // why the last start failed or the server died
};

class EndpointManager {
 public:
  // `flush(id)` writes a stopped branch's memtable to the store.
  EndpointManager(EndpointOptions opts, EndpointResolver resolve,
                  std::function<Status(uint32_t)> flush, Metrics* metrics);
  ~EndpointManager();  // Drain()

  // Writes run_dir/hba.conf (local connections trusted: the socket
  // directories are private to the postgres user) and checks the binaries.
  Status Init();

  // A session on `branch`: starts its server if suspended (blocks until it
  // accepts connections) and holds it until Release. Returns the server's
  // socket path. kNotFound: no such branch; kBusy: being deleted or reset;
  // kUnavailable: draining, or the server could not start (with its log).
  Result<std::string> Acquire(const std::string& branch);
  void Release(const std::string& branch);

  Result<EndpointInfo> Start(const std::string& branch);
  // Stops the server (its sessions are disconnected) and flushes the branch.
  Result<EndpointInfo> Suspend(const std::string& branch);
  Result<EndpointInfo> Get(const std::string& branch);
  std::vector<EndpointInfo> List();
  // Suspends every running endpoint; returns how many.
  int SuspendAll();

  // Before a branch is deleted or reset: refuses new sessions ("branch is
  // being <why>") and stops the server. Unblock ends the refusal (the
  // change failed); Forget drops the endpoint (the branch is gone).
  Status Block(const std::string& branch, const std::string& why);
  void Unblock(const std::string& branch);
  void Forget(const std::string& branch);

  // Stops servers idle past their timeout, and notices servers that died.
  void SuspendIdle(int64_t now_ns);

  // Stops every server and refuses new sessions from now on (daemon exit).
  void Drain();

 private:
  struct Endpoint;
  std::shared_ptr<Endpoint> Find(const std::string& branch, bool create);
  // REQUIRES: ep->mu held via `lock`; state kRunning or kSuspended. Stops the
  // server if any, then flushes. Returns with the lock held, state kSuspended.
  void StopLocked(Endpoint* ep, std::unique_lock<std::mutex>& lock, const char* reason);
  // REQUIRES: lock held. Waits out a start or stop in progress.
  void Settle(Endpoint* ep, std::unique_lock<std::mutex>& lock);
  // REQUIRES: lock held. A running server that exited on its own: suspended.
  void ReapIfDead(Endpoint* ep, std::unique_lock<std::mutex>& lock);
  // REQUIRES: lock held. Waits out a change in progress, then starts the
  // server unless it runs; kBusy when blocked, kUnavailable when draining.
  Status EnsureRunning(Endpoint* ep, std::unique_lock<std::mutex>& lock, const char* reason);
  // REQUIRES: lock held, state kSuspended. Starts the server (lock released
  // meanwhile); on success the state is kRunning.
  Status StartLocked(Endpoint* ep, std::unique_lock<std::mutex>& lock, const char* reason);
  Result<PostgresOptions> ServerOptions(const std::string& branch, const EndpointTarget& t);
  EndpointInfo InfoLocked(const Endpoint& ep);

  const EndpointOptions opts_;
  const EndpointResolver resolve_;
  const std::function<Status(uint32_t)> flush_;
  Metrics* const metrics_;

  std::mutex mu_;  // guards endpoints_; never waited for while an Endpoint::mu is held
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints_;
  std::atomic<bool> draining_{false};
};

}  // namespace strata
