// BranchAccess: the proxy's view of the daemon (ProxyDelegate). It finds a
// client's credential, checks that it opens the branch asked for and that the
// branch's owner is within quota, and wakes the branch's endpoint, or, for a
// branch another live daemon holds, answers with a relay to that daemon's
// proxy (docs/cluster.md, "Any proxy, any branch"). A branch nobody holds is
// claimed and woken here, unless a branch it forked from is held by another
// live daemon: then it goes there, where the fork's data is. A credential or branch name it does
// not know yet makes it read the catalog changes of other daemons once before it says so.
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
  // Reads the catalog changes other daemons stored since the last follow
  // (Catalog::Refresh): a credential or branch made through another daemon a
  // moment ago (one LIST of catalog/, a GET per new version). False without
  // `leases` (no other writer) or when the read failed.
  bool CatchUp();
  // The live node other than this one that writes what branch `id` reads:
  // its holder; or, for a branch nobody holds (a fork never opened), the
  // holder of the nearest ancestor somebody holds, which may not have
  // published the fork's part yet. Nullopt: served here.
  Result<std::optional<NodeRecord>> WriterElsewhere(uint32_t id);
  // A relay to WriterElsewhere(id); nullopt when the session is served here.
  Result<std::optional<ProxySession>> RelayIfHeldElsewhere(uint32_t id, const std::string& branch,
                                                           bool relayed);

  const std::function<Status(const std::string&)> check_quota_;
  NodeLeases* const leases_;
};

}  // namespace strata
