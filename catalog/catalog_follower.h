// CatalogFollower: keeps a daemon's view of the store up with what other
// daemons change in the catalog (docs/cluster.md).
//
// A thread refreshes the catalog every `interval` (one LIST of catalog/,
// plus a GET per version others wrote) and hands what changed to
// BranchManager::Follow: branches created elsewhere appear in the mount and
// the API, deleted ones go. A failed refresh is logged and tried again at
// the next tick; the view is then as old as the last one that worked.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "catalog/branch_manager.h"
#include "catalog/catalog.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace strata {

class CatalogFollower {
 public:
  // `after_tick`, if set, runs on the thread after each refresh (worked or
  // not), with no lock of this class held.
  CatalogFollower(Catalog* catalog, BranchManager* manager, std::chrono::milliseconds interval,
                  std::function<void()> after_tick = nullptr, Clock* clock = Clock::Real());
  ~CatalogFollower();  // Stop()

  void Start() EXCLUDES(mu_);
  // Stops the thread; a refresh in flight finishes first.
  void Stop() EXCLUDES(mu_);
  // One refresh now, on the caller's thread.
  Status FollowOnce() EXCLUDES(follow_mu_);

 private:
  void Loop() EXCLUDES(mu_);

  Catalog* const catalog_;
  BranchManager* const manager_;
  const std::chrono::milliseconds interval_;
  const std::function<void()> after_tick_;
  Clock* const clock_;

  // follow_mu_ serializes FollowOnce (the thread's and a caller's) and
  // guards seen_; it is held across the catalog refresh and Follow (which
  // takes BranchManager::mu_), never taken under either. mu_ guards stop_
  // alone and is released before any work: a leaf.
  Mutex follow_mu_ ACQUIRED_BEFORE(mu_);
  std::shared_ptr<const CatalogData> seen_ GUARDED_BY(follow_mu_);
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace strata
