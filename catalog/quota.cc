#include "catalog/quota.h"

namespace strata {

OwnerUsage UsageOf(const CatalogData& cat, const std::string& owner, VersionStore* versions,
                   const ExclusiveBytesFn& exclusive) {
  OwnerUsage u;
  for (const BranchInfo& b : cat.branches) {
    if (b.owner != owner) continue;
    // A retired branch is not one the owner has, but its bytes are stored.
    if (!b.retired) u.branches++;
    const BranchStats s = versions->Stats(b.id);
    const std::optional<uint64_t> excl = exclusive ? exclusive(b.id) : std::nullopt;
    u.bytes += static_cast<int64_t>(excl.value_or(s.layer_bytes) + s.memtable_bytes);
  }
  return u;
}

OwnerQuota QuotaOf(const CatalogData& cat, const std::string& owner, const OwnerQuota& defaults) {
  auto it = cat.quotas.find(owner);
  return it == cat.quotas.end() ? defaults : it->second;
}

Status CheckBytes(const std::string& owner, const OwnerQuota& quota, const OwnerUsage& usage) {
  if (owner.empty() || quota.max_bytes < 0 || usage.bytes < quota.max_bytes) return Status::OK();
  return Status::Quota("owner '" + owner + "' stores " + std::to_string(usage.bytes) +
                       " bytes, at or over its quota of " + std::to_string(quota.max_bytes) +
                       " bytes: delete branches or raise the quota");
}

Status CheckNewBranch(const std::string& owner, const OwnerQuota& quota, const OwnerUsage& usage) {
  if (owner.empty()) return Status::OK();
  if (quota.max_branches >= 0 && usage.branches >= quota.max_branches) {
    return Status::Quota("owner '" + owner + "' has " + std::to_string(usage.branches) +
                         " branches, its quota is " + std::to_string(quota.max_branches) +
                         ": delete a branch or raise the quota");
  }
  return CheckBytes(owner, quota, usage);
}

}  // namespace strata
