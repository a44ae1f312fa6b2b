// What an owner token may do on each route of the control API (docs/api.md,
// "Owner tokens"). Every route declares a Scope; Api::Dispatch asks
// CheckScope before the route's handler runs and FilterList after a list
// answers. The admin passes every check unchanged.
//
// For an owner, a name of another owner's branch, snapshot or credential is
// refused with exactly the kNotFound a missing name gets ("no branch named
// 'x'"), whatever the route: this check answers both, before the handler
// can tell them apart.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/api_tokens.h"
#include "catalog/catalog.h"
#include "common/status.h"

namespace strata {

enum class Scope {
  kAdmin,           // the admin only: kPermission for an owner
  kBranch,          // {name} is a branch of the owner; so is the snapshot of a restore `to`
  kPromote,         // kBranch, and the child's parent is the owner's too
  kDiff,            // kBranch, and so is `against` (absent: the parent, which must be)
  kSnapshot,        // {name} is a snapshot of a branch of the owner
  kCredential,      // {id} is a credential of a branch of the owner
  kOwner,           // {owner} is the caller's owner
  kListBranches,    // `owner` is the caller's (set if absent); FilterList keeps its branches
  kListEndpoints,   // ... the endpoints of the owner's branches
  kListSnapshots,   // ... the snapshots of the owner's branches
  kCreateBranch,    // `owner` is the caller's (set if absent); `from` is the owner's
  kCreateSnapshot,  // `branch` is a branch of the owner
};

// OK if `caller` may call `route` ("GET /v1/gc", for messages), of `scope`,
// with these path `params` and `body`; for an owner, may fill in `body` (the
// owner of a new branch).
Status CheckScope(const CatalogData& cat, const Caller& caller, const std::string& route,
                  Scope scope, const std::vector<std::string>& params, nlohmann::json* body);

// The items of the answer of a kList* route that `caller` may see: all for
// the admin; for an owner, those of its branches (in a page's `branches`
// too). Other scopes: unchanged.
nlohmann::json FilterList(const CatalogData& cat, const Caller& caller, Scope scope,
                          nlohmann::json list);

}  // namespace strata
