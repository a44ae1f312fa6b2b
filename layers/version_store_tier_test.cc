// VersionStore: per-branch durability tiers. A branch's barrier (Sync(branch))
// asks the sink for exactly the branch's newest record in the branch's tier;
// the all-branch barrier (Sync()) uses the sink's strongest tier.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "common/mutex.h"
#include "layers/strata_test_util.h"
#include "layers/version_store.h"
#include "oplog/sink_wrapper.h"

namespace strata {
namespace {

using testing::TestEnv;

// Records every Barrier and Sync; can refuse non-ephemeral ones.
class RecordingSink : public SinkWrapper {
 public:
  using SinkWrapper::SinkWrapper;
  Status Barrier(uint64_t token, Durability tier) override {
    MutexLock l(&mu_);
    barriers_.emplace_back(token, tier);
    if (tier == Durability::kEphemeral) return Status::OK();
    if (refuse_) return Status::Unavailable("sink refuses for the test");
    return SinkWrapper::Barrier(token, tier);
  }
  Status Sync(uint64_t token) override {
    MutexLock l(&mu_);
    syncs_.push_back(token);
    if (refuse_) return Status::Unavailable("sink refuses for the test");
    return SinkWrapper::Sync(token);
  }
  void Refuse(bool on) {
    MutexLock l(&mu_);
    refuse_ = on;
  }
  std::vector<std::pair<uint64_t, Durability>> barriers() {
    MutexLock l(&mu_);
    return barriers_;
  }
  std::vector<uint64_t> syncs() {
    MutexLock l(&mu_);
    return syncs_;
  }

 private:
  Mutex mu_;
  bool refuse_ GUARDED_BY(mu_) = false;
  std::vector<std::pair<uint64_t, Durability>> barriers_ GUARDED_BY(mu_);
  std::vector<uint64_t> syncs_ GUARDED_BY(mu_);
};

class TierEnv : public TestEnv {
 public:
  Status Open() override {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Sink> local, OpenLocalSink(dir() + "/sink"));
    auto rec = std::make_unique<RecordingSink>(std::move(local));
    recorder_ = rec.get();
    sink_ = std::move(rec);
    STRATA_ASSIGN_OR_RETURN(vs_, VersionStore::Open(store(), sink_.get(), options()));
    return Status::OK();
  }
  void Close() override {
    vs_.reset();
    sink_.reset();
    recorder_ = nullptr;
  }
  ~TierEnv() override { TierEnv::Close(); }
  VersionStore* tvs() { return vs_.get(); }
  RecordingSink* recorder() { return recorder_; }

 private:
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<VersionStore> vs_;
  RecordingSink* recorder_ = nullptr;
};

TEST(VersionStoreTiers, BranchBarrierUsesTheBranchsTierAndNewestRecord) {
  TierEnv env;
  env.options().default_durability = Durability::kRemote;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.tvs();
  ASSERT_OK(vs->CreateBranch(1));
  ASSERT_OK(vs->CreateBranch(2));
  EXPECT_EQ(vs->Stats(1).durability, Durability::kRemote);  // the default
  ASSERT_OK(vs->SetDurability(2, Durability::kEphemeral));
  ASSERT_OK(vs->Commit(1, {{"a", false, "1"}}));
  ASSERT_OK(vs->Commit(2, {{"b", false, "2"}}));
  const uint64_t tail_after_2 = env.recorder()->Tail();
  ASSERT_OK(vs->Commit(1, {{"a", false, "3"}}));
  const uint64_t tail_after_1 = env.recorder()->Tail();

  ASSERT_OK(vs->Sync(2));
  ASSERT_OK(vs->Sync(1));
  auto b = env.recorder()->barriers();
  ASSERT_EQ(b.size(), 2u);
  // Branch 2's barrier covers its own newest record, not branch 1's later one.
  EXPECT_EQ(b[0], std::make_pair(tail_after_2, Durability::kEphemeral));
  EXPECT_EQ(b[1], std::make_pair(tail_after_1, Durability::kRemote));

  ASSERT_OK(vs->SetDurability(1, Durability::kLocal));
  ASSERT_OK(vs->Sync(1));
  EXPECT_EQ(env.recorder()->barriers().back().second, Durability::kLocal);
  EXPECT_EQ(vs->Stats(1).durability, Durability::kLocal);
  EXPECT_EQ(vs->SetDurability(9, Durability::kLocal).code(), Code::kNotFound);
  EXPECT_EQ(vs->Sync(9).code(), Code::kNotFound);
}

TEST(VersionStoreTiers, AnEphemeralBarrierSucceedsWhenTheSinkCannot) {
  TierEnv env;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.tvs();
  ASSERT_OK(vs->CreateBranch(1));
  ASSERT_OK(vs->CreateBranch(2));
  ASSERT_OK(vs->SetDurability(2, Durability::kEphemeral));
  ASSERT_OK(vs->Commit(1, {{"a", false, "1"}}));
  ASSERT_OK(vs->Commit(2, {{"b", false, "2"}}));
  env.recorder()->Refuse(true);
  EXPECT_EQ(vs->Sync(1).code(), Code::kUnavailable);
  EXPECT_OK(vs->Sync(2));
  // The all-branch barrier (branch and snapshot creation) is a Sync of the
  // whole log, whatever the tiers.
  EXPECT_EQ(vs->Sync().code(), Code::kUnavailable);
  ASSERT_FALSE(env.recorder()->syncs().empty());
  EXPECT_EQ(env.recorder()->syncs().back(), env.recorder()->Tail());
  env.recorder()->Refuse(false);
  EXPECT_OK(vs->Sync(1));
  EXPECT_OK(vs->Sync());
}

TEST(VersionStoreTiers, FirstBarrierAfterRecoverCoversTheReplayedRecords) {
  TierEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK(env.tvs()->CreateBranch(1));
  ASSERT_OK(env.tvs()->Commit(1, {{"a", false, "1"}}));
  ASSERT_OK(env.tvs()->Commit(1, {{"a", false, "2"}}));
  ASSERT_OK(env.tvs()->Sync());
  env.Close();
  ASSERT_OK(env.Open());
  ASSERT_OK(env.tvs()->Recover({1}));
  ASSERT_OK(env.tvs()->Sync(1));
  auto b = env.recorder()->barriers();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].first, env.recorder()->Tail());
  EXPECT_GT(b[0].first, 0u);
}

TEST(VersionStoreTiers, AckedSeqComesFromTheSink) {
  TierEnv env;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.tvs();
  ASSERT_OK(vs->CreateBranch(4));
  EXPECT_EQ(vs->Stats(4).acked_seq, 0u);
  ASSERT_OK(vs->Commit(4, {{"a", false, "1"}}));
  ASSERT_OK(vs->Commit(4, {{"a", false, "2"}}));
  ASSERT_OK(vs->Sync(4));
  EXPECT_EQ(vs->Stats(4).acked_seq, 2u);
  EXPECT_EQ(vs->Stats(4).head_seq, 2u);
}

}  // namespace
}  // namespace strata
