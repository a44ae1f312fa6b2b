#include "common/failure_limiter.h"

#include <algorithm>
#include <cmath>

namespace strata {

FailureLimiter::FailureLimiter(FailureLimiterOptions options) : opts_(options) {}

void FailureLimiter::Drain(Bucket* b, std::chrono::steady_clock::time_point now) const {
  const double refills =
      std::chrono::duration<double>(now - b->at) / std::chrono::duration<double>(opts_.refill);
  b->failures = std::max(0.0, b->failures - refills);
  b->at = now;
}

bool FailureLimiter::Allow(const std::string& key, std::chrono::milliseconds* retry_after) {
  const auto now = opts_.clock->SteadyNow();
  MutexLock l(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return true;
  Drain(&it->second, now);
  const double over = it->second.failures - (opts_.burst - 1);
  if (over <= 0) return true;
  refusals_++;
  if (retry_after) {
    *retry_after = std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil(over * static_cast<double>(opts_.refill.count()) - 1e-6)));
  }
  return false;
}

void FailureLimiter::Failed(const std::string& key) {
  const auto now = opts_.clock->SteadyNow();
  MutexLock l(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= opts_.max_keys) MakeRoom(now);
    it = buckets_.emplace(key, Bucket{0, now}).first;
  }
  Drain(&it->second, now);
  it->second.failures += 1;
}

void FailureLimiter::MakeRoom(std::chrono::steady_clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    Drain(&it->second, now);
    it = it->second.failures == 0 ? buckets_.erase(it) : std::next(it);
  }
  while (buckets_.size() >= opts_.max_keys) {
    auto oldest = std::min_element(
        buckets_.begin(), buckets_.end(),
        [](const auto& a, const auto& b) { return a.second.failures < b.second.failures; });
    buckets_.erase(oldest);
  }
}

uint64_t FailureLimiter::refusals() const {
  MutexLock l(&mu_);
  return refusals_;
}

}  // namespace strata
