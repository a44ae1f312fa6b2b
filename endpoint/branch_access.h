// BranchAccess: the proxy's view of the daemon (ProxyDelegate). It finds a
// client's credential, checks that it opens the branch asked for and that the
// branch's owner is within quota, and wakes the branch's endpoint.
//
// Thread-safety: called by the proxy's session threads concurrently, with no
// lock of the proxy held; holds no lock of its own. Credential expiry is
// checked at the Credentials' clock.
#pragma once

#include <functional>
#include <string>

#include "catalog/catalog.h"
#include "endpoint/credentials.h"
#include "endpoint/endpoint_manager.h"
#include "pgwire/proxy.h"

namespace strata {

class BranchAccess : public ProxyDelegate {
 public:
  // `check_quota(owner)`: kQuota when the owner may not start sessions.
  BranchAccess(Catalog* catalog, Credentials* credentials, EndpointManager* endpoints,
               std::function<Status(const std::string& owner)> check_quota)
      : catalog_(catalog),
        credentials_(credentials),
        endpoints_(endpoints),
        check_quota_(std::move(check_quota)) {}

  Result<ProxyCredential> FindCredential(const std::string& user) override;
  Result<ProxySession> Open(const ProxyCredential& cred, const std::string& branch) override;

 private:
  Catalog* const catalog_;
  Credentials* const credentials_;
  EndpointManager* const endpoints_;
  const std::function<Status(const std::string&)> check_quota_;
};

}  // namespace strata
