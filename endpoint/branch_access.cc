#include "endpoint/branch_access.h"

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "pgwire/scram.h"

namespace strata {

bool BranchAccess::CatchUp() {
  // Without node leases (tests, tools) nothing else writes the catalog.
  if (!leases_) return false;
  Status st = catalog_->Refresh();
  if (!st.ok()) spdlog::warn("proxy: reading the catalog again: {}", st.ToString());
  return st.ok();
}

Result<ProxyCredential> BranchAccess::FindCredential(const std::string& user) {
  const auto find = [&] { return credentials_->Find(user, credentials_->clock()->NowNs()); };
  Result<CredentialInfo> found = find();
  // Issued through another daemon a moment ago: its catalog change may not
  // have been followed here yet (at most a tick, docs/cluster.md).
  if (found.status().IsNotFound() && CatchUp()) found = find();
  STRATA_ASSIGN_OR_RETURN(CredentialInfo c, std::move(found));
  Result<scram::Verifier> v = scram::ParseVerifier(c.verifier);
  if (!v.ok()) {
    return Status::Corruption("credential '" + user + "' has a malformed verifier in the catalog");
  }
  ProxyCredential out;
  out.user = c.id;
  out.verifier = *v;
  out.branch_id = c.branch;
  out.role = c.role;
  return out;
}

Result<ProxySession> BranchAccess::Open(const ProxyCredential& cred, const std::string& branch,
                                        bool relayed) {
  std::string owner;
  uint32_t id = 0;
  {
    auto cat = catalog_->Current();
    const BranchInfo* b = cat->FindBranch(branch);
    if (!b && CatchUp()) {  // made through another daemon a moment ago
      cat = catalog_->Current();
      b = cat->FindBranch(branch);
    }
    if (!b) return Status::NotFound("branch \"" + branch + "\" does not exist");
    if (b->id != cred.branch_id) {
      return Status::Permission("credential \"" + cred.user + "\" is not valid for branch \"" +
                                branch + "\"");
    }
    owner = b->owner;
    id = b->id;
  }
  if (check_quota_) STRATA_RETURN_IF_ERROR(check_quota_(owner));
  STRATA_ASSIGN_OR_RETURN(std::optional<ProxySession> relay,
                          RelayIfHeldElsewhere(id, branch, relayed));
  if (relay) return std::move(*relay);
  Result<std::string> socket = endpoints_->Acquire(branch);
  if (socket.status().code() == Code::kBusy && leases_) {
    // Another daemon claimed it between the look and the start here.
    STRATA_ASSIGN_OR_RETURN(relay, RelayIfHeldElsewhere(id, branch, relayed));
    if (relay) return std::move(*relay);
  }
  STRATA_RETURN_IF_ERROR(socket.status());
  ProxySession s;
  s.socket_path = std::move(*socket);
  EndpointManager* endpoints = endpoints_;
  s.release = [endpoints, branch] { endpoints->Release(branch); };
  return s;
}

Result<std::optional<NodeRecord>> BranchAccess::WriterElsewhere(uint32_t id) {
  // The branch itself, then its ancestors: one nobody holds reads its parent
  // up to its fork point, which the parent's holder may not have published
  // yet. Its sessions go there.
  for (const Level& level : catalog_->Current()->LineageOf(id)) {
    STRATA_ASSIGN_OR_RETURN(Placement at, leases_->Locate(level.branch));
    if (at.kind == Placement::Kind::kHere) return std::optional<NodeRecord>();
    if (at.kind == Placement::Kind::kElsewhere) return std::move(at.node);
  }
  return std::optional<NodeRecord>();
}

Result<std::optional<ProxySession>> BranchAccess::RelayIfHeldElsewhere(uint32_t id,
                                                                       const std::string& branch,
                                                                       bool relayed) {
  if (!leases_) return std::optional<ProxySession>();
  STRATA_ASSIGN_OR_RETURN(std::optional<NodeRecord> holder, WriterElsewhere(id));
  if (!holder) return std::optional<ProxySession>();
  if (relayed) {
    // Never relayed twice: the entry proxy looks again at the next session.
    return Status::Busy("branch \"" + branch + "\" is now held by node " + holder->id +
                        "; reconnect");
  }
  if (holder->proxy_addr.empty()) {
    return Status::Unavailable("branch \"" + branch + "\" is held by node " + holder->id +
                               ", which runs no proxy");
  }
  Result<HostPort> hp = ParseHostPort(holder->proxy_addr);
  if (!hp.ok()) {
    return Status::Unavailable("branch \"" + branch + "\" is held by node " + holder->id +
                               ", whose proxy address \"" + holder->proxy_addr +
                               "\" is not HOST:PORT");
  }
  ProxySession s;
  s.relay = RelayTarget{*hp, holder->id, holder->proxy_tls};
  return std::optional<ProxySession>(std::move(s));
}

}  // namespace strata
