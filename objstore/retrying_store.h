// RetryingStore: wraps an ObjectStore and retries the calls that fail with a
// retryable Status (throttling, timeouts, connection errors, 5xx), with
// exponential backoff and full jitter, within an attempt limit and a per-call
// deadline.
//
// Backoff: after failed attempt n (0-based) the store sleeps a uniformly drawn
// time in [0, min(max_backoff, initial_backoff * 2^n)]. A call stops retrying
// when it has made max_attempts attempts, or when the drawn sleep would take it
// past its deadline (measured from the start of the call, attempts and sleeps
// included); it then returns kUnavailable, e.g.
//   "put branches/1/x: gave up after 8 attempts in 12.3 s: <last error>".
// A non-retryable error (kNotFound, kExists, kInvalid, kCorruption, kNoSpace,
// a non-retryable kIO, ...) is returned at once and unchanged, even after
// earlier retries.
//
// PutIfAbsent: an attempt that failed with a retryable error may still have
// landed (the request reached the store and only the reply was lost). If a
// later attempt then fails with kExists, the store reads the object back (with
// retries, within the same deadline) and returns OK when it is byte-for-byte
// the data being written, since an identical object is indistinguishable from
// our own write. A different object gives kExists; if the object vanished in
// between, the original kExists is returned; if it cannot be read, the read's
// error is returned (kUnavailable after retries), because whether the write
// landed is unknown. Note that two writers racing with identical data can both
// see OK; callers that need exactly-one-winner semantics must make their data
// unique (e.g. include a writer id). A torn upload (a store without atomic
// replacement, see FaultConfig::torn_put) reads back different and gives
// kExists.
//
// Put, Get, GetRange, Size, List and Delete are idempotent, so retrying them is
// safe. Url and Invalidate are passed through.
//
// Thread-safe: the policy is immutable, the jitter RNG is behind a mutex and
// the counters are atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "objstore/object_store.h"

namespace strata {

struct RetryPolicy {
  // Attempts per call, the first included; values below 1 mean 1.
  int max_attempts = 8;
  // Upper bound of the first sleep; doubles with every failed attempt.
  std::chrono::milliseconds initial_backoff{50};
  // Upper bound of any single sleep.
  std::chrono::milliseconds max_backoff{5000};
  // Total time budget per call, attempts and sleeps included.
  std::chrono::milliseconds deadline{60000};
  // Seeds the jitter draws; 0 seeds from std::random_device.
  uint64_t seed = 0;
  // Measures the deadline (SteadyNow) and sleeps the backoff (SleepFor). A
  // test's ManualClock makes the sleeps instant while they still count
  // towards the deadline.
  Clock* clock = Clock::Real();
};

// Counters of a RetryingStore since construction.
struct RetryStats {
  // Calls made through the retrying methods (not Url or Invalidate).
  uint64_t calls = 0;
  // Attempts beyond the first, summed over all calls.
  uint64_t retries = 0;
  // Calls that ended in kUnavailable because attempts or time ran out.
  uint64_t give_ups = 0;
};

class RetryingStore : public ObjectStoreWrapper {
 public:
  explicit RetryingStore(ObjectStore* target, RetryPolicy policy = {});

  Status Put(const std::string& k, std::string_view d) override;
  Status PutIfAbsent(const std::string& k, std::string_view d) override;
  Result<std::string> Get(const std::string& k) override;
  Result<std::string> GetRange(const std::string& k, uint64_t off, uint64_t len) override;
  Result<uint64_t> Size(const std::string& k) override;
  Result<std::vector<std::string>> List(const std::string& p) override;
  Status Delete(const std::string& k) override;
  Status DeleteMany(const std::vector<std::string>& k) override;
  // Url and Invalidate are inherited: passed through, never retried.

  RetryStats Stats() const;

  const RetryPolicy& policy() const { return policy_; }

 private:
  // The time budget of one call; shared by the attempts and sleeps of that
  // call, including PutIfAbsent's verifying read.
  struct CallClock;

  // Runs `attempt` until it succeeds, fails non-retryably, or the attempts or
  // deadline run out. `saw_retryable`, when given, is set if any attempt
  // failed with a retryable error.
  template <class R, class Fn>
  R Run(const char* op, const std::string& key, CallClock& clock, Fn attempt,
        bool* saw_retryable = nullptr);

  // Upper bound of the sleep after failed attempt `n` (0-based).
  std::chrono::milliseconds BackoffCap(int n) const;
  std::chrono::milliseconds DrawSleep(std::chrono::milliseconds cap) EXCLUDES(rng_mu_);

  const RetryPolicy policy_;
  // Held only for a draw: a leaf, never held across a call to the target.
  Mutex rng_mu_;
  std::mt19937_64 rng_ GUARDED_BY(rng_mu_);
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> give_ups_{0};
};

}  // namespace strata
