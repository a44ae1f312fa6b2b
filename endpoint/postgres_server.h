// PostgresServer and InitDb: running stock PostgreSQL 15 (a postmaster, or
// initdb) as the postgres user, from a multi-threaded daemon that runs as root.
//
// Contract:
// - Every process is forked by one process-wide launcher thread that lives as
//   long as the process. The child gets PR_SET_PDEATHSIG(SIGKILL), so when the
//   daemon dies (even kill -9) its postmasters die with it: their PGDATA lives on
//   the daemon's FUSE mount, which is gone too. The postmaster's own children
//   notice the postmaster's death by themselves.
// - When we are root the child runs as `user` (its uid, gid and groups). When we
//   are not root, the child runs as ourselves, whatever `user` says (initdb
//   refuses to run as root).
// - The child's whole environment is PATH, LANG=C.UTF-8 and, for the
//   server, NOTIFY_SOCKET. Its stdin is /dev/null, stdout and stderr append to
//   `log_file`, and it is the leader of a new session (no terminal signals).
// - Readiness is postmaster.pid's status line saying "ready" (what pg_ctl
//   waits for), read whenever systemd's notify protocol says READY=1 (Debian's
//   postgres sends it when it accepts connections, and a standby when its
//   recovery starts) and every 100 ms besides.
// - A server is reaped with waitpid(pid) on its own thread (never waitpid(-1):
//   the daemon has other children), and is never signalled after it was reaped.
//   So the daemon must neither ignore SIGCHLD (auto-reaping) nor waitpid(-1).
// - Start first waits (at most 10 s, within start_timeout_ms) for postgres
//   processes still working in data_dir to exit: the children of a postmaster
//   that was killed hold its shared memory until they notice, and a new
//   postmaster refuses to start beside them. Still there: kBusy naming them.
// - During Start, socket_dir also holds the notify socket .strata-notify.<port>.
// - Errors carry the last lines postgres wrote to `log_file` during this run.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace strata {

struct PostgresOptions {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string data_dir;    // PGDATA (on a strata mount in production; any dir in tests)
  std::string socket_dir;  // unix_socket_directories: created if missing; made `user`'s, mode 0700
  std::string user = "postgres";  // run as this user when we are root; ignored otherwise
  int port = 5432;  // names the socket file .s.PGSQL.<port>; TCP is off (listen_addresses='')
  // Extra -c name=value, e.g. StrataServerSettings(). Start adds -p, unix_socket_directories,
  // listen_addresses='' and logging to stderr after these; they always win.
  std::vector<std::pair<std::string, std::string>> settings;
  std::string log_file;  // required: the server's stdout+stderr (appended); read back for errors
  int start_timeout_ms = 60000;  // crash recovery of a big branch can take a while
  int stop_timeout_ms = 60000;
  // Called at most once, on an internal thread, if the postmaster exits after Start succeeded
  // and without Stop() (crash, kill); `why` says how it exited. Given here, not set later, so
  // that no exit can go unnoticed. It may destroy the server; any other thread destroying the
  // server waits for a running on_exit to return, so on_exit must not wait for that thread.
  std::function<void(const Status& why)> on_exit;
};

class PostgresServer {
 public:
  // Starts postgres and returns once it accepts connections. On failure no process is left
  // behind and the message carries the last lines of the server log, e.g.
  // "postgres for /x exited during startup (status 1): FATAL: ...". kInvalid for bad
  // options, kNotFound for an unknown user, kUnavailable if it did not get ready in time.
  static Result<std::unique_ptr<PostgresServer>> Start(const PostgresOptions& opts);

  ~PostgresServer();  // Stop()s the server if it is still running
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  pid_t pid() const;
  std::string socket_path() const;  // socket_dir + "/.s.PGSQL.<port>"
  bool running() const;             // false once the postmaster has exited

  // Fast shutdown (SIGINT: clients are disconnected, a shutdown checkpoint is written). After
  // stop_timeout_ms escalates to SIGQUIT (immediate shutdown) and, min(stop_timeout_ms, 10 s)
  // later, to SIGKILL. OK
  // only for a clean exit (status 0 after SIGINT). Idempotent: later calls return the first
  // answer. If the server had already exited without Stop(), returns how (an error).
  Status Stop() EXCLUDES(stop_mu_);

  struct State;  // shared with the thread that reaps the postmaster

 private:
  PostgresServer(const PostgresOptions& opts, std::shared_ptr<State> state);

  // Set at construction.
  const PostgresOptions opts_;
  const std::shared_ptr<State> state_;

  std::thread reaper_;  // started by the constructor, joined or detached by the destructor
  // Lock order: stop_mu_, then State::mu (postgres_server.cc), a leaf: nothing
  // is called with it held but waitpid and kill. Callers (EndpointManager)
  // may hold their own locks when calling running(), but not Stop(), which
  // waits for seconds.
  Mutex stop_mu_;  // serializes Stop()
  std::optional<Status> stop_result_ GUARDED_BY(stop_mu_);
};

struct InitDbOptions {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string data_dir;           // must exist and be empty, owned by `user` (the caller chowns it)
  std::string user = "postgres";  // run as this user when root; also the bootstrap superuser
  std::string log_file;           // required: initdb's output (appended)
  std::vector<std::pair<std::string, std::string>> settings;  // appended to postgresql.conf
};

// Runs initdb as `user`: encoding UTF8, locale C.UTF-8 with C collation, trust auth for local
// (unix socket) connections, data checksums on (-k), superuser named `user`. Then appends
// `settings` to postgresql.conf. Errors carry initdb's last lines.
Status InitDb(const InitDbOptions& opts);

// The major version of the PostgreSQL binaries in bin_dir ("15"), from `postgres -V` run as
// `user` (as InitDb runs).
Result<std::string> PostgresMajorVersion(const std::string& bin_dir, const std::string& user);

// The settings strata gives every server it runs (docs/design.md, docs/postgres.md); pass them to
// InitDb (written into postgresql.conf) and to Start (-c, so older clusters get them too).
std::vector<std::pair<std::string, std::string>> StrataServerSettings();

}  // namespace strata
