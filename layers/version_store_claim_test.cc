// Branch claims and fencing (VersionStoreOptions::claim, docs/cluster.md):
// two version stores on one object store play two daemons; the test stands
// in for the lease service by handing out epochs.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status_test_util.h"
#include "layers/manifest.h"
#include "layers/strata_test_util.h"
#include "layers/version_store.h"
#include "objstore/file_store.h"
#include "oplog/sink_wrapper.h"

namespace strata {
namespace {

using testing::Page;
using testing::TestEnv;

constexpr uint32_t kBranch = 7;
const Lineage kView = {{kBranch, UINT64_MAX}};

// The epochs of a lease chain: each grant is one more than the last, and
// remembers which daemon it went to.
struct Leases {
  std::map<uint32_t, uint64_t> newest;
  std::map<uint64_t, std::string> holder;  // of kBranch, by epoch
  int claims = 0;
  std::function<Result<uint64_t>(uint32_t)> Grant(const std::string& daemon = "a") {
    return [this, daemon](uint32_t branch) -> Result<uint64_t> {
      claims++;
      const uint64_t epoch = ++newest[branch];
      if (branch == kBranch) holder[epoch] = daemon;
      return epoch;
    };
  }
  std::function<Result<bool>(uint32_t, uint64_t)> HeldAt(const std::string& daemon) {
    return [this, daemon](uint32_t, uint64_t epoch) -> Result<bool> {
      return holder[epoch] == daemon;
    };
  }
};

// Runs a hook once, just before the first manifest write through it.
class BeforeManifestWrite : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  std::function<void()> hook;
  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    if (hook && k.find("/manifest/") != std::string::npos) std::exchange(hook, nullptr)();
    return ObjectStoreWrapper::PutIfAbsent(k, d);
  }
};

// The walsink several daemons share, in memory: one log of every daemon's
// records that it took in, and the fence (the highest epoch) per branch.
struct SharedLog {
  std::vector<OpRecord> records;
  std::map<uint32_t, uint64_t> fence;
};

// One daemon's sink on a SharedLog: its local op log, and every record
// shipped at once unless a newer epoch fenced the branch, after which its
// barriers fail (as walsink/shipping_sink.h behaves; tested there against a
// real server).
class SharedLogSink : public SinkWrapper {
 public:
  SharedLogSink(std::unique_ptr<Sink> local, SharedLog* log)
      : SinkWrapper(std::move(local)), log_(log) {}
  Result<uint64_t> Append(const OpRecord& rec) override {
    if (held_[rec.branch] < log_->fence[rec.branch]) fenced_ = true;
    if (!fenced_) log_->records.push_back(rec);
    return SinkWrapper::Append(rec);
  }
  Status Sync(uint64_t token) override { return Barrier(token, Durability::kRemote); }
  Status Barrier(uint64_t token, Durability tier) override {
    if (fenced_) return Status::ReadOnly("fenced by a newer epoch");
    return SinkWrapper::Barrier(token, tier);
  }
  Status Replay(const std::function<Status(const OpRecord&)>& fn) override {
    for (const OpRecord& r : log_->records) STRATA_RETURN_IF_ERROR(fn(r));
    // The local log's, but those of disowned branches (all of them here:
    // the test disowns before it appends again).
    return SinkWrapper::Replay([&](const OpRecord& r) {
      return std::count(disowned.begin(), disowned.end(), r.branch) ? Status::OK() : fn(r);
    });
  }
  bool Shared() const override { return true; }
  Status TakeOver(uint32_t branch, uint64_t epoch, uint64_t after,
                  const std::function<Status(const OpRecord&)>& fn) override {
    takeovers++;
    uint64_t& fence = log_->fence[branch];
    fence = std::max(fence, epoch);
    held_[branch] = epoch;
    for (const OpRecord& r : log_->records) {
      if (r.branch == branch && r.seq > after) STRATA_RETURN_IF_ERROR(fn(r));
    }
    return Status::OK();
  }
  Status Disown(uint32_t branch) override {
    disowned.push_back(branch);
    return Status::OK();
  }

  int takeovers = 0;
  std::vector<uint32_t> disowned;

 private:
  SharedLog* const log_;
  std::map<uint32_t, uint64_t> held_;
  bool fenced_ = false;
};

// A second daemon on the same store: its own store handle, op log and index.
class OtherDaemon {
 public:
  OtherDaemon(TestEnv& env, std::function<Result<uint64_t>(uint32_t)> claim,
              SharedLog* shared = nullptr)
      : file_(env.store_root()), store_(&file_), shared_(shared) {
    options_.index_dir = dir_.path() + "/index";
    options_.background_flush = false;
    options_.claim = std::move(claim);
  }
  Status Open(const std::vector<uint32_t>& branches) {
    STRATA_ASSIGN_OR_RETURN(sink_, OpenLocalSink(dir_.path() + "/sink"));
    if (shared_) sink_ = std::make_unique<SharedLogSink>(std::move(sink_), shared_);
    STRATA_ASSIGN_OR_RETURN(vs_, VersionStore::Open(&store_, sink_.get(), options_));
    return vs_->Recover(branches);
  }
  VersionStore* vs() { return vs_.get(); }
  BeforeManifestWrite& store() { return store_; }

 private:
  testing::TempDir dir_;
  FileObjectStore file_;
  BeforeManifestWrite store_;
  SharedLog* const shared_;
  VersionStoreOptions options_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<VersionStore> vs_;
};

Manifest Newest(TestEnv& env) {
  Result<Manifest> m = LoadManifest(env.store(), kBranch);
  EXPECT_OK(m.status());
  return m.ok() ? *m : Manifest{};
}

std::string Read(VersionStore* vs, const std::string& key) {
  Result<std::optional<std::string>> r = vs->Get(kView, key);
  if (!r.ok()) return "ERR:" + r.status().ToString();
  return r->has_value() ? **r : "<absent>";
}

class ClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.options().claim = leases_.Grant();
    ASSERT_OK(env_.Open());
    ASSERT_OK(env_.vs()->Recover({}));
    ASSERT_OK(env_.vs()->CreateBranch(kBranch));
  }
  TestEnv env_;
  Leases leases_;
};

TEST_F(ClaimTest, TheFirstWriteClaimsTheBranchAndStoresAClaimManifest) {
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 0u);
  EXPECT_EQ(Newest(env_).version, 0u);  // creating a branch writes nothing
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A"}}));
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 1u);
  Manifest claim = Newest(env_);
  EXPECT_EQ(claim.version, 1u);
  EXPECT_EQ(claim.epoch, 1u);
  EXPECT_TRUE(claim.layers.empty());
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"b", false, "B"}}));
  ASSERT_OK(env_.vs()->Flush(kBranch));
  Manifest flushed = Newest(env_);
  EXPECT_EQ(flushed.version, 2u);
  EXPECT_EQ(flushed.epoch, 1u);  // every manifest of the holder carries its epoch
  EXPECT_EQ(flushed.durable_seq, 2u);
  EXPECT_EQ(leases_.claims, 1);  // claimed once, not per write
}

TEST_F(ClaimTest, ARefusedClaimMakesTheBranchReadOnlyAndWritesNothing) {
  env_.Close();
  env_.options().claim = [](uint32_t) -> Result<uint64_t> {
    return Status::Busy("branch 7 is held by node n2 (epoch 4)");
  };
  ASSERT_OK(env_.Open());
  ASSERT_OK(env_.vs()->Recover({kBranch}));
  Result<uint64_t> r = env_.vs()->Commit(kBranch, {{"a", false, "A"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kReadOnly) << r.status().ToString();
  EXPECT_NE(r.status().message().find("held by node n2"), std::string::npos);
  EXPECT_TRUE(env_.List(BranchObjectPrefix(kBranch)).empty());
  EXPECT_EQ(env_.vs()->HeadSeq(kBranch), 0u);
}

TEST_F(ClaimTest, ATakeoverFencesTheEarlierHolderAndKeepsWhatItPublished) {
  VersionStore* a = env_.vs();
  ASSERT_OK(a->Commit(kBranch, {{"a", false, Page('a')}}));
  ASSERT_OK(a->Flush(kBranch));                                 // published under epoch 1
  ASSERT_OK(a->Commit(kBranch, {{"late", false, Page('l')}}));  // never published

  OtherDaemon b(env_, leases_.Grant());
  ASSERT_OK(b.Open({kBranch}));
  ASSERT_OK(b.vs()->Commit(kBranch, {{"b", false, Page('b')}}));
  EXPECT_EQ(b.vs()->Epoch(kBranch), 2u);
  const Manifest claimed = Newest(env_);
  EXPECT_EQ(claimed.epoch, 2u);
  EXPECT_EQ(claimed.layers.size(), 1u);  // A's published layer, adopted
  EXPECT_EQ(b.vs()->HeadSeq(kBranch), 2u);

  // A's late flush uploads an orphan but cannot publish: the version it
  // aims at is B's claim manifest.
  Status late = a->Flush(kBranch);
  EXPECT_EQ(late.code(), Code::kReadOnly) << late.ToString();
  EXPECT_EQ(a->Commit(kBranch, {{"c", false, "C"}}).status().code(), Code::kReadOnly);
  EXPECT_EQ(a->Sync(kBranch).code(), Code::kIO);  // fsync: EIO
  EXPECT_EQ(Newest(env_).version, claimed.version);

  // B's own flush skips the orphan's layer name instead of overwriting it.
  ASSERT_OK(b.vs()->Flush(kBranch));
  const Manifest after = Newest(env_);
  EXPECT_EQ(after.epoch, 2u);
  ASSERT_EQ(after.layers.size(), 2u);
  EXPECT_GT(after.layers[1].no, claimed.next_layer_no);
  EXPECT_EQ(Read(b.vs(), "a"), Page('a'));
  EXPECT_EQ(Read(b.vs(), "b"), Page('b'));
  EXPECT_EQ(Read(b.vs(), "late"), "<absent>");  // A never published it

  // A new mount with a fresh index reads exactly B's branch.
  env_.Close();
  env_.DeleteIndex();
  env_.options().claim = leases_.Grant();
  ASSERT_OK(env_.Open());
  ASSERT_OK(env_.vs()->Recover({kBranch}));
  EXPECT_EQ(Read(env_.vs(), "a"), Page('a'));
  EXPECT_EQ(Read(env_.vs(), "b"), Page('b'));
  EXPECT_EQ(Read(env_.vs(), "late"), "<absent>");
}

TEST_F(ClaimTest, AClaimAdoptsWhatAnotherDaemonPublishedSinceTheMount) {
  OtherDaemon b(env_, leases_.Grant());
  ASSERT_OK(b.Open({kBranch}));  // B read the branch when it was empty
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A1"}}));
  ASSERT_OK(env_.vs()->Flush(kBranch));
  ASSERT_OK(env_.vs()->Unclaim(kBranch));  // A hands the branch over
  ASSERT_OK(b.vs()->Commit(kBranch, {{"b", false, "B1"}}));
  EXPECT_EQ(b.vs()->HeadSeq(kBranch), 2u);  // seq 1 was A's
  EXPECT_EQ(Read(b.vs(), "a"), "A1");
  EXPECT_EQ(Read(b.vs(), "b"), "B1");
  ASSERT_OK(b.vs()->Flush(kBranch));
  EXPECT_EQ(Newest(env_).durable_seq, 2u);
}

TEST_F(ClaimTest, UnclaimRefusesWhileWritesAreUnflushed) {
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A"}}));
  EXPECT_EQ(env_.vs()->Unclaim(kBranch).code(), Code::kBusy);
  ASSERT_OK(env_.vs()->Flush(kBranch));
  ASSERT_OK(env_.vs()->Unclaim(kBranch));
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 0u);
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"b", false, "B"}}));
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 2u);  // a write claims it again
  EXPECT_EQ(Newest(env_).epoch, 2u);
}

TEST_F(ClaimTest, RecoveryClaimsTheBranchesItReplaysRecordsFor) {
  ASSERT_OK(env_.vs()->CreateBranch(kBranch + 1));
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A"}}));
  ASSERT_OK(env_.vs()->Sync(kBranch));
  const int before = leases_.claims;
  ASSERT_OK(env_.Reopen({kBranch, kBranch + 1}));  // a crash: the record is in the op log only
  EXPECT_EQ(leases_.claims, before + 1);           // the branch with records, not the other
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 2u);
  EXPECT_EQ(env_.vs()->Epoch(kBranch + 1), 0u);
  ASSERT_OK(env_.vs()->Flush(kBranch));
  EXPECT_EQ(Newest(env_).epoch, 2u);
  EXPECT_EQ(Read(env_.vs(), "a"), "A");
}

TEST_F(ClaimTest, ReplayedRecordsWaitForALeaseThatHasNotRunOutYet) {
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A"}}));
  ASSERT_OK(env_.vs()->Sync(kBranch));
  env_.Close();  // the machine is lost; its lease still runs
  bool expired = false;
  env_.options().claim = [&](uint32_t branch) -> Result<uint64_t> {
    if (!expired) return Status::Busy("branch 7 is held by node lost (epoch 1)");
    return leases_.Grant()(branch);
  };
  ASSERT_OK(env_.Open());
  ASSERT_OK(env_.vs()->Recover({kBranch}));  // the mount does not fail
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 0u);
  EXPECT_EQ(Read(env_.vs(), "a"), "A");  // replayed, in memory
  EXPECT_EQ(env_.vs()->Flush(kBranch).code(), Code::kReadOnly);
  EXPECT_EQ(Newest(env_).durable_seq, 0u);
  // Another branch is flushed all the same (a clean stop).
  ASSERT_OK(env_.vs()->CreateBranch(kBranch + 1));
  expired = true;
  ASSERT_OK(env_.vs()->Commit(kBranch + 1, {{"b", false, "B"}}));
  expired = false;
  EXPECT_EQ(env_.vs()->FlushAll().code(), Code::kReadOnly);
  ASSERT_OK_AND_ASSIGN(Manifest other, LoadManifest(env_.store(), kBranch + 1));
  EXPECT_EQ(other.durable_seq, 1u);
  expired = true;
  ASSERT_OK(env_.vs()->Flush(kBranch));      // claims, then flushes
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 2u);  // the lost run held epoch 1
  EXPECT_EQ(Newest(env_).durable_seq, 1u);
  EXPECT_EQ(Newest(env_).epoch, 2u);
}

TEST_F(ClaimTest, AnEarlierHoldersLastFlushIsAdoptedNotMistakenForATakeover) {
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A"}}));
  ASSERT_OK(env_.vs()->Flush(kBranch));
  const Manifest first = Newest(env_);
  OtherDaemon b(env_, leases_.Grant());
  ASSERT_OK(b.Open({kBranch}));
  // A's last flush lands after B read the manifest and before B's claim
  // manifest: B's write finds the version taken by epoch 1 < 2, so it
  // takes that flush in and claims one version on.
  b.store().hook = [&] {
    EXPECT_OK(env_.vs()->Commit(kBranch, {{"x", false, "X"}}).status());
    EXPECT_OK(env_.vs()->Flush(kBranch));
  };
  ASSERT_OK(b.vs()->Commit(kBranch, {{"b", false, "B"}}));
  EXPECT_EQ(Newest(env_).version, first.version + 2);
  EXPECT_EQ(Newest(env_).epoch, 2u);
  EXPECT_EQ(Read(b.vs(), "x"), "X");
  EXPECT_EQ(b.vs()->HeadSeq(kBranch), 3u);
}

TEST_F(ClaimTest, CompactionClaimsABranchOnlyWhenItHasWorkToDo) {
  for (int i = 0; i < 3; i++) {
    ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, Page('0' + i)}}));
    ASSERT_OK(env_.vs()->Flush(kBranch));
  }
  const int claims = leases_.claims;
  ASSERT_OK(env_.Reopen({kBranch}));  // a new mount: holds nothing
  GcPoints keep_all;                  // window_start 0: all history is retained
  CompactionPolicy eager;
  eager.rewrite_garbage_ratio = 1e-9;
  eager.small_layer_bytes = 1;
  ASSERT_OK_AND_ASSIGN(CompactionResult idle, env_.vs()->Compact(kBranch, keep_all, eager));
  EXPECT_EQ(idle.written_layers, 0u);
  EXPECT_EQ(leases_.claims, claims);  // nothing to rewrite: not claimed
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 0u);
  ASSERT_OK_AND_ASSIGN(uint64_t swept, env_.vs()->SweepLeaked(kBranch));
  EXPECT_EQ(swept, 0u);  // not held: no sweep

  GcPoints head_only;
  head_only.retain.window_start = env_.vs()->HeadSeq(kBranch);
  ASSERT_OK_AND_ASSIGN(CompactionResult r, env_.vs()->Compact(kBranch, head_only, eager));
  EXPECT_GT(r.deleted_layers, 0u);
  EXPECT_EQ(leases_.claims, claims + 1);
  EXPECT_EQ(Newest(env_).epoch, 2u);
  EXPECT_EQ(Read(env_.vs(), "a"), Page('2'));
}

TEST_F(ClaimTest, ABranchOfAnotherDaemonIsAttachedRefreshedAndForgotten) {
  OtherDaemon b(env_, leases_.Grant("b"));
  ASSERT_OK(b.Open({}));
  ASSERT_OK(b.vs()->Attach(kBranch));  // as B's catalog follower would
  ASSERT_OK(b.vs()->Attach(kBranch));  // twice is once
  EXPECT_EQ(Read(b.vs(), "a"), "<absent>");
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, Page('a')}}));
  ASSERT_OK(env_.vs()->Flush(kBranch));
  EXPECT_EQ(Read(b.vs(), "a"), "<absent>");  // B reads the manifest it loaded
  ASSERT_OK(b.vs()->RefreshForeign(kBranch));
  EXPECT_EQ(Read(b.vs(), "a"), Page('a'));
  EXPECT_EQ(b.vs()->HeadSeq(kBranch), 1u);
  EXPECT_EQ(b.vs()->Epoch(kBranch), 0u);  // refreshing claims nothing

  ASSERT_OK(b.vs()->Forget(kBranch));
  EXPECT_FALSE(b.vs()->HasBranch(kBranch));
  EXPECT_FALSE(env_.List(BranchObjectPrefix(kBranch)).empty());  // the store keeps it
  EXPECT_EQ(Read(env_.vs(), "a"), Page('a'));
  ASSERT_OK(b.vs()->Forget(kBranch));  // unknown: nothing to do
}

TEST_F(ClaimTest, RecordsOfAnEarlierRunAreDroppedOnceAnotherDaemonTookTheBranch) {
  env_.Close();
  env_.options().held_at = leases_.HeldAt("a");
  ASSERT_OK(env_.Open());
  ASSERT_OK(env_.vs()->Recover({kBranch}));
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, "A"}}));
  ASSERT_OK(env_.vs()->Flush(kBranch));
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"x", false, "lost"}}));  // seq 2: A's op log only
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"y", false, "lost"}}));  // seq 3
  ASSERT_OK(env_.vs()->Sync(kBranch));
  env_.Close();  // A crashes

  OtherDaemon b(env_, leases_.Grant("b"));
  ASSERT_OK(b.Open({kBranch}));
  ASSERT_OK(b.vs()->Commit(kBranch, {{"b", false, "B"}}));  // seq 2, B's
  ASSERT_OK(b.vs()->Flush(kBranch));

  // A comes back: its records 2..3 would land on B's state. They go.
  ASSERT_OK(env_.Open());
  ASSERT_OK(env_.vs()->Recover({kBranch}));
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 0u);  // nothing kept, nothing claimed
  EXPECT_EQ(Read(env_.vs(), "x"), "<absent>");
  EXPECT_EQ(Read(env_.vs(), "b"), "B");
  EXPECT_EQ(env_.vs()->HeadSeq(kBranch), 2u);

  // A takes it back (B let go): its claim moves past the dropped seqs, so
  // they are never replayed again and no new record reuses them.
  ASSERT_OK(b.vs()->Unclaim(kBranch));
  leases_.holder[leases_.newest[kBranch]] = "";  // B released
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"z", false, "Z"}}));
  EXPECT_EQ(env_.vs()->HeadSeq(kBranch), 4u);
  EXPECT_GE(Newest(env_).durable_seq, 3u);
  ASSERT_OK(env_.vs()->Sync(kBranch));
  ASSERT_OK(env_.Reopen({kBranch}));  // a crash again: z is replayed, x and y are not
  EXPECT_EQ(Read(env_.vs(), "z"), "Z");
  EXPECT_EQ(Read(env_.vs(), "x"), "<absent>");
  EXPECT_EQ(Read(env_.vs(), "y"), "<absent>");
  EXPECT_EQ(Read(env_.vs(), "b"), "B");
  EXPECT_EQ(env_.vs()->HeadSeq(kBranch), 4u);
}

// Failover with a shared log (docs/cluster.md, "Failover"): the daemon that
// takes a branch over gets every record its holder made durable and never
// flushed; the holder, fenced, fails its barriers; restarted, it drops its
// own stale records instead of replaying them onto the new holder's state.
TEST_F(ClaimTest, ATakeoverReplaysTheEarlierHoldersTailFromTheSharedLog) {
  SharedLog log;
  SharedLogSink* a_sink = nullptr;
  env_.WrapSink([&](std::unique_ptr<Sink> local) {
    auto s = std::make_unique<SharedLogSink>(std::move(local), &log);
    a_sink = s.get();
    return s;
  });
  env_.options().held_at = leases_.HeldAt("a");
  ASSERT_OK(env_.Reopen({kBranch}));
  VersionStore* a = env_.vs();
  OtherDaemon b(env_, leases_.Grant("b"), &log);
  ASSERT_OK(b.Open({kBranch}));  // B mounts while the branch is empty

  ASSERT_OK(a->Commit(kBranch, {{"p", false, Page('p')}}));
  ASSERT_OK(a->Flush(kBranch));                         // seq 1 in a layer
  ASSERT_OK(a->Commit(kBranch, {{"q", false, "Q2"}}));  // seqs 2..3 durable
  ASSERT_OK(a->Commit(kBranch, {{"r", false, "R3"}}));  // in the log only
  ASSERT_OK(a->Sync(kBranch));
  EXPECT_EQ(a_sink->takeovers, 1);

  // A's lease runs out; B's first write takes the branch over.
  ASSERT_OK_AND_ASSIGN(uint64_t seq, b.vs()->Commit(kBranch, {{"s", false, "S4"}}));
  EXPECT_EQ(seq, 4u);
  EXPECT_EQ(b.vs()->Epoch(kBranch), 2u);
  EXPECT_EQ(Read(b.vs(), "p"), Page('p'));
  EXPECT_EQ(Read(b.vs(), "q"), "Q2");
  EXPECT_EQ(Read(b.vs(), "r"), "R3");
  EXPECT_EQ(Read(b.vs(), "s"), "S4");

  // A, cut off, goes on writing: its fsync fails and its flush is refused.
  ASSERT_OK(a->Commit(kBranch, {{"late", false, "L4"}}).status());
  EXPECT_EQ(a->Sync(kBranch).code(), Code::kIO);
  EXPECT_EQ(a->Flush(kBranch).code(), Code::kReadOnly);

  // A restarts while B, alive, holds the branch and has not flushed: the
  // shared log gives it B's seq 4, its own op log its stale seq 4, which is
  // void. A reads what the shared log has, unclaimed, until B publishes.
  env_.options().claim = [](uint32_t) -> Result<uint64_t> {
    return Status::Busy("branch 7 is held by node b (epoch 2)");
  };
  ASSERT_OK(env_.Reopen({kBranch}));
  EXPECT_EQ(a_sink->disowned, (std::vector<uint32_t>{kBranch}));
  EXPECT_EQ(env_.vs()->Epoch(kBranch), 0u);
  EXPECT_EQ(env_.vs()->HeadSeq(kBranch), 4u);
  EXPECT_EQ(Read(env_.vs(), "late"), "<absent>");
  EXPECT_EQ(Read(env_.vs(), "s"), "S4");

  // B publishes; A drops what it replayed and reads B's manifest.
  ASSERT_OK(b.vs()->Commit(kBranch, {{"t", false, "T5"}}));
  ASSERT_OK(b.vs()->Flush(kBranch));
  EXPECT_EQ(Newest(env_).durable_seq, 5u);
  ASSERT_OK_AND_ASSIGN(bool newer, env_.vs()->RefreshForeign(kBranch));
  EXPECT_TRUE(newer);
  EXPECT_EQ(env_.vs()->HeadSeq(kBranch), 5u);
  EXPECT_EQ(Read(env_.vs(), "t"), "T5");
  EXPECT_EQ(Read(env_.vs(), "r"), "R3");
  EXPECT_EQ(Read(env_.vs(), "late"), "<absent>");
}

TEST_F(ClaimTest, AnUploadSkipsALayerNameThatIsTaken) {
  const std::string orphan = LayerObjectKey(kBranch, 1);
  ASSERT_OK(env_.store()->Put(orphan, "not a layer"));
  ASSERT_OK(env_.vs()->Commit(kBranch, {{"a", false, Page('a')}}));
  ASSERT_OK(env_.vs()->Flush(kBranch));
  const Manifest m = Newest(env_);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].no, 2u);
  Result<std::string> kept = env_.store()->Get(orphan);
  ASSERT_OK(kept.status());
  EXPECT_EQ(*kept, "not a layer");
  EXPECT_EQ(Read(env_.vs(), "a"), Page('a'));
}

}  // namespace
}  // namespace strata
