#include "fs/fuse_stats.h"

#include <algorithm>
#include <cmath>

namespace strata {

namespace {

constexpr std::array<std::string_view, kFuseOpCount> kNames = {
    "lookup",   "forget", "getattr", "setattr",  "readlink", "mknod",   "mkdir",
    "unlink",   "rmdir",  "symlink", "rename",   "link",     "open",    "read",
    "write",    "flush",  "release", "fsync",    "opendir",  "readdir", "releasedir",
    "fsyncdir", "statfs", "create",  "fallocate"};

size_t BucketOf(uint64_t ns) {
  const uint64_t us = ns / 1000;
  auto it = std::lower_bound(kFuseLatencyBoundsUs.begin(), kFuseLatencyBoundsUs.end(), us);
  return static_cast<size_t>(it - kFuseLatencyBoundsUs.begin());
}

}  // namespace

std::string_view FuseOpName(FuseOp op) { return kNames[static_cast<size_t>(op)]; }

uint64_t FuseOpStats::QuantileUs(double q) const {
  if (count == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count)));
  uint64_t seen = 0;
  for (size_t i = 0; i < kFuseLatencyBuckets; i++) {
    seen += buckets[i];
    if (seen >= rank) return kFuseLatencyBoundsUs[std::min(i, kFuseLatencyBoundsUs.size() - 1)];
  }
  return kFuseLatencyBoundsUs.back();
}

void FuseStats::Record(FuseOp op, uint64_t ns, bool failed, uint64_t bytes) {
  Slot& s = slots_[static_cast<size_t>(op)];
  if (failed) s.errors.fetch_add(1, std::memory_order_relaxed);
  if (bytes) s.bytes.fetch_add(bytes, std::memory_order_relaxed);
  s.sum_ns.fetch_add(ns, std::memory_order_relaxed);
  s.buckets[BucketOf(ns)].fetch_add(1, std::memory_order_relaxed);
}

FuseOpStats FuseStats::Snapshot(FuseOp op) const {
  const Slot& s = slots_[static_cast<size_t>(op)];
  FuseOpStats out;
  out.errors = s.errors.load(std::memory_order_relaxed);
  out.bytes = s.bytes.load(std::memory_order_relaxed);
  out.sum_ns = s.sum_ns.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kFuseLatencyBuckets; i++) {
    out.buckets[i] = s.buckets[i].load(std::memory_order_relaxed);
    out.count += out.buckets[i];  // so that count and buckets always agree
  }
  return out;
}

uint64_t FuseStats::TotalRequests() const {
  uint64_t n = 0;
  for (const Slot& s : slots_) {
    for (const auto& b : s.buckets) n += b.load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace strata
