#include "catalog/branch_manager.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "catalog/branch_test_util.h"
#include "catalog/catalog_codec.h"
#include "common/clock.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {
namespace {

using testing::BranchEnv;
using testing::Put;
using testing::Rfc3339Ns;
using testing::Val;

TEST(BranchManager, RootBranchHasATopDirectoryOwnedByUidGidMode0700) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK_AND_ASSIGN(BranchInfo main, env.manager()->CreateBranch("main", "", 1234, 5678));
  EXPECT_EQ(main.id, 1u);
  EXPECT_EQ(main.parent, 0u);
  EXPECT_EQ(main.fork_seq, 0u);
  EXPECT_EQ(main.root_ino, MakeIno(1, kRootCounter));
  EXPECT_EQ(env.vs()->HeadSeq(1), 1u);
  // Two catalog versions: the reserved block of branch ids, then the branch.
  EXPECT_EQ(env.catalog()->Current()->version, 2u);
  for (int round = 0; round < 2; round++) {  // before and after a restart
    ASSERT_NE(env.Find("main"), nullptr);
    ASSERT_OK_AND_ASSIGN(auto bytes, env.vs()->Get(env.LineageOf("main"), AttrKey(main.root_ino)));
    ASSERT_TRUE(bytes.has_value());
    InodeAttr a;
    ASSERT_TRUE(DecodeInodeAttr(*bytes, &a));
    EXPECT_EQ(a.mode, static_cast<uint32_t>(S_IFDIR | 0700));
    EXPECT_EQ(a.uid, 1234u);
    EXPECT_EQ(a.gid, 5678u);
    EXPECT_EQ(a.nlink, 2u);
    EXPECT_EQ(a.ino, main.root_ino);
    ASSERT_OK(env.ReopenFromCatalog());
  }
}

TEST(BranchManager, BranchIdsStopWhereInodeNumbersCannotHoldThem) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  constexpr uint32_t kMax = BranchManager::kMaxBranchId;
  static_assert(kMax == (1u << 24) - 1, "MakeIno keeps 24 bits for the branch id");
  // As if every id below were taken: the catalog's allocator two short of the limit.
  ASSERT_OK(env.catalog()->Update([](CatalogData& c) {
    c.next_branch_id = kMax - 1;
    return Status::OK();
  }));
  ASSERT_OK_AND_ASSIGN(BranchInfo a, env.manager()->CreateBranch("a", "", 0, 0));
  EXPECT_EQ(a.id, kMax - 1);
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->CreateBranch("b", "a", 0, 0));
  EXPECT_EQ(b.id, kMax);
  EXPECT_EQ(InoBranch(MakeIno(b.id, 7)), b.id);  // the last id still has inodes of its own
  Put(env, "b", "k", "v");
  EXPECT_EQ(Val(env, "b", "k"), "v");

  const uint64_t version = env.catalog()->Current()->version;
  Result<BranchInfo> c = env.manager()->CreateBranch("c", "", 0, 0);
  EXPECT_EQ(c.status().code(), Code::kNoSpace) << c.status().ToString();
  EXPECT_NE(c.status().message().find("branch ids are exhausted (2^24)"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(CodeOf(env.manager()->CreateBranch("c", "a", 0, 0)), Code::kNoSpace);
  EXPECT_EQ(CodeOf(env.manager()->ResetBranch("b")), Code::kNoSpace);  // a reset needs an id
  EXPECT_EQ(env.catalog()->Current()->version, version);
  EXPECT_EQ(env.Find("c"), nullptr);
  // Ids are never reused, not after a restart either.
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(CodeOf(env.manager()->CreateBranch("c", "", 0, 0)), Code::kNoSpace);
  EXPECT_EQ(Val(env, "b", "k"), "v");
}

class ForkTest : public ::testing::Test {
 protected:
  // main: seq1 root dir, seq2 k=v2 (snapshot s2), seq3 k=v3, seq4 k=v4.
  void SetUp() override {
    ASSERT_OK(env.Open());
    after_seq2 = testing::MakeForkHistory(env, clock);
  }
  // Expects CreateBranch(name, from) to fail with `code` and change nothing.
  void ExpectRefused(const std::string& name, const std::string& from, Code code) {
    const uint64_t version = env.catalog()->Current()->version;
    const uint32_t next_id = env.catalog()->Current()->next_branch_id;
    const std::vector<std::string> objects = env.List("branches/");
    Result<BranchInfo> r = env.manager()->CreateBranch(name, from, 0, 0);
    EXPECT_EQ(r.status().code(), code)
        << name << " from '" << from << "': " << r.status().ToString();
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
    EXPECT_EQ(env.catalog()->Current()->version, version) << name << " from " << from;
    EXPECT_EQ(env.catalog()->Current()->next_branch_id, next_id);
    EXPECT_EQ(env.List("branches/"), objects) << name << " from " << from;
    EXPECT_FALSE(env.vs()->HasBranch(next_id));
  }
  BranchEnv env;
  ManualClock* const clock = env.UseManualClock();
  int64_t after_seq2 = 0;
};

TEST_F(ForkTest, ChildForkPointsResolveToTheRightSeq) {
  struct Case {
    const char* name;
    std::string from;
    uint64_t fork_seq;
    const char* k;
  };
  std::vector<Case> cases = {{"head", "main", 4, "v4"},
                             {"snap", "main@s2", 2, "v2"},
                             {"seq3", "main@seq:3", 3, "v3"},
                             {"seq1", "main@seq:1", 1, "<absent>"},
                             {"time", "main@time:" + Rfc3339Ns(after_seq2), 2, "v2"}};
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->CreateBranch(c.name, c.from, 0, 0));
    EXPECT_EQ(b.fork_seq, c.fork_seq) << c.from;
    EXPECT_EQ(b.parent, 1u);
    EXPECT_EQ(b.root_ino, env.Find("main")->root_ino);
    EXPECT_EQ(Val(env, c.name, "k"), c.k) << c.from;
  }
  // A grandchild sees the child's writes and main only up to the child's fork.
  Put(env, "snap", "mine", "x");
  Put(env, "main", "later", "y");
  ASSERT_OK(env.manager()->CreateBranch("grand", "snap", 0, 0));
  EXPECT_EQ(Val(env, "grand", "mine"), "x");
  EXPECT_EQ(Val(env, "grand", "k"), "v2");
  EXPECT_EQ(Val(env, "grand", "later"), "<absent>");
  EXPECT_EQ(Val(env, "main", "mine"), "<absent>");
  // Seq 0 of a non-root branch is its fork point: allowed.
  ASSERT_OK_AND_ASSIGN(BranchInfo zero, env.manager()->CreateBranch("zero", "snap@seq:0", 0, 0));
  EXPECT_EQ(zero.fork_seq, 0u);
  EXPECT_EQ(Val(env, "zero", "k"), "v2");
  EXPECT_EQ(Val(env, "zero", "mine"), "<absent>");
  // Everything survives a restart.
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(Val(env, "snap", "k"), "v2");
  EXPECT_EQ(Val(env, "time", "k"), "v2");
  EXPECT_EQ(Val(env, "grand", "mine"), "x");
  EXPECT_EQ(Val(env, "head", "k"), "v4");
}

TEST_F(ForkTest, BadRequestsFailWithTheRightCodeAndLeaveNoHalfMadeState) {
  ASSERT_OK(env.manager()->CreateBranch("other", "main", 0, 0));
  ASSERT_OK(env.manager()->CreateSnapshot("other", "other-snap"));
  ExpectRefused("c", "nope", Code::kNotFound);
  ExpectRefused("c", "nope@seq:1", Code::kNotFound);
  ExpectRefused("c", "main@nosnap", Code::kNotFound);
  ExpectRefused("c", "main@other-snap", Code::kInvalid);  // a snapshot of another branch
  ExpectRefused("c", "main@seq:5", Code::kInvalid);       // beyond the head (4)
  ExpectRefused("c", "main@seq:0", Code::kInvalid);       // before a root's first op
  ExpectRefused("c", "main@time:" + Rfc3339Ns(clock->NowNs() + 3600ll * 1000000000),
                Code::kInvalid);
  ExpectRefused("c", "main@time:2000-01-01T00:00:00Z", Code::kInvalid);
  ExpectRefused("c", "main@time:never", Code::kInvalid);
  ExpectRefused("c", "main@", Code::kInvalid);
  ExpectRefused("main", "", Code::kExists);
  ExpectRefused("other", "main", Code::kExists);
  ExpectRefused("bad name", "main", Code::kInvalid);
  ExpectRefused("", "main", Code::kInvalid);
  ExpectRefused("-x", "", Code::kInvalid);
  ExpectRefused(std::string(64, 'a'), "main", Code::kInvalid);

  const uint64_t version = env.catalog()->Current()->version;
  EXPECT_EQ(CodeOf(env.manager()->CreateSnapshot("main", "s2")), Code::kExists);
  EXPECT_EQ(CodeOf(env.manager()->CreateSnapshot("nope", "s9")), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->CreateSnapshot("main", "bad snap")), Code::kInvalid);
  EXPECT_EQ(CodeOf(env.manager()->DeleteSnapshot("nope")), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->DeleteBranch("nope")), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->ResetBranch("nope")), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->ResetBranch("main")), Code::kInvalid);  // a root
  EXPECT_EQ(env.catalog()->Current()->version, version);
}

TEST_F(ForkTest, DeleteRefusesWhileChildrenOrSnapshotsExist) {
  ASSERT_OK_AND_ASSIGN(BranchInfo child, env.manager()->CreateBranch("child", "main", 0, 0));
  Put(env, "child", "c", "1");
  ASSERT_OK(env.vs()->Flush(child.id));
  ASSERT_OK(env.manager()->CreateSnapshot("child", "cs"));
  const uint64_t version = env.catalog()->Current()->version;
  EXPECT_EQ(CodeOf(env.manager()->DeleteBranch("main")), Code::kBusy);   // child and s2
  EXPECT_EQ(CodeOf(env.manager()->DeleteBranch("child")), Code::kBusy);  // snapshot cs
  EXPECT_EQ(CodeOf(env.manager()->ResetBranch("child")), Code::kBusy);
  EXPECT_EQ(env.catalog()->Current()->version, version);
  ASSERT_OK(env.manager()->DeleteSnapshot("cs"));
  const std::string prefix = "branches/" + std::to_string(child.id) + "/";
  EXPECT_FALSE(env.List(prefix).empty());
  ASSERT_OK(env.manager()->DeleteBranch("child"));
  EXPECT_EQ(env.Find("child"), nullptr);
  EXPECT_TRUE(env.List(prefix).empty());
  EXPECT_FALSE(env.vs()->HasBranch(child.id));
  EXPECT_EQ(CodeOf(env.manager()->DeleteBranch("main")), Code::kBusy);  // snapshot s2
  ASSERT_OK(env.manager()->DeleteSnapshot("s2"));
  ASSERT_OK(env.manager()->DeleteBranch("main"));
  EXPECT_TRUE(env.List("branches/").empty());
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_TRUE(env.catalog()->Current()->branches.empty());
  EXPECT_TRUE(env.catalog()->Current()->snapshots.empty());
}

TEST_F(ForkTest, ResetMovesToTheParentHeadAndDropsTheChildsWrites) {
  ASSERT_OK_AND_ASSIGN(BranchInfo old, env.manager()->CreateBranch("dev", "main@s2", 0, 0));
  Put(env, "dev", "k", "mine");
  Put(env, "dev", "only-dev", "x");
  ASSERT_OK(env.vs()->Flush(old.id));
  Put(env, "main", "k", "v5");
  ASSERT_OK_AND_ASSIGN(BranchInfo now, env.manager()->ResetBranch("dev"));
  EXPECT_NE(now.id, old.id);
  EXPECT_EQ(now.name, "dev");
  EXPECT_EQ(now.parent, 1u);
  EXPECT_EQ(now.fork_seq, 5u);
  EXPECT_EQ(env.Find("dev")->id, now.id);
  EXPECT_EQ(Val(env, "dev", "k"), "v5");
  EXPECT_EQ(Val(env, "dev", "only-dev"), "<absent>");
  EXPECT_TRUE(env.List("branches/" + std::to_string(old.id) + "/").empty());
  EXPECT_FALSE(env.vs()->HasBranch(old.id));
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(Val(env, "dev", "k"), "v5");
  EXPECT_EQ(Val(env, "dev", "only-dev"), "<absent>");
}

TEST_F(ForkTest, SnapshotIsAPointerToTheHeadSeq) {
  ASSERT_OK_AND_ASSIGN(SnapshotInfo s, env.manager()->CreateSnapshot("main", "s4"));
  EXPECT_EQ(s.seq, 4u);
  EXPECT_EQ(s.branch, 1u);
  Put(env, "main", "k", "v5");
  ASSERT_OK(env.manager()->CreateBranch("from-s4", "main@s4", 0, 0));
  EXPECT_EQ(Val(env, "from-s4", "k"), "v4");
  ASSERT_OK(env.ReopenFromCatalog());
  const SnapshotInfo* again = env.catalog()->Current()->FindSnapshot("s4");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->seq, 4u);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

using testing::BranchEnv;

TEST(BranchDurability, DefaultExplicitAndChangedTiersAreKeptInTheCatalog) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  env.manager()->SetDurabilityPolicy(Durability::kRemote, true);
  ASSERT_OK_AND_ASSIGN(BranchInfo main, env.manager()->CreateBranch("main", "", 0, 0));
  EXPECT_EQ(main.durability, Durability::kRemote);  // the mount's default, recorded
  ASSERT_OK_AND_ASSIGN(BranchInfo eph,
                       env.manager()->CreateBranch("eph", "main", 0, 0, Durability::kEphemeral));
  EXPECT_EQ(eph.durability, Durability::kEphemeral);
  EXPECT_EQ(env.vs()->Stats(eph.id).durability, Durability::kEphemeral);
  ASSERT_OK_AND_ASSIGN(BranchInfo changed,
                       env.manager()->SetDurability("main", Durability::kLocal));
  EXPECT_EQ(changed.durability, Durability::kLocal);
  EXPECT_EQ(env.vs()->Stats(main.id).durability, Durability::kLocal);
  EXPECT_EQ(CodeOf(env.manager()->SetDurability("nope", Durability::kLocal)), Code::kNotFound);

  // After a restart the catalog gives every branch its tier back.
  ASSERT_OK(env.ReopenFromCatalog());
  env.manager()->SetDurabilityPolicy(Durability::kRemote, true);
  ASSERT_OK(env.manager()->ApplyDurabilities());
  EXPECT_EQ(env.Find("main")->durability, Durability::kLocal);
  EXPECT_EQ(env.vs()->Stats(main.id).durability, Durability::kLocal);
  EXPECT_EQ(env.vs()->Stats(eph.id).durability, Durability::kEphemeral);

  // A reset keeps the tier.
  ASSERT_OK_AND_ASSIGN(BranchInfo reset, env.manager()->ResetBranch("eph"));
  EXPECT_EQ(reset.durability, Durability::kEphemeral);
  EXPECT_EQ(env.vs()->Stats(reset.id).durability, Durability::kEphemeral);
}

TEST(BranchDurability, RemoteNeedsAWalsinkAndIsRefusedWithoutOne) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  env.manager()->SetDurabilityPolicy(Durability::kLocal, false);
  const uint64_t version = env.catalog()->Current()->version;
  Result<BranchInfo> r = env.manager()->CreateBranch("r", "", 0, 0, Durability::kRemote);
  EXPECT_EQ(CodeOf(r), Code::kInvalid);
  EXPECT_NE(r.status().message().find("--sink"), std::string::npos) << r.status().message();
  EXPECT_EQ(env.catalog()->Current()->version, version);  // nothing made
  ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
  EXPECT_EQ(env.Find("main")->durability, Durability::kLocal);
  EXPECT_EQ(CodeOf(env.manager()->SetDurability("main", Durability::kRemote)), Code::kInvalid);
  EXPECT_EQ(env.Find("main")->durability, Durability::kLocal);

  // A store whose branch wants remote cannot be mounted without a walsink.
  env.manager()->SetDurabilityPolicy(Durability::kRemote, true);
  ASSERT_OK(env.manager()->SetDurability("main", Durability::kRemote));
  ASSERT_OK(env.ReopenFromCatalog());
  env.manager()->SetDurabilityPolicy(Durability::kLocal, false);
  Status st = env.manager()->ApplyDurabilities();
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(st.message().find("branch 'main'"), std::string::npos) << st.message();
}

TEST(BranchDurability, CatalogWithoutTiersMeansTheDefaultAndBadTiersAreCorruption) {
  CatalogData c;
  c.branches.push_back({1, "old", 0, 0, 1, 0, std::nullopt, "", 0, 0, std::nullopt, ""});
  c.branches.push_back({2, "new", 1, 5, 1, 0, Durability::kEphemeral, "", 0, 0, 7200, "gone"});
  const std::string bytes = EncodeCatalog(c);
  EXPECT_EQ(bytes.find("\"durability\":\"remote\""), std::string::npos);
  ASSERT_OK_AND_ASSIGN(CatalogData back, DecodeCatalog(bytes, "c"));
  EXPECT_EQ(back.branches[0].durability, std::nullopt);
  EXPECT_EQ(back.branches[1].durability, Durability::kEphemeral);
  EXPECT_EQ(back.branches[0].history_s, std::nullopt);
  EXPECT_EQ(back.branches[1].history_s, std::optional<int64_t>(7200));
  EXPECT_EQ(back.branches[0].detached_from, "");
  EXPECT_EQ(back.branches[1].detached_from, "gone");
  std::string bad = bytes;
  bad.replace(bad.find("ephemeral"), 9, "forever!!");
  Result<CatalogData> r = DecodeCatalog(bad, "c");
  EXPECT_EQ(CodeOf(r), Code::kCorruption);
  EXPECT_NE(r.status().message().find("forever!!"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace strata
