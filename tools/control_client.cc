#include "tools/control_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace strata::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status NoDaemon(const std::string& mount) {
  return Status::Unavailable("no strata daemon serves " + mount);
}

bool MeansNoDaemon(int err) {
  return err == ENOENT || err == ENOTCONN || err == ECONNREFUSED || err == ENOTDIR ||
         err == EINVAL || err == ENOTSOCK;
}

// Waits until `fd` is ready for `events` or the deadline passes.
Status WaitFor(int fd, short events, Clock::time_point deadline, const std::string& mount) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Status::Unavailable("the strata daemon serving " + mount + " did not answer in time");
    }
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    if (n > 0) return Status::OK();
    if (n < 0 && errno != EINTR) return Status::FromErrno(errno, "poll control socket");
  }
}

}  // namespace

Result<std::string> ResolveMountArg(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = getenv("STRATA_MOUNT");
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::Invalid("no mount given: pass --mount MOUNTPOINT or set STRATA_MOUNT");
}

Result<std::string> FindControlSocket(const std::string& mount) {
  std::string link = mount;
  while (link.size() > 1 && link.back() == '/') link.pop_back();
  link += "/.strata.sock";
  char buf[4096];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) {
    int err = errno;
    if (MeansNoDaemon(err)) {
      if (err == ENOTCONN) {
        return Status::Unavailable("no strata daemon serves " + mount +
                                   " (the mount is dead: run 'strata umount " + mount + "')");
      }
      return NoDaemon(mount);
    }
    return Status::FromErrno(err, "readlink " + link);
  }
  if (n == static_cast<ssize_t>(sizeof(buf))) {
    return Status::Invalid("control socket path of " + mount + " is too long");
  }
  std::string target(buf, static_cast<size_t>(n));
  if (!target.empty() && target.front() != '/') {
    target = link.substr(0, link.size() - strlen(".strata.sock")) + target;
  }
  return target;
}

Code CodeFromWire(std::string_view code) {
  if (code == "not_found") return Code::kNotFound;
  if (code == "exists") return Code::kExists;
  if (code == "invalid") return Code::kInvalid;
  if (code == "busy") return Code::kBusy;
  if (code == "corruption") return Code::kCorruption;
  if (code == "unavailable") return Code::kUnavailable;
  if (code == "permission") return Code::kPermission;
  if (code == "not_empty") return Code::kNotEmpty;
  return Code::kIO;  // "io" and anything this client does not know yet
}

Result<nlohmann::json> ParseAnswer(std::string_view line) {
  nlohmann::json answer = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object()) {
    return Status::IO("malformed answer from the strata daemon: not a JSON object");
  }
  auto ok = answer.find("ok");
  if (ok == answer.end() || !ok->is_boolean()) {
    return Status::IO("malformed answer from the strata daemon: no \"ok\" field");
  }
  if (ok->get<bool>()) {
    auto result = answer.find("result");
    if (result == answer.end()) return nlohmann::json(nullptr);
    return *result;
  }
  std::string message = "the strata daemon reported an error without a message";
  if (auto e = answer.find("error"); e != answer.end() && e->is_string() && !e->empty()) {
    message = e->get<std::string>();
  }
  Code code = Code::kIO;
  if (auto c = answer.find("code"); c != answer.end() && c->is_string()) {
    code = CodeFromWire(c->get<std::string>());
  }
  return Status(code, message);
}

Result<nlohmann::json> ControlClient::Call(const nlohmann::json& request) const {
  STRATA_ASSIGN_OR_RETURN(std::string path, FindControlSocket(mount_));
  const Clock::time_point deadline = Clock::now() + timeout_;

  // sun_path holds 108 bytes; reach a longer path through its directory.
  std::unique_ptr<Fd> dir_fd;
  std::string connect_path = path;
  struct sockaddr_un addr = {};
  if (path.size() >= sizeof(addr.sun_path)) {
    size_t slash = path.rfind('/');
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    dir_fd = std::make_unique<Fd>(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd->get() < 0) {
      if (MeansNoDaemon(errno)) return NoDaemon(mount_);
      return Status::FromErrno(errno, "open " + dir);
    }
    connect_path = "/proc/self/fd/" + std::to_string(dir_fd->get()) + path.substr(slash);
    if (connect_path.size() >= sizeof(addr.sun_path)) {
      return Status::Invalid("control socket name is too long: " + path);
    }
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, connect_path.data(), connect_path.size());

  Fd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return Status::FromErrno(errno, "socket");
  int rc;
  do {
    rc = connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (MeansNoDaemon(errno)) return NoDaemon(mount_);
    return Status::FromErrno(errno, "connect to " + path);
  }

  std::string line = request.dump() + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    STRATA_RETURN_IF_ERROR(WaitFor(sock.get(), POLLOUT, deadline, mount_));
    ssize_t n =
        send(sock.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        return Status::Unavailable("the strata daemon serving " + mount_ +
                                   " closed the connection; see its log");
      }
      return Status::FromErrno(errno, "send to " + path);
    }
    sent += static_cast<size_t>(n);
  }

  std::string answer;
  char buf[65536];
  for (;;) {
    size_t nl = answer.find('\n');
    if (nl != std::string::npos) {
      answer.resize(nl);
      break;
    }
    STRATA_RETURN_IF_ERROR(WaitFor(sock.get(), POLLIN, deadline, mount_));
    ssize_t n = recv(sock.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET)
        n = 0;
      else
        return Status::FromErrno(errno, "read from " + path);
    }
    if (n == 0) {
      if (answer.empty()) {
        return Status::Unavailable("the strata daemon serving " + mount_ +
                                   " closed the connection without answering; see its log");
      }
      break;  // tolerate a last line without '\n'
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  return ParseAnswer(answer);
}

}  // namespace strata::cli
