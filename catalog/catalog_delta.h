// CatalogDelta: what one catalog version changes in the version before it.
//
// A catalog version is stored either whole (a checkpoint) or as a delta on
// the version before it, so that one change writes metadata whose size does
// not depend on the number of branches (docs/store-layout.md, "Catalog").
// Entries are keyed: branches by id, snapshots by name, credentials and
// tokens by id, quotas by owner. A delta deletes entries and puts entries;
// a put replaces the entry with its key where it stands, or appends it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace strata {

struct CatalogDelta {
  uint64_t version = 0;     // the version this delta makes (its base is version - 1)
  uint64_t checkpoint = 0;  // the whole version the chain it belongs to starts from
  uint32_t next_branch_id = 0;
  std::vector<BranchInfo> put_branches;
  std::vector<uint32_t> del_branches;
  std::vector<SnapshotInfo> put_snapshots;
  std::vector<std::string> del_snapshots;
  std::vector<CredentialInfo> put_credentials;
  std::vector<std::string> del_credentials;
  std::map<std::string, OwnerQuota> put_quotas;
  std::vector<std::string> del_quotas;
  std::vector<TokenInfo> put_tokens;
  std::vector<std::string> del_tokens;
};

// The delta that turns `from` into `to` (to.version must be from.version + 1),
// or nullopt when applying a delta to `from` would not give `to` exactly:
// an entry moved, or a new one was put anywhere but after every kept entry.
// The caller then stores `to` whole. O(size of the catalog) in memory, O(size
// of the change) in output.
std::optional<CatalogDelta> DiffCatalog(const CatalogData& from, const CatalogData& to);

// Applies `d` to `c`, which must be at version d.version - 1; kCorruption
// (naming `name`) if it is not, or if the delta deletes an entry `c` lacks.
// On an error *c is half changed: apply to a copy.
Status ApplyCatalogDelta(const CatalogDelta& d, const std::string& name, CatalogData* c);

}  // namespace strata
