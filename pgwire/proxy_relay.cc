// Both sides of the relay between two daemons' proxies (docs/proxy.md,
// "Relay between daemons"): the entry proxy, which authenticated the client
// and was told by its delegate that another daemon holds the branch, and the
// holder's proxy, which checks the entry's proof of the store's relay key
// and opens the branch without a second SCRAM exchange.

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/crypto.h"
#include "common/net.h"
#include "pgwire/pg_wire.h"
#include "pgwire/proxy.h"
#include "pgwire/proxy_internal.h"

namespace strata {

using pgwire::SteadyClock;
using proxy_internal::kMaxAuthMessage;
using proxy_internal::kServerStartupTimeout;

namespace {

// A fresh nonce of the relay handshake: 32 random bytes, as hex.
std::string RelayNonce() { return crypto::HexEncode(crypto::RandomBytes(32)); }

const std::string* Field(const pgwire::Params& fields, const std::string& name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return &v;
  }
  return nullptr;
}

}  // namespace

// The entry's side.

Status Proxy::SessionStart::RelayOut(const pgwire::Startup& startup, const Route& route,
                                     const RelayTarget& target) {
  const std::string at = FormatHostPort(target.proxy);
  if (!origin_.empty()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "branch " + route.branch + " is held by node " + target.node +
                      ", not by this node, and a relayed session is not relayed again; connect "
                      "again");
  }
  if (proxy_->opts_.relay_key.empty()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "branch " + route.branch + " is served by node " + target.node +
                      ", and this proxy has no relay key to reach it: connect to " + at);
  }
  const std::string where = "node " + target.node + "'s proxy at " + at;
  // One deadline for all of it: connect, TLS, the proofs, the holder's Open
  // and its server's session start.
  const auto deadline = SteadyClock::now() + kServerStartupTimeout;
  Result<int> fd = proxy_->ConnectRelay(c_, target.proxy);
  if (!fd.ok()) {
    return Refuse(&proxy_->refused_, "57P03",
                  "cannot reach " + where + ": " + fd.status().message());
  }
  up_ = Upstream{std::make_unique<PlainStream>(*fd), nullptr, where, target.proxy, true};
  if (!target.fingerprint.empty()) {
    if (Status st = StartRelayTls(target, deadline); !st.ok()) {
      return Refuse(&proxy_->refused_, "57P03", st.message());
    }
  }
  STRATA_RETURN_IF_ERROR(ProveRelay(startup, target, deadline));
  return PassStartup(deadline);
}

Status Proxy::SessionStart::StartRelayTls(const RelayTarget& target,
                                          SteadyClock::time_point deadline) {
  Status st = up_.stream->WriteAll(pgwire::EncodeSslRequest(), deadline);
  char answer = 0;
  if (st.ok()) st = ReadExactly(up_.stream.get(), &answer, 1, deadline, up_.what);
  if (!st.ok()) return Status::Unavailable(up_.what + " failed the TLS request: " + st.message());
  if (answer != 'S') {
    return Status::Unavailable(up_.what + " does not offer TLS, and its certificate " +
                               target.fingerprint + " was expected");
  }
  Result<std::unique_ptr<TlsStream>> tls =
      TlsStream::Connect(proxy_->relay_tls_, up_.stream->fd(), "", deadline);
  if (!tls.ok()) {
    return Status::Unavailable("TLS with " + up_.what + " failed: " + tls.status().message());
  }
  const std::string got = (*tls)->PeerFingerprint();
  if (got != target.fingerprint) {
    return Status::Permission(up_.what + " presented a certificate with SHA-256 fingerprint " +
                              got + ", not the expected " + target.fingerprint);
  }
  up_.tls = tls->get();
  up_.stream = std::move(*tls);
  return Status::OK();
}

Status Proxy::SessionStart::ProveRelay(const pgwire::Startup& startup, const RelayTarget& target,
                                       SteadyClock::time_point deadline) {
  const std::string request = pgwire::EncodeRelayRequest(
      {{"node", proxy_->opts_.node_id}, {"nonce", RelayNonce()}, {"client", c_->peer}},
      startup.params, startup.protocol);
  if (Status st = up_.stream->WriteAll(request, deadline); !st.ok()) return RelayFailed(st);
  Result<pgwire::Message> m = pgwire::ReadMessage(up_.stream.get(), kMaxAuthMessage, deadline);
  if (!m.ok()) return RelayFailed(m.status());
  if (m->type == 'E') return UpstreamRefused(*m);  // the holder's FATAL, unchanged
  Result<pgwire::Params> challenge =
      m->type == 'R'
          ? pgwire::ParseRelayChallenge(m->body)
          : Result<pgwire::Params>(Status::Invalid("a message of type '" + std::string(1, m->type) +
                                                   "' instead of the relay challenge"));
  if (!challenge.ok()) return RelayFailed(challenge.status());
  const std::string* node = Field(*challenge, "node");
  const std::string* nonce = Field(*challenge, "nonce");
  if (node == nullptr || nonce == nullptr || nonce->empty()) {
    return RelayFailed(Status::Invalid("a relay challenge without a node or a nonce"));
  }
  if (*node != target.node) {
    return Refuse(&proxy_->refused_, "57P03",
                  up_.what + " answers as node " + *node +
                      ": the branch's holder moved; connect "
                      "again");
  }
  const std::string proof =
      pgwire::RelayProof(proxy_->opts_.relay_key, request, *nonce, *node,
                         up_.tls ? up_.tls->PeerFingerprint() : std::string());
  if (Status st = up_.stream->WriteAll(pgwire::EncodeMessage('p', proof), deadline); !st.ok()) {
    return RelayFailed(st);
  }
  return Status::OK();
}

Status Proxy::SessionStart::RelayFailed(const Status& st) {
  return Refuse(&proxy_->refused_, "57P03",
                up_.what + " failed the relay handshake: " + st.message());
}

// The holder's side.

Status Proxy::SessionStart::RunRelayed(const pgwire::Startup& request) {
  const std::string& node = *request.RelayField("node");
  const std::string& client = *request.RelayField("client");
  const std::string* dbname = request.Param("database");
  origin_ = "node " + node + ", client " + client;
  user_ = *request.Param("user");
  branch_ = dbname ? dbname->substr(0, dbname->find('.')) : "";
  who_ = " (relayed from node " + node + " for client " + client + ", user " + user_ + ", dbname " +
         (dbname ? *dbname : "none") + ")";
  if (proxy_->opts_.relay_key.empty()) {
    return Refuse(&proxy_->refused_, "28000",
                  "this proxy does not accept relayed sessions (it has no relay key)");
  }
  if (std::optional<Status> refused = Throttle()) return *refused;
  if (std::optional<Status> refused = RequireTls()) return *refused;
  if (Status st = CheckRelayProof(request); !st.ok()) {
    if (st.code() != Code::kPermission) return ClientFailed(st);
    proxy_->auth_limiter_.Failed(address_);
    return Refuse(&proxy_->auth_failures_, "28000",
                  "relay authentication failed for node " + node + ": not the store's relay key");
  }
  Result<Route> route = Routed(request);
  if (!route.ok()) return route.status();
  Result<ProxyCredential> cred = proxy_->delegate_->FindCredential(user_);
  if (cred.status().IsNotFound()) {
    return Refuse(&proxy_->refused_, "28000", "credential \"" + user_ + "\" no longer exists");
  }
  if (!cred.ok()) return CredentialsUnavailable(cred.status());
  return OpenAndRelay(request, *route, *cred);
}

Status Proxy::SessionStart::CheckRelayProof(const pgwire::Startup& request) {
  const std::string nonce = RelayNonce();
  STRATA_RETURN_IF_ERROR(Send(
      pgwire::AuthenticationRelayChallenge({{"node", proxy_->opts_.node_id}, {"nonce", nonce}})));
  STRATA_ASSIGN_OR_RETURN(pgwire::Message m,
                          pgwire::ReadMessage(client_.get(), kMaxAuthMessage, deadline_));
  if (m.type == 'X') return Status::NotFound("the entry proxy terminated");
  if (m.type != 'p') {
    return Status::Invalid("expected a relay proof, got a message of type '" +
                           std::string(1, m.type) + "'");
  }
  // The request as the entry sent it: parsing and encoding give back the same bytes.
  const std::string sent =
      pgwire::EncodeRelayRequest(request.relay, request.params, request.protocol);
  const std::string expected =
      pgwire::RelayProof(proxy_->opts_.relay_key, sent, nonce, proxy_->opts_.node_id,
                         tls_ ? proxy_->opts_.tls->fingerprint() : std::string());
  if (!crypto::ConstantTimeEqual(m.body, expected)) return Status::Permission("wrong relay proof");
  return Status::OK();
}

}  // namespace strata
