// Fleet: the branch operations an agent's API calls and the reaper share.
// Creation checks the owner's quota before anything is made; a new database
// (initdb) is a fork of the store's template (endpoint/db_template.h), made
// on first need. Names starting with kTemplatePrefix are the template's:
// users cannot create or delete them. Deletion and reset stop
// the branch's endpoint first and refuse new sessions meanwhile. The reaper
// deletes expired branches, prunes expired credentials and suspends idle
// endpoints.
//
// Thread-safety: every method may be called from any thread. Lock order:
// reap_mu_ (one reaper pass at a time) first, then what a pass calls into:
// EndpointManager (its mu_, then an Endpoint::mu; VersionStore::Flush runs
// with neither held), BranchManager and the Catalog (their own locks),
// Credentials (the catalog's). Outside Reap, Fleet calls them holding no
// lock of its own, and reaper_mu_ (the stop flag) is never held while a
// pass runs. DbTemplate's lock comes before BranchManager's (a new database
// is forked under it) and is never taken in Reap. The admission check Fleet gives BranchManager
// runs under BranchManager's lock: it takes no Fleet lock, only VersionStore::Stats's and the
// exclusive_bytes callback's (the collector's SpaceOf).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "catalog/branch_manager.h"
#include "catalog/quota.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "endpoint/credentials.h"
#include "endpoint/db_template.h"
#include "endpoint/endpoint_manager.h"

namespace strata {

struct FleetOptions {
  std::string mountpoint;
  std::string run_dir;  // initdb logs go here
  std::string pg_bin_dir = "/usr/lib/postgresql/15/bin";
  std::string pg_user = "postgres";
  OwnerQuota default_quota;  // owners without a quota of their own
  // What a branch's deletion would free, as the collector last measured it
  // (byte quotas count it); null: layer bytes.
  ExclusiveBytesFn exclusive_bytes;
  // The reaper's `now` (what has expired, when credentials were last
  // pruned). The reaper thread's tick is real time: StopReaper must be able
  // to wake it.
  Clock* clock = Clock::Real();
};

struct CreateRequest {
  std::string name;
  std::string from;  // empty: a new root branch
  BranchOptions options;
  bool initdb = false;  // a new database: a fork of the template (`from` must be empty)
  bool start = false;   // start its server now, in the background (needs initdb or from)
};

class Fleet {
 public:
  Fleet(FleetOptions opts, Catalog* catalog, VersionStore* versions, BranchManager* branches,
        EndpointManager* endpoints, Credentials* credentials, Metrics* metrics);
  ~Fleet();  // StopReaper()

  Result<BranchInfo> CreateBranch(const CreateRequest& req);
  Status DeleteBranch(const std::string& name);
  Result<BranchInfo> ResetBranch(const std::string& name);
  // Restore and promote (BranchManager): the endpoints of the names
  // involved are stopped (a clean shutdown checkpoint) and refuse sessions
  // meanwhile; the next session starts the server on the branch the name
  // names then. Promote blocks both names, before its divergence check.
  Result<BranchInfo> RestoreBranch(const std::string& name, const std::string& to,
                                   const std::string& preserve_as);
  Result<BranchInfo> PromoteBranch(const std::string& child, const std::string& preserve_as);
  // How PromoteBranch tells that the parent moved. `quick` runs under the
  // branch manager's lock (keyspace reads only; null, the default:
  // BranchManager::SeqDiverged); `named`, if set, names what `quick` found
  // for the refusal and may start the parent's server (BranchDiff). Call
  // before any promote.
  void SetDiverged(DivergedFn quick, DivergedFn named = nullptr) {
    diverged_ = std::move(quick);
    name_diverged_ = std::move(named);
  }

  OwnerUsage Usage(const std::string& owner);
  OwnerQuota Quota(const std::string& owner);
  // kInvalid for limits below -1.
  Status SetQuota(const std::string& owner, const OwnerQuota& quota);
  // kQuota if `owner` stores more than its byte quota: no new sessions.
  Status CheckSessionQuota(const std::string& owner);

  // One pass of the reaper at `now_ns`; passes run one at a time.
  void Reap(int64_t now_ns) EXCLUDES(reap_mu_, reaper_mu_);
  // Runs Reap(opts.clock->NowNs()) every `tick` on a thread of its own.
  void StartReaper(std::chrono::milliseconds tick) EXCLUDES(reaper_mu_);
  void StopReaper() EXCLUDES(reaper_mu_);

 private:
  // A fork of the head of a branch whose server the daemon runs: CHECKPOINT
  // it first, so the child's crash recovery is short (docs/postgres.md).
  void CheckpointBeforeFork(const std::string& from);
  // With both endpoints of a promote stopped: kBusy naming the relations the
  // parent changed since the fork (its server started to name them, so the
  // parent's endpoint is unblocked first), OK if it did not move.
  Status CheckParentUnmoved(const std::string& child, const std::string& parent);
  void DeleteExpired(int64_t now_ns) REQUIRES(reap_mu_);
  void PruneCredentials(int64_t now_ns) REQUIRES(reap_mu_);

  // Set at construction.
  const FleetOptions opts_;
  Catalog* const catalog_;
  VersionStore* const versions_;
  BranchManager* const branches_;
  EndpointManager* const endpoints_;
  Credentials* const credentials_;
  Metrics* const metrics_;
  const std::unique_ptr<TemplateHost> template_host_;
  DbTemplate template_;
  // Set once, before use (SetDiverged).
  DivergedFn diverged_;
  DivergedFn name_diverged_;

  // The reaper thread: started and stopped by the owner's thread.
  std::thread reaper_;
  Mutex reaper_mu_;    // never held together with reap_mu_
  CondVar reaper_cv_;  // reaper_stop_ was set
  bool reaper_stop_ GUARDED_BY(reaper_mu_) = false;

  Mutex reap_mu_;  // serializes Reap passes
  int64_t last_prune_ns_ GUARDED_BY(reap_mu_) = 0;
  // Expired branches the reaper could not delete (logged once).
  std::set<uint32_t> reap_refused_ GUARDED_BY(reap_mu_);
};

}  // namespace strata
