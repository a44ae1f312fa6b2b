// Proxy's side of one client connection before the relay: the session start,
// SCRAM authentication, routing dbname to a branch, and the branch server's
// own session start passed through to the client.

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
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

using pgwire::Clock;

// PostgreSQL's own limit on a SASL message (PG_MAX_AUTH_TOKEN_LENGTH).
constexpr size_t kMaxAuthMessage = 65535;
// Server messages before ReadyForQuery are small; this only stops a runaway.
constexpr size_t kMaxServerStartupMessage = 1 << 20;
// The branch's server is local and was just opened: a server that does not
// finish the session start in this time is stuck, and the client is told so.
constexpr auto kServerStartupTimeout = std::chrono::seconds(60);

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
    return Status::NotFound("invalid branch name \"" + r.branch +
                            "\": a branch name is 1-63 characters of A-Z a-z 0-9 _ -");
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

void Proxy::Serve(Conn* c) {
  Status st = RunSession(c);
  if (!st.ok()) {
    // A refusal already answered and counted; only its reason is left to log.
    spdlog::warn("proxy: {}: {}", c->peer, ForLog(st.message()));
  }
  EndConn(c);
  active_--;
  c->finished = true;
}

Status Proxy::RunSession(Conn* c) {
  const int fd = c->client;
  std::string who;  // " (user U, dbname D)" once known, for the log
  // Sends the FATAL, counts it, and returns the reason for Serve to log.
  const auto refuse = [&](std::atomic<uint64_t>* counter, const char* sqlstate,
                          const std::string& message) {
    (*counter)++;
    SendAll(fd, pgwire::ErrorResponse("FATAL", sqlstate, message), c->peer).PermitUnchecked();
    return Status::Invalid("refused" + who + " with FATAL " + sqlstate + ": " + message);
  };
  // A client read that failed: a clean close is not worth a line; the rest is refused.
  const auto client_failed = [&](const Status& st) {
    switch (st.code()) {
      case Code::kNotFound:
        return Status::OK();
      case Code::kUnavailable:
        return refuse(&protocol_errors_, "57014",
                      "canceling authentication due to timeout (" +
                          std::to_string(opts_.startup_timeout_ms) + " ms)");
      case Code::kNotSupported:
        return refuse(&protocol_errors_, "0A000", st.message());
      case Code::kInvalid:
        return refuse(&protocol_errors_, "08P01", st.message());
      default:
        protocol_errors_++;
        return st;
    }
  };
  const auto deadline = Clock::now() + std::chrono::milliseconds(opts_.startup_timeout_ms);

  // The session start: at most one SSLRequest and one GSSENCRequest, each
  // answered 'N' (no encryption here), then a StartupMessage or a CancelRequest.
  pgwire::Startup startup;
  bool ssl_asked = false, gss_asked = false;
  while (true) {
    Result<pgwire::Startup> r = pgwire::ReadStartup(fd, deadline);
    if (!r.ok()) return client_failed(r.status());
    using Kind = pgwire::Startup::Kind;
    if (r->kind == Kind::kCancel) {
      ForwardCancel(r->cancel_pid, r->cancel_key);
      return Status::OK();  // no answer, as postgres does
    }
    if (r->kind == Kind::kStartup) {
      startup = std::move(r).value();
      break;
    }
    bool& asked = r->kind == Kind::kSsl ? ssl_asked : gss_asked;
    if (asked) return refuse(&protocol_errors_, "08P01", "duplicate encryption request");
    asked = true;
    if (Status st = SendAll(fd, "N", c->peer); !st.ok()) return client_failed(st);
  }
  const std::string& user = *startup.Param("user");
  const std::string* dbname = startup.Param("database");
  who = " (user " + user + ", dbname " + (dbname ? *dbname : "none") + ")";
  const std::string* replication = startup.Param("replication");
  if (replication != nullptr && !IsFalse(*replication)) {
    return refuse(&refused_, "0A000", "replication connections are not supported by strata");
  }
  Result<Route> route = ParseRoute(dbname);
  if (!route.ok()) return refuse(&refused_, "3D000", route.status().message());

  Result<ProxyCredential> found = delegate_->FindCredential(user);
  if (!found.ok() && !found.status().IsNotFound()) {
    // The client learns nothing of the store; the log gets the cause.
    const std::string cause = found.status().message();
    return Status(
        Code::kIO,
        refuse(&refused_, "57P03", "cannot look up credentials now; try again").message() + " (" +
            cause + ")");
  }
  if (Status st = Authenticate(c, user, found, deadline); !st.ok()) {
    if (st.code() != Code::kPermission) return client_failed(st);
    return refuse(&auth_failures_, "28P01",
                  "password authentication failed for user \"" + user + "\"");
  }
  const ProxyCredential& cred = *found;

  Result<ProxySession> opened = delegate_->Open(cred, route->branch);
  if (!opened.ok()) {
    const Status& st = opened.status();
    const char* sqlstate = st.code() == Code::kNotFound     ? "3D000"
                           : st.code() == Code::kPermission ? "28000"
                           : st.code() == Code::kQuota      ? "53400"
                                                            : "57P03";
    return refuse(&refused_, sqlstate, st.message());
  }
  // Every path from here ends the session: both connections close before
  // release, so a delegate that then stops the server finds no client of ours.
  struct AtExit {
    std::function<void()> f;
    ~AtExit() { f(); }
  } at_exit{[this, c, release = std::move(opened->release)] {
    EndConn(c);
    if (release) release();
  }};
  const std::string& socket_path = opened->socket_path;
  if (Status st = ConnectBackend(c, socket_path); !st.ok()) {
    return refuse(&refused_, "57P03", "cannot connect to the branch's server: " + st.message());
  }

  // The server's session start, passed through message by message: the
  // client sees the server's own AuthenticationOk, ParameterStatus and
  // BackendKeyData, so its cancel requests carry the real pid and key.
  pgwire::Params params{{"user", cred.role}, {"database", route->database}};
  for (const auto& [k, v] : startup.params) {
    if (k != "user" && k != "database") params.emplace_back(k, v);
  }
  const std::string what = "the branch's server";
  Status st = SendAll(c->backend, pgwire::EncodeStartup(params, startup.protocol), what);
  const auto server_deadline = Clock::now() + kServerStartupTimeout;
  while (st.ok()) {
    Result<pgwire::Message> m =
        pgwire::ReadMessage(c->backend, kMaxServerStartupMessage, server_deadline);
    if (!m.ok()) {
      st = m.status();
      break;
    }
    const Result<uint32_t> auth =
        m->type == 'R' ? pgwire::ParseAuthenticationCode(m->body) : Result<uint32_t>(0u);
    if (!auth.ok() || *auth != pgwire::kAuthOk) {
      return refuse(&refused_, "28000",
                    "the branch's server asks for a password; strata endpoints need trust for "
                    "local connections");
    }
    if (m->type == 'K') {
      Result<std::pair<uint32_t, uint32_t>> key = pgwire::ParseBackendKeyData(m->body);
      std::lock_guard<std::mutex> l(mu_);
      if (key.ok()) cancel_[*key] = {c->id, socket_path};
    }
    if (Status sent = SendAll(fd, pgwire::EncodeMessage(m->type, m->body), c->peer); !sent.ok()) {
      return sent;
    }
    if (m->type == 'E') {
      refused_++;
      std::map<char, std::string> f = pgwire::ParseErrorFields(m->body);
      return Status::Invalid("refused" + who + " by the branch's server with " + f['S'] + " " +
                             f['C'] + ": " + f['M']);
    }
    if (m->type == 'Z') break;
  }
  if (!st.ok()) {
    return refuse(&refused_, "57P03",
                  "the branch's server failed the session start: " + st.message());
  }
  sessions_++;
  spdlog::info("proxy: session from {} user {} branch {} database {} role {}", c->peer,
               ForLog(user), route->branch, ForLog(route->database), ForLog(cred.role));
  Relay(c);
  return Status::OK();
}

Status Proxy::Authenticate(Conn* c, const std::string& user, const Result<ProxyCredential>& found,
                           Clock::time_point deadline) {
  // An unknown user gets the same exchange as a known one, against a
  // verifier no password matches: the client learns nothing from it.
  scram::ServerExchange exchange(found.ok() ? found->verifier : DummyVerifier(user),
                                 scram::RandomNonce());
  const auto read_response = [&]() -> Result<std::string> {
    STRATA_ASSIGN_OR_RETURN(pgwire::Message m,
                            pgwire::ReadMessage(c->client, kMaxAuthMessage, deadline));
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
  STRATA_RETURN_IF_ERROR(SendAll(c->client, pgwire::AuthenticationSasl(), c->peer));
  STRATA_ASSIGN_OR_RETURN(const std::string initial_body, read_response());
  STRATA_ASSIGN_OR_RETURN(pgwire::SaslInitial initial,
                          pgwire::ParseSaslInitialResponse(initial_body));
  if (initial.mechanism != "SCRAM-SHA-256" || !initial.has_data) {
    return Status::Invalid("invalid SASL mechanism \"" + initial.mechanism + "\" or no data");
  }
  Result<std::string> server_first = exchange.First(initial.data);
  if (!server_first.ok()) return violation(server_first.status());
  STRATA_RETURN_IF_ERROR(
      SendAll(c->client, pgwire::AuthenticationSaslContinue(*server_first), c->peer));
  STRATA_ASSIGN_OR_RETURN(const std::string final_body, read_response());
  Result<std::string> server_final = exchange.Final(final_body);
  if (!server_final.ok()) return violation(server_final.status());
  if (!found.ok()) return Status::Permission("unknown user");
  STRATA_RETURN_IF_ERROR(
      SendAll(c->client, pgwire::AuthenticationSaslFinal(*server_final), c->peer));
  return Status::OK();
}

}  // namespace strata
