// Per-owner quotas: how many branches an owner may have and how many bytes
// they may store, checked before a branch is created (docs/api.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"
#include "layers/version_store.h"

namespace strata {

struct OwnerUsage {
  int64_t branches = 0;
  // Bytes deleting the owner's branches would free: their exclusive bytes
  // (docs/gc.md, "Space") and memtables. What a branch shares with its
  // parent counts for the parent; what its children read counts for them.
  int64_t bytes = 0;
};

// The exclusive bytes of a branch as the last collection pass measured
// them, or nullopt before one has (then its layer bytes count).
using ExclusiveBytesFn = std::function<std::optional<uint64_t>(uint32_t branch)>;

OwnerUsage UsageOf(const CatalogData& cat, const std::string& owner, VersionStore* versions,
                   const ExclusiveBytesFn& exclusive = nullptr);

// The catalog's quota of `owner`, or `defaults` when it has none.
OwnerQuota QuotaOf(const CatalogData& cat, const std::string& owner, const OwnerQuota& defaults);

// OK if `owner` may have one more branch; kQuota naming the limit otherwise.
// Branches without an owner are never limited.
Status CheckNewBranch(const std::string& owner, const OwnerQuota& quota, const OwnerUsage& usage);

// OK if `owner` is within its byte quota (a session may start); kQuota otherwise.
Status CheckBytes(const std::string& owner, const OwnerQuota& quota, const OwnerUsage& usage);

}  // namespace strata
