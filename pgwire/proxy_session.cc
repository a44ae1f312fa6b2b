// Proxy's side of one client connection before the relay: the session start,
// SCRAM authentication, routing dbname to a branch, opening it, and the
// branch server's own session start passed through to the client. The relay
// to and from other daemons' proxies is in proxy_relay.cc.

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

using pgwire::SteadyClock;
using proxy_internal::ForLog;
using proxy_internal::kClientSendTimeout;
using proxy_internal::kMaxAuthMessage;
using proxy_internal::kMaxServerStartupMessage;
using proxy_internal::kServerStartupTimeout;

namespace {

// dbname=BRANCH or BRANCH.DATABASE (split at the first '.'); docs/proxy.md.
Result<std::pair<std::string, std::string>> ParseRoute(const std::string* dbname) {
  if (dbname == nullptr || dbname->empty() || (*dbname)[0] == '.') {
    return Status::NotFound("no branch given: connect with dbname=BRANCH or BRANCH.DATABASE");
  }
  const size_t dot = dbname->find('.');
  std::pair<std::string, std::string> r{
      dbname->substr(0, dot), dot == std::string::npos ? "postgres" : dbname->substr(dot + 1)};
  if (!IsValidName(r.first)) {
    return Status::NotFound(
        "invalid branch name \"" + r.first +
        "\": a branch name is 1-63 characters of A-Z a-z 0-9 _ -, not starting with -");
  }
  if (r.second.empty()) {
    return Status::NotFound("no database name after \"" + r.first + ".\"");
  }
  return r;
}

bool IsFalse(const std::string& v) { return v == "false" || v == "off" || v == "no" || v == "0"; }

const char* OpenFailureState(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound:
      return "3D000";
    case Code::kPermission:
      return "28000";
    case Code::kQuota:
      return "53400";
    default:
      return "57P03";
  }
}

}  // namespace

std::string proxy_internal::ForLog(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  return out;
}

scram::Verifier Proxy::DummyVerifier(const std::string& user) const {
  // A fixed salt per unknown name, as for a real credential: a client that
  // asks twice must not see the salt change, nor all unknown names share one.
  scram::Verifier v = dummy_;
  v.salt = crypto::HmacSha256(dummy_salt_secret_, user).substr(0, 16);
  return v;
}

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

Proxy::SessionStart::SessionStart(Proxy* proxy, Conn* c)
    : proxy_(proxy),
      c_(c),
      client_(std::make_unique<PlainStream>(c->client_fd())),
      deadline_(SteadyClock::now() + std::chrono::milliseconds(proxy->opts_.startup_timeout_ms)),
      address_(AddressOf(c->peer)) {}

Status Proxy::SessionStart::Send(std::string_view data) {
  return client_->WriteAll(data, SteadyClock::now() + kClientSendTimeout);
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
  proxy_->opts_.audit->Record(
      {"proxy", c_->peer, user_, "", "authenticate", branch_, result, origin_});
}

std::optional<Status> Proxy::SessionStart::Throttle() {
  std::chrono::milliseconds wait{0};
  if (proxy_->auth_limiter_.Allow(address_, &wait)) return std::nullopt;
  const int64_t seconds = std::max<int64_t>(1, (wait.count() + 999) / 1000);
  return Refuse(nullptr, "28000",  // counted by the limiter itself (auth_throttled)
                "too many failed authentications from " + address_ + "; try again in " +
                    std::to_string(seconds) + " s");
}

std::optional<Status> Proxy::SessionStart::RequireTls() {
  if (!proxy_->opts_.require_tls || tls_ != nullptr) return std::nullopt;
  return Refuse(&proxy_->refused_, "28000",
                "this server accepts TLS connections only: connect with sslmode=require (or "
                "verify-ca, verify-full)");
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
    if (r->kind == Kind::kStartup || r->kind == Kind::kRelay) {
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

Result<Proxy::SessionStart::Route> Proxy::SessionStart::Routed(const pgwire::Startup& startup) {
  const std::string* replication = startup.Param("replication");
  if (replication != nullptr && !IsFalse(*replication)) {
    return Refuse(&proxy_->refused_, "0A000",
                  "replication connections are not supported by strata");
  }
  Result<std::pair<std::string, std::string>> route = ParseRoute(startup.Param("database"));
  if (!route.ok()) return Refuse(&proxy_->refused_, "3D000", route.status().message());
  return Route{route->first, route->second};
}

Status Proxy::SessionStart::CredentialsUnavailable(const Status& st) {
  // The client learns nothing of the store; the log gets the cause.
  return Status::IO(
      Refuse(&proxy_->refused_, "57P03", "cannot look up credentials now; try again").message() +
      " (" + st.message() + ")");
}

Status Proxy::SessionStart::Run() {
  pgwire::Startup startup;
  if (std::optional<Status> end = ReadStartup(&startup)) return *end;
  if (startup.kind == pgwire::Startup::Kind::kRelay) return RunRelayed(startup);
  const std::string& user = *startup.Param("user");
  const std::string* dbname = startup.Param("database");
  who_ = " (user " + user + ", dbname " + (dbname ? *dbname : "none") + ")";
  user_ = user;
  branch_ = dbname ? dbname->substr(0, dbname->find('.')) : "";
  if (std::optional<Status> refused = Throttle()) return *refused;
  if (std::optional<Status> refused = RequireTls()) return *refused;
  Result<Route> route = Routed(startup);
  if (!route.ok()) return route.status();

  Result<ProxyCredential> found = proxy_->delegate_->FindCredential(user);
  if (!found.ok() && !found.status().IsNotFound()) return CredentialsUnavailable(found.status());
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
  const bool relayed_in = !origin_.empty();
  Result<ProxySession> opened = proxy_->delegate_->Open(cred, route.branch, relayed_in);
  if (!opened.ok()) {
    return Refuse(&proxy_->refused_, OpenFailureState(opened.status()), opened.status().message());
  }
  // Every path from here ends the session: both connections close before
  // release, so a delegate that then stops the server finds no client of ours.
  struct AtExit {
    std::function<void()> f;
    ~AtExit() { f(); }
  } at_exit{[this, release = std::move(opened->release)] {
    client_.reset();  // before its socket closes
    tls_ = nullptr;
    up_ = Upstream{};  // likewise
    proxy_->EndConn(c_);
    if (release) release();
  }};
  const std::optional<RelayTarget>& relay = opened->relay;
  STRATA_RETURN_IF_ERROR(relay ? RelayOut(startup, route, *relay)
                               : StartLocal(opened->socket_path, startup, route, cred));
  proxy_->sessions_++;
  if (tls_) proxy_->tls_sessions_++;
  if (relay) proxy_->relayed_out_++;
  if (relayed_in) proxy_->relayed_in_++;
  Audit("ok");
  LogSession(startup, route, cred, relay);
  proxy_->Relay(client_.get(), up_.stream.get());
  if (tls_) tls_->Shutdown();
  if (up_.tls) up_.tls->Shutdown();
  return Status::OK();
}

void Proxy::SessionStart::LogSession(const pgwire::Startup& startup, const Route& route,
                                     const ProxyCredential& cred,
                                     const std::optional<RelayTarget>& relay) {
  const std::string over_tls = tls_ ? ", " + tls_->Description() : "";
  const std::string user = ForLog(*startup.Param("user"));
  if (relay) {
    spdlog::info("proxy: session from {} user {} branch {} relayed to node {} ({}){}", c_->peer,
                 user, route.branch, ForLog(relay->node), FormatHostPort(relay->proxy), over_tls);
    return;
  }
  const std::string from = origin_.empty()
                               ? ""
                               : " relayed from node " + ForLog(*startup.RelayField("node")) +
                                     " (client " + ForLog(*startup.RelayField("client")) + ")";
  spdlog::info("proxy: session from {} user {} branch {} database {} role {}{}{}", c_->peer, user,
               route.branch, ForLog(route.database), ForLog(cred.role), from, over_tls);
}

Status Proxy::SessionStart::StartLocal(const std::string& socket_path,
                                       const pgwire::Startup& startup, const Route& route,
                                       const ProxyCredential& cred) {
  Result<int> backend = proxy_->ConnectBackend(c_, socket_path);
  if (!backend.ok()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "cannot connect to the branch's server: " + backend.status().message());
  }
  up_ = Upstream{std::make_unique<PlainStream>(*backend), nullptr, "the branch's server",
                 socket_path, false};
  pgwire::Params params{{"user", cred.role}, {"database", route.database}};
  for (const auto& [k, v] : startup.params) {
    if (k != "user" && k != "database") params.emplace_back(k, v);
  }
  const auto deadline = SteadyClock::now() + kServerStartupTimeout;
  if (Status st = up_.stream->WriteAll(pgwire::EncodeStartup(params, startup.protocol), deadline);
      !st.ok()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "the branch's server failed the session start: " + st.message());
  }
  return PassStartup(deadline);
}

Status Proxy::SessionStart::PassStartup(SteadyClock::time_point deadline) {
  while (true) {
    Result<pgwire::Message> m =
        pgwire::ReadMessage(up_.stream.get(), kMaxServerStartupMessage, deadline);
    if (!m.ok()) {
      return Refuse(&proxy_->refused_, "57P03",
                    up_.what + " failed the session start: " + m.status().message());
    }
    if (m->type == 'E') return UpstreamRefused(*m);
    const Result<uint32_t> auth =
        m->type == 'R' ? pgwire::ParseAuthenticationCode(m->body) : Result<uint32_t>(0u);
    if (!auth.ok() || *auth != pgwire::kAuthOk) {
      if (up_.relay) {
        return Refuse(&proxy_->refused_, "57P03",
                      up_.what + " failed the session start: an authentication request");
      }
      return Refuse(&proxy_->refused_, "28000",
                    "the branch's server asks for a password; strata endpoints need trust for "
                    "local connections");
    }
    if (m->type == 'K') {
      Result<std::pair<uint32_t, uint32_t>> key = pgwire::ParseBackendKeyData(m->body);
      if (key.ok()) proxy_->AddCancelKey(*c_, *key, up_.cancel);
    }
    STRATA_RETURN_IF_ERROR(Send(pgwire::EncodeMessage(m->type, m->body)));
    if (m->type == 'Z') return Status::OK();
  }
}

Status Proxy::SessionStart::UpstreamRefused(const pgwire::Message& error) {
  proxy_->refused_++;  // before the client can see it, as Refuse does
  STRATA_RETURN_IF_ERROR(Send(pgwire::EncodeMessage('E', error.body)));
  std::map<char, std::string> f = pgwire::ParseErrorFields(error.body);
  Audit(f['C'] + " " + f['M']);
  return Status::Invalid("refused" + who_ + " by " + up_.what + " with " + f['S'] + " " + f['C'] +
                         ": " + f['M']);
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
