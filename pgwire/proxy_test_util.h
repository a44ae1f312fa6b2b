// Fakes shared by the proxy's tests (proxy_test.cc, proxy_relay_test.cc): a
// postmaster on a unix socket, a delegate, and a raw protocol client.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/crypto.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/net.h"
#include "common/temp_dir.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy.h"
#include "pgwire/scram.h"

namespace strata::proxytest {

using namespace std::string_literals;
using pgwire::SteadyClock;

// Safety nets only: no test asserts how long anything takes.
inline constexpr auto kSafety = std::chrono::seconds(20);

inline std::string Big16(uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

inline std::string Big32(uint32_t v) {
  std::string out;
  PutBig32(&out, v);
  return out;
}

// One query through `conn`: its one value, or "ERROR".
inline std::string Query(PGconn* conn, const std::string& q) {
  PGresult* r = PQexec(conn, q.c_str());
  std::string v = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "ERROR";
  PQclear(r);
  return v;
}

// A stand-in for a postmaster on a unix socket that trusts local connections:
// answers a startup with AuthenticationOk, ParameterStatus, BackendKeyData
// and ReadyForQuery, echoes each simple query's text as a one-row result, and
// records every startup's parameters and every cancel request.
class FakeBackend {
 public:
  enum class Mode { kTrust, kAskPassword, kRefuse };

  FakeBackend()
      : path_(dir_.path() + "/.s.PGSQL.5432"),
        listen_fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_.get(), 64), 0);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeBackend() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> sessions;
    {
      MutexLock l(&mu_);
      for (const UniqueFd& fd : fds_) shutdown(fd.get(), SHUT_RDWR);
      sessions.swap(sessions_);
    }
    for (auto& t : sessions) t.join();
  }

  const std::string& path() const { return path_; }
  void set_mode(Mode m) { mode_ = m; }
  std::vector<pgwire::Params> startups() {
    MutexLock l(&mu_);
    return startups_;
  }
  // Waits (safety net only) for the n-th cancel request and returns it.
  std::pair<uint32_t, uint32_t> WaitCancel(size_t n) {
    MutexLock l(&mu_);
    cv_.WaitFor(&mu_, kSafety, [&]() REQUIRES(mu_) { return cancels_.size() >= n; });
    return cancels_.size() >= n ? cancels_[n - 1] : std::make_pair(0u, 0u);
  }
  size_t cancel_count() {
    MutexLock l(&mu_);
    return cancels_.size();
  }
  static constexpr uint32_t kPid = 4242, kKey = 0xc0ffee;

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      MutexLock l(&mu_);
      fds_.emplace_back(fd);
      sessions_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    Session(fd);
    shutdown(fd, SHUT_RDWR);  // closed by the destructor
  }

  void Session(int fd) {
    Result<pgwire::Startup> s = pgwire::ReadStartup(fd);
    if (!s.ok()) return;
    if (s->kind == pgwire::Startup::Kind::kCancel) {
      MutexLock l(&mu_);
      cancels_.emplace_back(s->cancel_pid, s->cancel_key);
      cv_.SignalAll();
      return;
    }
    {
      MutexLock l(&mu_);
      startups_.push_back(s->params);
    }
    if (mode_ == Mode::kAskPassword) {
      Send(fd, pgwire::EncodeMessage('R', Big32(3)));  // AuthenticationCleartextPassword
      char byte;
      recv(fd, &byte, 1, 0);
      return;
    }
    if (mode_ == Mode::kRefuse) {
      Send(fd, pgwire::ErrorResponse("FATAL", "3D000", "database \"nope\" does not exist"));
      return;
    }
    Send(fd, pgwire::AuthenticationOk() + pgwire::ParameterStatus("server_version", "15.0") +
                 pgwire::ParameterStatus("client_encoding", "UTF8") +
                 pgwire::ParameterStatus("server_encoding", "UTF8") +
                 pgwire::ParameterStatus("DateStyle", "ISO, MDY") +
                 pgwire::ParameterStatus("integer_datetimes", "on") +
                 pgwire::ParameterStatus("standard_conforming_strings", "on") +
                 pgwire::BackendKeyData(kPid, kKey) + pgwire::ReadyForQuery('I'));
    while (true) {
      Result<pgwire::Message> m = pgwire::ReadMessage(fd, 64 << 20);
      if (!m.ok() || m->type == 'X') return;
      if (m->type != 'Q') continue;
      const std::string text = m->body.substr(0, m->body.find('\0'));
      const std::string row_description = Big16(1) + "echo\0"s + Big32(0) + Big16(0) + Big32(25) +
                                          Big16(0xffff) + Big32(0xffffffff) + Big16(0);
      const std::string data_row = Big16(1) + Big32(static_cast<uint32_t>(text.size())) + text;
      Send(fd, pgwire::EncodeMessage('T', row_description) + pgwire::EncodeMessage('D', data_row) +
                   pgwire::EncodeMessage('C', "SELECT 1\0"s) + pgwire::ReadyForQuery('I'));
    }
  }

  static void Send(int fd, const std::string& data) {
    SendAll(fd, data, "proxy").PermitUnchecked();
  }

  testing::TempDir dir_;
  const std::string path_;
  const UniqueFd listen_fd_;
  std::atomic<bool> stop_{false};
  std::atomic<Mode> mode_{Mode::kTrust};
  std::thread acceptor_;
  Mutex mu_;
  CondVar cv_;                                 // a cancel request arrived
  std::vector<UniqueFd> fds_ GUARDED_BY(mu_);  // closed when the backend goes
  std::vector<std::thread> sessions_ GUARDED_BY(mu_);
  std::vector<pgwire::Params> startups_ GUARDED_BY(mu_);
  std::vector<std::pair<uint32_t, uint32_t>> cancels_ GUARDED_BY(mu_);
};

class FakeDelegate : public ProxyDelegate {
 public:
  explicit FakeDelegate(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  void AddCredential(const std::string& user, const std::string& password,
                     const std::string& role) {
    MutexLock l(&mu_);
    creds_[user] = ProxyCredential{user, scram::MakeVerifier(password), 7, role};
  }
  void FailOpen(Status st) {
    MutexLock l(&mu_);
    open_error_ = std::move(st);
  }
  void set_socket_path(std::string p) {
    MutexLock l(&mu_);
    socket_path_ = std::move(p);
  }
  // Set: Open answers "relay to `target`".
  void set_relay(std::optional<RelayTarget> target) {
    MutexLock l(&mu_);
    relay_ = std::move(target);
  }
  void RemoveCredential(const std::string& user) {
    MutexLock l(&mu_);
    creds_.erase(user);
  }

  Result<ProxyCredential> FindCredential(const std::string& user) override {
    MutexLock l(&mu_);
    if (user == "broken") return Status::IO("the index is unreadable");
    auto it = creds_.find(user);
    if (it == creds_.end()) return Status::NotFound("no credential " + user);
    return it->second;
  }
  Result<ProxySession> Open(const ProxyCredential& cred, const std::string& branch,
                            bool relayed) override {
    MutexLock l(&mu_);
    opens_++;
    branches_.push_back(branch);
    relayed_.push_back(relayed);
    EXPECT_EQ(cred.branch_id, 7u);
    if (!open_error_.ok()) return open_error_;
    return ProxySession{relay_ ? "" : socket_path_, relay_, [this] {
                          MutexLock l(&mu_);
                          releases_++;
                          cv_.SignalAll();
                        }};
  }

  int opens() {
    MutexLock l(&mu_);
    return opens_;
  }
  // Waits (safety net only) until `n` sessions were released; returns the count.
  int WaitReleases(int n) {
    MutexLock l(&mu_);
    cv_.WaitFor(&mu_, kSafety, [&]() REQUIRES(mu_) { return releases_ >= n; });
    return releases_;
  }
  std::vector<std::string> branches() {
    MutexLock l(&mu_);
    return branches_;
  }
  // Open's `relayed` argument, call by call.
  std::vector<bool> relayed() {
    MutexLock l(&mu_);
    return relayed_;
  }

 private:
  Mutex mu_;
  CondVar cv_;  // a session was released
  std::map<std::string, ProxyCredential> creds_ GUARDED_BY(mu_);
  std::string socket_path_ GUARDED_BY(mu_);
  std::optional<RelayTarget> relay_ GUARDED_BY(mu_);
  Status open_error_ GUARDED_BY(mu_);
  int opens_ GUARDED_BY(mu_) = 0;
  int releases_ GUARDED_BY(mu_) = 0;
  std::vector<std::string> branches_ GUARDED_BY(mu_);
  std::vector<bool> relayed_ GUARDED_BY(mu_);
};

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

// A client on a raw TCP socket, for what libpq does not show (SQLSTATEs,
// malformed packets). It speaks the SCRAM-SHA-256 client side itself.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    Result<int> fd = ConnectTcp({"127.0.0.1", port}, 5000);
    EXPECT_TRUE(fd.ok()) << fd.status().ToString();
    if (fd.ok()) fd_.reset(*fd);
  }

  void Send(const std::string& data) { EXPECT_TRUE(SendAll(fd_.get(), data, "proxy").ok()); }
  Result<pgwire::Message> Read() {
    return pgwire::ReadMessage(fd_.get(), 1 << 20, SteadyClock::now() + kSafety);
  }
  // The next byte, or -1 when the proxy closed the connection.
  int ReadByte() {
    pollfd p{fd_.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(kSafety.count() * 1000)) <= 0) return -2;
    char b;
    return recv(fd_.get(), &b, 1, 0) == 1 ? static_cast<unsigned char>(b) : -1;
  }
  // Reads up to the proxy's ErrorResponse: its fields (empty if the proxy
  // closed first). Authentication requests on the way are skipped.
  std::map<char, std::string> ReadError() {
    while (true) {
      Result<pgwire::Message> m = Read();
      if (!m.ok()) return {};
      if (m->type == 'E') return pgwire::ParseErrorFields(m->body);
    }
  }
  bool ClosedByPeer() { return ReadByte() == -1; }

  void Startup(const pgwire::Params& params) { Send(pgwire::EncodeStartup(params)); }

  // Runs the SCRAM exchange; returns the first message after the client's
  // proof (AuthenticationSASLFinal or an ErrorResponse).
  Result<pgwire::Message> Login(const std::string& user, const std::string& password,
                                const std::string& dbname) {
    Startup({{"user", user}, {"database", dbname}});
    STRATA_ASSIGN_OR_RETURN(pgwire::Message sasl, Read());
    if (sasl.type != 'R') return sasl;
    const std::string bare = "n=,r=clientnonce0123456789";
    Send(pgwire::EncodeMessage('p', "SCRAM-SHA-256\0"s + Big32(3 + bare.size()) + "n,," + bare));
    STRATA_ASSIGN_OR_RETURN(pgwire::Message cont, Read());
    if (cont.type != 'R') return cont;
    const std::string server_first = cont.body.substr(4);
    std::string nonce, salt_b64;
    int iterations = 0;
    for (size_t at = 0; at < server_first.size();) {
      const size_t comma = std::min(server_first.find(',', at), server_first.size());
      const std::string part = server_first.substr(at, comma - at);
      if (part.starts_with("r=")) nonce = part.substr(2);
      if (part.starts_with("s=")) salt_b64 = part.substr(2);
      if (part.starts_with("i=")) iterations = std::stoi(part.substr(2));
      at = comma + 1;
    }
    const std::string salt = *crypto::Base64Decode(salt_b64);
    const std::string client_key =
        crypto::HmacSha256(crypto::Pbkdf2Sha256(password, salt, iterations), "Client Key");
    const std::string without_proof = "c=biws,r=" + nonce;
    const std::string auth = bare + "," + server_first + "," + without_proof;
    std::string proof = crypto::HmacSha256(crypto::Sha256(client_key), auth);
    for (size_t i = 0; i < proof.size(); i++) proof[i] ^= client_key[i];
    Send(pgwire::EncodeMessage('p', without_proof + ",p=" + crypto::Base64Encode(proof)));
    return Read();
  }

 private:
  UniqueFd fd_;
};

}  // namespace strata::proxytest
