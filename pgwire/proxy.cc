#include "pgwire/proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/fd_util.h"
#include "common/net.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy_internal.h"

namespace strata {

namespace {

constexpr size_t kRelayBuffer = 64 * 1024;
// After one side closed, what it sent still goes to the other side, but a
// peer that stops reading does not hold the thread longer than this.
constexpr int kFlushTimeoutMs = 30000;
// Startup-phase writes are blocking; a peer that never reads must not pin the thread.
constexpr int kSendTimeoutMs = 30000;

Result<int> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status::Invalid("socket path " + path + " is too long");
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::FromErrno(errno, "socket");
  // Bounds connect() on a full backlog and the blocking startup-phase writes.
  SocketTuning tuning;
  tuning.send_timeout_ms = kSendTimeoutMs;
  TuneSocket(fd.get(), tuning);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno(errno, path);
  }
  return fd.release();
}

}  // namespace

Proxy::Proxy(ProxyOptions opts, ProxyDelegate* delegate)
    : opts_(std::move(opts)),
      delegate_(delegate),
      dummy_(scram::MakeVerifier(scram::RandomNonce(32))),
      dummy_salt_secret_(scram::RandomNonce(32)) {}

Proxy::~Proxy() { Stop(); }

Status Proxy::Start() {
  if (started_ || stopping_) return Status::Invalid("proxy: Start called twice");
  Result<int> fd = ListenTcp(opts_.listen, &port_);
  if (!fd.ok()) {
    // ListenTcp keeps only errno's text; that text is how EADDRINUSE is told apart.
    if (fd.status().message().find(std::strerror(EADDRINUSE)) != std::string::npos) {
      return Status::Busy("proxy address " + FormatHostPort(opts_.listen) + " is in use");
    }
    return fd.status();
  }
  started_ = true;
  spdlog::info("proxy: listening on {}", FormatHostPort({opts_.listen.host, port_}));
  acceptor_.Start(
      "proxy", *fd, port_,
      [this] { ReapFinished(&mu_, &conns_, [](Conn& c) { c.thread.join(); }); },
      [this](int fd) { Accept(fd); });
  return Status::OK();
}

void Proxy::Stop() {
  std::lock_guard<std::mutex> stop(stop_mu_);
  stopping_ = true;
  acceptor_.Stop();
  std::map<uint64_t, std::unique_ptr<Conn>> conns;
  {
    // Sessions register their fds under mu_ and check stopping_ there, so none escapes this.
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, c] : conns_) {
      if (c->client >= 0) ::shutdown(c->client, SHUT_RDWR);
      if (c->backend >= 0) ::shutdown(c->backend, SHUT_RDWR);
    }
    conns.swap(conns_);
  }
  for (auto& [id, c] : conns) c->thread.join();
}

ProxyStats Proxy::Stats() const {
  return {accepted_, active_, sessions_, auth_failures_, refused_, cancels_, protocol_errors_};
}

void Proxy::Accept(int fd) {
  accepted_++;
  TuneSocket(fd, ServerConnectionTuning(kSendTimeoutMs));
  if (active_ >= static_cast<uint64_t>(opts_.max_connections)) {
    // Answered here, without a thread: a flood must not become a thread per connection.
    refused_++;
    const std::string peer = PeerName(fd);
    spdlog::warn("proxy: {}: refused with FATAL 53300: too many connections (max {})", peer,
                 opts_.max_connections);
    const std::string err =
        pgwire::ErrorResponse("FATAL", "53300", "sorry, too many clients already");
    send(fd, err.data(), err.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    // Closing with unread input sends a reset, which can discard the answer
    // at the client: drop what already arrived (typically an SSLRequest).
    char drain[1024];
    while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0) {
    }
    ::close(fd);
    return;
  }
  active_++;
  std::lock_guard<std::mutex> l(mu_);
  auto c = std::make_unique<Conn>(next_conn_id_++, fd, PeerName(fd));
  Conn* raw = c.get();
  conns_.emplace(raw->id, std::move(c));
  raw->thread = std::thread([this, raw] { Serve(raw); });
}

void Proxy::EndConn(Conn* c) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = cancel_.begin(); it != cancel_.end();) {
    it = it->second.first == c->id ? cancel_.erase(it) : std::next(it);
  }
  if (c->client >= 0) ::close(std::exchange(c->client, -1));
  if (c->backend >= 0) ::close(std::exchange(c->backend, -1));
}

Status Proxy::ConnectBackend(Conn* c, const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(const int fd, ConnectUnix(path));
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) {
    ::close(fd);
    return Status::Unavailable("the proxy is stopping");
  }
  c->backend = fd;
  return Status::OK();
}

void Proxy::ForwardCancel(uint32_t pid, uint32_t key) {
  std::string path;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cancel_.find({pid, key});
    if (it == cancel_.end()) return;  // unknown: dropped silently, as postgres does
    path = it->second.second;
  }
  cancels_++;
  Result<int> fd = ConnectUnix(path);
  Status st = fd.ok() ? SendAll(*fd, pgwire::EncodeCancel(pid, key), path) : fd.status();
  if (fd.ok()) ::close(*fd);
  if (!st.ok()) spdlog::warn("proxy: cannot forward a cancel request: {}", st.message());
}

void Proxy::Relay(Conn* c) {
  // One direction: bytes read from `from` not yet written to `to`.
  struct Pipe {
    int from, to;
    std::vector<char> buf = std::vector<char>(kRelayBuffer);
    size_t start = 0, end = 0;
    bool eof = false;
    bool empty() const { return start == end; }
  };
  Pipe up{c->client, c->backend}, down{c->backend, c->client};
  for (int fd : {c->client, c->backend}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  while (!((up.eof && up.empty()) || (down.eof && down.empty()))) {
    // An fd with nothing to wait for is left out (-1): its POLLHUP would spin the loop.
    const auto events = [](const Pipe& in, const Pipe& out) {
      return static_cast<short>((in.empty() && !in.eof ? POLLIN : 0) | (out.empty() ? 0 : POLLOUT));
    };
    pollfd p[2] = {{c->client, events(up, down), 0}, {c->backend, events(down, up), 0}};
    for (pollfd& q : p) q.fd = q.events ? q.fd : -1;
    const int rc = poll(p, 2, up.eof || down.eof ? kFlushTimeoutMs : -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return;
    for (Pipe* pipe : {&up, &down}) {
      const pollfd& in = pipe->from == c->client ? p[0] : p[1];
      if (in.fd >= 0 && (in.events & POLLIN) && in.revents) {
        const ssize_t n = recv(pipe->from, pipe->buf.data(), pipe->buf.size(), 0);
        if (n > 0) {
          pipe->start = 0;
          pipe->end = static_cast<size_t>(n);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          pipe->eof = true;
        }
      }
      const pollfd& out = pipe->to == c->client ? p[0] : p[1];
      if (!pipe->empty() && out.fd >= 0 && (out.events & POLLOUT) && out.revents) {
        const ssize_t n =
            send(pipe->to, pipe->buf.data() + pipe->start, pipe->end - pipe->start, MSG_NOSIGNAL);
        if (n > 0) pipe->start += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return;  // the receiver is gone
      }
    }
  }
}

}  // namespace strata
