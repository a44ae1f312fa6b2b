#include "catalog/collector.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <utility>

#include "catalog/tree_size.h"
#include "common/clock.h"
#include "common/thread_cpu.h"

namespace strata {

namespace {

constexpr int kMaxRoundsOnDemand = 16;  // Compact calls per branch in RunNow

uint64_t LayerCount(VersionStore* versions, const std::vector<BranchInfo>& branches) {
  uint64_t n = 0;
  for (const BranchInfo& b : branches) n += versions->Stats(b.id).layers;
  return n;
}

void AddResult(const CompactionResult& r, GcReport* report) {
  if (r.bytes_before > r.bytes_after) report->freed_bytes += r.bytes_before - r.bytes_after;
  report->rewritten_bytes += r.written_bytes;
  report->deleted_layers += r.deleted_layers;
  report->written_layers += r.written_layers;
}

}  // namespace

Collector::Collector(Catalog* catalog, VersionStore* versions, BranchManager* manager,
                     CollectorOptions options)
    : catalog_(catalog),
      versions_(versions),
      manager_(manager),
      options_(std::move(options)),
      clock_(options_.clock) {}

Collector::~Collector() { Stop(); }

void Collector::Start() {
  if (options_.background && !thread_.joinable())
    thread_ = NamedThread("strata-gc", [this] { Loop(); });
}

void Collector::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

bool Collector::WaitOnClock(std::chrono::nanoseconds d, bool hurry) {
  return !cv_.WaitUntil(&mu_, clock_, clock_->SteadyNow() + d,
                        [&]() REQUIRES(mu_) { return stop_ || (hurry && hurry_ > 0); });
}

void Collector::Loop() {
  // Low priority: the foreground's reads and writes come first.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  // The first pass waits one interval: a fresh mount fetches pages lazily,
  // and a pass right away would read every layer's index from the store.
  MutexLock lock(&mu_);
  while (WaitOnClock(std::chrono::milliseconds(options_.interval_ms), /*hurry=*/false)) {
    lock.Unlock();
    {
      MutexLock pass(&pass_mu_);
      Result<GcReport> r = Pass(catalog_->Current()->branches, /*on_demand=*/false);
      if (!r.ok()) spdlog::warn("gc: background pass: {}", r.status().ToString());
    }
    lock.Lock();
  }
}

Result<GcReport> Collector::RunNow(const std::string& branch) {
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  std::vector<BranchInfo> branches = cat->branches;
  if (!branch.empty()) {
    const BranchInfo* b = cat->FindBranch(branch);
    if (!b) return Status::NotFound("no branch named '" + branch + "'");
    branches = {*b};
  }
  {
    MutexLock lock(&mu_);
    hurry_++;
  }
  cv_.SignalAll();
  MutexLock pass(&pass_mu_);
  {
    MutexLock lock(&mu_);
    hurry_--;
  }
  return Pass(branches, /*on_demand=*/true);
}

Result<GcReport> Collector::Pass(const std::vector<BranchInfo>& branches, bool on_demand) {
  const auto t0 = clock_->SteadyNow();
  GcReport report;
  report.bytes_before = versions_->StoreBytes();
  report.layers_before = LayerCount(versions_, branches);
  bool sweep = on_demand;
  {
    MutexLock lock(&mu_);
    sweep |= options_.sweep_every <= 1 || state_.passes % options_.sweep_every == 0;
    state_.running = CollectorState::Progress{"", 0, branches.size()};
  }
  Status first_error;
  for (size_t i = 0; i < branches.size(); i++) {
    {
      MutexLock lock(&mu_);
      if (stop_ && !on_demand) break;
      state_.running->branch = branches[i].name;
      state_.running->done = i;
    }
    Status st = CollectBranch(branches[i], on_demand, sweep, &report);
    if (st.ok() || st.IsNotFound()) continue;  // not found: deleted meanwhile
    if (st.code() == Code::kReadOnly) {
      // Held by another daemon (docs/cluster.md): that one collects it.
      spdlog::debug("gc: branch '{}' skipped: {}", branches[i].name, st.ToString());
      continue;
    }
    spdlog::warn("gc: branch '{}': {}", branches[i].name, st.ToString());
    if (first_error.ok()) first_error = st;
  }
  report.bytes_after = versions_->StoreBytes();
  report.layers_after = LayerCount(versions_, branches);
  report.elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->SteadyNow() - t0).count();
  report.finished_ns = clock_->NowNs();
  std::set<uint32_t> live;
  for (const BranchInfo& b : catalog_->Current()->branches) live.insert(b.id);
  MutexLock lock(&mu_);
  state_.running.reset();
  state_.passes++;
  state_.freed_bytes_total += report.freed_bytes;
  state_.deleted_layers_total += report.deleted_layers;
  state_.written_layers_total += report.written_layers;
  state_.last_pass = report;
  std::erase_if(space_, [&](const auto& kv) { return !live.count(kv.first); });
  std::erase_if(seen_, [&](const auto& kv) { return !live.count(kv.first); });
  std::erase_if(logical_at_seq_, [&](const auto& kv) { return !live.count(kv.first); });
  if (!first_error.ok() && on_demand) return first_error;
  return report;
}

Status Collector::CollectBranch(const BranchInfo& b, bool on_demand, bool sweep, GcReport* report) {
  GcPoints points;
  std::optional<SpaceAccount> before;  // the space analysis of the first round
  bool changed = false;
  const int rounds = on_demand ? kMaxRoundsOnDemand : 1;
  for (int round = 0; round < rounds; round++) {
    STRATA_ASSIGN_OR_RETURN(points, manager_->PlanRetention(b.id));
    const Seen now{versions_->HeadSeq(b.id), points.retain.pins, points.child_pins,
                   points.retain.window_start};
    if (!on_demand) {
      MutexLock lock(&mu_);
      auto it = seen_.find(b.id);
      if (it != seen_.end() && it->second == now && space_.count(b.id)) return Status::OK();
    }
    STRATA_ASSIGN_OR_RETURN(CompactionResult r, versions_->Compact(b.id, points, options_.policy));
    if (!before) before = r.space;
    AddResult(r, report);
    const bool did = r.written_layers > 0 || r.deleted_layers > 0;
    changed |= did;
    if (!on_demand && !Throttle(r.read_bytes + r.written_bytes)) return Status::OK();
    if (!did) {
      // Nothing left to do at these points: skip the branch until they move.
      MutexLock lock(&mu_);
      seen_[b.id] = now;
      break;
    }
  }
  if (sweep) {
    STRATA_ASSIGN_OR_RETURN(uint64_t leaked, versions_->SweepLeaked(b.id));
    report->leaked_objects_deleted += leaked;
  }
  report->branches++;
  return RefreshSpace(b, points, changed ? nullptr : &*before);
}

Status Collector::RefreshSpace(const BranchInfo& b, const GcPoints& points,
                               const SpaceAccount* space) {
  SpaceAccount account;
  if (space) {
    account = *space;
  } else {
    STRATA_ASSIGN_OR_RETURN(account, versions_->Analyze(b.id, points));
  }
  const uint64_t head = versions_->HeadSeq(b.id);
  std::optional<uint64_t> logical;
  {
    MutexLock lock(&mu_);
    auto at = logical_at_seq_.find(b.id);
    auto sp = space_.find(b.id);
    if (at != logical_at_seq_.end() && at->second == head && sp != space_.end()) {
      logical = sp->second.logical_bytes;
    }
  }
  if (!logical) {
    // The read path as the catalog has it now (a detach may have changed it).
    std::shared_ptr<const CatalogData> cat = catalog_->Current();
    if (!cat->FindBranchById(b.id)) return Status::NotFound("branch deleted");
    STRATA_ASSIGN_OR_RETURN(logical, TreeBytes(versions_, cat->LineageOf(b.id), b.root_ino));
  }
  MutexLock lock(&mu_);
  space_[b.id] = {*logical, account.exclusive_bytes, account.history_bytes, clock_->NowNs()};
  logical_at_seq_[b.id] = head;
  return Status::OK();
}

bool Collector::Throttle(uint64_t bytes) {
  MutexLock lock(&mu_);
  if (options_.rate_bytes == 0 || bytes == 0) return !stop_;
  WaitOnClock(std::chrono::microseconds(bytes * 1000000 / options_.rate_bytes), /*hurry=*/true);
  return !stop_;
}

CollectorState Collector::State() {
  MutexLock lock(&mu_);
  CollectorState s = state_;
  s.background = options_.background;
  s.interval_ms = options_.interval_ms;
  s.rate_bytes = options_.rate_bytes;
  return s;
}

std::optional<BranchSpace> Collector::SpaceOf(uint32_t branch) {
  MutexLock lock(&mu_);
  auto it = space_.find(branch);
  if (it == space_.end()) return std::nullopt;
  return it->second;
}

}  // namespace strata
