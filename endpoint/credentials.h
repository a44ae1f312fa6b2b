// Credentials: per-branch passwords for the proxy, with an expiry
// (docs/api.md, "Credentials"). Kept in the catalog as SCRAM-SHA-256
// verifiers, so they survive restarts and move with the store; the password
// itself is shown once, when it is issued, and never stored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/clock.h"
#include "common/status.h"

namespace strata {

struct IssuedCredential {
  CredentialInfo info;
  std::string password;  // 32 characters of [A-Za-z0-9]
};

// Thread-safety: no state of its own; the catalog serializes changes.
class Credentials {
 public:
  // `clock` stamps created_ns, and is the `now` of BranchAccess's expiry checks.
  explicit Credentials(Catalog* catalog, Clock* clock = Clock::Real())
      : catalog_(catalog), clock_(clock) {}

  // A new credential opening `branch` as `role` until `expires_ns` (0:
  // never). kNotFound for an unknown branch, kInvalid for a bad role name.
  Result<IssuedCredential> Issue(const std::string& branch, const std::string& role,
                                 int64_t expires_ns);
  // kNotFound if there is no credential `id`.
  Status Revoke(const std::string& id);
  // The credential a client names as its user: kNotFound if unknown or
  // expired at `now_ns`.
  Result<CredentialInfo> Find(const std::string& id, int64_t now_ns) const;
  // Deletes the credentials expired at `now_ns` (one catalog change, none if
  // nothing expired). Returns how many.
  Result<int> PruneExpired(int64_t now_ns);

  Clock* clock() const { return clock_; }

 private:
  Catalog* const catalog_;
  Clock* const clock_;
};

// 1-63 characters of [A-Za-z0-9_], not starting with a digit: a role name
// that needs no quoting.
Status ValidateRole(const std::string& role);

}  // namespace strata
