// The process side of PostgresServer and InitDb (endpoint/postgres_server.h), private to
// strata_postgres: running a program as another user from the multi-threaded daemon, the log file
// it writes to, and the notify socket it says READY=1 on.
//
// Contract:
// - Spawn forks on one process-wide launcher thread that lives as long as the process:
//   PR_SET_PDEATHSIG fires when the *thread* that forked exits. The child gets
//   PR_SET_PDEATHSIG(SIGKILL) after its change of credentials, so it dies with the daemon
//   (even kill -9), and exits at once if the daemon died before that.
// - The child leads a new session, runs as `id` if id.switch_user (its groups, gid and uid),
//   has exactly spec.env as its environment, stdin_fd as stdin, output_fd as stdout and stderr,
//   every other fd closed on exec, umask 077, cwd /, default signal dispositions and no
//   blocked signals.
// - Spawn returns the pid once execve succeeded; otherwise an error naming the step that failed,
//   with the child already reaped. Reaping a started child is the caller's: waitpid(pid), never
//   waitpid(-1) (the daemon has other children).
// - Every fd returned here is >= 3 and close-on-exec, so the child's dup2s onto 0, 1 and 2 never
//   overwrite a source (a daemon may run with its stdio closed).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/fd_util.h"
#include "common/status.h"

namespace strata::launcher {

// Who a child runs as. switch_user is false when we are not root: then the
// child simply stays ourselves.
struct Identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Ourselves when we are not root; otherwise `user` (kNotFound if unknown, kInvalid if root).
Result<Identity> ResolveIdentity(const std::string& user);

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the absolute path executed
  std::vector<std::string> env;
  Identity id;
  int stdin_fd = -1;   // >= 3, so that the dup2s in the child cannot clobber each other
  int output_fd = -1;  // >= 3; becomes stdout and stderr
};

// Forks and execs `spec` on the launcher thread; blocks until the child exec'ed or failed.
Result<pid_t> Spawn(const SpawnSpec& spec);

// Blocks every signal in the calling thread, for the daemon's internal threads.
void BlockAllSignals();

// Opens `path` for appending (created 0600) and gives it to `id`.
Result<UniqueFd> OpenLog(const std::string& path, const Identity& id);
Result<UniqueFd> OpenDevNull();
off_t FileSize(int fd);

// The last lines written to `path` since offset `start` (at most kLogTailLines
// lines from the last kLogTailBytes bytes, from the first error on if there is
// one), joined by newlines, without postgres's log_line_prefix.
std::string LogTail(const std::string& path, off_t start);

// Waits for child `pid` to end (retrying EINTR): its wait status. An error
// names `what` if it cannot be reaped (reaped elsewhere: ECHILD).
Result<int> WaitFor(pid_t pid, const std::string& what);

// "status 1", "killed by signal 9 (SIGKILL)", ...; empty: reaped elsewhere.
std::string DescribeWaitStatus(std::optional<int> ws);

// The processes running program `exe` with working directory `dir` (paths
// compared after resolving symlinks), as far as /proc lets us see: postgres
// servers and their children run with cwd = their data directory.
std::vector<pid_t> ProcessesRunningIn(const std::string& exe, const std::string& dir);

// A datagram socket for systemd's notify protocol, bound in socket_dir and
// owned by the user the server runs as (sending needs write permission on the
// socket file). Closed and unlinked once Start is done: later notifications
// (STOPPING=1) then fail at once instead of filling a queue nobody reads.
class NotifySocket {
 public:
  NotifySocket() = default;
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  Status Open(const std::string& path, const Identity& id);
  int fd() const { return fd_.get(); }
  // Drains the queued datagrams; true if one said READY=1.
  bool ReceivedReady();

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace strata::launcher
