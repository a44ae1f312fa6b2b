#include "endpoint/fleet.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <vector>

#include "catalog/fork_spec.h"
#include "common/clock.h"
#include "common/filename.h"
#include "endpoint/fast_recovery.h"
#include "endpoint/postgres_server.h"

namespace strata {

namespace {

constexpr int64_t kPruneEveryNs = 60'000'000'000;
// A fork of a running head checkpoints the parent first, however little
// WAL is pending (an idle server's CHECKPOINT takes ~50 ms): a dirty buffer
// written after the fork point would count as the parent moving on, and
// refuse a promote of the child (docs/postgres.md).
constexpr uint64_t kForkCheckpointMinRedoBytes = 0;
// The template's files read back are small: markers and pg_control (8 KB).
constexpr size_t kMaxTemplateFile = 8192;

Result<std::pair<uint32_t, uint32_t>> UserIds(const std::string& user) {
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return Status::NotFound("no user '" + user + "' to run postgres as (install postgresql-15)");
  }
  return std::make_pair(static_cast<uint32_t>(pw.pw_uid), static_cast<uint32_t>(pw.pw_gid));
}

// The template's host: postgres from opts.pg_bin_dir, files on the mount.
class MountTemplateHost : public TemplateHost {
 public:
  MountTemplateHost(const FleetOptions& opts, VersionStore* versions)
      : opts_(opts), versions_(versions) {}

  Result<std::string> MajorVersion() override {
    return PostgresMajorVersion(opts_.pg_bin_dir, opts_.pg_user);
  }
  Result<BranchOptions> RootOptions() override {
    STRATA_ASSIGN_OR_RETURN(auto ids, UserIds(opts_.pg_user));
    BranchOptions o;
    o.uid = ids.first;
    o.gid = ids.second;
    return o;
  }
  Status InitDb(const std::string& branch) override {
    InitDbOptions o;
    o.bin_dir = opts_.pg_bin_dir;
    o.user = opts_.pg_user;
    o.data_dir = opts_.mountpoint + "/" + branch;
    o.log_file = filename::InitdbLog(opts_.run_dir, branch);
    o.settings = StrataServerSettings();
    return strata::InitDb(o);
  }
  Result<std::string> ReadFile(const std::string& branch, const std::string& path) override {
    return ReadPgdataFile(opts_.mountpoint + "/" + branch + "/" + path, kMaxTemplateFile);
  }
  Status WriteFile(const std::string& branch, const std::string& path,
                   const std::string& data) override {
    const std::string top = opts_.mountpoint + "/" + branch;
    return WritePgdataFile(top + "/" + path, data, top);
  }
  Status Flush(uint32_t id) override { return versions_->Flush(id); }

 private:
  const FleetOptions opts_;
  VersionStore* const versions_;
};

// A name a user gives (a new branch, a preserved state): the template
// prefix is strata's own (endpoint/db_template.h).
Status RefuseTemplateName(const std::string& name) {
  if (!IsTemplateName(name)) return Status::OK();
  return Status::Invalid("branch names starting with '" + std::string(kTemplatePrefix) +
                         "' are the templates of new databases, which strata makes itself");
}

}  // namespace

Fleet::Fleet(FleetOptions opts, Catalog* catalog, VersionStore* versions, BranchManager* branches,
             EndpointManager* endpoints, Credentials* credentials, Metrics* metrics)
    : opts_(std::move(opts)),
      catalog_(catalog),
      versions_(versions),
      branches_(branches),
      endpoints_(endpoints),
      credentials_(credentials),
      metrics_(metrics),
      template_host_(std::make_unique<MountTemplateHost>(opts_, versions)),
      template_(branches, catalog, template_host_.get()) {
  branches_->SetAdmission([this](const CatalogData& cat, const std::string& owner) {
    // Branches without an owner, and owners without limits, need no count of
    // the owner's usage (a walk of every branch).
    if (owner.empty()) return Status::OK();
    const OwnerQuota quota = QuotaOf(cat, owner, opts_.default_quota);
    if (quota.max_branches < 0 && quota.max_bytes < 0) return Status::OK();
    return CheckNewBranch(owner, quota, UsageOf(cat, owner, versions_, opts_.exclusive_bytes));
  });
  if (metrics_) {
    metrics_->AddCounter("strata_reaper_deleted_branches_total", "Expired branches deleted");
    metrics_->AddCounter("strata_reaper_pruned_credentials_total", "Expired credentials deleted");
    metrics_->AddCounter("strata_quota_refusals_total", "Requests refused by a quota, by kind");
  }
}

Fleet::~Fleet() { StopReaper(); }

Result<BranchInfo> Fleet::CreateBranch(const CreateRequest& req) {
  STRATA_RETURN_IF_ERROR(RefuseTemplateName(req.name));
  if (req.initdb && !req.from.empty()) {
    return Status::Invalid("initdb makes a new database: it cannot be combined with 'from'");
  }
  if (req.start && !req.initdb && req.from.empty()) {
    return Status::Invalid(
        "start needs a database: give initdb or from (a new root branch is empty)");
  }
  if (!req.initdb && !req.from.empty()) CheckpointBeforeFork(req.from);
  Result<BranchInfo> b = req.initdb ? template_.Fork(req.name, req.options)
                                    : branches_->CreateBranch(req.name, req.from, req.options);
  if (b.status().code() == Code::kQuota && metrics_) {
    metrics_->Inc("strata_quota_refusals_total", {{"kind", "create"}});
  }
  if (b.ok() && req.start) endpoints_->StartInBackground(b->name);
  return b;
}

void Fleet::CheckpointBeforeFork(const std::string& from) {
  Result<ForkSpec> spec = ParseForkSpec(from);
  if (!spec.ok() || spec->kind != ForkSpec::Kind::kHead) return;
  const auto t0 = opts_.clock->SteadyNow();
  Result<bool> ran = endpoints_->Checkpoint(spec->parent, kForkCheckpointMinRedoBytes);
  const double ms =
      std::chrono::duration<double, std::milli>(opts_.clock->SteadyNow() - t0).count();
  if (!ran.ok()) {
    spdlog::warn("branch {}: CHECKPOINT before a fork failed after {:.0f} ms (forking anyway): {}",
                 spec->parent, ms, ran.status().ToString());
  } else if (*ran) {
    spdlog::info("branch {}: CHECKPOINT before a fork took {:.0f} ms", spec->parent, ms);
  }
}

Status Fleet::DeleteBranch(const std::string& name) {
  if (!catalog_->Current()->FindBranch(name)) {
    return Status::NotFound("no branch named '" + name + "'");
  }
  if (IsTemplateName(name)) {
    return Status::Invalid("branch '" + name +
                           "' is the template new databases fork from: strata keeps it");
  }
  STRATA_RETURN_IF_ERROR(endpoints_->Block(name, "being deleted"));
  Status st = branches_->DeleteBranch(name);
  if (st.ok()) {
    endpoints_->Forget(name);
  } else {
    endpoints_->Unblock(name);
  }
  return st;
}

Result<BranchInfo> Fleet::ResetBranch(const std::string& name) {
  if (!catalog_->Current()->FindBranch(name)) {
    return Status::NotFound("no branch named '" + name + "'");
  }
  STRATA_RETURN_IF_ERROR(endpoints_->Block(name, "being reset"));
  Result<BranchInfo> b = branches_->ResetBranch(name);
  endpoints_->Unblock(name);
  return b;
}

Result<BranchInfo> Fleet::RestoreBranch(const std::string& name, const std::string& to,
                                        const std::string& preserve_as) {
  if (!catalog_->Current()->FindBranch(name)) {
    return Status::NotFound("no branch named '" + name + "'");
  }
  if (IsTemplateName(name)) {
    return Status::Invalid("branch '" + name +
                           "' is the template new databases fork from: strata keeps it");
  }
  STRATA_RETURN_IF_ERROR(RefuseTemplateName(preserve_as));
  STRATA_RETURN_IF_ERROR(endpoints_->Block(name, "being restored"));
  Result<BranchInfo> b = branches_->RestoreBranch(name, to, preserve_as);
  endpoints_->Unblock(name);
  return b;
}

Status Fleet::CheckParentUnmoved(const std::string& child, const std::string& parent) {
  if (!name_diverged_) return Status::OK();  // the manager's check is all there is
  auto cat = catalog_->Current();
  const BranchInfo* c = cat->FindBranch(child);
  const BranchInfo* p = cat->FindBranch(parent);
  if (!c || !p) return Status::OK();  // the manager reports it
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> changed,
                          (diverged_ ? diverged_ : branches_->SeqDiverged())(*p, c->fork_seq));
  if (changed.empty()) return Status::OK();
  // The parent's own server names the relations, so it may start now: the
  // promote is refused whatever it says.
  endpoints_->Unblock(parent);
  Result<std::vector<std::string>> named = name_diverged_(*p, c->fork_seq);
  if (named.ok() && !named->empty()) {
    changed = *named;
  } else if (!named.ok()) {
    spdlog::warn("promote of '{}': naming what '{}' changed failed: {}", child, parent,
                 named.status().ToString());
  }
  return ParentMoved(parent, child, changed);
}

Result<BranchInfo> Fleet::PromoteBranch(const std::string& child, const std::string& preserve_as) {
  std::string parent;
  {
    auto cat = catalog_->Current();
    const BranchInfo* c = cat->FindBranch(child);
    if (!c) return Status::NotFound("no branch named '" + child + "'");
    const BranchInfo* p = c->parent ? cat->FindBranchById(c->parent) : nullptr;
    if (p && !p->retired) parent = p->name;
  }
  if (IsTemplateName(parent)) {
    return Status::Invalid("branch '" + child + "' is a new database: its parent '" + parent +
                           "' is the template new databases fork from, which strata keeps");
  }
  STRATA_RETURN_IF_ERROR(RefuseTemplateName(preserve_as));
  // Both servers stop first: their shutdown checkpoints are writes the
  // divergence check must see.
  STRATA_RETURN_IF_ERROR(endpoints_->Block(child, "being promoted"));
  if (!parent.empty()) {
    if (Status st = endpoints_->Block(parent, "being promoted into"); !st.ok()) {
      endpoints_->Unblock(child);
      return st;
    }
  }
  // A parent whose server died may hold commits in its WAL only, which the
  // check on pages would miss: recovered and shut down cleanly first.
  Status moved = parent.empty() ? Status::OK() : endpoints_->RecoverIfCrashed(parent);
  if (moved.ok() && !parent.empty()) moved = CheckParentUnmoved(child, parent);
  Result<BranchInfo> b = moved.ok() ? branches_->PromoteBranch(child, preserve_as, diverged_)
                                    : Result<BranchInfo>(moved);
  if (!parent.empty()) endpoints_->Unblock(parent);
  if (b.ok()) {
    endpoints_->Forget(child);
  } else {
    endpoints_->Unblock(child);
  }
  return b;
}

OwnerUsage Fleet::Usage(const std::string& owner) {
  return UsageOf(*catalog_->Current(), owner, versions_, opts_.exclusive_bytes);
}

OwnerQuota Fleet::Quota(const std::string& owner) {
  return QuotaOf(*catalog_->Current(), owner, opts_.default_quota);
}

Status Fleet::SetQuota(const std::string& owner, const OwnerQuota& quota) {
  if (owner.empty()) return Status::Invalid("an owner name is required");
  if (quota.max_branches < -1 || quota.max_bytes < -1) {
    return Status::Invalid("quota limits must be -1 (unlimited) or >= 0");
  }
  return catalog_->Update([&](CatalogData& c) {
    c.quotas[owner] = quota;
    return Status::OK();
  });
}

Status Fleet::CheckSessionQuota(const std::string& owner) {
  auto cat = catalog_->Current();
  Status st = CheckBytes(owner, QuotaOf(*cat, owner, opts_.default_quota),
                         UsageOf(*cat, owner, versions_, opts_.exclusive_bytes));
  if (!st.ok() && metrics_) metrics_->Inc("strata_quota_refusals_total", {{"kind", "session"}});
  return st;
}

void Fleet::Reap(int64_t now_ns) {
  MutexLock lock(&reap_mu_);
  endpoints_->SuspendIdle(now_ns);
  DeleteExpired(now_ns);
  if (now_ns - last_prune_ns_ >= kPruneEveryNs) PruneCredentials(now_ns);
}

void Fleet::DeleteExpired(int64_t now_ns) {
  // Expired leaves first: a parent's turn comes once its children are gone.
  for (bool progress = true; progress;) {
    progress = false;
    auto cat = catalog_->Current();
    for (const BranchInfo& b : cat->branches) {
      // A retired branch goes with its last child or snapshot, not by name.
      if (b.retired || b.expires_ns == 0 || b.expires_ns > now_ns) continue;
      if (!cat->ChildrenOf(b.id).empty() || !cat->SnapshotsOf(b.id).empty()) {
        if (reap_refused_.insert(b.id).second) {
          spdlog::warn(
              "reaper: branch {} expired but has children or snapshots: kept until "
              "they are gone",
              b.name);
        }
        continue;
      }
      Status st = DeleteBranch(b.name);
      if (st.ok()) {
        spdlog::info("reaper: deleted branch {} (expired at {})", b.name,
                     FormatRfc3339(b.expires_ns));
        if (metrics_) metrics_->Inc("strata_reaper_deleted_branches_total");
        progress = true;
        break;  // the catalog changed: look again
      }
      if (reap_refused_.insert(b.id).second) {
        spdlog::warn("reaper: cannot delete expired branch {}: {}", b.name, st.ToString());
      }
    }
  }
}

void Fleet::PruneCredentials(int64_t now_ns) {
  last_prune_ns_ = now_ns;
  Result<int> n = credentials_->PruneExpired(now_ns);
  if (!n.ok()) {
    spdlog::warn("reaper: pruning expired credentials failed: {}", n.status().ToString());
  } else if (*n > 0) {
    spdlog::info("reaper: deleted {} expired credentials", *n);
    if (metrics_) metrics_->Inc("strata_reaper_pruned_credentials_total", {}, *n);
  }
}

void Fleet::StartReaper(std::chrono::milliseconds tick) {
  reaper_ = std::thread([this, tick] {
    MutexLock lock(&reaper_mu_);
    while (!reaper_cv_.WaitFor(&reaper_mu_, tick,
                               [this]() REQUIRES(reaper_mu_) { return reaper_stop_; })) {
      lock.Unlock();
      Reap(opts_.clock->NowNs());
      lock.Lock();
    }
  });
}

void Fleet::StopReaper() {
  {
    MutexLock lock(&reaper_mu_);
    reaper_stop_ = true;
  }
  reaper_cv_.SignalAll();
  if (reaper_.joinable()) reaper_.join();
}

}  // namespace strata
