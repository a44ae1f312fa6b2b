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
//
// Thread-safety: every method may be called from any thread (the proxy's
// sessions, the API, the reaper). Lock order: mu_ (the map), then one
// Endpoint::mu; mu_ is never waited for while an Endpoint::mu is held (it
// only try-locks one, in SuspendIdle). Across modules:
//  - Called with an Endpoint::mu held: the resolver (the catalog's
//    Current(), a leaf lock), PostgresServer::running() (its State::mu, a
//    leaf), and Metrics (a leaf). Called with mu_ held: the resolver only.
//  - Called with no lock of the manager held: the flush callback
//    (VersionStore::Flush, which takes the version store's locks and does
//    object-store I/O) and PostgresServer::Start/Stop (seconds long). The
//    endpoint is then kStarting or kStopping, and every other caller waits
//    on its CondVar until it settles.
//  - Callers must not hold a lock that the resolver or the flush takes (the
//    catalog's, the version store's) when calling in. Fleet calls in holding
//    only its reap_mu_ (in Reap), which nothing here takes; BranchAccess, the
//    API and the metrics collector (run by Metrics::Render outside its own
//    lock) hold none.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "endpoint/postgres_server.h"

namespace strata {

// What the manager needs to know about a branch (from the catalog).
struct EndpointTarget {
  uint32_t id = 0;             // the branch id: names its run directory
  std::string data_dir;        // PGDATA: MOUNT/<branch>
  int64_t idle_timeout_s = 0;  // 0: EndpointOptions::idle_timeout_s
  std::string no_start;        // non-empty: why its server must not run (a start is kInvalid)
  // Asked just before a start (only then: the resolver answers status
  // calls too); an error refuses the start with it (docs/cluster.md: a
  // branch's server runs where the branch is written).
  std::function<Status()> before_start;
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
  // Timestamps (last_active_ns, started_ns) and start durations. SuspendIdle
  // takes its `now` from the caller (the reaper reads this clock too).
  Clock* clock = Clock::Real();
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
  Result<std::string> Acquire(const std::string& branch) EXCLUDES(mu_);
  void Release(const std::string& branch) EXCLUDES(mu_);

  Result<EndpointInfo> Start(const std::string& branch) EXCLUDES(mu_);
  // Starts the branch's server soon, on the manager's starter thread (one
  // start at a time), and returns at once: a new branch whose client is
  // about to connect. A session that comes first starts it itself; a failed
  // start is logged and kept as last_error, like any other.
  void StartInBackground(const std::string& branch) EXCLUDES(mu_, starter_mu_);
  // Runs CHECKPOINT on the branch's server if it is running (held as a
  // session meanwhile) and its WAL since the last checkpoint's redo point
  // is at least `min_redo_bytes`, so that a fork taken right after needs
  // little crash recovery. Returns whether it ran; false if the server is
  // not running or the redo distance is below the bar.
  Result<bool> Checkpoint(const std::string& branch, uint64_t min_redo_bytes) EXCLUDES(mu_);
  // For a branch whose server is stopped (Block): if its cluster did not
  // shut down cleanly (the server died, or a stop had to kill it), what it
  // committed last may be in its WAL only. Starts the server once (crash
  // recovery writes it out) and stops it cleanly, whatever the block. OK
  // when the cluster is clean or there is none; kIO if it is still not
  // clean after that.
  Status RecoverIfCrashed(const std::string& branch) EXCLUDES(mu_);
  // Stops the server (its sessions are disconnected) and flushes the branch.
  Result<EndpointInfo> Suspend(const std::string& branch) EXCLUDES(mu_);
  Result<EndpointInfo> Get(const std::string& branch) EXCLUDES(mu_);
  std::vector<EndpointInfo> List() EXCLUDES(mu_);
  // Suspends every running endpoint; returns how many.
  int SuspendAll() EXCLUDES(mu_);

  // Before a branch is deleted or reset: refuses new sessions ("branch is
  // being <why>") and stops the server. Unblock ends the refusal (the
  // change failed); Forget drops the endpoint (the branch is gone).
  Status Block(const std::string& branch, const std::string& why) EXCLUDES(mu_);
  void Unblock(const std::string& branch) EXCLUDES(mu_);
  void Forget(const std::string& branch) EXCLUDES(mu_);

  // Stops servers idle past their timeout at `now_ns` (opts.clock's
  // NowNs()), and notices servers that died.
  void SuspendIdle(int64_t now_ns) EXCLUDES(mu_);

  // Ends the starter thread (after the start it is running), stops every
  // server and refuses new sessions from now on (daemon exit).
  void Drain() EXCLUDES(mu_, starter_mu_);

 private:
  // One branch's server. Shared by the map and the callers working on it, so
  // Forget may drop it from the map while a caller still holds it.
  struct Endpoint {
    explicit Endpoint(std::string b) : branch(std::move(b)) {}
    const std::string branch;

    Mutex mu;    // after EndpointManager::mu_ (see the lock order above)
    CondVar cv;  // state changes
    EndpointState state GUARDED_BY(mu) = EndpointState::kSuspended;
    std::unique_ptr<PostgresServer> server GUARDED_BY(mu);  // set iff kRunning
    uint32_t branch_id GUARDED_BY(mu) = 0;
    int connections GUARDED_BY(mu) = 0;
    int64_t last_active_ns GUARDED_BY(mu) = 0;
    int64_t started_ns GUARDED_BY(mu) = 0;
    uint64_t starts GUARDED_BY(mu) = 0;
    bool start_tried GUARDED_BY(mu) = false;  // a start ran (even one that failed)
    double last_start_seconds GUARDED_BY(mu) = 0;
    std::string last_error GUARDED_BY(mu);
    std::string blocked GUARDED_BY(mu);  // non-empty: why sessions are refused
  };
  std::shared_ptr<Endpoint> Find(const std::string& branch, bool create) EXCLUDES(mu_);
  // Every endpoint, for the callers that work on each in turn.
  std::vector<std::shared_ptr<Endpoint>> All() EXCLUDES(mu_);
  // State kRunning or kSuspended. Stops the server if any (ep->mu released
  // meanwhile), then flushes. Returns with state kSuspended.
  void StopLocked(Endpoint* ep, const char* reason) REQUIRES(ep->mu);
  // Waits out a start or stop in progress.
  void Settle(Endpoint* ep) REQUIRES(ep->mu);
  // A running server that exited on its own: suspended.
  void ReapIfDead(Endpoint* ep) REQUIRES(ep->mu);
  // Waits out a change in progress, then starts the server unless it runs;
  // kBusy when blocked, kUnavailable when draining.
  Status EnsureRunning(Endpoint* ep, const char* reason) REQUIRES(ep->mu);
  // State kSuspended. Starts the server (ep->mu released meanwhile); on
  // success the state is kRunning.
  Status StartLocked(Endpoint* ep, const char* reason) REQUIRES(ep->mu);
  // `first_start`: this daemon never started the branch's server.
  Result<PostgresOptions> ServerOptions(const std::string& branch, const EndpointTarget& t,
                                        bool first_start);
  // The timeout of `branch`: its own, or the manager's default.
  int64_t IdleTimeoutOf(const std::string& branch);
  EndpointInfo InfoLocked(const Endpoint& ep) REQUIRES(ep.mu);

  // Set at construction.
  const EndpointOptions opts_;
  const EndpointResolver resolve_;
  const std::function<Status(uint32_t)> flush_;
  Metrics* const metrics_;

  Mutex mu_;  // before any Endpoint::mu
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints_ GUARDED_BY(mu_);
  std::atomic<bool> draining_{false};

  // StartInBackground's queue. starter_mu_ is a leaf, held only to touch
  // these fields; the thread runs StartFor with no lock held.
  void StarterLoop() EXCLUDES(mu_, starter_mu_);
  Result<EndpointInfo> StartFor(const std::string& branch, const char* reason) EXCLUDES(mu_);
  Mutex starter_mu_;
  CondVar starter_cv_;  // the queue grew, or the starter must end
  std::deque<std::string> starter_queue_ GUARDED_BY(starter_mu_);
  bool starter_stop_ GUARDED_BY(starter_mu_) = false;
  std::thread starter_ GUARDED_BY(starter_mu_);  // started on first use; joined by Drain
};

}  // namespace strata
