#include "catalog/catalog_follower.h"

#include <spdlog/spdlog.h>

#include "common/thread_cpu.h"

namespace strata {

CatalogFollower::CatalogFollower(Catalog* catalog, BranchManager* manager,
                                 std::chrono::milliseconds interval,
                                 std::function<void()> after_tick, Clock* clock)
    : catalog_(catalog),
      manager_(manager),
      interval_(interval),
      after_tick_(std::move(after_tick)),
      clock_(clock),
      seen_(catalog->Current()) {}

CatalogFollower::~CatalogFollower() { Stop(); }

void CatalogFollower::Start() {
  {
    MutexLock lock(&mu_);
    stop_ = false;
  }
  thread_ = NamedThread("strata-follow", [this] { Loop(); });
}

void CatalogFollower::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

Status CatalogFollower::FollowOnce() {
  MutexLock lock(&follow_mu_);
  STRATA_RETURN_IF_ERROR(catalog_->Refresh());
  if (catalog_->Current() == seen_) return Status::OK();
  STRATA_ASSIGN_OR_RETURN(seen_, manager_->Follow(*seen_));
  return Status::OK();
}

void CatalogFollower::Loop() {
  MutexLock lock(&mu_);
  while (true) {
    const auto deadline = clock_->SteadyNow() + interval_;
    cv_.WaitUntil(&mu_, clock_, deadline, [&]() REQUIRES(mu_) { return stop_; });
    if (stop_) return;
    lock.Unlock();
    if (Status st = FollowOnce(); !st.ok()) {
      spdlog::warn("catalog follower: {} (tried again in {} ms)", st.ToString(), interval_.count());
    }
    if (after_tick_) after_tick_();
    lock.Lock();
  }
}

}  // namespace strata
