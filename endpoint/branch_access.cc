#include "endpoint/branch_access.h"

#include "pgwire/scram.h"

namespace strata {

Result<ProxyCredential> BranchAccess::FindCredential(const std::string& user) {
  STRATA_ASSIGN_OR_RETURN(CredentialInfo c,
                          credentials_->Find(user, credentials_->clock()->NowNs()));
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

Result<ProxySession> BranchAccess::Open(const ProxyCredential& cred, const std::string& branch) {
  std::string owner;
  {
    auto cat = catalog_->Current();
    const BranchInfo* b = cat->FindBranch(branch);
    if (!b) return Status::NotFound("branch \"" + branch + "\" does not exist");
    if (b->id != cred.branch_id) {
      return Status::Permission("credential \"" + cred.user + "\" is not valid for branch \"" +
                                branch + "\"");
    }
    owner = b->owner;
  }
  if (check_quota_) STRATA_RETURN_IF_ERROR(check_quota_(owner));
  STRATA_ASSIGN_OR_RETURN(std::string socket, endpoints_->Acquire(branch));
  ProxySession s;
  s.socket_path = std::move(socket);
  EndpointManager* endpoints = endpoints_;
  s.release = [endpoints, branch] { endpoints->Release(branch); };
  return s;
}

}  // namespace strata
