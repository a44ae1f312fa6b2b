// FaultInjectingStore: wraps an ObjectStore and injects the failures a remote
// store produces (transient errors, latency, torn uploads, outages), for retry
// and crash tests. Every call except Url() counts and may fail.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

#include "common/mutex.h"
#include "objstore/object_store.h"

namespace strata {

struct FaultConfig {
  // Probability in [0, 1] that a call fails with a retryable kIO before it
  // reaches the target.
  double error_rate = 0;
  // Added to every call, failed or not.
  std::chrono::microseconds latency{0};
  // Put/PutIfAbsent store only the first half of the data (target Put, so even
  // PutIfAbsent overwrites) and fail with a retryable kIO: a torn upload from
  // a store without atomic replacement.
  bool torn_put = false;
  // Every call fails with a retryable kIO, as if the store were unreachable.
  bool fail_all = false;
  // Seeds the error_rate draws; same seed, same single-threaded call
  // sequence, same faults.
  uint64_t seed = 1;
};

class FaultInjectingStore : public ObjectStoreWrapper {
 public:
  explicit FaultInjectingStore(ObjectStore* target, FaultConfig config = {});

  // Replaces the config and reseeds the random draws.
  void set_config(const FaultConfig& config) EXCLUDES(mu_);
  FaultConfig config() const EXCLUDES(mu_);

  uint64_t calls() const { return calls_.load(); }
  uint64_t injected_faults() const { return faults_.load(); }

  Status Put(const std::string& k, std::string_view d) override;
  Status PutIfAbsent(const std::string& k, std::string_view d) override;
  Result<std::string> Get(const std::string& k) override;
  Result<std::string> GetRange(const std::string& k, uint64_t off, uint64_t len) override;
  Result<uint64_t> Size(const std::string& k) override;
  Result<std::vector<std::string>> List(const std::string& p) override;
  Status Delete(const std::string& k) override;
  Status DeleteMany(const std::vector<std::string>& k) override;

 private:
  // Counts the call, sleeps, and returns the fault to inject (ok if none).
  Status Before(const char* op, const std::string& key) EXCLUDES(mu_);
  Status PutLike(const char* op, const std::string& k, std::string_view d, bool if_absent)
      EXCLUDES(mu_);

  // A leaf: held only to read the config and draw, never across a call to
  // the target (so the target's locks are never taken under it).
  mutable Mutex mu_;
  FaultConfig config_ GUARDED_BY(mu_);
  std::mt19937_64 rng_ GUARDED_BY(mu_);
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> faults_{0};
};

}  // namespace strata
