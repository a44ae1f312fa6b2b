// Owner tokens of the control API (docs/api.md, "Owner tokens"). A token is
// "strata_<id>_<secret>": `id` (12 hex digits) names it, `secret` (64 hex
// digits, 32 random bytes) proves it. The catalog keeps id, owner, times and
// SHA-256(secret) (docs/store-layout.md), never the secret: a presented
// token is found by its id and checked by its hash, in constant time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "catalog/catalog.h"
#include "common/clock.h"
#include "common/status.h"

namespace strata {

// Who a request acts as: the admin (the daemon's token, the unix socket)
// or one owner (an owner token).
struct Caller {
  std::string owner;     // "": the admin
  std::string token_id;  // the owner token's id; "" for the admin
  bool admin() const { return owner.empty(); }
};

struct IssuedToken {
  TokenInfo info;
  std::string token;  // "strata_<id>_<secret>": shown once, never stored
};

class ApiTokens {
 public:
  static constexpr char kPrefix[] = "strata_";

  ApiTokens(Catalog* catalog, Clock* clock) : catalog_(catalog), clock_(clock) {}

  // A new token of `owner` (a valid name) that works until `expires_ns`
  // (0: never). Stored before it is returned.
  Result<IssuedToken> Issue(const std::string& owner, int64_t expires_ns);
  // kNotFound "no token 'id'" for an unknown id; revoking twice is OK (the
  // first time is kept).
  Status Revoke(const std::string& id);
  // Whether `bearer` has the shape of an owner token (not whether it works).
  static bool IsOwnerToken(std::string_view bearer);
  // The owner `bearer` acts for. kPermission with the message the 401
  // carries: one generic message for a malformed token, an unknown id or a
  // wrong secret (nothing to tell them apart); "expired" or "revoked" only
  // once the secret matched.
  Result<Caller> Authenticate(std::string_view bearer) const;

 private:
  Catalog* const catalog_;
  Clock* const clock_;
};

}  // namespace strata
