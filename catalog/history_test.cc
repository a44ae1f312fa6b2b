// History windows: fork refusal, retention planning, per-branch windows and
// detach (catalog/history.h, BranchManager).
#include "catalog/history.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/branch_test_util.h"
#include "layers/inode.h"

namespace strata {
namespace {

using testing::BranchEnv;
using testing::Put;
using testing::Rfc3339Ns;
using testing::Val;

class HistoryTest : public ::testing::Test {
 protected:
  // main (window `history_s`): seq1 root, seq2 k=v2 (snapshot s2), seq3, seq4.
  void Make(std::optional<int64_t> history_s) {
    ASSERT_OK(env.Open());
    BranchOptions o;
    o.history_s = history_s;
    after_seq2 = testing::MakeForkHistory(env, clock, o);
  }
  // The fork is refused with one sentence naming the oldest point, and
  // nothing is made.
  void ExpectTooOld(const std::string& from, const std::string& what, uint64_t oldest_seq) {
    const uint64_t version = env.catalog()->Current()->version;
    Result<BranchInfo> r = env.manager()->CreateBranch("x", from, 0, 0);
    ASSERT_EQ(r.status().code(), Code::kInvalid) << from << ": " << r.status().ToString();
    const std::string& m = r.status().message();
    EXPECT_EQ(m.rfind("branch 'main': " + what, 0), 0u) << m;
    EXPECT_NE(m.find(" is older than its history window ("), std::string::npos) << m;
    EXPECT_NE(
        m.find("the oldest point still available is seq " + std::to_string(oldest_seq) + " ("),
        std::string::npos)
        << m;
    EXPECT_EQ(env.catalog()->Current()->version, version);
    EXPECT_EQ(env.Find("x"), nullptr);
  }
  BranchEnv env;
  ManualClock* const clock = env.UseManualClock();
  int64_t after_seq2 = 0;
};

TEST_F(HistoryTest, WithNoWindowOnlyTheHeadAndSnapshotsCanBeForked) {
  Make(0);
  ExpectTooOld("main@seq:2", "seq 2", 4);
  ExpectTooOld("main@time:" + Rfc3339Ns(after_seq2), "time ", 4);
  ASSERT_OK_AND_ASSIGN(BranchInfo snap, env.manager()->CreateBranch("snap", "main@s2", 0, 0));
  EXPECT_EQ(Val(env, "snap", "k"), "v2");
  ASSERT_OK_AND_ASSIGN(BranchInfo head, env.manager()->CreateBranch("head", "main", 0, 0));
  EXPECT_EQ(head.fork_seq, 4u);
  ASSERT_OK(env.manager()->CreateBranch("seq4", "main@seq:4", 0, 0));
}

TEST_F(HistoryTest, InsideTheWindowEveryPointCanBeForked) {
  Make(std::nullopt);  // the default: an hour
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->CreateBranch("seq1", "main@seq:1", 0, 0));
  EXPECT_EQ(Val(env, "seq1", "k"), "<absent>");
  ASSERT_OK(env.manager()->CreateBranch("t", "main@time:" + Rfc3339Ns(after_seq2), 0, 0));
  EXPECT_EQ(Val(env, "t", "k"), "v2");
  ASSERT_OK_AND_ASSIGN(std::optional<TimePoint> oldest,
                       env.manager()->OldestPointOf(*env.Find("main")));
  ASSERT_TRUE(oldest.has_value());
  EXPECT_EQ(oldest->seq, 1u);
}

TEST_F(HistoryTest, PlanRetentionPinsSnapshotsAndChildrenAndRaisesTheFloor) {
  Make(0);
  ASSERT_OK(env.manager()->CreateBranch("child", "main@seq:4", 0, 0));
  Put(env, "main", "k", "v5");
  const uint32_t id = env.Find("main")->id;
  ASSERT_OK_AND_ASSIGN(GcPoints p, env.manager()->PlanRetention(id));
  EXPECT_EQ(p.retain.window_start, 5u);
  EXPECT_EQ(p.retain.pins, (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(p.child_pins, (std::vector<uint64_t>{4}));
  EXPECT_EQ(env.vs()->HistoryFloor(id).first, 5u);
  // Widening the window later cannot bring back what the floor let go.
  BranchPatch widen;
  widen.history_s = std::optional<int64_t>(3600);
  ASSERT_OK(env.manager()->UpdateBranch("main", widen));
  ExpectTooOld("main@seq:3", "seq 3", 5);
}

TEST_F(HistoryTest, TheWindowIsSetPerBranchKeptInTheCatalogAndCleared) {
  Make(std::nullopt);
  EXPECT_FALSE(env.Find("main")->history_s.has_value());
  EXPECT_EQ(env.manager()->HistoryOf(*env.Find("main")), 3600);
  BranchPatch set;
  set.history_s = std::optional<int64_t>(120);
  ASSERT_OK(env.manager()->UpdateBranch("main", set));
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(env.Find("main")->history_s, std::optional<int64_t>(120));
  BranchPatch clear;
  clear.history_s = std::optional<int64_t>();
  ASSERT_OK(env.manager()->UpdateBranch("main", clear));
  EXPECT_FALSE(env.Find("main")->history_s.has_value());
  for (int64_t bad : {int64_t{-1}, kMaxHistorySeconds + 1}) {
    BranchPatch p;
    p.history_s = std::optional<int64_t>(bad);
    EXPECT_EQ(env.manager()->UpdateBranch("main", p).status().code(), Code::kInvalid) << bad;
    BranchOptions o;
    o.history_s = bad;
    EXPECT_EQ(env.manager()->CreateBranch("bad", "", o).status().code(), Code::kInvalid) << bad;
  }
}

TEST_F(HistoryTest, DetachMakesARootThatKeepsItsDataWhenTheParentIsDeleted) {
  Make(std::nullopt);
  ASSERT_OK(env.manager()->DeleteSnapshot("s2"));
  ASSERT_OK(env.manager()->CreateBranch("child", "main@seq:3", 0, 0));
  Put(env, "main", "only-main", "m");
  Put(env, "child", "mine", "c");
  ASSERT_OK(env.manager()->CreateBranch("grand", "child", 0, 0));
  std::vector<std::pair<uint32_t, Lineage>> announced;
  env.manager()->SetLineageListener(
      [&](uint32_t id, const Lineage& l) { announced.emplace_back(id, l); });

  ASSERT_OK_AND_ASSIGN(BranchInfo d, env.manager()->DetachBranch("child"));
  EXPECT_EQ(d.parent, 0u);
  EXPECT_EQ(d.fork_seq, 0u);
  EXPECT_EQ(d.detached_from, "main");
  const uint32_t main_id = env.Find("main")->id;
  ASSERT_EQ(announced.size(), 2u);  // the branch and its child
  std::set<uint32_t> ids;
  for (const auto& [id, lineage] : announced) {
    ids.insert(id);
    for (const Level& l : lineage) EXPECT_NE(l.branch, main_id) << "branch " << id;
  }
  EXPECT_EQ(ids, (std::set<uint32_t>{env.Find("child")->id, env.Find("grand")->id}));

  ASSERT_OK(env.manager()->DeleteBranch("main"));
  ASSERT_OK(env.ReopenFromCatalog());
  for (const char* b : {"child", "grand"}) {
    EXPECT_EQ(Val(env, b, "k"), "v3") << b;
    EXPECT_EQ(Val(env, b, "mine"), "c") << b;
    EXPECT_EQ(Val(env, b, "only-main"), "<absent>") << b;
  }
  EXPECT_EQ(env.Find("child")->detached_from, "main");
}

TEST_F(HistoryTest, DetachRefusesRootsAndUnknownBranches) {
  Make(std::nullopt);
  Result<BranchInfo> root = env.manager()->DetachBranch("main");
  EXPECT_EQ(root.status().code(), Code::kInvalid);
  EXPECT_EQ(root.status().message(), "branch 'main' has no parent: nothing to detach");
  EXPECT_EQ(env.manager()->DetachBranch("nope").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace strata
