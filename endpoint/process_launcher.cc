#include "endpoint/process_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <string_view>
#include <thread>

#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/text.h"
#include "common/thread_annotations.h"

namespace strata::launcher {

Result<Identity> ResolveIdentity(const std::string& user) {
  Identity id;
  id.uid = geteuid();
  id.gid = getegid();
  if (id.uid != 0) return id;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return Status::FromErrno(rc, "look up user " + user);
  if (found == nullptr) return Status::NotFound("no such user to run postgres as: " + user);
  // postgres refuses root itself, but less clearly.
  if (pw.pw_uid == 0) {
    return Status::Invalid("refusing to run postgres as root (user " + user + ")");
  }
  id.switch_user = true;
  id.uid = pw.pw_uid;
  id.gid = pw.pw_gid;
  int n = 32;
  for (;;) {
    id.groups.resize(static_cast<size_t>(n));
    int got = n;
    if (getgrouplist(user.c_str(), id.gid, id.groups.data(), &got) >= 0) {
      id.groups.resize(static_cast<size_t>(got));
      break;
    }
    n = std::max(got, n * 2);
  }
  return id;
}

// ---------------------------------------------------------------------------
// The launcher: the one thread that forks.

void BlockAllSignals() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

namespace {

// Where a child failed before execve; sent to the launcher through a
// close-on-exec pipe (EOF there means execve succeeded).
enum Step { kSetsid, kSetgroups, kSetgid, kSetuid, kPrctl, kDup2, kChdir, kExecve };
constexpr const char* kStepNames[] = {"setsid", "setgroups", "setgid", "setuid",
                                      "prctl",  "dup2",      "chdir",  "execve"};
struct ChildError {
  int step;
  int err;
};

// Between fork and execve: async-signal-safe calls only, and no allocation.
[[noreturn]] void RunChild(const SpawnSpec& s, char* const* argv, char* const* envp, int err_fd,
                           pid_t parent, int max_fd) {
  auto fail = [err_fd](Step step) {
    ChildError ce{step, errno};
    ssize_t n = write(err_fd, &ce, sizeof ce);
    (void)n;
    _exit(127);
  };
  // Handlers of the daemon must not run here, and ignored signals would stay
  // ignored across execve.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  // Its own session: a Ctrl-C at the daemon's terminal must not reach postgres.
  if (setsid() < 0) fail(kSetsid);
  if (s.id.switch_user) {
    if (setgroups(s.id.groups.size(), s.id.groups.data()) != 0) fail(kSetgroups);
    if (setgid(s.id.gid) != 0) fail(kSetgid);
    if (setuid(s.id.uid) != 0) fail(kSetuid);
  }
  // Only now: a change of credentials clears the parent-death signal.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(kPrctl);
  // The daemon died before prctl: nobody would ever kill us.
  if (getppid() != parent) _exit(127);
  if (dup2(s.stdin_fd, 0) < 0 || dup2(s.output_fd, 1) < 0 || dup2(s.output_fd, 2) < 0) {
    fail(kDup2);
  }
  // Other threads of the daemon may have opened fds without O_CLOEXEC.
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  umask(077);
  if (chdir("/") != 0) fail(kChdir);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(argv[0], argv, envp);
  fail(kExecve);
  _exit(127);  // not reached
}

Result<pid_t> ForkExec(const SpawnSpec& s) {
  std::vector<char*> argv;
  for (const std::string& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : s.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  rlimit nofile{};
  int max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  // The child never returns here, so never runs the UniqueFds' destructors:
  // its copy of the write end closes on execve (O_CLOEXEC).
  if (pid == 0) RunChild(s, argv.data(), envp.data(), write_end.get(), parent, max_fd);
  const int fork_errno = errno;
  write_end.reset();  // so that the read below sees EOF once the child exec'ed
  if (pid < 0) return Status::FromErrno(fork_errno, "fork for " + s.argv[0]);
  ChildError ce{};
  ssize_t n;
  do {
    n = read(read_end.get(), &ce, sizeof ce);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof ce) return Status::IO("could not start " + s.argv[0]);
  return Status::FromErrno(
      ce.err, std::string("could not start ") + s.argv[0] + ": " + kStepNames[ce.step] + " failed");
}

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, so every fork
// happens on this thread, which lives as long as the process.
class Launcher {
 public:
  static Launcher& Get() {
    static Launcher* launcher = new Launcher();  // never destroyed: its thread never ends
    return *launcher;
  }

  Result<pid_t> Spawn(const SpawnSpec& spec) EXCLUDES(mu_) {
    auto req = std::make_shared<Request>(&spec);
    {
      MutexLock l(&mu_);
      queue_.push_back(req);
    }
    queued_.Signal();
    MutexLock l(&mu_);
    done_.Wait(&mu_, [this, &req]() REQUIRES(mu_) { return ResultOf(*req).has_value(); });
    return std::move(*ResultOf(*req));
  }

 private:
  struct Request {
    explicit Request(const SpawnSpec* s) : spec(s) {}
    const SpawnSpec* const spec;
    std::optional<Result<pid_t>> result;  // Launcher::mu_: use ResultOf
  };
  // A request's result, guarded by mu_ (the checker cannot name the
  // launcher's lock from inside Request).
  std::optional<Result<pid_t>>& ResultOf(Request& req) REQUIRES(mu_) { return req.result; }

  Launcher() {
    std::thread([this] { Run(); }).detach();
  }

  [[noreturn]] void Run() {
    // Signals belong to the daemon's other threads; children unblock them.
    BlockAllSignals();
    for (;;) {
      std::shared_ptr<Request> req;
      {
        MutexLock l(&mu_);
        queued_.Wait(&mu_, [this]() REQUIRES(mu_) { return !queue_.empty(); });
        req = std::move(queue_.front());
        queue_.pop_front();
      }
      Result<pid_t> result = ForkExec(*req->spec);
      {
        MutexLock l(&mu_);
        ResultOf(*req) = std::move(result);
      }
      done_.SignalAll();
    }
  }

  // A leaf: nothing is called with it held. Spawn's callers may hold their
  // own locks (none do: PostgresServer::Start and InitDb run unlocked).
  Mutex mu_;
  CondVar queued_;  // queue_ is not empty
  CondVar done_;    // some request has its result
  std::deque<std::shared_ptr<Request>> queue_ GUARDED_BY(mu_);
};

}  // namespace

Result<pid_t> Spawn(const SpawnSpec& spec) { return Launcher::Get().Spawn(spec); }

// ---------------------------------------------------------------------------
// The child's files.

namespace {

constexpr size_t kLogTailLines = 6;
constexpr off_t kLogTailBytes = 8192;

// An fd >= 3, close-on-exec: the child's dup2s onto 0, 1 and 2 then never
// overwrite a source (a daemon may run with its stdio closed).
Result<UniqueFd> HighFd(int raw_fd, const std::string& what) {
  if (raw_fd < 0) return Status::FromErrno(errno, what);
  UniqueFd fd(raw_fd);
  if (raw_fd >= 3) return fd;
  UniqueFd high(fcntl(raw_fd, F_DUPFD_CLOEXEC, 3));
  if (!high.valid()) return Status::FromErrno(errno, what);
  return high;
}

// "FATAL:  ..." from "2025-01-02 03:04:05.678 UTC [123] FATAL:  ...": the
// default log_line_prefix '%m [%p] ' adds nothing to an error message.
std::string_view StripLogPrefix(std::string_view line) {
  if (line.empty() || line[0] < '0' || line[0] > '9') return line;
  const size_t open = line.find(" [");
  const size_t close = line.find("] ");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
      close > 48) {
    return line;
  }
  return line.substr(close + 2);
}

}  // namespace

Result<UniqueFd> OpenLog(const std::string& path, const Identity& id) {
  STRATA_ASSIGN_OR_RETURN(
      UniqueFd fd, HighFd(open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600),
                          "open log file " + path));
  // The fd is what the child writes through; ownership only lets the user read it.
  if (id.switch_user && fchown(fd.get(), id.uid, id.gid) != 0) {
    return Status::FromErrno(errno, "chown log file " + path);
  }
  return fd;
}

Result<UniqueFd> OpenDevNull() {
  return HighFd(open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null");
}

off_t FileSize(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 ? st.st_size : 0;
}

std::vector<pid_t> ProcessesRunningIn(const std::string& exe, const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path want_exe = std::filesystem::weakly_canonical(exe, ec);
  if (ec) return {};
  const std::filesystem::path want_dir = std::filesystem::weakly_canonical(dir, ec);
  if (ec) return {};
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // Either link may be gone (the process exited) or unreadable (not ours).
    std::error_code link_ec;
    if (std::filesystem::read_symlink(entry.path() / "exe", link_ec) != want_exe) continue;
    if (std::filesystem::read_symlink(entry.path() / "cwd", link_ec) != want_dir) continue;
    out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

std::string LogTail(const std::string& path, off_t start) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "";
  const off_t size = FileSize(fd.get());
  if (size < start) start = 0;  // truncated meanwhile
  const off_t from = std::max(start, size - kLogTailBytes);
  std::string buf(static_cast<size_t>(size - from), '\0');
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = pread(fd.get(), buf.data() + got, buf.size() - got, from + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  std::vector<std::string_view> lines;
  std::string_view rest(buf);
  bool first = true;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    const bool partial = first && from > start;  // began mid-line
    first = false;
    line = StripLogPrefix(TrimAsciiSpace(line));
    if (!partial && !line.empty()) lines.push_back(line);
  }
  if (lines.size() > kLogTailLines) lines.erase(lines.begin(), lines.end() - kLogTailLines);
  // What led up to the error is noise: start at the first error, keep its DETAIL and HINT.
  auto error = std::find_if(lines.begin(), lines.end(), [](std::string_view line) {
    for (std::string_view mark : {"FATAL:", "PANIC:", "ERROR:", "error:"}) {
      if (line.find(mark) != std::string_view::npos) return true;
    }
    return false;
  });
  if (error != lines.end()) lines.erase(lines.begin(), error);
  std::string out;
  for (std::string_view line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

Result<int> WaitFor(pid_t pid, const std::string& what) {
  int ws = 0;
  pid_t r;
  do {
    r = waitpid(pid, &ws, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return Status::FromErrno(errno, "waitpid for " + what);
  return ws;
}

std::string DescribeWaitStatus(std::optional<int> ws) {
  if (!ws) return "status unknown: it was reaped elsewhere";
  if (WIFEXITED(*ws)) return "status " + std::to_string(WEXITSTATUS(*ws));
  if (WIFSIGNALED(*ws)) {
    const int sig = WTERMSIG(*ws);
    std::string out = "killed by signal " + std::to_string(sig);
    if (const char* abbrev = sigabbrev_np(sig)) out += std::string(" (SIG") + abbrev + ")";
    return out;
  }
  return "wait status " + std::to_string(*ws);
}

// ---------------------------------------------------------------------------
// systemd's notify protocol.

NotifySocket::~NotifySocket() {
  if (fd_.valid()) {
    fd_.reset();
    unlink(path_.c_str());
  }
}

Status NotifySocket::Open(const std::string& path, const Identity& id) {
  path_ = path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::Invalid("socket path too long for a unix socket: " + path);
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  STRATA_ASSIGN_OR_RETURN(
      UniqueFd fd,
      HighFd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket for " + path));
  unlink(path.c_str());  // left over from a daemon that died
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Status::FromErrno(errno, "bind " + path);
  }
  fd_ = std::move(fd);
  if (id.switch_user && chown(path.c_str(), id.uid, id.gid) != 0) {
    return Status::FromErrno(errno, "chown " + path);
  }
  return Status::OK();
}

bool NotifySocket::ReceivedReady() {
  bool ready = false;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ready;
    std::string_view rest(buf, static_cast<size_t>(n));
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      if (rest.substr(0, nl) == "READY=1") ready = true;
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
}

}  // namespace strata::launcher
