#include "common/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/fd_util.h"

namespace strata {

Result<HostPort> ParseHostPort(std::string_view text, bool allow_zero_port) {
  const std::string shown = "'" + std::string(text) + "'";
  HostPort hp;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::Invalid("address " + shown + " is not [IPv6]:PORT");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::Invalid("address " + shown + " has no port (want HOST:PORT)");
    }
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return Status::Invalid("address " + shown + ": write IPv6 addresses as [ADDR]:PORT");
    }
    port = text.substr(colon + 1);
  }
  if (hp.host.empty()) return Status::Invalid("address " + shown + " has no host");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535 ||
      (value == 0 && !allow_zero_port)) {
    return Status::Invalid("address " + shown + " has a bad port (want 1..65535)");
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

std::string FormatHostPort(const HostPort& hp) {
  const bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

namespace {

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) freeaddrinfo(list);
  }
};

Status Resolve(const HostPort& hp, bool passive, AddrInfo* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG;
  const std::string port = std::to_string(hp.port);
  const int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &out->list);
  if (rc != 0) {
    return Status::Unavailable("cannot resolve " + FormatHostPort(hp) + ": " + gai_strerror(rc));
  }
  return Status::OK();
}

// Waits for a non-blocking connect to finish; returns the socket error.
int FinishConnect(int fd, int timeout_ms) {
  pollfd p{fd, POLLOUT, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return ETIMEDOUT;
  if (rc < 0) return errno;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

}  // namespace

Result<int> ConnectTcp(const HostPort& hp, int timeout_ms) {
  AddrInfo ai;
  STRATA_RETURN_IF_ERROR(Resolve(hp, false, &ai));
  // One budget for every address the name resolved to.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int last_err = ECONNREFUSED;
  for (addrinfo* a = ai.list; a != nullptr; a = a->ai_next) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      last_err = ETIMEDOUT;
      break;
    }
    UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) {
      last_err = errno;
      continue;
    }
    int err = 0;
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      err = errno == EINPROGRESS ? FinishConnect(fd.get(), static_cast<int>(left.count())) : errno;
    }
    if (err != 0) {
      last_err = err;
      continue;
    }
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
      return Status::FromErrno(errno, "make socket blocking");
    }
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd.release();
  }
  return Status::Unavailable("cannot connect to " + FormatHostPort(hp) + ": " +
                             std::strerror(last_err));
}

Result<int> ListenTcp(const HostPort& hp, uint16_t* bound_port) {
  AddrInfo ai;
  STRATA_RETURN_IF_ERROR(Resolve(hp, true, &ai));
  Status last = Status::IO("no address to listen on for " + FormatHostPort(hp));
  for (addrinfo* a = ai.list; a != nullptr; a = a->ai_next) {
    UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
      last = Status::FromErrno(errno, "socket for " + FormatHostPort(hp));
      continue;
    }
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || listen(fd.get(), 128) != 0) {
      last = Status::FromErrno(errno, "listen on " + FormatHostPort(hp));
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      return Status::FromErrno(errno, "getsockname");
    }
    const uint16_t port = ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port;
    if (bound_port) *bound_port = ntohs(port);
    return fd.release();
  }
  return last;
}

Status ReadFull(int fd, char* buf, size_t n, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = recv(fd, buf + done, n - done, 0);
    if (r < 0 && errno == EINTR) continue;
    // A peer that closes with unread data in its buffer sends a reset, not a
    // FIN: between messages that is still just a close.
    if (r < 0 && errno == ECONNRESET && done == 0) {
      return Status::NotFound(what + " reset the connection");
    }
    if (r < 0) return Status::FromErrno(errno, "read from " + what);
    if (r == 0) {
      if (done == 0) return Status::NotFound(what + " closed the connection");
      return Status::IO(what + " closed the connection after " + std::to_string(done) + " of " +
                        std::to_string(n) + " bytes");
    }
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status SendAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write to " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

void IgnoreSigpipe() {
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, nullptr);
  }
}

std::string PeerName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown peer";
  return SockaddrName(reinterpret_cast<const sockaddr*>(&ss));
}

std::string SockaddrName(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa == nullptr) return "unknown peer";
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else {
    return "unknown peer";
  }
  return FormatHostPort({host, port});
}

std::string AddressOf(const std::string& peer) {
  Result<HostPort> hp = ParseHostPort(peer);
  return hp.ok() ? hp->host : peer;
}

SocketTuning ServerConnectionTuning(int send_timeout_ms) {
  SocketTuning t;
  t.no_delay = true;
  t.keepalive_idle_s = 60;
  t.keepalive_interval_s = 10;
  t.keepalive_probes = 6;
  t.send_timeout_ms = send_timeout_ms;
  return t;
}

void TuneSocket(int fd, const SocketTuning& t) {
  const auto set = [fd](int level, int name, int value) {
    setsockopt(fd, level, name, &value, sizeof(value));
  };
  const auto set_timeout = [fd](int name, int ms) {
    const timeval tv{ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, name, &tv, sizeof(tv));
  };
  if (t.no_delay) set(IPPROTO_TCP, TCP_NODELAY, 1);
  if (t.keepalive_idle_s > 0) {
    set(SOL_SOCKET, SO_KEEPALIVE, 1);
    set(IPPROTO_TCP, TCP_KEEPIDLE, t.keepalive_idle_s);
  }
  if (t.keepalive_interval_s > 0) set(IPPROTO_TCP, TCP_KEEPINTVL, t.keepalive_interval_s);
  if (t.keepalive_probes > 0) set(IPPROTO_TCP, TCP_KEEPCNT, t.keepalive_probes);
  if (t.send_timeout_ms > 0) set_timeout(SO_SNDTIMEO, t.send_timeout_ms);
  if (t.recv_timeout_ms > 0) set_timeout(SO_RCVTIMEO, t.recv_timeout_ms);
  if (t.unacked_timeout_ms > 0) set(IPPROTO_TCP, TCP_USER_TIMEOUT, t.unacked_timeout_ms);
}

void Acceptor::Start(std::string what, int listen_fd, uint16_t port, std::function<void()> reap,
                     std::function<void(int fd)> on_accept) {
  what_ = std::move(what);
  listen_fd_.reset(listen_fd);
  port_ = port;
  reap_ = std::move(reap);
  on_accept_ = std::move(on_accept);
  thread_ = std::thread([this] { Loop(); });
}

void Acceptor::Stop() {
  stopping_ = true;
  // shutdown() wakes the acceptor blocked in accept(); close only after the join.
  if (listen_fd_.valid()) ::shutdown(listen_fd_.get(), SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  listen_fd_.reset();
}

void Acceptor::Loop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of fds or memory: back off instead of spinning while connections end.
      spdlog::warn("{}: accept on port {} failed: {}", what_, port_, std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      reap_();
      continue;
    }
    reap_();
    on_accept_(fd);
  }
}

}  // namespace strata
