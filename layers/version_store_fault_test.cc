// VersionStore: time->seq map, id counters, branch drop, corruption and
// object-store faults.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "layers/inode.h"
#include "layers/key.h"
#include "layers/manifest.h"
#include "layers/strata_test_util.h"
#include "layers/version_store.h"
#include "objstore/fault_injection.h"

namespace strata {
namespace {

using testing::Page;
using testing::TestEnv;

TEST(VersionStoreTime, SeqAtTimeAcrossMemtableAndLayers) {
  TestEnv env;
  ManualClock* clock = env.UseManualClock();
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(1));
  const uint64_t before = clock->NowNs();
  clock->Advance(std::chrono::milliseconds(2));
  std::vector<uint64_t> after;  // after[i]: a time just after seq i+1
  for (int i = 0; i < 6; i++) {
    if (i == 3) ASSERT_OK(vs->Flush(1));  // seqs 1-3 in a layer, 4-6 in the memtable
    ASSERT_OK(vs->Commit(1, {{"k", false, std::to_string(i)}}));
    clock->Advance(std::chrono::milliseconds(1));
    after.push_back(clock->NowNs());
    clock->Advance(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(vs->SeqAtTime(1, before).status().code(), Code::kNotFound);
  for (uint64_t i = 0; i < after.size(); i++) {
    ASSERT_OK_AND_ASSIGN(uint64_t seq, vs->SeqAtTime(1, after[i]));
    EXPECT_EQ(seq, i + 1) << "time after seq " << i + 1;
  }
  ASSERT_OK(vs->Flush(1));
  for (uint64_t i = 0; i < after.size(); i++) {
    ASSERT_OK_AND_ASSIGN(uint64_t seq, vs->SeqAtTime(1, after[i]));
    EXPECT_EQ(seq, i + 1) << "after flush, time after seq " << i + 1;
  }
  EXPECT_EQ(vs->SeqAtTime(1, before).status().code(), Code::kNotFound);
  EXPECT_EQ(vs->SeqAtTime(99, after[0]).status().code(), Code::kNotFound);
}

// Commits an inode whose ino and data_id use counters from AllocCounter.
std::pair<uint64_t, uint64_t> CommitInode(VersionStore* vs, uint32_t branch) {
  InodeAttr a;
  a.ino = MakeIno(branch, vs->AllocCounter(branch));
  a.data_id = MakeIno(branch, vs->AllocCounter(branch));
  a.mode = S_IFREG | 0600;
  a.nlink = 1;
  EXPECT_OK(vs->Commit(branch, {{AttrKey(a.ino), false, EncodeInodeAttr(a)}}));
  return {InoCounter(a.ino), InoCounter(a.data_id)};
}

TEST(VersionStoreCounters, AllocCounterNeverRepeatsAfterRecover) {
  TestEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->CreateBranch(3));
  auto [ino1, data1] = CommitInode(env.vs(), 3);
  EXPECT_GT(data1, ino1);
  ASSERT_OK(env.vs()->Sync());
  ASSERT_OK(env.Reopen({3}));  // the counter comes back from the replayed op
  uint64_t next = env.vs()->AllocCounter(3);
  EXPECT_GT(next, data1);
  auto [ino2, data2] = CommitInode(env.vs(), 3);
  EXPECT_GT(ino2, next);
  ASSERT_OK(env.vs()->Flush(3));
  ASSERT_OK(env.Reopen({3}));  // now from the manifest
  EXPECT_GT(env.vs()->AllocCounter(3), data2);
}

TEST(VersionStoreDrop, DropBranchRemovesItsObjectsAndTheBranch) {
  TestEnv env;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(4));
  ASSERT_OK(vs->CreateBranch(5));
  ASSERT_OK(vs->Commit(4, {{"k", false, Page('4')}}));
  ASSERT_OK(vs->Flush(4));
  ASSERT_OK(vs->Commit(4, {{"k", false, "later"}}));
  ASSERT_OK(vs->Commit(5, {{"k", false, "five"}}));
  ASSERT_OK(vs->Flush(5));
  EXPECT_FALSE(env.List("branches/4/").empty());
  ASSERT_OK(vs->DropBranch(4));
  EXPECT_TRUE(env.List("branches/4/").empty());
  EXPECT_FALSE(vs->HasBranch(4));
  EXPECT_EQ(CodeOf(vs->Get({{4, UINT64_MAX}}, "k")), Code::kNotFound);
  EXPECT_EQ(CodeOf(vs->Commit(4, {{"k", false, "x"}})), Code::kNotFound);
  // The other branch is untouched, also after a restart.
  EXPECT_FALSE(env.List("branches/5/").empty());
  ASSERT_OK(vs->Sync());
  ASSERT_OK(env.Reopen({5}));
  EXPECT_FALSE(env.vs()->HasBranch(4));
  ASSERT_OK_AND_ASSIGN(auto v, env.vs()->Get({{5, UINT64_MAX}}, "k"));
  EXPECT_EQ(v, std::optional<std::string>("five"));
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c ^= 0x5a;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(VersionStoreCorruption, FlippedByteInALayerValueIsCorruptionNotWrongBytes) {
  TestEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->CreateBranch(1));
  ASSERT_OK(env.vs()->Commit(1, {{"page", false, Page('p')}, {"small", false, "s"}}));
  ASSERT_OK(env.vs()->Flush(1));
  // The layer's value area starts with the page's zstd frame (offset 0).
  FlipByte(env.store_root() + "/" + LayerObjectKey(1, 1), 4);
  ASSERT_OK(env.Reopen({1}));  // fresh store and version store: no cached bytes
  Result<std::optional<std::string>> r = env.vs()->Get({{1, UINT64_MAX}}, "page");
  ASSERT_FALSE(r.ok()) << "returned " << (r.ok() && *r ? r->value().size() : 0) << " bytes";
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(LayerObjectKey(1, 1)), std::string::npos)
      << r.status().message();
  // Scan reads the same value: also an error, never wrong bytes.
  Status scan = env.vs()->Scan({{1, UINT64_MAX}}, "", [](std::string_view, const std::string&) {});
  EXPECT_EQ(scan.code(), Code::kCorruption);
  // The inline value in the intact index still reads back.
  ASSERT_OK_AND_ASSIGN(auto small, env.vs()->Get({{1, UINT64_MAX}}, "small"));
  EXPECT_EQ(small, std::optional<std::string>("s"));
}

TEST(VersionStoreCorruption, RebuildingTheIndexFromACorruptLayerFails) {
  TestEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->CreateBranch(1));
  ASSERT_OK(env.vs()->Commit(1, {{"small", false, "s"}}));
  ASSERT_OK(env.vs()->Flush(1));
  env.Close();
  const std::string path = env.store_root() + "/" + LayerObjectKey(1, 1);
  FlipByte(path, 0);  // only inline values: offset 0 is the index region
  env.DeleteIndex();
  ASSERT_OK(env.Open());
  Status st = env.vs()->Recover({1});
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
}

// A cache below the version store whose copy of every object is rotten (one
// flipped byte per range read) until the reader invalidates it.
// With `stale_size`, it refuses every range instead, as a cache holding a
// stale size record of an object would.
class RottenCacheStore : public ObjectStoreWrapper {
 public:
  explicit RottenCacheStore(ObjectStore* target, bool stale_size = false)
      : ObjectStoreWrapper(target), stale_size_(stale_size) {}
  Result<std::string> GetRange(const std::string& k, uint64_t off, uint64_t len) override {
    Result<std::string> r = target()->GetRange(k, off, len);
    MutexLock lock(&mu_);
    if (fresh_.count(k) || !r.ok()) return r;
    if (stale_size_) return Status::Invalid("range runs past the end of " + k);
    if (!r->empty()) (*r)[r->size() / 2] ^= 0x40;
    return r;
  }
  void Invalidate(const std::string& k) override {
    MutexLock lock(&mu_);
    fresh_.insert(k);
    invalidations_++;
  }
  int invalidations() {
    MutexLock lock(&mu_);
    return invalidations_;
  }

 private:
  const bool stale_size_;
  Mutex mu_;
  std::set<std::string> fresh_ GUARDED_BY(mu_);
  int invalidations_ GUARDED_BY(mu_) = 0;
};

TEST(VersionStoreCorruption, RottenCachedValueIsDroppedAndReadAgainFromTheStore) {
  for (bool stale_size : {false, true}) {
    SCOPED_TRACE(stale_size);
    TestEnv env;
    RottenCacheStore* cache = env.Wrap<RottenCacheStore>(stale_size);
    ASSERT_OK(env.Open());
    ASSERT_OK(env.vs()->CreateBranch(1));
    ASSERT_OK(env.vs()->Commit(1, {{"page", false, Page('p')}}));
    ASSERT_OK(env.vs()->Flush(1));
    ASSERT_OK_AND_ASSIGN(auto v, env.vs()->Get({{1, UINT64_MAX}}, "page"));
    EXPECT_EQ(v, std::optional<std::string>(Page('p')));
    EXPECT_EQ(cache->invalidations(), 1);
  }
}

TEST(VersionStoreCorruption, RottenCachedIndexIsDroppedAndReadAgainOnRebuild) {
  TestEnv env;
  RottenCacheStore* cache = env.Wrap<RottenCacheStore>(false);
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->CreateBranch(1));
  ASSERT_OK(env.vs()->Commit(1, {{"small", false, "s"}}));
  ASSERT_OK(env.vs()->Flush(1));
  env.Close();
  env.DeleteIndex();
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->Recover({1}));
  EXPECT_EQ(cache->invalidations(), 1);
  ASSERT_OK_AND_ASSIGN(auto small, env.vs()->Get({{1, UINT64_MAX}}, "small"));
  EXPECT_EQ(small, std::optional<std::string>("s"));
}

TEST(VersionStoreFaults, BarriersFailWhileTheStoreIsDownLongerThanTheLagBound) {
  for (int lag : {0, 1}) {
    SCOPED_TRACE(lag);
    TestEnv env;
    ManualClock* clock = env.UseManualClock();
    env.options().max_store_lag_seconds = lag;
    FaultInjectingStore* faults = env.Wrap<FaultInjectingStore>();
    ASSERT_OK(env.Open());
    ASSERT_OK(env.vs()->CreateBranch(1));
    ASSERT_OK(env.vs()->Commit(1, {{"a", false, "1"}}));
    FaultConfig down;
    down.fail_all = true;
    faults->set_config(down);
    EXPECT_FALSE(env.vs()->Flush(1).ok());
    ASSERT_OK(env.vs()->Commit(1, {{"b", false, "2"}}));
    // Failing, but for less than the bound: barriers still succeed.
    if (lag > 0) EXPECT_OK(env.vs()->Sync());
    clock->Advance(std::chrono::milliseconds(1100));
    Status st = env.vs()->Sync();
    if (lag == 0) {
      EXPECT_OK(st);  // the bound is off: the op log alone answers
    } else {
      EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
      EXPECT_EQ(st.ToErrno(), EIO);
      EXPECT_NE(st.message().find("object store"), std::string::npos) << st.ToString();
    }
    faults->set_config(FaultConfig{});
    ASSERT_OK(env.vs()->Flush(1));
    EXPECT_OK(env.vs()->Sync());
    ASSERT_OK(env.Reopen({1}));  // nothing acknowledged or not was lost
    ASSERT_OK_AND_ASSIGN(auto b, env.vs()->Get({{1, UINT64_MAX}}, "b"));
    EXPECT_EQ(b, std::optional<std::string>("2"));
  }
}

TEST(VersionStoreFaults, AWriteOverTheBacklogFailsAtOnceWhileTheStoreIsDownPastTheLagBound) {
  TestEnv env;
  ManualClock* clock = env.UseManualClock();
  env.options().max_store_lag_seconds = 1;
  env.options().memtable_bytes = 64 << 10;
  env.options().background_flush = true;
  FaultInjectingStore* faults = env.Wrap<FaultInjectingStore>();
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->Recover({}));  // starts the flusher
  ASSERT_OK(env.vs()->CreateBranch(1));
  FaultConfig down;
  down.fail_all = true;
  faults->set_config(down);
  // Past 4 memtables of backlog, unflushable: the background flusher fails.
  const std::string value(32 << 10, 'v');
  for (int i = 0; i < 8; i++)
    ASSERT_OK(env.vs()->Commit(1, {{"k" + std::to_string(i), false, value}}));
  for (int i = 0; i < 2000 && faults->injected_faults() == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GT(faults->injected_faults(), 0u);
  // Failing for longer than the bound: the write fails now, rather than
  // waiting out the stall limit (which the manual clock would never reach).
  clock->Advance(std::chrono::milliseconds(1100));
  Result<uint64_t> late = env.vs()->Commit(1, {{"late", false, value}});
  EXPECT_EQ(late.status().code(), Code::kUnavailable) << late.status().ToString();
  EXPECT_EQ(late.status().ToErrno(), EIO);
  faults->set_config(FaultConfig{});
  ASSERT_OK(env.vs()->Flush(1));
  ASSERT_OK(env.vs()->Commit(1, {{"after", false, "ok"}}));
}

TEST(VersionStoreFaults, FlushWritesNothingWhileMayWriteRefuses) {
  TestEnv env;
  bool allowed = false;
  env.options().may_write = [&allowed]() -> Status {
    return allowed ? Status::OK() : Status::Busy("lease lost");
  };
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->CreateBranch(1));
  ASSERT_OK(env.vs()->Commit(1, {{"a", false, "1"}}));
  EXPECT_EQ(CodeOf(env.vs()->Flush(1)), Code::kBusy);
  EXPECT_TRUE(env.List("branches/").empty());
  ASSERT_OK_AND_ASSIGN(auto a, env.vs()->Get({{1, UINT64_MAX}}, "a"));
  EXPECT_EQ(a, std::optional<std::string>("1"));
  allowed = true;
  ASSERT_OK(env.vs()->Flush(1));
  EXPECT_FALSE(env.List("branches/").empty());
}

TEST(VersionStoreFaults, FailedFlushKeepsDataReadableAndALaterFlushSucceeds) {
  TestEnv env;
  FaultInjectingStore* faults = env.Wrap<FaultInjectingStore>();
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(1));
  ASSERT_OK(vs->Commit(1, {{"a", false, Page('a')}}));
  FaultConfig down;
  down.fail_all = true;
  faults->set_config(down);
  Status st = vs->Flush(1);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(vs->Stats(1).durable_seq, 0u);
  ASSERT_OK(vs->Commit(1, {{"b", false, "B"}}));  // commits still work (op log)
  ASSERT_OK_AND_ASSIGN(auto a, vs->Get({{1, UINT64_MAX}}, "a"));
  EXPECT_EQ(a, std::optional<std::string>(Page('a')));
  EXPECT_FALSE(vs->Flush(1).ok());
  faults->set_config(FaultConfig{});
  EXPECT_TRUE(env.List("branches/1/layers/").empty());
  ASSERT_OK(vs->Flush(1));
  EXPECT_EQ(vs->Stats(1).durable_seq, 2u);
  EXPECT_EQ(vs->Stats(1).memtable_bytes, 0u);
  EXPECT_GE(vs->Stats(1).layers, 1u);
  // Only the layers answer now: same bytes after a cold restart.
  env.Close();
  env.DeleteIndex();
  ASSERT_OK(env.Reopen({1}));
  ASSERT_OK_AND_ASSIGN(auto a2, env.vs()->Get({{1, UINT64_MAX}}, "a"));
  EXPECT_EQ(a2, std::optional<std::string>(Page('a')));
  ASSERT_OK_AND_ASSIGN(auto b2, env.vs()->Get({{1, UINT64_MAX}}, "b"));
  EXPECT_EQ(b2, std::optional<std::string>("B"));
}

// Same defect as Memtable.KeyThatIsAPrefixOfAnotherKeySortsFirstAndIsFound,
// through the VersionStore and, after a flush, the RocksDB index.
TEST(VersionStore, KeyThatIsAPrefixOfAnotherKeyIsFoundBeforeAndAfterFlush) {
  TestEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK(env.vs()->CreateBranch(1));
  ASSERT_OK(env.vs()->Commit(1, {{"a", false, "short"}, {std::string("a\x01", 2), false, "long"}}));
  for (int round = 0; round < 2; round++) {
    ASSERT_OK_AND_ASSIGN(auto v, env.vs()->Get({{1, UINT64_MAX}}, "a"));
    EXPECT_EQ(v, std::optional<std::string>("short")) << (round ? "layers" : "memtable");
    if (round == 0) ASSERT_OK(env.vs()->Flush(1));
  }
}

}  // namespace
}  // namespace strata
