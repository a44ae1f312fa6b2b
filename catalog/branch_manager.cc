#include "catalog/branch_manager.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>

#include "catalog/fork_spec.h"
#include "common/clock.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {

Result<uint64_t> BranchManager::ResolveForkSeq(const CatalogData& cat, const BranchInfo& parent,
                                               const ForkSpec& spec) {
  // A parent another daemon writes is forked at its last published state.
  STRATA_RETURN_IF_ERROR(versions_->RefreshForeign(parent.id).status());
  const uint64_t head = versions_->HeadSeq(parent.id);
  // A root branch has nothing, not even its top directory, at seq 0.
  const uint64_t first = parent.parent == 0 ? 1 : 0;
  uint64_t seq = head;
  switch (spec.kind) {
    case ForkSpec::Kind::kHead:
      break;
    case ForkSpec::Kind::kSnapshot: {
      const SnapshotInfo* s = cat.FindSnapshot(spec.snapshot);
      if (!s) return Status::NotFound("no snapshot named '" + spec.snapshot + "'");
      if (s->branch != parent.id) {
        const BranchInfo* owner = cat.FindBranchById(s->branch);
        return Status::Invalid("snapshot '" + spec.snapshot + "' belongs to branch '" +
                               (owner ? owner->name : "?") + "', not '" + parent.name + "'");
      }
      seq = s->seq;
      break;
    }
    case ForkSpec::Kind::kSeq:
      if (spec.seq > head) {
        return Status::Invalid("seq " + std::to_string(spec.seq) + " is beyond the head of '" +
                               parent.name + "' (seq " + std::to_string(head) + ")");
      }
      if (spec.seq < first) {
        return Status::Invalid("seq 0 of root branch '" + parent.name +
                               "' is before its first operation; the earliest is seq 1");
      }
      seq = spec.seq;
      break;
    case ForkSpec::Kind::kTime: {
      Result<uint64_t> at = ResolveForkTime(parent, spec, first);
      if (!at.ok() && at.status().IsNotFound()) {
        // No op at or before that time is known any more (a fresh machine
        // rebuilds the time map from the layers GC kept): if the time is
        // before the history window, that is the answer to give.
        const int64_t window = HistoryOf(parent);
        STRATA_ASSIGN_OR_RETURN(std::optional<TimePoint> oldest,
                                OldestPoint(versions_, parent, window, clock_->NowNs()));
        STRATA_RETURN_IF_ERROR(CheckForkPoint(parent, window, oldest, spec, 0));
      }
      STRATA_ASSIGN_OR_RETURN(seq, std::move(at));
      break;
    }
  }
  // Under mu_, as PlanRetention: no collection can let this point go
  // between the check and the catalog naming the fork.
  const int64_t window = HistoryOf(parent);
  STRATA_ASSIGN_OR_RETURN(std::optional<TimePoint> oldest,
                          OldestPoint(versions_, parent, window, clock_->NowNs()));
  STRATA_RETURN_IF_ERROR(CheckForkPoint(parent, window, oldest, spec, seq));
  // The caller makes the fork point durable (one Sync) before the catalog
  // names it.
  return seq;
}

Result<uint64_t> BranchManager::ResolveForkTime(const BranchInfo& parent, const ForkSpec& spec,
                                                uint64_t first) {
  if (spec.time_ns > clock_->NowNs()) {
    return Status::Invalid("time " + FormatRfc3339(spec.time_ns) + " is in the future");
  }
  if (spec.time_ns < parent.created_ns) {
    return Status::Invalid("time " + FormatRfc3339(spec.time_ns) + " is before branch '" +
                           parent.name + "' was created (" + FormatRfc3339(parent.created_ns) +
                           ")");
  }
  uint64_t seq = 0;
  Result<uint64_t> s = versions_->SeqAtTime(parent.id, static_cast<uint64_t>(spec.time_ns));
  if (s.ok()) {
    seq = *s;
  } else if (s.status().IsNotFound() && first == 0) {
    seq = 0;  // no op yet at that time: the fork point itself
  } else {
    return s.status();
  }
  if (seq < first) {
    return Status::Invalid("branch '" + parent.name + "' had no state yet at " +
                           FormatRfc3339(spec.time_ns));
  }
  return seq;
}

int64_t BranchManager::HistoryOf(const BranchInfo& b) const {
  return strata::HistoryOf(b, default_history_s_);
}

Result<std::optional<TimePoint>> BranchManager::OldestPointOf(const BranchInfo& b) {
  return OldestPoint(versions_, b, HistoryOf(b), clock_->NowNs());
}

Result<GcPoints> BranchManager::PlanRetention(uint32_t id) {
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranchById(id);
  if (!b) return Status::NotFound("branch id " + std::to_string(id) + " is gone");
  // A retired branch has no window to raise: RetainedPoints keeps its pins.
  if (b->retired) return RetainedPoints(*cat, id, 0);
  STRATA_ASSIGN_OR_RETURN(std::optional<TimePoint> oldest,
                          OldestPoint(versions_, *b, HistoryOf(*b), clock_->NowNs()));
  if (!oldest) return RetainedPoints(*cat, id, 0);
  versions_->RaiseHistoryFloor(id, oldest->seq, oldest->time_ns);
  return RetainedPoints(*cat, id, oldest->seq);
}

std::string BranchManager::Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

Status BranchManager::NoBranch(const std::string& name) {
  return Status::NotFound("no branch named '" + name + "'");
}

Status BranchManager::RetiredParent(const std::string& name) {
  return Status::Invalid("branch '" + name +
                         "' has no parent to reset to or promote into: it was forked from a "
                         "state that a restore or promote retired");
}

const BranchInfo* BranchManager::ForkParentOf(const CatalogData& cat, const ForkSpec& spec) {
  if (spec.kind == ForkSpec::Kind::kSnapshot) {
    const SnapshotInfo* s = cat.FindSnapshot(spec.snapshot);
    const BranchInfo* owner = s ? cat.FindBranchById(s->branch) : nullptr;
    if (owner && owner->retired && owner->name == spec.parent) return owner;
  }
  return cat.FindBranch(spec.parent);
}

void BranchManager::DropRetired(const std::vector<uint32_t>& ids) {
  for (uint32_t id : ids) {
    Status st = versions_->DropBranch(id);
    if (!st.ok()) {
      spdlog::warn("retired branch {} deleted; cleaning its data failed: {}", id, st.ToString());
    } else {
      spdlog::info("retired branch {} deleted: nothing reads it any more", id);
    }
  }
}

Status BranchManager::ClaimForChange(const BranchInfo& b) {
  Status st = versions_->Claim(b.id);
  if (st.ok() || st.code() != Code::kReadOnly) return st;
  return Status::Busy("branch '" + b.name + "' is written by another daemon: " + st.message());
}

Status BranchManager::CheckNotDetaching(const BranchInfo& b) const {
  if (!detaching_.count(b.id)) return Status::OK();
  return Status::Busy("branch '" + b.name + "' is being detached");
}

void BranchManager::AnnounceLineages(const CatalogData& cat, uint32_t id) {
  if (!lineage_changed_) return;
  lineage_changed_(id, cat.LineageOf(id));
  for (const BranchInfo& b : cat.branches) {
    if (b.parent == id) AnnounceLineages(cat, b.id);
  }
}

Result<BranchInfo> BranchManager::DetachBranch(const std::string& name) {
  uint32_t id = 0;
  Lineage ancestors;
  std::string parent_name;
  {
    MutexLock lock(&mu_);
    std::shared_ptr<const CatalogData> cat = catalog_->Current();
    const BranchInfo* b = cat->FindBranch(name);
    if (!b) return NoBranch(name);
    if (b->parent == 0) {
      return Status::Invalid("branch '" + name + "' has no parent: nothing to detach");
    }
    STRATA_RETURN_IF_ERROR(CheckNotDetaching(*b));
    const BranchInfo* parent = cat->FindBranchById(b->parent);
    if (!parent) return Status::Corruption("catalog: parent of '" + name + "' is missing");
    id = b->id;
    parent_name = parent->name;
    ancestors = cat->LineageOf(parent->id, b->fork_seq);
    detaching_.insert(id);
  }
  // The copy runs without the lock: the catalog still names the fork, so
  // the ancestors keep what it reads, and whatever the branch (or a child of
  // it) writes meanwhile lands above seq 0.
  Result<uint64_t> bytes = versions_->Detach(id, ancestors);
  MutexLock lock(&mu_);
  detaching_.erase(id);
  if (!bytes.ok()) return bytes.status();
  BranchInfo info;
  std::vector<uint32_t> retired;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    for (auto& x : c.branches) {
      if (x.id != id) continue;
      x.parent = 0;
      x.fork_seq = 0;
      x.detached_from = parent_name;
      info = x;
    }
    retired = c.PruneRetired();
    return Status::OK();
  }));
  // Catalog first: a reader set up from the old catalog after this point
  // gets the new lineage from here.
  AnnounceLineages(*catalog_->Current(), id);
  DropRetired(retired);
  spdlog::info("branch '{}' detached from '{}': {} bytes copied", name, parent_name, *bytes);
  return info;
}

Result<uint32_t> BranchManager::NextId(const CatalogData& cat) {
  // 64-bit: an id from a damaged op log may be UINT32_MAX.
  next_id_ = static_cast<uint32_t>(
      std::min<uint64_t>(std::max<uint64_t>(next_id_, uint64_t{versions_->MaxBranchIdInLog()} + 1),
                         uint64_t{kMaxBranchId} + 1));
  if (next_id_ >= reserved_end_) {
    // Reserve a block of ids in the catalog before handing any out: a branch
    // whose creation fails may leave records under its id in the op log or
    // on the walsink server, and a later branch must never inherit them,
    // whatever was trimmed since. One catalog write per kIdBlock creations.
    constexpr uint32_t kIdBlock = 64;
    const uint32_t floor = next_id_;
    uint32_t from = 0, end = 0;
    // The block starts where the catalog being written says: another daemon
    // may have reserved one since `cat` was read (Update runs this again on
    // the newer catalog if so).
    STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
      from = std::max({floor, c.next_branch_id, cat.next_branch_id});
      // An id past kMaxBranchId would share inode numbers with another
      // branch (MakeIno, layers/key.h): refuse rather than hand one out.
      if (from > kMaxBranchId) {
        return Status::NoSpace("branch ids are exhausted (2^24): a store hands out " +
                               std::to_string(kMaxBranchId) + " ids and never reuses one");
      }
      end = std::min(from + kIdBlock, kMaxBranchId + 1);
      c.next_branch_id = end;
      return Status::OK();
    }));
    next_id_ = from;
    reserved_end_ = end;
  }
  return next_id_++;
}

Status BranchManager::ApplyPostgresFixups(const Lineage& child, uint64_t root) {
  const std::string pid_key = DirentKey(root, "postmaster.pid");
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> dirent, versions_->Get(child, pid_key));
  uint64_t ino = 0;
  if (!dirent || !DecodeDirent(*dirent, &ino)) return Status::OK();
  std::vector<KeyPut> puts;
  puts.push_back({pid_key, true, ""});
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> attr_bytes,
                          versions_->Get(child, AttrKey(ino)));
  InodeAttr attr;
  if (attr_bytes && DecodeInodeAttr(*attr_bytes, &attr)) {
    attr.nlink = attr.nlink > 0 ? attr.nlink - 1 : 0;
    attr.ctime_ns = clock_->NowNs();
    puts.push_back({AttrKey(ino), false, EncodeInodeAttr(attr)});
    // Its last name is gone: the child's filesystem purges it (docs/gc.md).
    if (attr.nlink == 0) puts.push_back({OrphanKey(ino), false, ""});
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t seq, versions_->Commit(child.front().branch, std::move(puts)));
  spdlog::info("branch {}: removed the parent's postmaster.pid (seq {})", child.front().branch,
               seq);
  return Status::OK();
}

Status BranchManager::CheckTier(Durability tier) const {
  if (tier == Durability::kRemote && !remote_available_) {
    return Status::Invalid(
        "durability 'remote' needs a durable log off this machine: mount the store with --sink "
        "HOST:PORT (a walsink server) or --sink store");
  }
  return Status::OK();
}

BranchManager::BranchManager(Catalog* catalog, VersionStore* versions, Clock* clock)
    : catalog_(catalog), versions_(versions), clock_(clock) {
  catalog_->SetBeforeCatchUp([versions](const CatalogData& next) {
    for (const BranchInfo& b : next.branches) {
      if (!versions->HasBranch(b.id)) STRATA_RETURN_IF_ERROR(versions->Attach(b.id));
    }
    return Status::OK();
  });
}

BranchManager::~BranchManager() { catalog_->SetBeforeCatchUp(nullptr); }

Result<std::shared_ptr<const CatalogData>> BranchManager::Follow(const CatalogData& before) {
  MutexLock lock(&mu_);
  // The catalog as of now, under mu_: none of this daemon's own changes is
  // half done, so the version store knows exactly the branches it names
  // that this daemon made or attached.
  std::shared_ptr<const CatalogData> now = catalog_->Current();
  std::map<uint32_t, const BranchInfo*> was;
  for (const BranchInfo& b : before.branches) was[b.id] = &b;
  std::set<uint32_t> live;
  for (const BranchInfo& b : now->branches) {
    live.insert(b.id);
    const bool attach = !versions_->HasBranch(b.id);
    if (attach) STRATA_RETURN_IF_ERROR(versions_->Attach(b.id));
    auto it = was.find(b.id);
    const BranchInfo* old = it == was.end() ? nullptr : it->second;
    if (!attach && old && *old == b) continue;
    if (!b.retired) {
      STRATA_RETURN_IF_ERROR(versions_->SetDurability(b.id, b.durability.value_or(default_tier_)));
    }
    if (gone_ && (!old || old->name != b.name || old->retired != b.retired)) gone_(b.name);
    if (old && (old->parent != b.parent || old->fork_seq != b.fork_seq)) {
      AnnounceLineages(*now, b.id);
    }
  }
  for (uint32_t id : versions_->Branches()) {
    if (live.count(id)) continue;  // deleted elsewhere
    if (auto it = was.find(id); gone_ && it != was.end()) gone_(it->second->name);
    STRATA_RETURN_IF_ERROR(versions_->Forget(id));
  }
  return now;
}

Status BranchManager::ApplyDurabilities() {
  MutexLock lock(&mu_);
  for (const BranchInfo& b : catalog_->Current()->branches) {
    // Nothing writes to a retired branch: its tier cannot stop a mount.
    if (b.retired) continue;
    const Durability tier = b.durability.value_or(default_tier_);
    Status st = CheckTier(tier);
    if (!st.ok()) return Status::Invalid("branch '" + b.name + "': " + st.message());
    STRATA_RETURN_IF_ERROR(versions_->SetDurability(b.id, tier));
  }
  return Status::OK();
}

Result<BranchInfo> BranchManager::UpdateBranch(const std::string& name, const BranchPatch& patch) {
  if (patch.expires_ns && *patch.expires_ns < 0) return Status::Invalid("expires_at must be >= 0");
  if (patch.idle_timeout_s && *patch.idle_timeout_s < 0) {
    return Status::Invalid("idle_timeout_seconds must be >= 0");
  }
  if (patch.history_s && *patch.history_s) {
    STRATA_RETURN_IF_ERROR(CheckHistorySeconds(**patch.history_s));
  }
  MutexLock lock(&mu_);
  if (patch.tier) STRATA_RETURN_IF_ERROR(CheckTier(*patch.tier));
  const BranchInfo* b = catalog_->Current()->FindBranch(name);
  if (!b) return NoBranch(name);
  const uint32_t id = b->id;
  BranchInfo info;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    for (auto& x : c.branches) {
      if (x.id != id) continue;
      if (patch.tier) x.durability = *patch.tier;
      if (patch.expires_ns) x.expires_ns = *patch.expires_ns;
      if (patch.idle_timeout_s) x.idle_timeout_s = *patch.idle_timeout_s;
      if (patch.history_s) x.history_s = *patch.history_s;
      info = x;
    }
    return Status::OK();
  }));
  // Catalog first: a crash in between leaves the new tier recorded, which the
  // next mount applies.
  if (patch.tier) STRATA_RETURN_IF_ERROR(versions_->SetDurability(id, *patch.tier));
  return info;
}

Status BranchManager::StartChild(uint32_t id, const Lineage& lineage, uint64_t root,
                                 Durability tier) {
  STRATA_RETURN_IF_ERROR(versions_->CreateBranch(id));
  STRATA_RETURN_IF_ERROR(versions_->SetDurability(id, tier));
  Status st = ApplyPostgresFixups(lineage, root);
  if (st.ok()) st = versions_->Sync();
  if (!st.ok()) versions_->DropBranch(id).PermitUnchecked();
  return st;
}

Status BranchManager::StartRoot(const BranchInfo& info, uint32_t uid, uint32_t gid) {
  STRATA_RETURN_IF_ERROR(versions_->CreateBranch(info.id));
  STRATA_RETURN_IF_ERROR(versions_->SetDurability(info.id, *info.durability));
  InodeAttr root;
  root.ino = info.root_ino;
  root.mode = S_IFDIR | 0700;
  root.uid = uid;
  root.gid = gid;
  root.nlink = 2;
  root.data_id = root.ino;
  root.atime_ns = root.mtime_ns = root.ctime_ns = info.created_ns;
  Result<uint64_t> seq =
      versions_->Commit(info.id, {{AttrKey(root.ino), false, EncodeInodeAttr(root)}});
  Status st = seq.ok() ? versions_->Sync() : seq.status();
  // Other daemons read a branch as its holder published it: publish the
  // top directory, or the branch is not there for them until a flush.
  if (st.ok() && versions_->Shared()) st = versions_->Flush(info.id);
  if (!st.ok()) versions_->DropBranch(info.id).PermitUnchecked();
  return st;
}

Result<BranchInfo> BranchManager::CreateBranch(const std::string& name, const std::string& from,
                                               const BranchOptions& opts) {
  STRATA_RETURN_IF_ERROR(ValidateName("branch", name));
  const std::optional<Durability> tier = opts.tier;
  const uint32_t uid = opts.uid, gid = opts.gid;
  STRATA_RETURN_IF_ERROR(CheckTier(tier.value_or(default_tier_)));
  if (opts.expires_ns < 0 || opts.idle_timeout_s < 0) {
    return Status::Invalid("expires_at and idle_timeout_seconds must be >= 0");
  }
  if (opts.history_s) STRATA_RETURN_IF_ERROR(CheckHistorySeconds(*opts.history_s));
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  if (cat->FindBranch(name)) return Status::Exists("branch '" + name + "' already exists");
  if (admit_) STRATA_RETURN_IF_ERROR(admit_(*cat, opts.owner));
  BranchInfo info;
  info.owner = opts.owner;
  info.expires_ns = opts.expires_ns;
  info.idle_timeout_s = opts.idle_timeout_s;
  info.history_s = opts.history_s;
  STRATA_ASSIGN_OR_RETURN(info.id, NextId(*cat));
  cat = catalog_->Current();
  info.name = name;
  info.created_ns = clock_->NowNs();
  info.durability = tier.value_or(default_tier_);
  if (from.empty()) {
    info.root_ino = MakeIno(info.id, kRootCounter);
    STRATA_RETURN_IF_ERROR(StartRoot(info, uid, gid));
  } else {
    STRATA_ASSIGN_OR_RETURN(ForkSpec spec, ParseForkSpec(from));
    const BranchInfo* parent = ForkParentOf(*cat, spec);
    if (!parent) return NoBranch(spec.parent);
    STRATA_ASSIGN_OR_RETURN(info.fork_seq, ResolveForkSeq(*cat, *parent, spec));
    info.parent = parent->id;
    info.root_ino = parent->root_ino;
    Lineage lineage = cat->LineageOf(parent->id, info.fork_seq);
    lineage.insert(lineage.begin(), Level{info.id, UINT64_MAX});
    STRATA_RETURN_IF_ERROR(StartChild(info.id, lineage, info.root_ino, *info.durability));
  }
  Status st = catalog_->Update([&](CatalogData& c) {
    c.next_branch_id = std::max(c.next_branch_id, info.id + 1);
    c.branches.push_back(info);
    return Status::OK();
  });
  if (!st.ok()) {
    versions_->DropBranch(info.id).PermitUnchecked();
    return st;
  }
  return info;
}

Status BranchManager::DeleteBranch(const std::string& name) {
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranch(name);
  if (!b) return NoBranch(name);
  STRATA_RETURN_IF_ERROR(CheckNotDetaching(*b));
  const uint32_t id = b->id;
  if (auto kids = cat->ChildrenOf(id); !kids.empty()) {
    return Status::Busy("branch '" + name + "' has child branches (" + Join(kids) +
                        "): delete them first");
  }
  if (auto snaps = cat->SnapshotsOf(id); !snaps.empty()) {
    return Status::Busy("branch '" + name + "' has snapshots (" + Join(snaps) +
                        "): delete them first");
  }
  STRATA_RETURN_IF_ERROR(ClaimForChange(*b));
  std::vector<uint32_t> retired;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    std::erase_if(c.branches, [&](const BranchInfo& x) { return x.id == id; });
    std::erase_if(c.credentials, [&](const CredentialInfo& x) { return x.branch == id; });
    retired = c.PruneRetired();  // a retired parent this branch was the last to read
    return Status::OK();
  }));
  if (gone_) gone_(name);
  // The catalog no longer names it: a failure here only leaks objects.
  Status st = versions_->DropBranch(id);
  if (!st.ok()) spdlog::warn("branch {} deleted; cleaning its data failed: {}", id, st.ToString());
  DropRetired(retired);
  return Status::OK();
}

Result<BranchInfo> BranchManager::ResetBranch(const std::string& name) {
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranch(name);
  if (!b) return NoBranch(name);
  if (b->parent == 0) {
    return Status::Invalid("branch '" + name + "' is a root branch: it has no parent to reset to");
  }
  STRATA_RETURN_IF_ERROR(CheckNotDetaching(*b));
  if (auto kids = cat->ChildrenOf(b->id); !kids.empty()) {
    return Status::Busy("branch '" + name + "' has child branches (" + Join(kids) +
                        "): delete them before a reset");
  }
  if (auto snaps = cat->SnapshotsOf(b->id); !snaps.empty()) {
    return Status::Busy("branch '" + name + "' has snapshots (" + Join(snaps) +
                        "): delete them before a reset");
  }
  const BranchInfo* parent = cat->FindBranchById(b->parent);
  if (!parent) return Status::Corruption("catalog: parent of '" + name + "' is missing");
  if (parent->retired) return RetiredParent(name);
  STRATA_RETURN_IF_ERROR(ClaimForChange(*b));
  BranchInfo info = *b;
  const uint32_t old_id = b->id;
  STRATA_ASSIGN_OR_RETURN(info.id, NextId(*cat));
  info.created_ns = clock_->NowNs();
  STRATA_ASSIGN_OR_RETURN(info.fork_seq, ResolveForkSeq(*cat, *parent, ForkSpec{}));
  Lineage lineage = cat->LineageOf(parent->id, info.fork_seq);
  lineage.insert(lineage.begin(), Level{info.id, UINT64_MAX});
  STRATA_RETURN_IF_ERROR(
      StartChild(info.id, lineage, info.root_ino, info.durability.value_or(default_tier_)));
  Status st = catalog_->Update([&](CatalogData& c) {
    c.next_branch_id = std::max(c.next_branch_id, info.id + 1);
    for (auto& x : c.branches) {
      if (x.id == old_id) x = info;
    }
    // The name is the same branch to its users: its credentials follow it.
    for (auto& x : c.credentials) {
      if (x.branch == old_id) x.branch = info.id;
    }
    return Status::OK();
  });
  if (!st.ok()) {
    versions_->DropBranch(info.id).PermitUnchecked();
    return st;
  }
  if (gone_) gone_(name);
  Status drop = versions_->DropBranch(old_id);
  if (!drop.ok())
    spdlog::warn("branch {} reset; cleaning old data failed: {}", old_id, drop.ToString());
  return info;
}

Result<SnapshotInfo> BranchManager::CreateSnapshot(const std::string& branch,
                                                   const std::string& name) {
  STRATA_RETURN_IF_ERROR(ValidateName("snapshot", name));
  MutexLock lock(&mu_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranch(branch);
  if (!b) return NoBranch(branch);
  if (cat->FindSnapshot(name)) return Status::Exists("snapshot '" + name + "' already exists");
  SnapshotInfo s;
  s.name = name;
  s.branch = b->id;
  s.created_ns = clock_->NowNs();
  STRATA_RETURN_IF_ERROR(versions_->RefreshForeign(b->id).status());
  s.seq = versions_->HeadSeq(b->id);
  // The snapshot's seq must survive a crash before the catalog names it.
  STRATA_RETURN_IF_ERROR(versions_->Sync());
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    c.snapshots.push_back(s);
    return Status::OK();
  }));
  return s;
}

Status BranchManager::DeleteSnapshot(const std::string& name) {
  MutexLock lock(&mu_);
  if (!catalog_->Current()->FindSnapshot(name)) {
    return Status::NotFound("no snapshot named '" + name + "'");
  }
  std::vector<uint32_t> retired;
  STRATA_RETURN_IF_ERROR(catalog_->Update([&](CatalogData& c) {
    std::erase_if(c.snapshots, [&](const SnapshotInfo& s) { return s.name == name; });
    retired = c.PruneRetired();  // a retired branch kept only for this snapshot
    return Status::OK();
  }));
  DropRetired(retired);
  return Status::OK();
}

}  // namespace strata
