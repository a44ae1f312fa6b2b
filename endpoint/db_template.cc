#include "endpoint/db_template.h"

#include <spdlog/spdlog.h>

#include "endpoint/fast_recovery.h"

namespace strata {

namespace {

constexpr uint32_t kDbShutdowned = 1;  // pg_control's state after a clean shutdown

std::string MarkerText(const std::string& major) {
  return "PostgreSQL " + major + " template of new databases, made by strata\n";
}

}  // namespace

std::string TemplateName(const std::string& major) {
  return std::string(kTemplatePrefix) + "pg" + major;
}

bool IsTemplateName(std::string_view branch) { return branch.starts_with(kTemplatePrefix); }

int DbTemplate::made() const {
  MutexLock l(&mu_);
  return made_;
}

Result<BranchInfo> DbTemplate::Ensure() {
  MutexLock l(&mu_);
  return EnsureLocked();
}

Result<BranchInfo> DbTemplate::Fork(const std::string& name, const BranchOptions& opts) {
  MutexLock l(&mu_);
  STRATA_ASSIGN_OR_RETURN(BranchInfo t, EnsureLocked());
  return branches_->CreateBranch(name, t.name, opts);
}

Status DbTemplate::Check(const std::string& name, const std::string& major) {
  Result<std::string> marker = host_->ReadFile(name, std::string(kTemplateMarker));
  if (!marker.ok()) {
    return marker.status().IsNotFound()
               ? Status::Corruption("it has no " + std::string(kTemplateMarker) +
                                    " (its creation did not finish)")
               : marker.status();
  }
  STRATA_ASSIGN_OR_RETURN(std::string version, host_->ReadFile(name, "PG_VERSION"));
  if (version != major + "\n" || *marker != MarkerText(major)) {
    return Status::Corruption("it is not a PostgreSQL " + major + " cluster (PG_VERSION " +
                              version.substr(0, version.find('\n')) + ")");
  }
  STRATA_ASSIGN_OR_RETURN(std::string control, host_->ReadFile(name, "global/pg_control"));
  const uint32_t state = PgControlState(control).value_or(0);
  if (state != kDbShutdowned) {
    return Status::Corruption("its pg_control does not say 'shut down' (state " +
                              std::to_string(state) + "): a server ran on it");
  }
  return Status::OK();
}

Result<BranchInfo> DbTemplate::EnsureLocked() {
  if (!major_) {
    STRATA_ASSIGN_OR_RETURN(std::string major, host_->MajorVersion());
    major_ = major;
  }
  const std::string name = TemplateName(*major_);
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  if (const BranchInfo* t = cat->FindBranch(name)) {
    if (t->id == checked_id_) return *t;
    Status st = Check(name, *major_);
    if (st.ok()) {
      checked_id_ = t->id;
      return *t;
    }
    if (st.code() != Code::kCorruption) return st;
    if (std::vector<std::string> forks = cat->ChildrenOf(t->id); !forks.empty()) {
      return Status::Corruption("the template of new databases '" + name + "' is broken (" +
                                st.message() + ") and " + std::to_string(forks.size()) +
                                " branches were forked from it: delete them, or create "
                                "databases from another branch");
    }
    spdlog::warn("template '{}' is broken ({}): making it again", name, st.message());
    STRATA_RETURN_IF_ERROR(branches_->DeleteBranch(name));
  }
  return Make(name, *major_);
}

Result<BranchInfo> DbTemplate::Make(const std::string& name, const std::string& major) {
  STRATA_ASSIGN_OR_RETURN(BranchOptions opts, host_->RootOptions());
  STRATA_ASSIGN_OR_RETURN(BranchInfo t, branches_->CreateBranch(name, "", opts));
  Status st = host_->InitDb(name);
  if (st.ok()) st = host_->WriteFile(name, std::string(kTemplateMarker), MarkerText(major));
  if (st.ok()) st = host_->Flush(t.id);
  if (st.ok()) st = Check(name, major);
  if (!st.ok()) {
    Status undo = branches_->DeleteBranch(name);
    if (!undo.ok()) {
      spdlog::error("template '{}': making it failed and deleting it failed too: {}", name,
                    undo.ToString());
    }
    return Status(st.code(),
                  "making the template of new databases '" + name + "' failed: " + st.message());
  }
  checked_id_ = t.id;
  made_++;
  spdlog::info("template '{}' made (branch id {}): new databases fork it", name, t.id);
  return t;
}

}  // namespace strata
