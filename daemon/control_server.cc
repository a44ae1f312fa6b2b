#include "daemon/control_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace strata {

namespace {
constexpr size_t kMaxRequest = 1 << 20;
}

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) {
    return Status::Invalid("control socket path too long: " + path_);
  }
  std::strcpy(addr.sun_path, path_.c_str());
  ::unlink(path_.c_str());  // a stale socket of a crashed daemon
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Status::FromErrno(errno, "socket");
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno(errno, "bind " + path_);
  }
  ::chmod(path_.c_str(), 0600);  // only the daemon's user (root) may drive it
  if (::listen(listen_fd_, 64) != 0) return Status::FromErrno(errno, "listen " + path_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::OK();
}

void ControlServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  ::unlink(path_.c_str());
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void ControlServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // A client that connects and never sends (or never reads) must not hold
    // a request slot forever: Stop() waits for every slot before unmounting.
    timeval timeout{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    in_flight_++;
    std::thread([this, fd] {
      Serve(fd);
      ::close(fd);
      in_flight_--;
    }).detach();
  }
}

void ControlServer::Serve(int fd) {
  std::string request;
  char buf[4096];
  while (request.find('\n') == std::string::npos && request.size() < kMaxRequest) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  if (auto nl = request.find('\n'); nl != std::string::npos) request.resize(nl);
  std::string answer = handler_(request) + "\n";
  size_t off = 0;
  while (off < answer.size()) {
    ssize_t n = ::write(fd, answer.data() + off, answer.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      spdlog::warn("control: client went away before the answer was sent");
      return;
    }
    off += static_cast<size_t>(n);
  }
}

}  // namespace strata
