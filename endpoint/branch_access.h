// BranchAccess: the proxy's view of the daemon (ProxyDelegate). It finds a
// client's credential, checks that it opens the branch asked for and that the
// branch's owner is within quota, and wakes the branch's endpoint, or, for a
// branch another live daemon holds, answers with a relay to that daemon's
// proxy (docs/cluster.md, "Any proxy, any branch"). A branch nobody holds is
// claimed and woken here.
//
// Thread-safety: called by the proxy's session threads concurrently, with no
// lock of the proxy held; holds no lock of its own. Credential expiry is
// checked at the Credentials' clock.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "cluster/node_leases.h"
#include "endpoint/credentials.h"
#include "endpoint/endpoint_manager.h"
#include "pgwire/proxy.h"

namespace strata {

class BranchAccess : public ProxyDelegate {
 public:
  // `check_quota(owner)`: kQuota when the owner may not start sessions.
  // `leases` (may be null: every branch is served here) says who holds a branch.
  BranchAccess(Catalog* catalog, Credentials* credentials, EndpointManager* endpoints,
               std::function<Status(const std::string& owner)> check_quota,
               NodeLeases* leases = nullptr)
      : catalog_(catalog),
        credentials_(credentials),
        endpoints_(endpoints),
        check_quota_(std::move(check_quota)),
        leases_(leases) {}

  Result<ProxyCredential> FindCredential(const std::string& user) override;
  Result<ProxySession> Open(const ProxyCredential& cred, const std::string& branch,
                            bool relayed) override;

 private:
  Catalog* const catalog_;
  Credentials* const credentials_;
  EndpointManager* const endpoints_;
  // A relay to the live node other than this one that holds branch `id`;
  // nullopt when the session is served here.
  Result<std::optional<ProxySession>> RelayIfHeldElsewhere(uint32_t id, const std::string& branch,
                                                           bool relayed);

  const std::function<Status(const std::string&)> check_quota_;
  NodeLeases* const leases_;
};

}  // namespace strata
