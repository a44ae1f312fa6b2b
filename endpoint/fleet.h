// Fleet: the branch operations an agent's API calls and the reaper share.
// Creation checks the owner's quota before anything is made and can run
// initdb (a failed initdb deletes the branch again); deletion and reset stop
// the branch's endpoint first and refuse new sessions meanwhile. The reaper
// deletes expired branches, prunes expired credentials and suspends idle
// endpoints.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "catalog/branch_manager.h"
#include "catalog/quota.h"
#include "common/metrics.h"
#include "endpoint/credentials.h"
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
};

struct CreateRequest {
  std::string name;
  std::string from;  // empty: a new root branch
  BranchOptions options;
  bool initdb = false;  // root branches only: make it a PostgreSQL cluster
};

class Fleet {
 public:
  Fleet(FleetOptions opts, Catalog* catalog, VersionStore* versions, BranchManager* branches,
        EndpointManager* endpoints, Credentials* credentials, Metrics* metrics);
  ~Fleet();  // StopReaper()

  Result<BranchInfo> CreateBranch(const CreateRequest& req);
  Status DeleteBranch(const std::string& name);
  Result<BranchInfo> ResetBranch(const std::string& name);

  OwnerUsage Usage(const std::string& owner);
  OwnerQuota Quota(const std::string& owner);
  // kInvalid for limits below -1.
  Status SetQuota(const std::string& owner, const OwnerQuota& quota);
  // kQuota if `owner` stores more than its byte quota: no new sessions.
  Status CheckSessionQuota(const std::string& owner);

  // One pass of the reaper at `now_ns`.
  void Reap(int64_t now_ns);
  void StartReaper(std::chrono::milliseconds tick);
  void StopReaper();

 private:
  Status InitDb(const std::string& name);

  const FleetOptions opts_;
  Catalog* const catalog_;
  VersionStore* const versions_;
  BranchManager* const branches_;
  EndpointManager* const endpoints_;
  Credentials* const credentials_;
  Metrics* const metrics_;

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool reaper_stop_ = false;  // GUARDED_BY(reaper_mu_)
  std::thread reaper_;
  std::atomic<int64_t> last_prune_ns_{0};
  std::set<uint32_t> reap_refused_;  // expired branches the reaper could not delete (logged once)
};

}  // namespace strata
