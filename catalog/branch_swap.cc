// Restore and promote: a name moves to another branch in one catalog write
// (docs/design.md, "Restore and promote"). BranchManager's other operations
// are in branch_manager.cc.
#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/fork_spec.h"

namespace strata {

namespace {

// What follows a name to the branch it names next.
void TakeSettings(const BranchInfo& from, BranchInfo* to) {
  to->name = from.name;
  to->owner = from.owner;
  to->expires_ns = from.expires_ns;
  to->idle_timeout_s = from.idle_timeout_s;
  to->history_s = from.history_s;
  to->durability = from.durability;
}

}  // namespace

Status BranchManager::CheckPreserveAs(const CatalogData& cat,
                                      const std::string& preserve_as) const {
  if (preserve_as.empty()) return Status::OK();
  STRATA_RETURN_IF_ERROR(ValidateName("branch", preserve_as));
  if (cat.FindBranch(preserve_as)) {
    return Status::Exists("branch '" + preserve_as + "' already exists: choose another name");
  }
  return Status::OK();
}

void BranchManager::KeepOldState(CatalogData& c, uint32_t old_id, uint32_t new_id,
                                 const std::string& preserve_as) {
  for (auto& x : c.branches) {
    if (x.id != old_id) continue;
    if (preserve_as.empty()) {
      x.retired = true;
    } else {
      x.name = preserve_as;
    }
  }
  // The name is the same branch to its users: its credentials follow it.
  for (auto& x : c.credentials) {
    if (x.branch == old_id) x.branch = new_id;
  }
}

Result<BranchInfo> BranchManager::RestoreBranch(const std::string& name, const std::string& to,
                                                const std::string& preserve_as) {
  if (to.empty() || to[0] != '@') {
    return Status::Invalid("a restore point is '@seq:N', '@time:RFC3339' or '@SNAPSHOT', not '" +
                           to + "'");
  }
  STRATA_ASSIGN_OR_RETURN(ForkSpec spec, ParseForkSpec(name + to));
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranch(name);
  if (!b) return NoBranch(name);
  STRATA_RETURN_IF_ERROR(CheckNotDetaching(*b));
  STRATA_RETURN_IF_ERROR(CheckPreserveAs(*cat, preserve_as));
  // A preserved old state is one more branch of the owner.
  if (!preserve_as.empty() && admit_) STRATA_RETURN_IF_ERROR(admit_(*cat, b->owner));
  STRATA_RETURN_IF_ERROR(ClaimForChange(*b));
  const uint32_t old_id = b->id;
  BranchInfo info = *b;
  const BranchInfo* parent = ForkParentOf(*cat, spec);
  if (!parent) return NoBranch(name);
  // The point first: a refused one must not cost an id.
  STRATA_ASSIGN_OR_RETURN(info.fork_seq, ResolveForkSeq(*cat, *parent, spec));
  info.parent = parent->id;
  STRATA_ASSIGN_OR_RETURN(info.id, NextId(*cat));
  info.created_ns = clock_->NowNs();
  info.detached_from.clear();
  Lineage lineage = cat->LineageOf(parent->id, info.fork_seq);
  lineage.insert(lineage.begin(), Level{info.id, UINT64_MAX});
  STRATA_RETURN_IF_ERROR(
      StartChild(info.id, lineage, info.root_ino, info.durability.value_or(default_tier_)));
  std::vector<uint32_t> retired;
  Status st = catalog_->Update([&](CatalogData& c) {
    c.next_branch_id = std::max(c.next_branch_id, info.id + 1);
    KeepOldState(c, old_id, info.id, preserve_as);
    c.branches.push_back(info);
    // A restore to a snapshot of an older retired state leaves the one the
    // name had unread.
    retired = c.PruneRetired();
    return Status::OK();
  });
  if (!st.ok()) {
    versions_->DropBranch(info.id).PermitUnchecked();
    return st;
  }
  if (gone_) gone_(name);
  DropRetired(retired);
  spdlog::info("branch '{}' restored to {} (branch {} at seq {}); its old state {}", name, to,
               info.parent, info.fork_seq,
               preserve_as.empty() ? "is retired" : "is now '" + preserve_as + "'");
  return info;
}

Status ParentMoved(const std::string& parent, const std::string& child,
                   const std::vector<std::string>& changed) {
  std::string what;
  for (const std::string& c : changed) what += (what.empty() ? "" : ", ") + c;
  return Status::Busy("branch '" + parent + "' changed since '" + child + "' was forked from it (" +
                      what + "): a promote would drop those changes; nothing was changed");
}

DivergedFn BranchManager::SeqDiverged() {
  return [this](const BranchInfo& parent, uint64_t since_seq) -> Result<std::vector<std::string>> {
    const uint64_t head = versions_->HeadSeq(parent.id);
    if (head <= since_seq) return std::vector<std::string>{};
    return std::vector<std::string>{"seqs " + std::to_string(since_seq + 1) + ".." +
                                    std::to_string(head)};
  };
}

Result<BranchInfo> BranchManager::PromoteBranch(const std::string& child,
                                                const std::string& preserve_as,
                                                const DivergedFn& diverged) {
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* c = cat->FindBranch(child);
  if (!c) return NoBranch(child);
  if (c->parent == 0) {
    return Status::Invalid("branch '" + child +
                           "' is a root branch: it has no parent to promote into");
  }
  const BranchInfo* p = cat->FindBranchById(c->parent);
  if (!p) return Status::Corruption("catalog: parent of '" + child + "' is missing");
  if (p->retired) return RetiredParent(child);
  STRATA_RETURN_IF_ERROR(CheckNotDetaching(*c));
  STRATA_RETURN_IF_ERROR(CheckNotDetaching(*p));
  STRATA_RETURN_IF_ERROR(CheckPreserveAs(*cat, preserve_as));
  STRATA_RETURN_IF_ERROR(ClaimForChange(*p));
  STRATA_RETURN_IF_ERROR(ClaimForChange(*c));
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> changed,
                          (diverged ? diverged : SeqDiverged())(*p, c->fork_seq));
  if (!changed.empty()) return ParentMoved(p->name, child, changed);
  const BranchInfo parent = *p;
  const uint64_t parent_head = versions_->HeadSeq(parent.id);
  BranchInfo info = *c;
  TakeSettings(parent, &info);
  Status st = catalog_->Update([&](CatalogData& d) {
    // The child's name is gone, and with it what it let clients open.
    std::erase_if(d.credentials, [&](const CredentialInfo& x) { return x.branch == info.id; });
    KeepOldState(d, parent.id, info.id, preserve_as);
    for (auto& x : d.branches) {
      if (x.id == info.id) x = info;
    }
    return Status::OK();
  });
  if (!st.ok()) return st;
  // Sessions of both endpoints are refused (Fleet), but a write straight
  // through MOUNT/<parent>/ after the check lands on the old state.
  if (const uint64_t head = versions_->HeadSeq(parent.id); head != parent_head) {
    spdlog::warn(
        "branch '{}': seqs {}..{} were written through the mount during the promote of "
        "'{}'; they are in the old state ({})",
        parent.name, parent_head + 1, head, child,
        preserve_as.empty() ? "retired" : "'" + preserve_as + "'");
  }
  // Catalog first, as UpdateBranch: the next mount applies a recorded tier.
  Status tier = versions_->SetDurability(info.id, info.durability.value_or(default_tier_));
  if (!tier.ok()) spdlog::warn("branch '{}': tier not applied: {}", info.name, tier.ToString());
  // The child's lineage is unchanged (its parent is the old state), so no
  // reader needs a new one; both names name something else now.
  if (gone_) {
    gone_(parent.name);
    gone_(child);
  }
  spdlog::info("branch '{}' promoted into '{}' (branch {}); the old state {}", child, parent.name,
               info.id, preserve_as.empty() ? "is retired" : "is now '" + preserve_as + "'");
  return info;
}

}  // namespace strata
