#include "tools/mount_command.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd_util.h"
#include "common/filename.h"
#include "common/net.h"
#include "common/token_file.h"
#include "daemon/daemon.h"
#include "objstore/store_stack.h"
#include "tools/cache_dir.h"
#include "tools/control_client.h"
#include "tools/owner.h"

extern char** environ;

namespace strata::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kDaemonExitTimeout = std::chrono::minutes(10);
constexpr auto kPollInterval = std::chrono::milliseconds(20);

std::string Absolute(const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  std::string base = cwd;
  if (base != "/") base += '/';
  return base + path;
}

// The absolute path of `path` without resolving its last component, which
// may be a dead FUSE mount that cannot be stat'ed.
std::string AbsoluteParentResolved(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  char resolved[PATH_MAX];
  if (realpath(dir.c_str(), resolved) == nullptr) return Absolute(path);
  std::string out = resolved;
  if (out != "/") out += '/';
  return out + base;
}

// Runs fusermount3 with `args`, for users who may not call umount2 themselves.
Status RunFusermount(const std::vector<std::string>& args, const std::string& mountpoint) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, write_end.get(), STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> argv_s = {"fusermount3"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  argv_s.push_back("--");
  argv_s.push_back(mountpoint);
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, "fusermount3", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  write_end.reset();  // the child's copy is its stderr: EOF once it exits
  if (rc != 0) return Status::FromErrno(rc, "run fusermount3");
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(read_end.get(), buf, sizeof(buf))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    err.append(buf, static_cast<size_t>(n));
  }
  read_end.reset();
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::OK();
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  for (char& c : err) {
    if (c == '\n') c = ' ';
  }
  if (err.find("busy") != std::string::npos) return Status::Busy(err);
  return Status::IO("fusermount3 failed: " +
                    (err.empty() ? "exit status " + std::to_string(WEXITSTATUS(wstatus)) : err));
}

// umount2(path, flags), falling back to fusermount3 when not privileged.
Status Unmount(const std::string& path, bool detach) {
  if (umount2(path.c_str(), detach ? MNT_DETACH : 0) == 0) return Status::OK();
  int err = errno;
  if (err == EPERM) {
    return RunFusermount(
        detach ? std::vector<std::string>{"-u", "-z"} : std::vector<std::string>{"-u"}, path);
  }
  if (err == EBUSY) return Status::Busy(path + " is busy");
  if (err == EINVAL) return Status::Invalid(path + " is not mounted");
  return Status::FromErrno(err, "unmount " + path);
}

// True while `pid` names a live process (a zombie no longer serves anything;
// where nobody reaps, it would otherwise be waited for in vain).
bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(stat_file, stat)) return true;  // no /proc: trust kill()
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

// True if `path` is a FUSE mount whose daemon is gone. stat() alone can be
// answered from the kernel's attribute cache; statfs() always asks the daemon.
bool IsDeadMount(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return errno == ENOTCONN;
  struct statfs fs;
  return statfs(path.c_str(), &fs) != 0 && errno == ENOTCONN;
}

// Checks that `path` is an existing directory, detaching a dead FUSE mount
// there first; returns its canonical absolute path.
Result<std::string> PrepareMountpoint(const std::string& path) {
  struct stat st;
  if (IsDeadMount(path)) {
    std::string abs = AbsoluteParentResolved(path);
    STRATA_RETURN_IF_ERROR(Unmount(abs, /*detach=*/true));
    fprintf(stderr, "strata: note: detached a dead mount at %s\n", abs.c_str());
  }
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("mount point " + path + " does not exist");
    return Status::FromErrno(errno, "stat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::NotDir("mount point " + path + " is not a directory");
  }
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return Status::FromErrno(errno, "realpath " + path);
  }
  std::string abs = resolved;
  struct stat sock_st;
  if (lstat(filename::ControlLink(abs).c_str(), &sock_st) == 0) {
    return Status::Exists(abs + " is already a strata mount: run 'strata umount " + abs +
                          "' first");
  }
  DIR* dir = opendir(abs.c_str());
  if (dir == nullptr) return Status::FromErrno(errno, "open directory " + abs);
  bool empty = true;
  while (struct dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  closedir(dir);
  if (!empty) return Status::NotEmpty("mount point " + abs + " is not empty");
  return abs;
}

// Reads the daemon's start report: one line, or EOF if it died first.
std::string ReadReadyLine(int fd) {
  std::string line;
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  return line;
}

// Reaps a child that is about to exit, without waiting long for one that is not.
void ReapSoon(pid_t pid) {
  for (int i = 0; i < 50; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) != 0) return;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// The paths of explicit --api-token-file, --proxy-tls-cert/-key and --pg-bin
// made absolute (the daemon runs from "/"), the TLS files readable, --pg-bin
// holding postgres and initdb, and an explicit --pg-user existing.
Status CheckServiceFiles(const ServiceFlags& f, MountOptions* opts) {
  if (f.api_token_file) opts->api_token_file = Absolute(*f.api_token_file);
  if (f.proxy_tls_cert && f.proxy_tls_key) {
    opts->proxy_tls_cert = Absolute(*f.proxy_tls_cert);
    opts->proxy_tls_key = Absolute(*f.proxy_tls_key);
    for (const auto& [flag, path] : {std::pair{"--proxy-tls-cert", opts->proxy_tls_cert},
                                     std::pair{"--proxy-tls-key", opts->proxy_tls_key}}) {
      if (access(path.c_str(), R_OK) != 0) {
        return Status::FromErrno(errno, std::string(flag) + ": " + path);
      }
    }
  }
  if (f.pg_bin) {
    opts->pg_bin_dir = Absolute(*f.pg_bin);
    for (const char* tool : {"postgres", "initdb"}) {
      std::string path = opts->pg_bin_dir + "/" + tool;
      if (access(path.c_str(), X_OK) != 0) {
        return Status::Invalid("--pg-bin: " + path + " is not an executable file");
      }
    }
  }
  if (f.pg_user) {
    Result<Owner> user = ResolveOwner(*f.pg_user);
    if (!user.ok()) return Status::Invalid("--pg-user: " + user.status().message());
  }
  return Status::OK();
}

// The daemon's options from the command line's. Bad options fail before
// anything is made; then the mount point is checked and the cache directory made.
// The sink flags: `store`, or a walsink's address and either TLS with a
// token or --sink-insecure.
Status CheckSinkFlags(const MountArgs& args, MountOptions* opts) {
  if (!args.sink || *args.sink == kSinkStore) {
    if (args.sink_token_file || args.sink_ca || args.sink_insecure) {
      return Status::Invalid(args.sink ? "--sink-token-file, --sink-ca and --sink-insecure are "
                                         "for a walsink, not --sink store"
                                       : "--sink-token-file, --sink-ca and --sink-insecure need "
                                         "--sink");
    }
    return Status::OK();
  }
  Result<HostPort> hp = ParseHostPort(*args.sink);
  if (!hp.ok()) return Status::Invalid("--sink: " + hp.status().message());
  if (args.sink_insecure && args.sink_ca) {
    return Status::Invalid("--sink-ca and --sink-insecure exclude each other");
  }
  if (!args.sink_insecure && !args.sink_token_file) {
    return Status::Invalid(
        "--sink needs --sink-token-file FILE (the walsink's token; its TLS certificate is "
        "checked against --sink-ca FILE or the system's roots), or --sink-insecure for a "
        "plaintext walsink");
  }
  if (args.sink_token_file) {
    opts->sink_token_file = Absolute(*args.sink_token_file);
    Result<std::string> token = ReadTokenFile(opts->sink_token_file, "--sink-token-file");
    if (!token.ok()) return token.status();
  }
  if (args.sink_ca) {
    opts->sink_ca_file = Absolute(*args.sink_ca);
    if (access(opts->sink_ca_file.c_str(), R_OK) != 0) {
      return Status::FromErrno(errno, "--sink-ca: " + opts->sink_ca_file);
    }
  }
  opts->sink_insecure = args.sink_insecure;
  return Status::OK();
}

Result<MountOptions> MountOptionsOf(const MountArgs& args) {
  int64_t cache_bytes = -1;
  if (args.cache_size) {
    STRATA_ASSIGN_OR_RETURN(cache_bytes, ParseByteSize(*args.cache_size));
  }
  if (args.inject_faults) STRATA_RETURN_IF_ERROR(ParseFaultSpec(*args.inject_faults).status());
  if (args.store_timeout_s < 1 || args.store_timeout_s > 3600) {
    return Status::Invalid("--store-timeout must be 1..3600 seconds");
  }
  if (args.sink_timeout_s < 1 || args.sink_timeout_s > 3600) {
    return Status::Invalid("--sink-timeout must be 1..3600 seconds");
  }
  MountOptions opts;
  STRATA_RETURN_IF_ERROR(CheckSinkFlags(args, &opts));
  STRATA_RETURN_IF_ERROR(ApplyServiceFlags(args.service, ParseByteSize, &opts));
  STRATA_RETURN_IF_ERROR(CheckServiceFiles(args.service, &opts));
  STRATA_ASSIGN_OR_RETURN(std::string mountpoint, PrepareMountpoint(args.mountpoint));
  std::string cache_dir = Absolute(
      args.cache_dir ? *args.cache_dir : DefaultCacheDir(args.store_url, CacheDirEnvFromProcess()));
  STRATA_RETURN_IF_ERROR(MakeDirs(cache_dir, 0700));

  opts.store_url = args.store_url;
  opts.mountpoint = mountpoint;
  opts.cache_dir = cache_dir;
  opts.foreground = args.foreground;
  opts.cache_bytes = cache_bytes;
  opts.store_timeout_ms = int64_t{args.store_timeout_s} * 1000;
  opts.inject_faults = args.inject_faults.value_or("");
  opts.sink_addr = args.sink.value_or("");  // the other sink fields: CheckSinkFlags
  opts.sink_timeout_ms = int64_t{args.sink_timeout_s} * 1000;
  if (args.log_file) {
    opts.log_file = *args.log_file == "-" ? "-" : Absolute(*args.log_file);
  } else {
    opts.log_file = args.foreground ? "-" : filename::Log(cache_dir);
  }
  return opts;
}

// The forked daemon's side: a session of its own, stdin /dev/null, stdout
// and stderr to the log, then the daemon, which reports on `ready_fd`. The
// fds closed here are the child's copies of the parent's: the child leaves
// through _exit, so no destructor of the parent's UniqueFds runs in it.
[[noreturn]] void RunDaemonChild(const MountOptions& opts, int log_fd, int ready_read,
                                 int ready_write) {
  close(ready_read);
  setsid();
  if (chdir("/") != 0) _exit(1);
  int null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    if (null_fd > STDERR_FILENO) close(null_fd);
  }
  if (log_fd >= 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close(log_fd);
  }
  _exit(RunDaemon(opts, ready_write));
}

// Forks the daemon and waits for its report: "OK" once the mount is live.
Status MountInBackground(const MountOptions& opts) {
  UniqueFd log;
  if (opts.log_file != "-") {
    log.reset(open(opts.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!log.valid()) return Status::FromErrno(errno, "open log file " + opts.log_file);
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) RunDaemonChild(opts, log.get(), ready_read.get(), ready_write.get());
  ready_write.reset();  // EOF on ready_read if the daemon dies before its report
  log.reset();
  std::string line = ReadReadyLine(ready_read.get());
  ready_read.reset();
  if (line == "OK") {
    printf("mounted %s at %s (pid %d, cache %s)\n", opts.store_url.c_str(), opts.mountpoint.c_str(),
           static_cast<int>(pid), opts.cache_dir.c_str());
    return Status::OK();
  }
  ReapSoon(pid);
  if (line.rfind("ERR ", 0) == 0 && line.size() > 4) return Status::IO(line.substr(4));
  std::string log_name = opts.log_file == "-" ? "its output" : opts.log_file;
  return Status::IO("daemon exited during start; see " + log_name);
}

}  // namespace

Status Mount(const MountArgs& args) {
  STRATA_ASSIGN_OR_RETURN(const MountOptions opts, MountOptionsOf(args));
  if (args.foreground) {
    int rc = RunDaemon(opts, -1);
    if (rc != 0) return Status::IO("daemon exited with status " + std::to_string(rc));
    return Status::OK();
  }
  return MountInBackground(opts);
}

Status Umount(const std::string& path) {
  if (IsDeadMount(path)) {
    std::string abs = AbsoluteParentResolved(path);
    STRATA_RETURN_IF_ERROR(Unmount(abs, /*detach=*/true));
    printf("detached dead mount %s (its daemon was gone)\n", abs.c_str());
    return Status::OK();
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + " does not exist");
    return Status::FromErrno(err, "stat " + path);
  }
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return Status::FromErrno(errno, "realpath " + path);
  }
  std::string mountpoint = resolved;

  const ControlClient daemon(mountpoint);
  STRATA_ASSIGN_OR_RETURN(nlohmann::json status, daemon.Call("GET", "/v1/status"));
  auto pid_it = status.is_object() ? status.find("pid") : status.end();
  if (!status.is_object() || pid_it == status.end() || !pid_it->is_number_integer() ||
      pid_it->get<int64_t>() <= 0) {
    return Status::IO("the strata daemon serving " + mountpoint + " did not report its pid");
  }
  const pid_t pid = static_cast<pid_t>(pid_it->get<int64_t>());
  const std::string cache_dir = status.value("cache_dir", "");

  // The daemon's own postgres servers have files open on the mount: stop them
  // (each with a shutdown checkpoint) so only other users can keep it busy.
  Result<nlohmann::json> suspended = daemon.Call("POST", "/v1/endpoints/suspend");
  Status s = Unmount(mountpoint, /*detach=*/false);
  if (s.code() == Code::kBusy) {
    std::string why =
        suspended.ok()
            ? ""
            : " (suspending the daemon's own servers failed: " + suspended.status().message() + ")";
    return Status::Busy(mountpoint + " is busy: stop the postgres servers using it first" + why);
  }
  STRATA_RETURN_IF_ERROR(s);

  const Clock::time_point deadline = Clock::now() + kDaemonExitTimeout;
  while (ProcessAlive(pid)) {
    if (Clock::now() >= deadline) {
      return Status::IO("unmounted " + mountpoint + " but the daemon (pid " + std::to_string(pid) +
                        ") has not exited after 10 minutes; see its log");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  // The daemon is not our child: its verdict on the final flush is in a file.
  std::string verdict;
  if (!cache_dir.empty()) {
    std::ifstream in(filename::ExitStatus(cache_dir));
    std::getline(in, verdict);
  }
  if (!verdict.empty() && verdict != "ok") {
    return Status::IO("unmounted " + mountpoint + ", but the daemon's final flush failed (" +
                      verdict + "); the op log still holds every op: mount again to retry");
  }
  printf("unmounted %s\n", mountpoint.c_str());
  return Status::OK();
}

}  // namespace strata::cli
