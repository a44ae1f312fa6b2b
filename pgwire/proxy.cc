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
#include <variant>
#include <vector>

#include "common/fd_util.h"
#include "common/net.h"
#include "common/thread_cpu.h"
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
// Another daemon's proxy that does not accept a connection in this time is
// unreachable (a relay, a forwarded cancel request).
constexpr int kRelayConnectTimeoutMs = 10000;
// The shortest relay key Start accepts: 256 bits.
constexpr size_t kMinRelayKey = 32;

Result<UniqueFd> ConnectUnix(const std::string& path) {
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
  return fd;
}

Result<UniqueFd> ConnectProxy(const HostPort& proxy) {
  STRATA_ASSIGN_OR_RETURN(const int fd, ConnectTcp(proxy, kRelayConnectTimeoutMs));
  return UniqueFd(fd);
}

}  // namespace

Proxy::Proxy(ProxyOptions opts, ProxyDelegate* delegate)
    : opts_(std::move(opts)),
      delegate_(delegate),
      dummy_(scram::MakeVerifier(scram::RandomNonce(32))),
      dummy_salt_secret_(scram::RandomNonce(32)),
      auth_limiter_(opts_.auth_limits) {}

Proxy::~Proxy() { Stop(); }

Status Proxy::Start() {
  if (started_ || stopping_) return Status::Invalid("proxy: Start called twice");
  if (!opts_.relay_key.empty() && opts_.relay_key.size() < kMinRelayKey) {
    return Status::Invalid("proxy: the relay key must be at least 32 bytes");
  }
  relay_tls_ = opts_.relay_tls_client;
  if (!opts_.relay_key.empty() && !relay_tls_) {
    STRATA_ASSIGN_OR_RETURN(relay_tls_, TlsContext::ForPinnedClient());
  }
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
  MutexLock stop(&stop_mu_);
  stopping_ = true;
  acceptor_.Stop();
  std::map<uint64_t, std::unique_ptr<Conn>> conns;
  {
    // Sessions register their fds under mu_ and check stopping_ there, so none escapes this.
    MutexLock l(&mu_);
    for (auto& [id, c] : conns_) {
      MutexLock cl(&c->mu);
      if (c->client.valid()) ::shutdown(c->client.get(), SHUT_RDWR);
      if (c->backend.valid()) ::shutdown(c->backend.get(), SHUT_RDWR);
    }
    conns.swap(conns_);
  }
  for (auto& [id, c] : conns) c->thread.join();
}

ProxyStats Proxy::Stats() const {
  return {accepted_,  active_,          sessions_,     auth_failures_,           refused_,
          cancels_,   protocol_errors_, tls_sessions_, auth_limiter_.refusals(), relayed_out_,
          relayed_in_};
}

void Proxy::Accept(int raw_fd) {
  UniqueFd fd(raw_fd);
  accepted_++;
  TuneSocket(fd.get(), ServerConnectionTuning(kSendTimeoutMs));
  if (active_ >= static_cast<uint64_t>(opts_.max_connections)) {
    // Answered here, without a thread: a flood must not become a thread per connection.
    refused_++;
    const std::string peer = PeerName(fd.get());
    spdlog::warn("proxy: {}: refused with FATAL 53300: too many connections (max {})", peer,
                 opts_.max_connections);
    const std::string err =
        pgwire::ErrorResponse("FATAL", "53300", "sorry, too many clients already");
    send(fd.get(), err.data(), err.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    // Closing with unread input sends a reset, which can discard the answer
    // at the client: drop what already arrived (typically an SSLRequest).
    char drain[1024];
    while (recv(fd.get(), drain, sizeof(drain), MSG_DONTWAIT) > 0) {
    }
    return;
  }
  active_++;
  const std::string peer = PeerName(fd.get());
  MutexLock l(&mu_);
  auto c = std::make_unique<Conn>(next_conn_id_++, std::move(fd), peer);
  Conn* raw = c.get();
  conns_.emplace(raw->id, std::move(c));
  raw->thread = NamedThread("strata-proxy", [this, raw] { Serve(raw); });
}

void Proxy::EndConn(Conn* c) {
  MutexLock l(&mu_);
  for (auto it = cancel_.begin(); it != cancel_.end();) {
    it = it->second.first == c->id ? cancel_.erase(it) : std::next(it);
  }
  MutexLock cl(&c->mu);
  c->client.reset();
  c->backend.reset();
}

Result<int> Proxy::ConnectBackend(Conn* c, const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, ConnectUnix(path));
  return RegisterBackend(c, std::move(fd));
}

Result<int> Proxy::ConnectRelay(Conn* c, const HostPort& proxy) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, ConnectProxy(proxy));
  // A holder that vanishes is noticed as a vanished client is.
  TuneSocket(fd.get(), ServerConnectionTuning(kSendTimeoutMs));
  return RegisterBackend(c, std::move(fd));
}

Result<int> Proxy::RegisterBackend(Conn* c, UniqueFd fd) {
  MutexLock l(&mu_);
  if (stopping_) return Status::Unavailable("the proxy is stopping");
  MutexLock cl(&c->mu);
  c->backend = std::move(fd);
  return c->backend.get();
}

void Proxy::AddCancelKey(const Conn& c, std::pair<uint32_t, uint32_t> key,
                         const CancelTarget& target) {
  MutexLock l(&mu_);
  cancel_[key] = {c.id, target};
}

void Proxy::ForwardCancel(uint32_t pid, uint32_t key) {
  CancelTarget target;
  {
    MutexLock l(&mu_);
    auto it = cancel_.find({pid, key});
    if (it == cancel_.end()) return;  // unknown: dropped silently, as postgres does
    target = it->second.second;
  }
  cancels_++;
  // A relayed session's cancel goes to the holder's proxy, plain as
  // PostgreSQL sends it; that proxy forwards it to its server.
  const std::string* path = std::get_if<std::string>(&target);
  const std::string what = path ? *path : FormatHostPort(std::get<HostPort>(target));
  Result<UniqueFd> fd = path ? ConnectUnix(*path) : ConnectProxy(std::get<HostPort>(target));
  Status st = fd.ok() ? SendAll(fd->get(), pgwire::EncodeCancel(pid, key), what) : fd.status();
  if (!st.ok())
    spdlog::warn("proxy: cannot forward a cancel request to {}: {}", what, st.message());
}

void Proxy::Relay(ByteStream* client, ByteStream* backend) {
  // One direction: bytes read from `from` not yet written to `to`, and what
  // to poll each side for when it last could not go on (TLS may need to
  // write to read, or read to write).
  struct Pipe {
    ByteStream *from, *to;
    std::vector<char> buf = std::vector<char>(kRelayBuffer);
    size_t start = 0, end = 0;
    bool eof = false;
    short read_wait = POLLIN, write_wait = POLLOUT;
    bool empty() const { return start == end; }
  };
  Pipe up{client, backend}, down{backend, client};
  for (ByteStream* s : {client, backend}) {
    fcntl(s->fd(), F_SETFL, fcntl(s->fd(), F_GETFL) | O_NONBLOCK);
  }
  // Whether a stream is worth a try without polling: poll(2) said so, or
  // TLS holds bytes it already decrypted, which poll(2) cannot see.
  bool ready[2] = {true, true};  // client, backend
  const auto is_ready = [&](ByteStream* s) { return ready[s == backend] || s->HasPending(); };
  // Moves what it can without waiting; false when the receiver is gone.
  const auto step = [&](Pipe& p, bool* progress) {
    bool just_read = false;
    if (p.empty() && !p.eof && is_ready(p.from)) {
      Result<ByteStream::Step> r = p.from->TryRead(p.buf.data(), p.buf.size());
      if (!r.ok() || r->closed) {
        p.eof = *progress = true;  // the loop's condition looks at it next
      } else if (r->n > 0) {
        p.start = 0;
        p.end = r->n;
        p.read_wait = POLLIN;
        just_read = *progress = true;
        ready[p.from == backend] = r->n == p.buf.size();  // a full buffer: maybe more
      } else {
        p.read_wait = r->wait;
      }
    }
    if (!p.empty() && (just_read || is_ready(p.to))) {
      Result<ByteStream::Step> w =
          p.to->TryWrite(std::string_view(p.buf.data() + p.start, p.end - p.start));
      if (!w.ok()) return false;
      p.start += w->n;
      *progress = *progress || w->n > 0;
      p.write_wait = w->n > 0 ? POLLOUT : w->wait;
    }
    return true;
  };
  while (!((up.eof && up.empty()) || (down.eof && down.empty()))) {
    bool progress = false;
    if (!step(up, &progress) || !step(down, &progress)) return;
    if (progress) continue;
    const auto wants = [](const Pipe& in, const Pipe& out) {
      return static_cast<short>((in.empty() && !in.eof ? in.read_wait : 0) |
                                (out.empty() ? 0 : out.write_wait));
    };
    pollfd p[2] = {{client->fd(), wants(up, down), 0}, {backend->fd(), wants(down, up), 0}};
    // An fd with nothing to wait for is left out (-1): its POLLHUP would spin the loop.
    for (pollfd& q : p) q.fd = q.events ? q.fd : -1;
    const int rc = poll(p, 2, up.eof || down.eof ? kFlushTimeoutMs : -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return;
    ready[0] = p[0].revents != 0;
    ready[1] = p[1].revents != 0;
  }
}

}  // namespace strata
