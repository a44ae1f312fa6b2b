#include "fs/fuse_stats.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(FuseStatsTest, CountsPerOpcode) {
  FuseStats s;
  s.Record(FuseOp::kWrite, 3'000, false, 8192);
  s.Record(FuseOp::kWrite, 40'000, false, 8192);
  s.Record(FuseOp::kWrite, 2'000'000'000, true, 0);
  s.Record(FuseOp::kFsync, 200'000, false, 0);
  const FuseOpStats w = s.Snapshot(FuseOp::kWrite);
  EXPECT_EQ(w.count, 3u);
  EXPECT_EQ(w.errors, 1u);
  EXPECT_EQ(w.bytes, 16384u);
  EXPECT_EQ(w.sum_ns, 2'000'043'000u);
  EXPECT_EQ(w.buckets[0], 1u);                        // 3 us <= 5 us
  EXPECT_EQ(w.buckets[3], 1u);                        // 40 us <= 50 us
  EXPECT_EQ(w.buckets[kFuseLatencyBuckets - 1], 1u);  // 2 s: the open bucket
  EXPECT_EQ(s.Snapshot(FuseOp::kFsync).count, 1u);
  EXPECT_EQ(s.Snapshot(FuseOp::kRead).count, 0u);
  EXPECT_EQ(s.TotalRequests(), 4u);
}

TEST(FuseStatsTest, BucketBoundsAreInclusive) {
  FuseStats s;
  s.Record(FuseOp::kRead, 5'000, false, 0);  // exactly 5 us
  s.Record(FuseOp::kRead, 5'999, false, 0);  // still 5 us in whole microseconds
  s.Record(FuseOp::kRead, 6'000, false, 0);
  const FuseOpStats r = s.Snapshot(FuseOp::kRead);
  EXPECT_EQ(r.buckets[0], 2u);
  EXPECT_EQ(r.buckets[1], 1u);
}

TEST(FuseStatsTest, QuantilesNameTheBucketBound) {
  FuseOpStats none;
  EXPECT_EQ(none.QuantileUs(0.5), 0u);
  FuseStats s;
  for (int i = 0; i < 90; i++) s.Record(FuseOp::kGetattr, 20'000, false, 0);   // <= 25 us
  for (int i = 0; i < 10; i++) s.Record(FuseOp::kGetattr, 700'000, false, 0);  // <= 1000 us
  const FuseOpStats g = s.Snapshot(FuseOp::kGetattr);
  EXPECT_EQ(g.QuantileUs(0.5), 25u);
  EXPECT_EQ(g.QuantileUs(0.9), 25u);
  EXPECT_EQ(g.QuantileUs(0.91), 1000u);
  EXPECT_EQ(g.QuantileUs(1.0), 1000u);
  s.Record(FuseOp::kGetattr, 5'000'000'000, false, 0);
  EXPECT_EQ(s.Snapshot(FuseOp::kGetattr).QuantileUs(1.0), kFuseLatencyBoundsUs.back());
}

TEST(FuseStatsTest, NamesFollowTheProtocol) {
  EXPECT_EQ(FuseOpName(FuseOp::kLookup), "lookup");
  EXPECT_EQ(FuseOpName(FuseOp::kWrite), "write");
  EXPECT_EQ(FuseOpName(FuseOp::kFsyncdir), "fsyncdir");
  EXPECT_EQ(FuseOpName(FuseOp::kFallocate), "fallocate");
}

TEST(FuseStatsTest, ConcurrentRecordsAreAllCounted) {
  FuseStats s;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; i++) s.Record(FuseOp::kWrite, 1'000, false, 1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(s.Snapshot(FuseOp::kWrite).count, 40000u);
  EXPECT_EQ(s.Snapshot(FuseOp::kWrite).bytes, 40000u);
}

}  // namespace
}  // namespace strata
