// StoreStack: the object store as the daemon and the CLI use it, built from
// a store URL. From the top:
//
//   DiskCachedStore  L2: layer chunks on local disk (optional; --cache-size)
//   MeteredStore     counts what reached the store of record (L3)
//   RetryingStore    backoff + jitter within a per-call deadline
//   FaultInjecting   test-only (--inject-faults), absent otherwise
//   file:// or s3:// the store of record
//
// The L1 page cache lives above all this, in layers/VersionStore. Every cache
// is optional (docs/design.md invariant 5): without one the answers are the same.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "objstore/disk_cache.h"
#include "objstore/fault_injection.h"
#include "objstore/metered_store.h"
#include "objstore/object_store.h"
#include "objstore/retrying_store.h"

namespace strata {

struct StoreStackOptions {
  std::string url;
  // L2 lives in cache_dir + "/objects"; no L2 if cache_dir is empty.
  std::string cache_dir;
  // L2 capacity in bytes; 0 turns it off; -1 picks the default for the URL
  // (kDefaultRemoteCacheBytes for s3://, off for file://, whose objects are
  // on local disk already).
  int64_t cache_bytes = -1;
  // Test-only faults below the retries, e.g. "error_rate=0.2,latency_ms=20".
  std::string faults;
  // Per-call time budget of the retries.
  std::chrono::milliseconds retry_deadline{60000};
};

constexpr int64_t kDefaultRemoteCacheBytes = int64_t{8} << 30;

// Parses a fault spec: comma-separated error_rate=F (0..1), latency_ms=N,
// seed=N, fail_all=0|1. kInvalid naming the bad item.
Result<FaultConfig> ParseFaultSpec(const std::string& spec);

// Parses a size like "512M", "8G", "1048576" or "0" (binary units K, M, G, T).
Result<int64_t> ParseByteSize(const std::string& text);

class StoreStack {
 public:
  static Result<std::unique_ptr<StoreStack>> Open(const StoreStackOptions& options);

  // The top of the stack: every read and write goes here.
  ObjectStore* store() const { return top_; }
  // The store of record itself, under every wrapper (never retried or faulted).
  ObjectStore* base() const { return base_.get(); }
  // {"l2": {...} or null, "l3": {...}} for `strata status`.
  nlohmann::json StatsJson() const;

 private:
  StoreStack() = default;

  std::unique_ptr<ObjectStore> base_;
  std::unique_ptr<FaultInjectingStore> faults_;
  std::unique_ptr<RetryingStore> retrying_;
  std::unique_ptr<MeteredStore> metered_;
  std::unique_ptr<DiskCachedStore> cache_;
  ObjectStore* top_ = nullptr;
};

}  // namespace strata
