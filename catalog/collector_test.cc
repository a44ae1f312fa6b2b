// The collector end to end on a real version store: overwritten versions
// go, retained points stay, space figures appear (catalog/collector.h).
#include "catalog/collector.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "catalog/branch_test_util.h"
#include "catalog/tree_size.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {
namespace {

using testing::BranchEnv;
using testing::Churn;
using testing::Put;
using testing::Val;

TEST(Collector, APassFreesOverwrittenVersionsAndKeepsSnapshots) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  BranchOptions o;
  o.history_s = 0;
  ASSERT_OK(env.manager()->CreateBranch("main", "", o));
  Churn(env, "main", 4, 'a');
  ASSERT_OK(env.manager()->CreateSnapshot("main", "s"));
  const std::string at_snapshot = Val(env, "main", "key7");
  Churn(env, "main", 12, 'k');
  const std::string at_head = Val(env, "main", "key7");
  const uint64_t before = env.vs()->StoreBytes();

  Collector gc(env.catalog(), env.vs(), env.manager(), CollectorOptions{});
  ASSERT_OK_AND_ASSIGN(GcReport r, gc.RunNow(""));
  EXPECT_EQ(r.branches, 1u);
  EXPECT_GT(r.deleted_layers, 0u);
  EXPECT_GT(r.freed_bytes, 0u);
  EXPECT_LT(r.layers_after, r.layers_before);
  EXPECT_LT(env.vs()->StoreBytes(), before);
  // What is left: the head's versions and the snapshot's, about two rounds.
  EXPECT_LT(env.vs()->StoreBytes(), before / 4);
  EXPECT_EQ(Val(env, "main", "key7"), at_head);
  ASSERT_OK(env.manager()->CreateBranch("from-s", "main@s", 0, 0));
  EXPECT_EQ(Val(env, "from-s", "key7"), at_snapshot);

  std::optional<BranchSpace> space = gc.SpaceOf(env.Find("main")->id);
  ASSERT_TRUE(space.has_value());
  EXPECT_GT(space->exclusive_bytes, 0u);
  EXPECT_GT(space->as_of_ns, 0);
  CollectorState st = gc.State();
  EXPECT_EQ(st.passes, 1u);
  EXPECT_EQ(st.freed_bytes_total, r.freed_bytes);
  ASSERT_TRUE(st.last_pass.has_value());
  EXPECT_FALSE(st.running.has_value());

  // Deleting the snapshot releases its pin: the next pass frees what it held.
  ASSERT_OK(env.manager()->DeleteBranch("from-s"));
  ASSERT_OK(env.manager()->DeleteSnapshot("s"));
  const uint64_t pinned = env.vs()->StoreBytes();
  ASSERT_OK_AND_ASSIGN(GcReport r2, gc.RunNow("main"));
  EXPECT_GT(r2.freed_bytes, 0u);
  EXPECT_LT(env.vs()->StoreBytes(), pinned);
  EXPECT_EQ(Val(env, "main", "key7"), at_head);
}

TEST(Collector, RunNowNamesAnUnknownBranch) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  Collector gc(env.catalog(), env.vs(), env.manager(), CollectorOptions{});
  Result<GcReport> r = gc.RunNow("nope");
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "no branch named 'nope'");
}

TEST(Collector, TheBackgroundThreadRunsPassesUntilStopped) {
  BranchEnv env;
  ManualClock* clock = env.UseManualClock();
  ASSERT_OK(env.Open());
  ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
  CollectorOptions o;  // a pass a minute
  o.clock = clock;
  Collector gc(env.catalog(), env.vs(), env.manager(), o);
  gc.Start();
  // No time passes on the clock, so no pass may start, however long the
  // thread runs meanwhile; RunNow is the only pass.
  ASSERT_OK(gc.RunNow(""));
  EXPECT_EQ(gc.State().passes, 1u);
  // Each minute of the clock lets one pass start; the loop waits (bounded)
  // for the thread to run them.
  const auto interval = std::chrono::milliseconds(o.interval_ms);
  for (int i = 0; i < 10000 && gc.State().passes < 4; i++) {
    clock->Advance(interval);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  gc.Stop();
  const uint64_t passes = gc.State().passes;
  EXPECT_GE(passes, 4u);
  EXPECT_TRUE(gc.SpaceOf(env.Find("main")->id).has_value());
  // Stopped: however much time passes, no pass runs.
  clock->Advance(10 * interval);
  EXPECT_EQ(gc.State().passes, passes);
}

TEST(TreeBytes, SumsFileSizesOnceEachAcrossDirectories) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->CreateBranch("main", "", 0, 0));
  auto attr = [](uint64_t ino, uint32_t mode, uint64_t size) {
    InodeAttr a;
    a.ino = ino;
    a.mode = mode;
    a.size = size;
    a.nlink = 1;
    return EncodeInodeAttr(a);
  };
  const uint64_t f = MakeIno(b.id, 10), d = MakeIno(b.id, 11), g = MakeIno(b.id, 12);
  std::vector<KeyPut> puts = {
      {DirentKey(b.root_ino, "f"), false, EncodeDirent(f, S_IFREG)},
      {DirentKey(b.root_ino, "d"), false, EncodeDirent(d, S_IFDIR)},
      {DirentKey(d, "g"), false, EncodeDirent(g, S_IFREG)},
      {DirentKey(d, "hardlink-to-f"), false, EncodeDirent(f, S_IFREG)},
      {AttrKey(f), false, attr(f, S_IFREG | 0600, 12345)},
      {AttrKey(d), false, attr(d, S_IFDIR | 0700, 4096)},
      {AttrKey(g), false, attr(g, S_IFREG | 0600, 100)},
  };
  ASSERT_OK(env.vs()->Commit(b.id, std::move(puts)));
  ASSERT_OK_AND_ASSIGN(uint64_t bytes, TreeBytes(env.vs(), env.LineageOf("main"), b.root_ino));
  EXPECT_EQ(bytes, 12445u);
}

}  // namespace
}  // namespace strata
