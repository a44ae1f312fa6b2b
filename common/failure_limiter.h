// FailureLimiter: how many failed attempts (to authenticate) one peer may
// make. Each key (a client's address) has a bucket of `burst` failures that
// refills at one per `refill`; while a key's bucket is empty, Allow refuses
// it and says when it may try again. Successes cost nothing and refund
// nothing: a guesser cannot buy attempts with a credential it has.
//
// Memory is bounded: at most `max_keys` buckets; when full, the buckets
// that have refilled completely (they say nothing) are dropped first, then
// the one with the fewest failures.
//
// Thread-safe: one mutex, held only for a map lookup.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace strata {

struct FailureLimiterOptions {
  int burst = 10;                          // failures in a row before refusals start
  std::chrono::milliseconds refill{6000};  // one more failure allowed per this
  size_t max_keys = 100000;                // buckets kept at most
  Clock* clock = Clock::Real();
};

class FailureLimiter {
 public:
  explicit FailureLimiter(FailureLimiterOptions options = {});

  // Whether `key` may try now. If not, counts a refusal and sets
  // *retry_after (when non-null) to the wait before its next attempt.
  bool Allow(const std::string& key, std::chrono::milliseconds* retry_after = nullptr)
      EXCLUDES(mu_);
  // A failed attempt of `key`.
  void Failed(const std::string& key) EXCLUDES(mu_);
  uint64_t refusals() const EXCLUDES(mu_);

 private:
  struct Bucket {
    double failures = 0;                       // outstanding failures, drained at one per refill
    std::chrono::steady_clock::time_point at;  // when `failures` was last brought up to date
  };
  // Drains b by the time passed since b.at.
  void Drain(Bucket* b, std::chrono::steady_clock::time_point now) const;
  void MakeRoom(std::chrono::steady_clock::time_point now) REQUIRES(mu_);

  const FailureLimiterOptions opts_;
  mutable Mutex mu_;  // a leaf lock
  std::unordered_map<std::string, Bucket> buckets_ GUARDED_BY(mu_);
  uint64_t refusals_ GUARDED_BY(mu_) = 0;
};

}  // namespace strata
