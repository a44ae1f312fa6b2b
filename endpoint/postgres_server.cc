#include "endpoint/postgres_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string_view>

#include "common/fd_util.h"
#include "common/text.h"
#include "endpoint/process_launcher.h"

namespace strata {
namespace {

using launcher::DescribeWaitStatus;
using launcher::Identity;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// After SIGQUIT the postmaster SIGKILLs its own children after 5 s, then exits.
constexpr int kQuitGraceMs = 10000;
constexpr int kKillGraceMs = 10000;
// How often Start looks at postmaster.pid when no READY=1 arrives.
constexpr int kPidFilePollMs = 100;
// ... and after READY=1 while it does not say "ready" yet (a standby).
constexpr int kNotifiedPollMs = 5;

// How long Start waits for a killed server's children to leave (see the header).
constexpr int kOldServerWaitMs = 10000;
constexpr int kOldServerPollMs = 20;

// ---------------------------------------------------------------------------
// Files and options.

std::string WithTail(std::string msg, const std::string& tail) {
  if (!tail.empty()) msg += ": " + tail;
  return msg;
}

Status CheckAbsolute(const std::string& path, const char* what) {
  if (path.empty() || path[0] != '/') {
    return Status::Invalid(std::string(what) + " must be an absolute path, not '" + path + "'");
  }
  return Status::OK();
}

Status CheckSettings(const std::vector<std::pair<std::string, std::string>>& settings) {
  for (const auto& [name, value] : settings) {
    const bool good_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.';
    });
    if (!good_name) return Status::Invalid("bad postgres setting name '" + name + "'");
    if (value.find_first_of(std::string_view("\0\n\r", 3)) != std::string::npos) {
      return Status::Invalid("bad value for postgres setting " + name + ": a NUL or newline");
    }
  }
  return Status::OK();
}

// The whole environment of a child. Locale flags are given explicitly; LANG
// only sets the language of messages.
std::vector<std::string> BaseEnv() { return {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}; }

Status PrepareSocketDir(const std::string& dir, const Identity& id) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create socket directory " + dir);
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + dir);
  if (!S_ISDIR(st.st_mode)) return Status::Invalid("socket_dir " + dir + " is not a directory");
  if (id.switch_user && (st.st_uid != id.uid || st.st_gid != id.gid) &&
      lchown(dir.c_str(), id.uid, id.gid) != 0) {
    return Status::FromErrno(errno, "chown socket directory " + dir);
  }
  if ((st.st_mode & 07777) != 0700 && chmod(dir.c_str(), 0700) != 0) {
    return Status::FromErrno(errno, "chmod socket directory " + dir);
  }
  return Status::OK();
}

// pg_ctl's readiness test: postmaster.pid names our pid on line 1 (so it is
// not a stale file) and says "ready" on line 8.
bool PidFileSaysReady(const std::string& data_dir, pid_t pid) {
  UniqueFd fd(open((data_dir + "/postmaster.pid").c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  char buf[1024];
  ssize_t n = read(fd.get(), buf, sizeof buf);
  if (n <= 0) return false;
  std::string_view rest(buf, static_cast<size_t>(n));
  std::vector<std::string_view> lines;
  while (!rest.empty() && lines.size() < 8) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) break;  // a line still being written
    lines.push_back(TrimAsciiSpace(rest.substr(0, nl)));
    rest = rest.substr(nl + 1);
  }
  return lines.size() == 8 && lines[0] == std::to_string(pid) && lines[7] == "ready";
}

}  // namespace

// ---------------------------------------------------------------------------
// The server.

struct PostgresServer::State {
  // Set by Start before the reaper thread starts; read-only from then on.
  std::string what;  // "postgres for <data_dir>"
  std::string log_file;
  off_t log_start = 0;  // the log's size before this run: tails start here
  pid_t pid = -1;
  std::function<void(const Status&)> on_exit;
  UniqueFd exit_event;  // eventfd, readable once the postmaster is reaped: Start polls it

  Mutex mu;    // after PostgresServer::stop_mu_; the pid is reaped under it (see Reap)
  CondVar cv;  // signalled when `exited` becomes true
  bool exited GUARDED_BY(mu) = false;
  std::optional<int> wait_status GUARDED_BY(mu);  // empty if somebody else reaped it
  bool started GUARDED_BY(mu) = false;            // Start succeeded: an exit from now on is news
  bool stop_requested GUARDED_BY(mu) = false;     // Stop() or a failing Start: an exit is expected

  std::string Tail() const { return launcher::LogTail(log_file, log_start); }
};

namespace {

// The reaper thread. The pid is reaped only while holding s->mu and together
// with setting `exited`, so whoever holds s->mu and sees !exited may signal the
// pid: it cannot have been reused.
void Reap(const std::shared_ptr<PostgresServer::State>& s) {
  launcher::BlockAllSignals();
  siginfo_t info{};
  int rc;
  do {
    rc = waitid(P_PID, static_cast<id_t>(s->pid), &info, WEXITED | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  bool notify;
  std::optional<int> wait_status;
  {
    MutexLock l(&s->mu);
    int ws = 0;
    pid_t r;
    do {
      r = waitpid(s->pid, &ws, 0);
    } while (r < 0 && errno == EINTR);
    // ECHILD: reaped by a waitpid(-1) elsewhere, or SIGCHLD is ignored.
    if (r == s->pid) s->wait_status = ws;
    s->exited = true;
    notify = s->started && !s->stop_requested;
    wait_status = s->wait_status;
  }
  s->cv.SignalAll();
  const uint64_t one = 1;
  ssize_t n = write(s->exit_event.get(), &one, sizeof one);
  (void)n;
  if (notify && s->on_exit) {
    s->on_exit(Status::IO(WithTail(
        s->what + " exited unexpectedly (" + DescribeWaitStatus(wait_status) + ")", s->Tail())));
  }
}

// Holding s.mu (see Reap), sends each signal in turn while the postmaster
// lives, and gives it wait_ms to exit after each. Returns how many were sent.
size_t SignalUntilExit(PostgresServer::State& s, std::initializer_list<std::pair<int, int>> steps)
    REQUIRES(s.mu) {
  size_t sent = 0;
  for (const auto& [sig, wait_ms] : steps) {
    if (s.exited) break;
    if (kill(s.pid, sig) == 0) ++sent;
    s.cv.WaitFor(&s.mu, milliseconds(wait_ms), [&s]() REQUIRES(s.mu) { return s.exited; });
  }
  return sent;
}

// Waits for the postgres processes working in the data directory (a killed
// postmaster's children) to exit; kBusy naming them if they outlive the wait.
Status WaitForOldServer(const PostgresOptions& opts) {
  const std::string exe = opts.bin_dir + "/postgres";
  const auto deadline =
      steady_clock::now() + milliseconds(std::min(kOldServerWaitMs, opts.start_timeout_ms));
  std::vector<pid_t> old = launcher::ProcessesRunningIn(exe, opts.data_dir);
  if (!old.empty())
    spdlog::info("waiting for {} old postgres processes in {}", old.size(), opts.data_dir);
  while (!old.empty() && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(kOldServerPollMs));
    old = launcher::ProcessesRunningIn(exe, opts.data_dir);
  }
  if (old.empty()) return Status::OK();
  std::string pids;
  for (pid_t p : old) pids += (pids.empty() ? "" : ", ") + std::to_string(p);
  return Status::Busy("postgres processes of an earlier server still work in " + opts.data_dir +
                      " (pid " + pids + "); a new server cannot start beside them");
}

Status WaitUntilReady(PostgresServer::State& s, launcher::NotifySocket& notify,
                      const PostgresOptions& opts) {
  const auto deadline = steady_clock::now() + milliseconds(opts.start_timeout_ms);
  // A standby sends READY=1 when its recovery starts (systemd's idea of a
  // standby being up), so READY=1 only wakes us: postmaster.pid saying
  // "ready" (written just before a primary's READY=1) is the answer. After
  // an early READY=1 the file is read more often.
  bool notified = false;
  for (;;) {
    pollfd fds[2] = {{notify.fd(), POLLIN, 0}, {s.exit_event.get(), POLLIN, 0}};
    const auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now()).count();
    const int wait_ms = notified ? kNotifiedPollMs : kPidFilePollMs;
    if (poll(fds, 2, static_cast<int>(std::clamp<int64_t>(left, 0, wait_ms))) < 0 &&
        errno != EINTR) {
      return Status::FromErrno(errno, "poll");
    }
    notified = notify.ReceivedReady() || notified;
    const bool ready = PidFileSaysReady(opts.data_dir, s.pid);
    bool exited;
    std::optional<int> ws;
    {
      MutexLock l(&s.mu);
      exited = s.exited;
      ws = s.wait_status;
      if (!exited && ready) {
        s.started = true;
        return Status::OK();
      }
    }
    if (exited) {
      return Status::IO(
          WithTail(s.what + " exited during startup (" + DescribeWaitStatus(ws) + ")", s.Tail()));
    }
    if (steady_clock::now() >= deadline) {
      return Status::Unavailable(WithTail(s.what + " did not accept connections within " +
                                              std::to_string(opts.start_timeout_ms) + " ms",
                                          s.Tail()));
    }
  }
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(const PostgresOptions& opts) {
  STRATA_RETURN_IF_ERROR(CheckAbsolute(opts.bin_dir, "bin_dir"));
  STRATA_RETURN_IF_ERROR(CheckAbsolute(opts.data_dir, "data_dir"));
  STRATA_RETURN_IF_ERROR(CheckAbsolute(opts.socket_dir, "socket_dir"));
  if (opts.log_file.empty()) return Status::Invalid("postgres needs a log_file");
  if (opts.port < 1 || opts.port > 65535) {
    return Status::Invalid("bad postgres port " + std::to_string(opts.port));
  }
  STRATA_RETURN_IF_ERROR(CheckSettings(opts.settings));
  const std::string port = std::to_string(opts.port);
  // postgres's own socket and its ".lock" file must fit in sun_path too.
  const std::string socket_lock = opts.socket_dir + "/.s.PGSQL." + port + ".lock";
  if (socket_lock.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::Invalid("socket_dir too long for a unix socket: " + opts.socket_dir);
  }

  STRATA_ASSIGN_OR_RETURN(Identity id, launcher::ResolveIdentity(opts.user));
  STRATA_RETURN_IF_ERROR(PrepareSocketDir(opts.socket_dir, id));
  STRATA_ASSIGN_OR_RETURN(UniqueFd log, launcher::OpenLog(opts.log_file, id));
  STRATA_ASSIGN_OR_RETURN(UniqueFd dev_null, launcher::OpenDevNull());
  launcher::NotifySocket notify;
  STRATA_RETURN_IF_ERROR(notify.Open(opts.socket_dir + "/.strata-notify." + port, id));

  auto state = std::make_shared<State>();
  state->what = "postgres for " + opts.data_dir;
  state->log_file = opts.log_file;
  state->log_start = launcher::FileSize(log.get());
  state->on_exit = opts.on_exit;
  state->exit_event.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->exit_event.valid()) return Status::FromErrno(errno, "eventfd");

  launcher::SpawnSpec spec;
  spec.argv = {opts.bin_dir + "/postgres", "-D", opts.data_dir};
  for (const auto& [name, value] : opts.settings) {
    spec.argv.insert(spec.argv.end(), {"-c", name + "=" + value});
  }
  std::string quoted_dir;  // a list element: double quotes, "" for a quote
  for (char c : opts.socket_dir) quoted_dir += c == '"' ? "\"\"" : std::string(1, c);
  // Last, so the caller's settings cannot move the socket or the log that
  // socket_path() and our error messages rely on.
  spec.argv.insert(
      spec.argv.end(),
      {"-p", port, "-c", "unix_socket_directories=\"" + quoted_dir + "\"", "-c",
       "listen_addresses=", "-c", "logging_collector=off", "-c", "log_destination=stderr"});
  spec.env = BaseEnv();
  spec.env.push_back("NOTIFY_SOCKET=" + opts.socket_dir + "/.strata-notify." + port);
  spec.id = id;
  spec.stdin_fd = dev_null.get();
  spec.output_fd = log.get();

  STRATA_RETURN_IF_ERROR(WaitForOldServer(opts));
  STRATA_ASSIGN_OR_RETURN(state->pid, launcher::Spawn(spec));
  std::unique_ptr<PostgresServer> server(new PostgresServer(opts, state));
  Status ready = WaitUntilReady(*state, notify, opts);
  if (!ready.ok()) {
    // Not a clean stop: nothing was started that needs a checkpoint.
    MutexLock sl(&server->stop_mu_);
    State& s = *state;
    MutexLock l(&s.mu);
    s.stop_requested = true;
    SignalUntilExit(s, {{SIGQUIT, kQuitGraceMs}, {SIGKILL, kKillGraceMs}});
    if (!s.exited) spdlog::error("{} did not exit after SIGKILL", s.what);
    server->stop_result_ = ready;
    return ready;
  }
  return server;
}

PostgresServer::PostgresServer(const PostgresOptions& opts, std::shared_ptr<State> state)
    : opts_(opts), state_(std::move(state)) {
  reaper_ = std::thread([s = state_] { Reap(s); });
}

PostgresServer::~PostgresServer() {
  // A server that exited by itself was reported by on_exit already.
  if (running()) {
    Status st = Stop();
    if (!st.ok()) spdlog::warn("{}", st.message());
  }
  bool exited;
  {
    MutexLock l(&state_->mu);
    exited = state_->exited;
  }
  // From on_exit the reaper is this very thread; a postmaster that survived
  // SIGKILL (stuck in the kernel) would block a join forever. Either way the
  // reaper only touches the shared State.
  if (reaper_.get_id() == std::this_thread::get_id() || !exited) {
    reaper_.detach();
  } else {
    reaper_.join();
  }
}

pid_t PostgresServer::pid() const { return state_->pid; }

std::string PostgresServer::socket_path() const {
  return opts_.socket_dir + "/.s.PGSQL." + std::to_string(opts_.port);
}

bool PostgresServer::running() const {
  MutexLock l(&state_->mu);
  return !state_->exited;
}

Status PostgresServer::Stop() {
  MutexLock sl(&stop_mu_);
  if (stop_result_) return *stop_result_;
  State& s = *state_;
  MutexLock l(&s.mu);
  if (s.exited) {
    const std::optional<int> ws = s.wait_status;
    l.Unlock();
    stop_result_ = Status::IO(
        WithTail(s.what + " had exited unexpectedly (" + DescribeWaitStatus(ws) + ")", s.Tail()));
    return *stop_result_;
  }
  s.stop_requested = true;
  const size_t sent = SignalUntilExit(s, {{SIGINT, opts_.stop_timeout_ms},
                                          {SIGQUIT, std::min(opts_.stop_timeout_ms, kQuitGraceMs)},
                                          {SIGKILL, kKillGraceMs}});
  const bool exited = s.exited;
  const std::optional<int> ws = s.wait_status;
  l.Unlock();
  if (!exited) {
    // Not remembered: a later Stop() may still see it go.
    return Status::IO(state_->what + " (pid " + std::to_string(state_->pid) +
                      ") did not exit even after SIGKILL");
  }
  if (sent > 1) {
    stop_result_ =
        Status::IO(state_->what + " did not stop within " + std::to_string(opts_.stop_timeout_ms) +
                   " ms; sent SIGQUIT" + (sent > 2 ? " and SIGKILL" : "") + " (" +
                   DescribeWaitStatus(ws) + "); its next start runs crash recovery");
  } else if (ws && *ws == 0) {
    stop_result_ = Status::OK();
  } else {
    stop_result_ = Status::IO(WithTail(
        state_->what + " exited during shutdown (" + DescribeWaitStatus(ws) + ")", state_->Tail()));
  }
  return *stop_result_;
}

// ---------------------------------------------------------------------------

Status InitDb(const InitDbOptions& opts) {
  STRATA_RETURN_IF_ERROR(CheckAbsolute(opts.bin_dir, "bin_dir"));
  STRATA_RETURN_IF_ERROR(CheckAbsolute(opts.data_dir, "data_dir"));
  if (opts.log_file.empty()) return Status::Invalid("initdb needs a log_file");
  if (opts.user.empty()) return Status::Invalid("initdb needs a user");
  STRATA_RETURN_IF_ERROR(CheckSettings(opts.settings));
  STRATA_ASSIGN_OR_RETURN(Identity id, launcher::ResolveIdentity(opts.user));
  STRATA_ASSIGN_OR_RETURN(UniqueFd log, launcher::OpenLog(opts.log_file, id));
  STRATA_ASSIGN_OR_RETURN(UniqueFd dev_null, launcher::OpenDevNull());
  const off_t log_start = launcher::FileSize(log.get());

  launcher::SpawnSpec spec;
  // C collation: byte order, fast, and the same under every glibc, so indexes
  // stay valid when a branch is started on another host. C.UTF-8 ctype still
  // classifies non-ASCII letters. The superuser is named `user` even when we
  // run as somebody else (not root), so clients can always connect as `user`.
  spec.argv = {opts.bin_dir + "/initdb",
               "-D",
               opts.data_dir,
               "-U",
               opts.user,
               "--encoding=UTF8",
               "--locale=C.UTF-8",
               "--lc-collate=C",
               "--data-checksums",
               "--auth-local=trust",
               "--auth-host=scram-sha-256",
               "--no-instructions"};
  spec.env = BaseEnv();
  spec.id = id;
  spec.stdin_fd = dev_null.get();
  spec.output_fd = log.get();
  STRATA_ASSIGN_OR_RETURN(pid_t pid, launcher::Spawn(spec));
  STRATA_ASSIGN_OR_RETURN(const int ws, launcher::WaitFor(pid, "initdb of " + opts.data_dir));
  if (ws != 0) {
    return Status::IO(
        WithTail("initdb of " + opts.data_dir + " failed (" + DescribeWaitStatus(ws) + ")",
                 launcher::LogTail(opts.log_file, log_start)));
  }
  if (opts.settings.empty()) return Status::OK();

  // postgresql.conf strings: '' for a quote, and backslash is an escape.
  std::string conf = "\n# Added by strata\n";
  for (const auto& [name, value] : opts.settings) {
    conf += name + " = '";
    for (char c : value) {
      if (c == '\'' || c == '\\') conf += c;
      conf += c;
    }
    conf += "'\n";
  }
  const std::string path = opts.data_dir + "/postgresql.conf";
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open " + path);
  STRATA_RETURN_IF_ERROR(WriteAll(fd.get(), conf, "append to " + path));
  if (fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + path);
  return Status::OK();
}

Result<std::string> PostgresMajorVersion(const std::string& bin_dir, const std::string& user) {
  STRATA_RETURN_IF_ERROR(CheckAbsolute(bin_dir, "bin_dir"));
  STRATA_ASSIGN_OR_RETURN(Identity id, launcher::ResolveIdentity(user));
  STRATA_ASSIGN_OR_RETURN(UniqueFd dev_null, launcher::OpenDevNull());
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  // The launcher wants fds >= 3 (its dup2s onto 0-2 must not clobber a source).
  if (wr.get() < 3) wr.reset(fcntl(wr.get(), F_DUPFD_CLOEXEC, 3));
  launcher::SpawnSpec spec;
  spec.argv = {bin_dir + "/postgres", "-V"};
  spec.env = BaseEnv();
  spec.id = id;
  spec.stdin_fd = dev_null.get();
  spec.output_fd = wr.get();
  STRATA_ASSIGN_OR_RETURN(pid_t pid, launcher::Spawn(spec));
  wr.reset();
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(rd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || out.size() > 4096) break;
    out.append(buf, static_cast<size_t>(n));
  }
  STRATA_ASSIGN_OR_RETURN(const int ws, launcher::WaitFor(pid, bin_dir + "/postgres -V"));
  // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  const size_t at = out.find(") ");
  size_t end = at == std::string::npos ? at : out.find_first_not_of("0123456789", at + 2);
  if (ws != 0 || at == std::string::npos || end == at + 2) {
    return Status::IO("cannot tell the version of " + bin_dir + "/postgres (" +
                      DescribeWaitStatus(ws) + "): " + std::string(TrimAsciiSpace(out)));
  }
  return out.substr(at + 2, end - at - 2);
}

std::vector<std::pair<std::string, std::string>> StrataServerSettings() {
  return {
      // Copy-on-write storage gains nothing from reusing old WAL segments or
      // zero-filling new ones: both only write more.
      {"wal_recycle", "off"},
      {"wal_init_zero", "off"},
      // Dynamic shared memory in /dev/shm, never mmap'ed files in PGDATA.
      {"dynamic_shared_memory_type", "posix"},
      // A branch point is like a power loss: crash recovery needs the
      // full-page images.
      {"full_page_writes", "on"},
      // Clients reach a branch's server through strata's proxy and the unix
      // socket only.
      {"listen_addresses", ""},
      // The log goes to the file the daemon gave the server's stderr, where
      // Start reads its error messages from.
      {"logging_collector", "off"},
      {"log_destination", "stderr"},
  };
}

}  // namespace strata
