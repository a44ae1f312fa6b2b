// Proxy's side of one client connection before the relay: the session start,
// SCRAM authentication, routing dbname to a branch, and the branch server's
// own session start passed through to the client.

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/crypto.h"
#include "common/names.h"
#include "common/net.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy.h"
#include "pgwire/proxy_internal.h"

namespace strata {

namespace {

using pgwire::SteadyClock;

// PostgreSQL's own limit on a SASL message (PG_MAX_AUTH_TOKEN_LENGTH).
constexpr size_t kMaxAuthMessage = 65535;
// Server messages before ReadyForQuery are small; this only stops a runaway.
constexpr size_t kMaxServerStartupMessage = 1 << 20;
// The branch's server is local and was just opened: a server that does not
// finish the session start in this time is stuck, and the client is told so.
constexpr auto kServerStartupTimeout = std::chrono::seconds(60);
// A client that stops reading its session start's answers is dropped after this.
constexpr auto kClientSendTimeout = std::chrono::seconds(30);

struct Route {
  std::string branch, database;
};

// dbname=BRANCH or BRANCH.DATABASE (split at the first '.'); docs/proxy.md.
Result<Route> ParseRoute(const std::string* dbname) {
  if (dbname == nullptr || dbname->empty() || (*dbname)[0] == '.') {
    return Status::NotFound("no branch given: connect with dbname=BRANCH or BRANCH.DATABASE");
  }
  const size_t dot = dbname->find('.');
  Route r{dbname->substr(0, dot), dot == std::string::npos ? "postgres" : dbname->substr(dot + 1)};
  if (!IsValidName(r.branch)) {
    return Status::NotFound(
        "invalid branch name \"" + r.branch +
        "\": a branch name is 1-63 characters of A-Z a-z 0-9 _ -, not starting with -");
  }
  if (r.database.empty()) {
    return Status::NotFound("no database name after \"" + r.branch + ".\"");
  }
  return r;
}

// Names from unauthenticated clients go into the log: no control characters,
// so no one can forge log lines.
std::string ForLog(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  return out;
}

bool IsFalse(const std::string& v) { return v == "false" || v == "off" || v == "no" || v == "0"; }

}  // namespace

scram::Verifier Proxy::DummyVerifier(const std::string& user) const {
  // A fixed salt per unknown name, as for a real credential: a client that
  // asks twice must not see the salt change, nor all unknown names share one.
  scram::Verifier v = dummy_;
  v.salt = crypto::HmacSha256(dummy_salt_secret_, user).substr(0, 16);
  return v;
}

// One client connection from its first byte to the relay: the session
// start, authentication, opening the branch and the server's own session
// start. Every refusal goes through Refuse: one FATAL to the client, one
// counter, and the reason returned for Serve to log.
class Proxy::SessionStart {
 public:
  SessionStart(Proxy* proxy, Conn* c)
      : proxy_(proxy),
        c_(c),
        client_(std::make_unique<PlainStream>(c->client_fd())),
        deadline_(SteadyClock::now() + std::chrono::milliseconds(proxy->opts_.startup_timeout_ms)),
        address_(AddressOf(c->peer)) {}

  Status Run();

 private:
  // `counter` (null: counted elsewhere) goes up by one.
  Status Refuse(std::atomic<uint64_t>* counter, const char* sqlstate, const std::string& message);
  // The audit line of a session start that named a user (no-op before that).
  void Audit(const std::string& result);
  // FATAL 28000 when the client's address has failed too often (limiter).
  std::optional<Status> Throttle();
  // A client read that failed: a clean close is not worth a line; the rest is refused.
  Status ClientFailed(const Status& st);
  // The session start: at most one SSLRequest (answered 'S' and a TLS
  // handshake when the proxy has a certificate, else 'N') and one
  // GSSENCRequest (answered 'N'), then a StartupMessage (into *startup) or a
  // CancelRequest. A Status when the session ends here.
  std::optional<Status> ReadStartup(pgwire::Startup* startup);
  // Answers SSLRequest: 'S' and the server's side of the handshake.
  Status StartTls();
  Status Send(std::string_view data) {
    return client_->WriteAll(data, SteadyClock::now() + kClientSendTimeout);
  }
  // From an authenticated client to the relay's end.
  Status OpenAndRelay(const pgwire::Startup& startup, const Route& route,
                      const ProxyCredential& cred);
  // The server's session start, passed through message by message: the
  // client sees the server's own AuthenticationOk, ParameterStatus and
  // BackendKeyData, so its cancel requests carry the real pid and key.
  Status PassServerStartup(int backend, const pgwire::Startup& startup, const Route& route,
                           const ProxyCredential& cred, const std::string& socket_path);

  Proxy* const proxy_;
  Conn* const c_;
  // Plain, or TLS once StartTls succeeded. Dropped before the Conn's
  // sockets close (OpenAndRelay, and this object's end in Serve).
  std::unique_ptr<ByteStream> client_;
  TlsStream* tls_ = nullptr;  // client_ when it is TLS
  const SteadyClock::time_point deadline_;
  std::string who_;            // " (user U, dbname D)" once known, for the log
  const std::string address_;  // the client's address without the port: the limiter's key
  std::string user_, branch_;  // from the startup packet, for the audit line
};

void Proxy::Serve(Conn* c) {
  Status st = SessionStart(this, c).Run();
  if (!st.ok()) {
    // A refusal already answered and counted; only its reason is left to log.
    spdlog::warn("proxy: {}: {}", c->peer, ForLog(st.message()));
  }
  EndConn(c);
  active_--;
  c->finished = true;
}

Status Proxy::SessionStart::Refuse(std::atomic<uint64_t>* counter, const char* sqlstate,
                                   const std::string& message) {
  if (counter) (*counter)++;
  Send(pgwire::ErrorResponse("FATAL", sqlstate, message)).PermitUnchecked();
  Audit(std::string(sqlstate) + " " + message);
  return Status::Invalid("refused" + who_ + " with FATAL " + sqlstate + ": " + message);
}

void Proxy::SessionStart::Audit(const std::string& result) {
  if (proxy_->opts_.audit == nullptr || user_.empty()) return;
  proxy_->opts_.audit->Record({"proxy", c_->peer, user_, "", "authenticate", branch_, result});
}

std::optional<Status> Proxy::SessionStart::Throttle() {
  std::chrono::milliseconds wait{0};
  if (proxy_->auth_limiter_.Allow(address_, &wait)) return std::nullopt;
  const int64_t seconds = std::max<int64_t>(1, (wait.count() + 999) / 1000);
  return Refuse(nullptr, "28000",  // counted by the limiter itself (auth_throttled)
                "too many failed authentications from " + address_ + "; try again in " +
                    std::to_string(seconds) + " s");
}

Status Proxy::SessionStart::ClientFailed(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound:
      return Status::OK();
    case Code::kUnavailable:
      return Refuse(&proxy_->protocol_errors_, "57014",
                    "canceling authentication due to timeout (" +
                        std::to_string(proxy_->opts_.startup_timeout_ms) + " ms)");
    case Code::kNotSupported:
      return Refuse(&proxy_->protocol_errors_, "0A000", st.message());
    case Code::kInvalid:
      return Refuse(&proxy_->protocol_errors_, "08P01", st.message());
    default:
      proxy_->protocol_errors_++;
      return st;
  }
}

std::optional<Status> Proxy::SessionStart::ReadStartup(pgwire::Startup* startup) {
  bool ssl_asked = false, gss_asked = false;
  while (true) {
    Result<pgwire::Startup> r = pgwire::ReadStartup(client_.get(), deadline_);
    if (!r.ok()) return ClientFailed(r.status());
    using Kind = pgwire::Startup::Kind;
    if (r->kind == Kind::kCancel) {
      proxy_->ForwardCancel(r->cancel_pid, r->cancel_key);
      return Status::OK();  // no answer, as postgres does
    }
    if (r->kind == Kind::kStartup) {
      *startup = std::move(r).value();
      return std::nullopt;
    }
    bool& asked = r->kind == Kind::kSsl ? ssl_asked : gss_asked;
    if (asked) return Refuse(&proxy_->protocol_errors_, "08P01", "duplicate encryption request");
    asked = true;
    if (r->kind == Kind::kSsl && proxy_->opts_.tls) {
      if (Status st = StartTls(); !st.ok()) {
        proxy_->protocol_errors_++;  // no FATAL: the client expects TLS records now
        return st;
      }
      continue;
    }
    if (Status st = Send("N"); !st.ok()) return ClientFailed(st);
  }
}

Status Proxy::SessionStart::StartTls() {
  STRATA_RETURN_IF_ERROR(Send("S"));
  Result<std::unique_ptr<TlsStream>> tls =
      TlsStream::Accept(proxy_->opts_.tls, c_->client_fd(), deadline_);
  STRATA_RETURN_IF_ERROR(tls.status());
  tls_ = tls->get();
  client_ = std::move(*tls);
  return Status::OK();
}

Status Proxy::SessionStart::Run() {
  pgwire::Startup startup;
  if (std::optional<Status> end = ReadStartup(&startup)) return *end;
  const std::string& user = *startup.Param("user");
  const std::string* dbname = startup.Param("database");
  who_ = " (user " + user + ", dbname " + (dbname ? *dbname : "none") + ")";
  user_ = user;
  branch_ = dbname ? dbname->substr(0, dbname->find('.')) : "";
  if (std::optional<Status> refused = Throttle()) return *refused;
  if (proxy_->opts_.require_tls && tls_ == nullptr) {
    return Refuse(&proxy_->refused_, "28000",
                  "this server accepts TLS connections only: connect with sslmode=require (or "
                  "verify-ca, verify-full)");
  }
  const std::string* replication = startup.Param("replication");
  if (replication != nullptr && !IsFalse(*replication)) {
    return Refuse(&proxy_->refused_, "0A000",
                  "replication connections are not supported by strata");
  }
  Result<Route> route = ParseRoute(dbname);
  if (!route.ok()) return Refuse(&proxy_->refused_, "3D000", route.status().message());

  Result<ProxyCredential> found = proxy_->delegate_->FindCredential(user);
  if (!found.ok() && !found.status().IsNotFound()) {
    // The client learns nothing of the store; the log gets the cause.
    const std::string cause = found.status().message();
    return Status::IO(
        Refuse(&proxy_->refused_, "57P03", "cannot look up credentials now; try again").message() +
        " (" + cause + ")");
  }
  const std::string binding = tls_ ? proxy_->opts_.tls->end_point_hash() : "";
  if (Status st = proxy_->Authenticate(client_.get(), user, found, binding, deadline_); !st.ok()) {
    if (st.code() != Code::kPermission) return ClientFailed(st);
    proxy_->auth_limiter_.Failed(address_);
    return Refuse(&proxy_->auth_failures_, "28P01",
                  "password authentication failed for user \"" + user + "\"");
  }
  return OpenAndRelay(startup, *route, *found);
}

Status Proxy::SessionStart::OpenAndRelay(const pgwire::Startup& startup, const Route& route,
                                         const ProxyCredential& cred) {
  Result<ProxySession> opened = proxy_->delegate_->Open(cred, route.branch);
  if (!opened.ok()) {
    const Status& st = opened.status();
    const char* sqlstate = st.code() == Code::kNotFound     ? "3D000"
                           : st.code() == Code::kPermission ? "28000"
                           : st.code() == Code::kQuota      ? "53400"
                                                            : "57P03";
    return Refuse(&proxy_->refused_, sqlstate, st.message());
  }
  // Every path from here ends the session: both connections close before
  // release, so a delegate that then stops the server finds no client of ours.
  struct AtExit {
    std::function<void()> f;
    ~AtExit() { f(); }
  } at_exit{[this, release = std::move(opened->release)] {
    client_.reset();  // before its socket closes
    tls_ = nullptr;
    proxy_->EndConn(c_);
    if (release) release();
  }};
  const std::string& socket_path = opened->socket_path;
  Result<int> backend = proxy_->ConnectBackend(c_, socket_path);
  if (!backend.ok()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "cannot connect to the branch's server: " + backend.status().message());
  }
  STRATA_RETURN_IF_ERROR(PassServerStartup(*backend, startup, route, cred, socket_path));
  proxy_->sessions_++;
  if (tls_) proxy_->tls_sessions_++;
  Audit("ok");
  spdlog::info("proxy: session from {} user {} branch {} database {} role {}{}", c_->peer,
               ForLog(*startup.Param("user")), route.branch, ForLog(route.database),
               ForLog(cred.role), tls_ ? ", " + tls_->Description() : "");
  PlainStream server(*backend);
  proxy_->Relay(client_.get(), &server);
  if (tls_) tls_->Shutdown();
  return Status::OK();
}

Status Proxy::SessionStart::PassServerStartup(int backend, const pgwire::Startup& startup,
                                              const Route& route, const ProxyCredential& cred,
                                              const std::string& socket_path) {
  pgwire::Params params{{"user", cred.role}, {"database", route.database}};
  for (const auto& [k, v] : startup.params) {
    if (k != "user" && k != "database") params.emplace_back(k, v);
  }
  const std::string what = "the branch's server";
  Status st = SendAll(backend, pgwire::EncodeStartup(params, startup.protocol), what);
  const auto server_deadline = SteadyClock::now() + kServerStartupTimeout;
  while (st.ok()) {
    Result<pgwire::Message> m =
        pgwire::ReadMessage(backend, kMaxServerStartupMessage, server_deadline);
    if (!m.ok()) {
      st = m.status();
      break;
    }
    const Result<uint32_t> auth =
        m->type == 'R' ? pgwire::ParseAuthenticationCode(m->body) : Result<uint32_t>(0u);
    if (!auth.ok() || *auth != pgwire::kAuthOk) {
      return Refuse(&proxy_->refused_, "28000",
                    "the branch's server asks for a password; strata endpoints need trust for "
                    "local connections");
    }
    if (m->type == 'K') {
      Result<std::pair<uint32_t, uint32_t>> key = pgwire::ParseBackendKeyData(m->body);
      if (key.ok()) proxy_->AddCancelKey(*c_, *key, socket_path);
    }
    STRATA_RETURN_IF_ERROR(Send(pgwire::EncodeMessage(m->type, m->body)));
    if (m->type == 'E') {
      proxy_->refused_++;
      std::map<char, std::string> f = pgwire::ParseErrorFields(m->body);
      return Status::Invalid("refused" + who_ + " by the branch's server with " + f['S'] + " " +
                             f['C'] + ": " + f['M']);
    }
    if (m->type == 'Z') break;
  }
  if (!st.ok()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "the branch's server failed the session start: " + st.message());
  }
  return Status::OK();
}

Status Proxy::Authenticate(ByteStream* client, const std::string& user,
                           const Result<ProxyCredential>& found, const std::string& end_point_hash,
                           SteadyClock::time_point deadline) {
  // An unknown user gets the same exchange as a known one, against a
  // verifier no password matches: the client learns nothing from it.
  scram::ServerExchange exchange(found.ok() ? found->verifier : DummyVerifier(user),
                                 scram::RandomNonce(), end_point_hash);
  const auto send = [&](const std::string& m) {
    return client->WriteAll(m, SteadyClock::now() + kClientSendTimeout);
  };
  const auto read_response = [&]() -> Result<std::string> {
    STRATA_ASSIGN_OR_RETURN(pgwire::Message m,
                            pgwire::ReadMessage(client, kMaxAuthMessage, deadline));
    if (m.type == 'X') return Status::NotFound("client terminated");
    if (m.type != 'p') {
      return Status::Invalid("expected a SASL response, got a message of type '" +
                             std::string(1, m.type) + "'");
    }
    return std::move(m.body);
  };
  // Channel binding asked for (kNotSupported) is as much a violation as garbage.
  const auto violation = [](const Status& st) {
    return st.code() == Code::kNotSupported ? Status::Invalid(st.message()) : st;
  };
  const bool offer_plus = !end_point_hash.empty();
  STRATA_RETURN_IF_ERROR(send(pgwire::AuthenticationSasl(offer_plus)));
  STRATA_ASSIGN_OR_RETURN(const std::string initial_body, read_response());
  STRATA_ASSIGN_OR_RETURN(pgwire::SaslInitial initial,
                          pgwire::ParseSaslInitialResponse(initial_body));
  const bool plus = offer_plus && initial.mechanism == "SCRAM-SHA-256-PLUS";
  if ((!plus && initial.mechanism != "SCRAM-SHA-256") || !initial.has_data) {
    return Status::Invalid("invalid SASL mechanism \"" + initial.mechanism + "\" or no data");
  }
  // The mechanism and the gs2 header must agree: PLUS binds, the other does not.
  if (plus != initial.data.starts_with("p=")) {
    return Status::Invalid(plus ? "SCRAM-SHA-256-PLUS without channel binding data"
                                : "channel binding data with SCRAM-SHA-256");
  }
  Result<std::string> server_first = exchange.First(initial.data);
  if (!server_first.ok()) return violation(server_first.status());
  STRATA_RETURN_IF_ERROR(send(pgwire::AuthenticationSaslContinue(*server_first)));
  STRATA_ASSIGN_OR_RETURN(const std::string final_body, read_response());
  Result<std::string> server_final = exchange.Final(final_body);
  if (!server_final.ok()) return violation(server_final.status());
  if (!found.ok()) return Status::Permission("unknown user");
  return send(pgwire::AuthenticationSaslFinal(*server_final));
}

}  // namespace strata
