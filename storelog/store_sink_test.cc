// StoreSink over a real file:// store and real local sinks: barriers that
// wait for log objects, group commit, the time window, replay after the local
// log is lost, fencing between two writers (with the races that matter),
// trimming, deleted branches, a failing store and a damaged object.
#include "storelog/store_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status_test_util.h"
#include "common/temp_dir.h"
#include "objstore/fault_injection.h"
#include "objstore/file_store.h"
#include "oplog/local_sink.h"

namespace strata {
namespace {

using strata::testing::TempDir;

OpRecord Rec(uint32_t branch, uint64_t seq) {
  OpRecord r;
  r.branch = branch;
  r.seq = seq;
  r.time_ns = 1000 + seq;
  r.puts.push_back({"k" + std::to_string(seq), false, std::string(200, 'a' + seq % 26)});
  return r;
}

// Runs a hook before each PutIfAbsent (with the key) and after each List.
class HookStore : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  std::function<void(const std::string&)> before_put;
  std::function<void(const std::string&)> after_list;
  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    if (before_put) before_put(k);
    return target()->PutIfAbsent(k, d);
  }
  Result<std::vector<std::string>> List(const std::string& p) override {
    Result<std::vector<std::string>> r = target()->List(p);
    if (after_list) after_list(p);
    return r;
  }
};

// Counts the Gets that reach the store.
class CountingStore : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  Result<std::string> Get(const std::string& k) override {
    gets++;
    return target()->Get(k);
  }
  std::atomic<int> gets{0};
};

class StoreSinkTest : public ::testing::Test {
 protected:
  // A daemon's sink: its own local log directory, the shared store.
  std::unique_ptr<StoreSink> OpenSink(const std::string& name, ObjectStore* store = nullptr,
                                      int window_ms = 3'600'000, int timeout_ms = 20'000) {
    const std::string dir = dirs_.path() + "/" + name;
    auto local = OpenLocalSink(dir);
    EXPECT_OK(local);
    StoreSinkOptions o;
    o.store = store ? store : &store_;
    o.void_file = dir + "/void";
    o.window_ms = window_ms;
    o.barrier_timeout_ms = timeout_ms;
    auto sink = StoreSink::Open(std::move(*local), o);
    EXPECT_OK(sink);
    return std::move(*sink);
  }

  // Appends seqs first..last of `branch` and waits for them in the remote tier.
  Status Write(StoreSink* sink, uint32_t branch, uint64_t first, uint64_t last) {
    uint64_t token = 0;
    for (uint64_t s = first; s <= last; s++) {
      STRATA_ASSIGN_OR_RETURN(token, sink->Append(Rec(branch, s)));
    }
    return sink->Barrier(token, Durability::kRemote);
  }

  std::vector<std::string> Keys(uint32_t branch) {
    auto keys = store_.List(LogObjectPrefix(branch));
    EXPECT_OK(keys);
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  // Every record of `branch` in its log objects, in order: (seq, object kind).
  std::vector<uint64_t> StoredSeqs(uint32_t branch, int* fences = nullptr) {
    std::vector<uint64_t> seqs;
    for (const std::string& key : Keys(branch)) {
      auto data = store_.Get(key);
      EXPECT_OK(data);
      auto obj = DecodeLogObject(*data, key);
      EXPECT_OK(obj);
      if (obj->kind == LogObjectKind::kFence && fences) (*fences)++;
      EXPECT_OK(ForEachLogRecord(*obj, [&](const OpRecord& r) {
        seqs.push_back(r.seq);
        return Status::OK();
      }));
    }
    return seqs;
  }

  static std::vector<uint64_t> Seqs(uint64_t first, uint64_t last) {
    std::vector<uint64_t> v;
    for (uint64_t s = first; s <= last; s++) v.push_back(s);
    return v;
  }

  // What a fresh daemon (an empty local log) replays, per branch registered.
  std::map<uint32_t, std::vector<uint64_t>> ReplayFresh(const std::string& name,
                                                        std::map<uint32_t, uint64_t> covered) {
    auto sink = OpenSink(name);
    for (const auto& [b, seq] : covered) EXPECT_OK(sink->Trim(b, seq));
    std::map<uint32_t, std::vector<uint64_t>> got;
    EXPECT_OK(sink->Replay([&](const OpRecord& r) {
      got[r.branch].push_back(r.seq);
      return Status::OK();
    }));
    return got;
  }

  TempDir dirs_;
  TempDir root_;
  FileObjectStore store_{root_.path() + "/store"};
};

TEST_F(StoreSinkTest, ARemoteBarrierReturnsOnceItsRecordsAreLogObjects) {
  auto sink = OpenSink("a");
  ASSERT_OK(sink->Trim(1, 0));
  ASSERT_OK(sink->Trim(2, 0));
  ASSERT_OK(sink->Append(Rec(2, 1)));
  ASSERT_OK(Write(sink.get(), 1, 1, 3));
  // One object per branch in the round, numbered from 1.
  EXPECT_EQ(Keys(1), (std::vector<std::string>{LogObjectKey(1, 1)}));
  EXPECT_EQ(Keys(2), (std::vector<std::string>{LogObjectKey(2, 1)}));
  EXPECT_EQ(StoredSeqs(1), Seqs(1, 3));
  EXPECT_EQ(StoredSeqs(2), Seqs(1, 1));
  EXPECT_EQ(sink->AckedSeq(1), 3u);
  ASSERT_OK(Write(sink.get(), 1, 4, 4));
  EXPECT_EQ(Keys(1).back(), LogObjectKey(1, 2));
  EXPECT_EQ(StoredSeqs(1), Seqs(1, 4));
  const StoreShippingStats st = sink->Shipping();
  EXPECT_EQ(st.objects_written, 3u);
  EXPECT_EQ(st.acked_offset, st.tail);
  // The lower tiers never wait for the store.
  ASSERT_OK_AND_ASSIGN(uint64_t t, sink->Append(Rec(1, 5)));
  EXPECT_OK(sink->Barrier(t, Durability::kLocal));
  EXPECT_OK(sink->Barrier(t, Durability::kEphemeral));
}

TEST_F(StoreSinkTest, BarriersThatArriveDuringARoundShareTheNextOne) {
  HookStore hooked(&store_);
  Mutex mu;
  CondVar cv;
  bool first_put = true, release = false;
  hooked.before_put = [&](const std::string&) {
    MutexLock l(&mu);
    if (!first_put) return;
    first_put = false;
    // The first round is in flight until the test lets it go.
    cv.WaitFor(&mu, std::chrono::seconds(30), [&]() REQUIRES(mu) { return release; });
  };
  auto sink = OpenSink("a", &hooked);
  ASSERT_OK(sink->Trim(1, 0));
  std::thread first([&] { EXPECT_OK(Write(sink.get(), 1, 1, 1)); });
  for (;;) {  // until round 1 has read the log and is blocked in its PUT
    {
      MutexLock l(&mu);
      if (!first_put) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Eight writers append and wait while round 1 is in flight.
  std::vector<uint64_t> tokens;
  for (uint32_t b = 2; b <= 9; b++) {
    ASSERT_OK(sink->Trim(b, 0));
    ASSERT_OK(sink->Append(Rec(b, 1)));
    ASSERT_OK_AND_ASSIGN(uint64_t token, sink->Append(Rec(b, 2)));
    tokens.push_back(token);
  }
  std::vector<std::thread> waiters;
  for (uint64_t token : tokens) {
    waiters.emplace_back([&, token] { EXPECT_OK(sink->Barrier(token, Durability::kRemote)); });
  }
  {
    MutexLock l(&mu);
    release = true;
  }
  cv.SignalAll();
  first.join();
  for (std::thread& t : waiters) t.join();
  // Round 1 (branch 1's record), then one round for all eight: one object
  // per branch, whatever the order the barriers came in.
  EXPECT_EQ(sink->Shipping().rounds, 2u);
  EXPECT_EQ(sink->Shipping().objects_written, 9u);
  for (uint32_t b = 2; b <= 9; b++) EXPECT_EQ(StoredSeqs(b), Seqs(1, 2)) << b;
}

TEST_F(StoreSinkTest, RecordsNoBarrierWaitsForShipWithinTheWindow) {
  auto never = OpenSink("a");  // a window of an hour
  ASSERT_OK(never->Trim(1, 0));
  ASSERT_OK(never->Append(Rec(1, 1)));
  never->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(Keys(1).empty());  // nothing asked for it, and the window is long
  never.reset();                 // the record is still in the local log, not lost

  auto soon = OpenSink("b", nullptr, /*window_ms=*/20);
  ASSERT_OK(soon->Trim(2, 0));
  ASSERT_OK(soon->Append(Rec(2, 1)));
  soon->Start();
  for (int i = 0; i < 2000 && soon->AckedSeq(2) == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(soon->AckedSeq(2), 1u);
  EXPECT_EQ(StoredSeqs(2), Seqs(1, 1));
}

TEST_F(StoreSinkTest, AFreshDaemonReplaysTheStoresRecordsPastWhatLayersCover) {
  {
    auto sink = OpenSink("lost");
    ASSERT_OK(sink->Trim(1, 0));
    ASSERT_OK(sink->Trim(2, 0));
    ASSERT_OK(Write(sink.get(), 1, 1, 6));
    ASSERT_OK(Write(sink.get(), 2, 1, 2));
    ASSERT_OK(Write(sink.get(), 1, 7, 8));
  }
  // The machine is gone: a new one with an empty local log. Branch 1's
  // layers cover seq 4; branch 3 is not registered, so nothing of it comes.
  auto got = ReplayFresh("new", {{1, 4}, {2, 0}, {3, 0}});
  EXPECT_EQ(got[1], Seqs(5, 8));
  EXPECT_EQ(got[2], Seqs(1, 2));
  EXPECT_EQ(got.count(3), 0u);
}

TEST_F(StoreSinkTest, ARestartedDaemonShipsOnlyWhatTheStoreLacks) {
  {
    auto sink = OpenSink("a");
    ASSERT_OK(sink->Trim(1, 0));
    ASSERT_OK(Write(sink.get(), 1, 1, 3));
    ASSERT_OK(sink->Append(Rec(1, 4)));  // in the local log only
  }
  auto sink = OpenSink("a");
  ASSERT_OK(sink->Trim(1, 0));
  std::vector<uint64_t> replayed;
  ASSERT_OK(sink->Replay([&](const OpRecord& r) {
    replayed.push_back(r.seq);
    return Status::OK();
  }));
  // The store's records, then the local log's (the caller skips seqs it has).
  EXPECT_EQ(replayed, (std::vector<uint64_t>{1, 2, 3, 1, 2, 3, 4}));
  sink->Start();
  ASSERT_OK(sink->Barrier(sink->Tail(), Durability::kRemote));
  EXPECT_EQ(StoredSeqs(1), Seqs(1, 4));  // 4 shipped once, nothing twice
  EXPECT_EQ(Keys(1).back(), LogObjectKey(1, 2));
}

TEST_F(StoreSinkTest, ATakeOverFencesTheEarlierWriterAndGetsItsTail) {
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  ASSERT_OK(Write(a.get(), 1, 1, 5));
  auto b = OpenSink("b");
  ASSERT_OK(b->Trim(1, 2));
  std::vector<uint64_t> tail;
  ASSERT_OK(b->TakeOver(1, /*epoch=*/2, /*after=*/2, [&](const OpRecord& r) {
    tail.push_back(r.seq);
    return Status::OK();
  }));
  EXPECT_EQ(tail, Seqs(3, 5));
  EXPECT_EQ(b->Shipping().fences, 1u);
  // The earlier writer's next record is refused, and that is final.
  Status late = Write(a.get(), 1, 6, 6);
  EXPECT_EQ(late.code(), Code::kReadOnly) << late.ToString();
  EXPECT_NE(late.message().find("took the branch over"), std::string::npos) << late.ToString();
  ASSERT_OK(a->Trim(2, 0));
  EXPECT_EQ(Write(a.get(), 2, 1, 1).code(), Code::kReadOnly);
  // The new holder goes on from the tail.
  ASSERT_OK(Write(b.get(), 1, 6, 7));
  int fences = 0;
  EXPECT_EQ(StoredSeqs(1, &fences), Seqs(1, 7));
  EXPECT_EQ(fences, 1);
  EXPECT_EQ(ReplayFresh("c", {{1, 0}})[1], Seqs(1, 7));
}

TEST_F(StoreSinkTest, AnObjectThatLandsBetweenTheListingAndTheFenceIsReplayedToo) {
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  ASSERT_OK(Write(a.get(), 1, 1, 2));
  HookStore hooked(&store_);
  bool once = true;
  hooked.after_list = [&](const std::string&) {
    if (!std::exchange(once, false)) return;
    // The earlier holder gets one more round in after the new one listed.
    EXPECT_OK(Write(a.get(), 1, 3, 4));
  };
  auto b = OpenSink("b", &hooked);
  ASSERT_OK(b->Trim(1, 0));
  std::vector<uint64_t> tail;
  ASSERT_OK(b->TakeOver(1, 2, 0, [&](const OpRecord& r) {
    tail.push_back(r.seq);
    return Status::OK();
  }));
  EXPECT_EQ(tail, Seqs(1, 4));                    // 3 and 4 were acknowledged: they must be here
  EXPECT_EQ(Keys(1).back(), LogObjectKey(1, 3));  // the fence moved past them
  EXPECT_EQ(Write(a.get(), 1, 5, 5).code(), Code::kReadOnly);
}

TEST_F(StoreSinkTest, AWriteThatLosesItsNumberAfterAFlushLosesNothing) {
  // A hand-over: the giver flushed (its records are covered) while its last
  // round was on the way; the receiver's fence took the number first.
  auto a_store = std::make_unique<HookStore>(&store_);
  auto a = OpenSink("a", a_store.get());
  auto b = OpenSink("b");
  ASSERT_OK(a->Trim(1, 0));
  ASSERT_OK(b->Trim(1, 0));
  ASSERT_OK(Write(a.get(), 1, 1, 2));
  bool once = true;
  a_store->before_put = [&](const std::string&) {
    if (!std::exchange(once, false)) return;
    EXPECT_OK(a->Trim(1, 3));  // the giver's flush covers seq 3
    EXPECT_OK(b->TakeOver(1, 2, 3, [](const OpRecord&) { return Status::OK(); }));
  };
  EXPECT_OK(Write(a.get(), 1, 3, 3));  // covered, so acknowledged
  // But the giver writes the branch no more without taking it again.
  EXPECT_EQ(Write(a.get(), 1, 4, 4).code(), Code::kReadOnly);
  ASSERT_OK(Write(b.get(), 1, 4, 4));
  EXPECT_EQ(StoredSeqs(1), (std::vector<uint64_t>{1, 2, 4}));
}

TEST_F(StoreSinkTest, TrimKeepsTheNewestObjectAndEveryFence) {
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  for (uint64_t s = 1; s <= 4; s++) ASSERT_OK(Write(a.get(), 1, s, s));
  auto b = OpenSink("b");
  ASSERT_OK(b->Trim(1, 0));
  ASSERT_OK(b->TakeOver(1, 2, 0, [](const OpRecord&) { return Status::OK(); }));  // fence: 5
  for (uint64_t s = 5; s <= 6; s++) ASSERT_OK(Write(b.get(), 1, s, s));           // 6, 7
  // Layers cover everything: the objects go, but for the fence and the newest.
  ASSERT_OK(b->Trim(1, 6));
  ASSERT_OK(b->Barrier(b->Tail(), Durability::kRemote));
  for (int i = 0; i < 2000 && b->Shipping().objects_deleted < 5; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Keys(1), (std::vector<std::string>{LogObjectKey(1, 5), LogObjectKey(1, 7)}));
  EXPECT_EQ(b->Shipping().objects_deleted, 5u);
  // So the fenced writer still finds its number taken.
  EXPECT_EQ(Write(a.get(), 1, 5, 5).code(), Code::kReadOnly);
}

TEST_F(StoreSinkTest, ATakeOverReadsTheTailNotTheWholeLog) {
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  for (uint64_t s = 1; s <= 40; s++) ASSERT_OK(Write(a.get(), 1, s, s));  // 40 objects
  CountingStore counting(&store_);
  auto b = OpenSink("b", &counting);
  ASSERT_OK(b->Trim(1, 37));
  std::vector<uint64_t> tail;
  ASSERT_OK(b->TakeOver(1, 2, 37, [&](const OpRecord& r) {
    tail.push_back(r.seq);
    return Status::OK();
  }));
  EXPECT_EQ(tail, Seqs(38, 40));
  // One wave of `parallel` (16) reads from the newest back reaches seq 38.
  EXPECT_EQ(counting.gets, 16);
  // The 24 objects it never read are still trimmed: their headers are read
  // first, so a fence among them would stay.
  ASSERT_OK(b->Trim(1, 40));
  for (int i = 0; i < 2000 && b->Shipping().objects_deleted < 40; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Keys(1), (std::vector<std::string>{LogObjectKey(1, 41)}));  // the fence
  EXPECT_EQ(b->Shipping().objects_deleted, 40u);
}

TEST_F(StoreSinkTest, AReaderStopsAtAFenceWhoseTakerHadReadAsFar) {
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  ASSERT_OK(Write(a.get(), 1, 1, 3));
  for (int i = 0; i < 40; i++) {  // 40 claims in turn, nothing written between
    auto t = OpenSink("t" + std::to_string(i));
    ASSERT_OK(t->Trim(1, 0));
    std::vector<uint64_t> tail;
    ASSERT_OK(t->TakeOver(1, 2 + i, 0, [&](const OpRecord& r) {
      tail.push_back(r.seq);
      return Status::OK();
    }));
    ASSERT_EQ(tail, Seqs(1, 3)) << i;  // each fence says it had read up to 3
  }
  CountingStore counting(&store_);
  auto r = OpenSink("r", &counting);
  ASSERT_OK(r->Trim(1, 3));
  ASSERT_OK(r->Replay([](const OpRecord& rec) {
    ADD_FAILURE() << "seq " << rec.seq << " is covered";
    return Status::OK();
  }));
  EXPECT_EQ(counting.gets, 16);  // one wave, not the 41 objects
}

TEST_F(StoreSinkTest, ADeletedBranchLosesItsObjectsAnUnknownOneKeepsThem) {
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  ASSERT_OK(a->Trim(2, 0));
  ASSERT_OK(Write(a.get(), 1, 1, 2));
  ASSERT_OK(Write(a.get(), 2, 1, 2));
  auto b = OpenSink("b");
  ASSERT_OK(b->Trim(1, UINT64_MAX));  // another daemon's branch it does not know
  b->Start();
  ASSERT_OK(a->Trim(2, UINT64_MAX));  // a branch `a` knew, deleted
  for (int i = 0; i < 2000 && !Keys(2).empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(Keys(2).empty());
  EXPECT_EQ(StoredSeqs(1), Seqs(1, 2));
}

TEST_F(StoreSinkTest, DisownedRecordsAreNeverShippedOrReplayed) {
  {
    auto a = OpenSink("a");
    ASSERT_OK(a->Trim(1, 0));
    ASSERT_OK(a->Append(Rec(1, 1)));  // never shipped: the daemon stops first
  }
  auto a = OpenSink("a");
  ASSERT_OK(a->Trim(1, 0));
  ASSERT_OK(a->Disown(1));  // another daemon took branch 1 over meanwhile
  std::vector<uint64_t> replayed;
  ASSERT_OK(a->Replay([&](const OpRecord& r) {
    replayed.push_back(r.seq);
    return Status::OK();
  }));
  EXPECT_TRUE(replayed.empty());
  a->Start();
  ASSERT_OK(a->Trim(2, 0));
  ASSERT_OK(Write(a.get(), 2, 1, 1));
  EXPECT_TRUE(Keys(1).empty());
}

TEST_F(StoreSinkTest, AFailingStoreTimesBarriersOutAndTheyPassOnceItHeals) {
  FaultConfig fail;
  fail.fail_all = true;
  FaultInjectingStore faulty(&store_, fail);
  auto a = OpenSink("a", &faulty, 3'600'000, /*timeout_ms=*/300);
  ASSERT_OK(a->Trim(1, 0));
  Status st = Write(a.get(), 1, 1, 1);
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("last error"), std::string::npos) << st.ToString();
  EXPECT_FALSE(a->Shipping().last_error.empty());
  faulty.set_config(FaultConfig{});
  // The shipper retries with backoff (up to 2 s apart): a few barriers may
  // still time out before the next attempt.
  Status healed;
  for (int i = 0; i < 40; i++) {
    healed = a->Barrier(a->Tail(), Durability::kRemote);
    if (healed.ok()) break;
  }
  EXPECT_OK(healed);
  EXPECT_EQ(StoredSeqs(1), Seqs(1, 1));
  EXPECT_TRUE(a->Shipping().last_error.empty());
}

TEST_F(StoreSinkTest, ADamagedObjectFailsReplayNamingIt) {
  {
    auto a = OpenSink("a");
    ASSERT_OK(a->Trim(1, 0));
    ASSERT_OK(Write(a.get(), 1, 1, 1));
  }
  const std::string key = LogObjectKey(1, 1);
  std::string data = *store_.Get(key);
  data[data.size() / 2] ^= 1;
  ASSERT_OK(store_.Put(key, data));
  auto b = OpenSink("b");
  ASSERT_OK(b->Trim(1, 0));
  Status st = b->Replay([](const OpRecord&) { return Status::OK(); });
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find(key), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace strata
