// Collector: compaction and garbage collection of every branch, in the
// background and on demand (docs/gc.md, "The collector").
//
// A pass visits each branch: plans its retained points (BranchManager::
// PlanRetention), compacts it (VersionStore::Compact), sweeps objects no
// manifest names, and refreshes its space figures. Background passes run
// every interval on a thread at nice 10, spend at most `rate_bytes` of layer
// reads and writes per second, and skip a branch nothing has changed for
// since its last compaction. RunNow passes run unthrottled until compaction
// has nothing left to do.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/catalog.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "layers/version_store.h"

namespace strata {

struct CollectorOptions {
  bool background = true;  // false: passes run only through RunNow
  int64_t interval_ms = 60000;
  uint64_t rate_bytes = 64ull << 20;  // per second, background passes; 0: unlimited
  int sweep_every = 10;               // background passes per leaked-object sweep
  CompactionPolicy policy;
  // Times the interval between background passes and the rate budget's
  // pauses, and stamps reports and space figures.
  Clock* clock = Clock::Real();
};

// What one pass did.
struct GcReport {
  uint64_t branches = 0;
  uint64_t layers_before = 0, layers_after = 0;
  uint64_t bytes_before = 0, bytes_after = 0;  // the store's layer bytes
  uint64_t freed_bytes = 0;                    // layer bytes the compactions removed
  uint64_t rewritten_bytes = 0;                // layer bytes they wrote
  uint64_t deleted_layers = 0, written_layers = 0;
  uint64_t leaked_objects_deleted = 0;
  int64_t elapsed_ms = 0;
  int64_t finished_ns = 0;
};

// A branch's space, as of the pass that measured it (docs/api.md).
struct BranchSpace {
  uint64_t logical_bytes = 0;
  uint64_t exclusive_bytes = 0;
  uint64_t history_bytes = 0;
  int64_t as_of_ns = 0;
};

struct CollectorState {
  bool background = false;
  int64_t interval_ms = 0;
  uint64_t rate_bytes = 0;
  uint64_t passes = 0;
  uint64_t freed_bytes_total = 0;
  uint64_t deleted_layers_total = 0, written_layers_total = 0;
  struct Progress {
    std::string branch;
    uint64_t done = 0, total = 0;
  };
  std::optional<Progress> running;
  std::optional<GcReport> last_pass;
};

class Collector {
 public:
  Collector(Catalog* catalog, VersionStore* versions, BranchManager* manager,
            CollectorOptions options);
  ~Collector();  // Stop()

  // Starts the background thread (if options.background).
  void Start();
  // Ends the background thread; an unfinished pass stops after its branch.
  void Stop() EXCLUDES(mu_);
  // One pass now over `branch` (every branch if empty). A background pass
  // already running finishes first, unthrottled from then on. kNotFound for
  // an unknown branch.
  Result<GcReport> RunNow(const std::string& branch) EXCLUDES(pass_mu_, mu_);

  CollectorState State() EXCLUDES(mu_);
  // Takes only mu_, so it may be called with BranchManager::mu_ held (the
  // fleet's quota admission does).
  std::optional<BranchSpace> SpaceOf(uint32_t branch) EXCLUDES(mu_);

 private:
  // What a branch's last compaction saw; equal again means nothing to do.
  struct Seen {
    uint64_t head_seq = 0;
    std::vector<uint64_t> pins, child_pins;
    uint64_t window_start = 0;
    bool operator==(const Seen&) const = default;
  };
  void Loop() EXCLUDES(mu_, pass_mu_);
  Result<GcReport> Pass(const std::vector<BranchInfo>& branches, bool on_demand) REQUIRES(pass_mu_)
      EXCLUDES(mu_);
  Status CollectBranch(const BranchInfo& b, bool on_demand, bool sweep, GcReport* report)
      REQUIRES(pass_mu_) EXCLUDES(mu_);
  Status RefreshSpace(const BranchInfo& b, const GcPoints& points, const SpaceAccount* space)
      REQUIRES(pass_mu_) EXCLUDES(mu_);
  // Sleeps for `bytes` of the rate budget; false if Stop() came first.
  bool Throttle(uint64_t bytes) EXCLUDES(mu_);
  // Waits until `d` has passed on the clock; false if Stop() (or, with
  // `hurry`, a waiting RunNow) came first.
  bool WaitOnClock(std::chrono::nanoseconds d, bool hurry) REQUIRES(mu_);

  // Set at construction.
  Catalog* const catalog_;
  VersionStore* const versions_;
  BranchManager* const manager_;
  const CollectorOptions options_;
  Clock* const clock_;

  // Lock order, outer to inner: pass_mu_ -> BranchManager::mu_ (PlanRetention)
  // -> the VersionStore's locks (Compact, SweepLeaked, Analyze, ...); and
  // BranchManager::mu_ -> mu_ (SpaceOf, from the quota admission). So mu_ is
  // never held across a call into the manager or the version store, only
  // while reading or writing the fields below (and while the thread sleeps).
  // Held for a whole pass: one pass at a time.
  Mutex pass_mu_ ACQUIRED_BEFORE(mu_);

  Mutex mu_;
  CondVar cv_;  // Stop() and RunNow() wake the thread's waits
  bool stop_ GUARDED_BY(mu_) = false;
  // RunNow calls waiting for the running pass, which stops throttling then.
  int hurry_ GUARDED_BY(mu_) = 0;
  CollectorState state_ GUARDED_BY(mu_);
  std::map<uint32_t, BranchSpace> space_ GUARDED_BY(mu_);
  std::map<uint32_t, Seen> seen_ GUARDED_BY(mu_);
  std::map<uint32_t, uint64_t> logical_at_seq_ GUARDED_BY(mu_);  // head seq of logical_bytes
  std::thread thread_;
};

}  // namespace strata
