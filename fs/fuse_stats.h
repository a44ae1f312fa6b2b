// FuseStats: per-opcode counters of the FUSE requests the daemon answered:
// how many, how many failed, the bytes a READ or WRITE moved, and a latency
// histogram (from the callback's start to its reply, the daemon's share of
// the round trip; the kernel's queueing and copies are not in it).
//
// Recording is two clock reads and a few relaxed atomic adds, cheap enough
// for every request. CPU time per request is not measured here: a thread CPU
// clock read is a system call (1.4 us on the 2-core test machine, more than
// many requests cost), so CPU is reported per thread role instead
// (common/thread_cpu.h).
//
// Thread-safety: every method may be called from any thread. A snapshot's
// count is the sum of its buckets; errors, bytes and the latency sum are
// read apart from them and may include a request or two more or less.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace strata {

enum class FuseOp : uint8_t {
  kLookup,
  kForget,
  kGetattr,
  kSetattr,
  kReadlink,
  kMknod,
  kMkdir,
  kUnlink,
  kRmdir,
  kSymlink,
  kRename,
  kLink,
  kOpen,
  kRead,
  kWrite,
  kFlush,
  kRelease,
  kFsync,
  kOpendir,
  kReaddir,
  kReleasedir,
  kFsyncdir,
  kStatfs,
  kCreate,
  kFallocate,
};
inline constexpr size_t kFuseOpCount = static_cast<size_t>(FuseOp::kFallocate) + 1;

// The opcode's name as the kernel's protocol spells it, lower case ("write").
std::string_view FuseOpName(FuseOp op);

// Latency bucket upper bounds in microseconds; a last, open bucket follows.
inline constexpr std::array<uint64_t, 14> kFuseLatencyBoundsUs = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000};
inline constexpr size_t kFuseLatencyBuckets = kFuseLatencyBoundsUs.size() + 1;

// One opcode's totals at the time of Snapshot.
struct FuseOpStats {
  uint64_t count = 0;
  uint64_t errors = 0;  // replies with an errno other than 0
  uint64_t bytes = 0;   // READ: bytes returned; WRITE: bytes written
  uint64_t sum_ns = 0;
  std::array<uint64_t, kFuseLatencyBuckets> buckets{};  // per bucket, not cumulative

  // The bound of the bucket that holds quantile q (0 < q <= 1), in
  // microseconds; the last bound for the open bucket; 0 when count is 0.
  uint64_t QuantileUs(double q) const;
};

class FuseStats {
 public:
  void Record(FuseOp op, uint64_t ns, bool failed, uint64_t bytes);
  FuseOpStats Snapshot(FuseOp op) const;
  uint64_t TotalRequests() const;

 private:
  struct Slot {  // a request's count is its latency bucket's
    std::atomic<uint64_t> errors{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> sum_ns{0};
    std::array<std::atomic<uint64_t>, kFuseLatencyBuckets> buckets{};
  };
  std::array<Slot, kFuseOpCount> slots_;
};

}  // namespace strata
