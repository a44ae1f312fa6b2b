// Restore, promote and retired branches (catalog/branch_swap.cc).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/branch_test_util.h"
#include "catalog/catalog_codec.h"
#include "catalog/collector.h"
#include "common/clock.h"

namespace strata {
namespace {

using testing::BranchEnv;
using testing::Churn;
using testing::CountingStore;
using testing::MakeForkHistory;
using testing::Put;
using testing::Rfc3339Ns;
using testing::Val;

// A credential of `branch` named `id`, straight into the catalog.
void AddCredential(BranchEnv& env, const std::string& id, const std::string& branch) {
  const uint32_t b = env.Find(branch)->id;
  ASSERT_OK(env.catalog()->Update([&](CatalogData& c) {
    c.credentials.push_back({id, b, "postgres", "v", 0, 0});
    return Status::OK();
  }));
}

uint32_t CredentialBranch(BranchEnv& env, const std::string& id) {
  const CredentialInfo* c = env.catalog()->Current()->FindCredential(id);
  return c ? c->branch : 0;
}

std::vector<std::string> LiveNames(BranchEnv& env) {
  std::vector<std::string> out;
  for (const BranchInfo* b : env.catalog()->Current()->LiveBranches()) out.push_back(b->name);
  return out;
}

class SwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(env.Open());
    env.manager()->SetBranchGoneListener([this](const std::string& n) { gone.push_back(n); });
    BranchOptions opts;
    opts.owner = "team";
    opts.expires_ns = int64_t{1} << 62;
    opts.idle_timeout_s = 42;
    opts.history_s = 7200;
    after_seq2 = MakeForkHistory(env, clock, opts);  // main: k=v2 (s2) at 2, v3, v4
    AddCredential(env, "u1", "main");
  }
  // The catalog version and branch objects must not change on a refusal.
  void ExpectUnchanged(uint64_t version, const std::vector<std::string>& objects) {
    EXPECT_EQ(env.catalog()->Current()->version, version);
    EXPECT_EQ(env.List("branches/"), objects);
  }

  BranchEnv env;
  ManualClock* const clock = env.UseManualClock();
  int64_t after_seq2 = 0;
  std::vector<std::string> gone;
};

TEST_F(SwapTest, RestoreWithPreserveAsKeepsTheNameCredentialsAndSettings) {
  const uint32_t old_id = env.Find("main")->id;
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->RestoreBranch("main", "@seq:2", "before"));
  EXPECT_NE(b.id, old_id);
  EXPECT_EQ(b.name, "main");
  EXPECT_EQ(b.parent, old_id);
  EXPECT_EQ(b.fork_seq, 2u);
  EXPECT_EQ(env.Find("main")->id, b.id);
  EXPECT_EQ(Val(env, "main", "k"), "v2");
  EXPECT_EQ(Val(env, "before", "k"), "v4");
  // What users hold follows the name; the old state keeps its settings too.
  EXPECT_EQ(CredentialBranch(env, "u1"), b.id);
  for (const BranchInfo* x : {env.Find("main"), env.Find("before")}) {
    EXPECT_EQ(x->owner, "team");
    EXPECT_EQ(x->expires_ns, int64_t{1} << 62);
    EXPECT_EQ(x->idle_timeout_s, 42);
    EXPECT_EQ(x->history_s, std::optional<int64_t>(7200));
    EXPECT_EQ(x->durability, Durability::kLocal);
  }
  // The snapshot is history of the old state: it stays there.
  EXPECT_EQ(env.catalog()->Current()->FindSnapshot("s2")->branch, old_id);
  EXPECT_EQ(gone, std::vector<std::string>{"main"});
  // Writes go to the new state only, and survive a remount.
  Put(env, "main", "k", "after");
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(Val(env, "main", "k"), "after");
  EXPECT_EQ(Val(env, "before", "k"), "v4");
}

TEST_F(SwapTest, RestoreToATimeAndToASnapshot) {
  ASSERT_OK_AND_ASSIGN(BranchInfo t,
                       env.manager()->RestoreBranch("main", "@time:" + Rfc3339Ns(after_seq2), ""));
  EXPECT_EQ(t.fork_seq, 2u);
  EXPECT_EQ(Val(env, "main", "k"), "v2");
  Put(env, "main", "k", "x");
  // s2 belongs to the retired state main named before: "@s2" still finds it.
  ASSERT_OK_AND_ASSIGN(BranchInfo s, env.manager()->RestoreBranch("main", "@s2", ""));
  EXPECT_EQ(s.parent, 1u);
  EXPECT_EQ(Val(env, "main", "k"), "v2");
  // And so does a fork of main@s2.
  ASSERT_OK(env.manager()->CreateBranch("f", "main@s2", BranchOptions{}));
  EXPECT_EQ(Val(env, "f", "k"), "v2");
  EXPECT_EQ(LiveNames(env), (std::vector<std::string>{"main", "f"}));
}

TEST_F(SwapTest, RestoreWithoutPreserveRetiresTheOldStateUntilNothingReadsIt) {
  const uint32_t old_id = env.Find("main")->id;
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->RestoreBranch("main", "@seq:3", ""));
  auto cat = env.catalog()->Current();
  const BranchInfo* old = cat->FindBranchById(old_id);
  ASSERT_NE(old, nullptr);
  EXPECT_TRUE(old->retired);
  EXPECT_EQ(cat->FindBranch("main")->id, b.id);  // never the retired one
  EXPECT_EQ(LiveNames(env), std::vector<std::string>{"main"});
  EXPECT_EQ(Val(env, "main", "k"), "v3");
  // Collection keeps only what the new state and the snapshot read.
  ASSERT_OK_AND_ASSIGN(GcPoints p, env.manager()->PlanRetention(old_id));
  EXPECT_EQ(p.retain.window_start, UINT64_MAX);
  EXPECT_EQ(p.retain.pins, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(p.child_pins, std::vector<uint64_t>{3});
  // It survives a remount (an optional catalog field) and still serves reads.
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_TRUE(env.catalog()->Current()->FindBranchById(old_id)->retired);
  EXPECT_EQ(Val(env, "main", "k"), "v3");
  // The snapshot alone keeps it once main is gone; then nothing does.
  ASSERT_OK(env.manager()->DeleteBranch("main"));
  ASSERT_NE(env.catalog()->Current()->FindBranchById(old_id), nullptr);
  EXPECT_TRUE(env.vs()->HasBranch(old_id));
  ASSERT_OK(env.manager()->DeleteSnapshot("s2"));
  EXPECT_EQ(env.catalog()->Current()->FindBranchById(old_id), nullptr);
  EXPECT_FALSE(env.vs()->HasBranch(old_id));
  EXPECT_TRUE(env.catalog()->Current()->branches.empty());
}

TEST_F(SwapTest, RetiredBranchesCannotBeNamedAndTheirNameIsFree) {
  ASSERT_OK(env.manager()->DeleteSnapshot("s2"));
  ASSERT_OK(env.manager()->CreateBranch("kid", "main@seq:3", BranchOptions{}));
  ASSERT_OK(env.manager()->RestoreBranch("main", "@seq:4", ""));
  ASSERT_OK(env.manager()->DeleteBranch("main"));  // the retired state stays for kid
  EXPECT_EQ(env.Find("main"), nullptr);
  EXPECT_EQ(CodeOf(env.manager()->CreateSnapshot("main", "s")), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->CreateBranch("x", "main", BranchOptions{})), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->DeleteBranch("main")), Code::kNotFound);
  ASSERT_OK(env.manager()->CreateBranch("main", "", BranchOptions{}));  // a new root
  EXPECT_EQ(Val(env, "main", "k"), "<absent>");
  EXPECT_EQ(Val(env, "kid", "k"), "v3");
  // kid's parent is retired: no reset, no promote into it; detach frees it.
  EXPECT_EQ(CodeOf(env.manager()->ResetBranch("kid")), Code::kInvalid);
  EXPECT_EQ(CodeOf(env.manager()->PromoteBranch("kid", "", nullptr)), Code::kInvalid);
  ASSERT_OK(env.manager()->DetachBranch("kid"));
  EXPECT_EQ(Val(env, "kid", "k"), "v3");
  EXPECT_FALSE(env.vs()->HasBranch(1));
  for (const BranchInfo& b : env.catalog()->Current()->branches) EXPECT_FALSE(b.retired) << b.id;
}

TEST_F(SwapTest, RestoreRefusalsChangeNothing) {
  ASSERT_OK(env.manager()->CreateBranch("taken", "", BranchOptions{}));
  const uint64_t v2 = env.catalog()->Current()->version;
  const std::vector<std::string> o2 = env.List("branches/");
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "@seq:2", "taken")), Code::kExists);
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "@seq:2", "main")), Code::kExists);
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "@seq:2", "bad/name")), Code::kInvalid);
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "seq:2", "")), Code::kInvalid);
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "@seq:99", "")), Code::kInvalid);
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "@nosnap", "")), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("nope", "@seq:2", "")), Code::kNotFound);
  ExpectUnchanged(v2, o2);
  // Outside the history window: the fork's own message, nothing made.
  ASSERT_OK(env.manager()->UpdateBranch("main", BranchPatch{{}, {}, {}, int64_t{60}}));
  clock->Advance(std::chrono::hours(2));
  Put(env, "main", "k", "v5");
  const uint64_t v3 = env.catalog()->Current()->version;
  Result<BranchInfo> r = env.manager()->RestoreBranch("main", "@seq:3", "");
  EXPECT_EQ(CodeOf(r), Code::kInvalid);
  EXPECT_NE(r.status().message().find("is older than its history window"), std::string::npos)
      << r.status().message();
  ExpectUnchanged(v3, o2);
  EXPECT_EQ(Val(env, "main", "k"), "v5");
}

TEST(RetiredDurability, ARetiredRemoteBranchDoesNotStopAMountWithoutAWalsink) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  env.manager()->SetDurabilityPolicy(Durability::kRemote, true);
  ASSERT_OK(env.manager()->CreateBranch("main", "", BranchOptions{}));
  Put(env, "main", "k", "v2");
  ASSERT_OK(env.manager()->RestoreBranch("main", "@seq:1", ""));
  ASSERT_OK(env.manager()->SetDurability("main", Durability::kLocal));
  ASSERT_OK(env.ReopenFromCatalog());
  env.manager()->SetDurabilityPolicy(Durability::kLocal, false);
  EXPECT_OK(env.manager()->ApplyDurabilities());
  // A live one still does.
  ASSERT_OK(env.catalog()->Update([](CatalogData& c) {
    for (auto& b : c.branches) b.durability = Durability::kRemote;
    return Status::OK();
  }));
  EXPECT_EQ(env.manager()->ApplyDurabilities().code(), Code::kInvalid);
}

TEST(SwapFailure, AFailedCatalogWriteLeavesBothStatesAsTheyWere) {
  BranchEnv env;
  CountingStore* store = env.Wrap<CountingStore>();
  ASSERT_OK(env.Open());
  ASSERT_OK(env.manager()->CreateBranch("main", "", BranchOptions{}));
  Put(env, "main", "k", "v2");
  Put(env, "main", "k", "v3");
  ASSERT_OK(env.manager()->CreateBranch("child", "main", BranchOptions{}));
  Put(env, "child", "k", "c");
  const uint64_t version = env.catalog()->Current()->version;
  const std::vector<std::string> objects = env.List("branches/");
  store->fail_catalog = true;
  EXPECT_EQ(CodeOf(env.manager()->RestoreBranch("main", "@seq:2", "old")), Code::kIO);
  EXPECT_EQ(CodeOf(env.manager()->PromoteBranch("child", "", nullptr)), Code::kIO);
  store->fail_catalog = false;
  EXPECT_EQ(env.catalog()->Current()->version, version);
  EXPECT_EQ(env.List("branches/"), objects);
  EXPECT_EQ(Val(env, "main", "k"), "v3");
  EXPECT_EQ(Val(env, "child", "k"), "c");
  EXPECT_EQ(env.catalog()->Current()->branches.size(), 2u);
  for (uint32_t id = 3; id < 8; id++) EXPECT_FALSE(env.vs()->HasBranch(id)) << id;
}

TEST_F(SwapTest, PromoteMovesTheParentsNameToTheChild) {
  ASSERT_OK(env.manager()->DeleteSnapshot("s2"));
  ASSERT_OK_AND_ASSIGN(BranchInfo child, env.manager()->CreateBranch("child", "main", {}));
  Put(env, "child", "k", "migrated");
  AddCredential(env, "u2", "child");
  gone.clear();
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->PromoteBranch("child", "", nullptr));
  EXPECT_EQ(b.id, child.id);
  EXPECT_EQ(b.name, "main");
  EXPECT_EQ(env.Find("main")->id, child.id);
  EXPECT_EQ(env.Find("child"), nullptr);
  EXPECT_EQ(Val(env, "main", "k"), "migrated");
  // main's settings and credentials follow its name; child's credentials go.
  const BranchInfo* m = env.Find("main");
  EXPECT_EQ(m->owner, "team");
  EXPECT_EQ(m->idle_timeout_s, 42);
  EXPECT_EQ(m->history_s, std::optional<int64_t>(7200));
  EXPECT_EQ(CredentialBranch(env, "u1"), child.id);
  EXPECT_EQ(env.catalog()->Current()->FindCredential("u2"), nullptr);
  EXPECT_EQ(gone, (std::vector<std::string>{"main", "child"}));
  // The old main is retired, kept for the new main, whose name is free.
  EXPECT_TRUE(env.catalog()->Current()->FindBranchById(1)->retired);
  EXPECT_EQ(LiveNames(env), std::vector<std::string>{"main"});
  ASSERT_OK(env.manager()->CreateBranch("child", "main", {}));
  EXPECT_EQ(Val(env, "child", "k"), "migrated");
  ASSERT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(Val(env, "main", "k"), "migrated");
}

TEST_F(SwapTest, PromoteWithPreserveAsAndAChildWithChildren) {
  ASSERT_OK(env.manager()->CreateBranch("child", "main", {}));
  Put(env, "child", "k", "c");
  ASSERT_OK(env.manager()->CreateBranch("grandchild", "child", {}));
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->PromoteBranch("child", "old-main", nullptr));
  EXPECT_EQ(Val(env, "main", "k"), "c");
  EXPECT_EQ(Val(env, "old-main", "k"), "v4");
  EXPECT_EQ(Val(env, "grandchild", "k"), "c");
  EXPECT_EQ(env.Find("grandchild")->parent, b.id);
  EXPECT_EQ(env.Find("old-main")->owner, "team");
  EXPECT_EQ(env.catalog()->Current()->FindSnapshot("s2")->branch, env.Find("old-main")->id);
  // The new main's parent is the preserved state: promote goes on from there.
  EXPECT_EQ(env.Find("main")->parent, env.Find("old-main")->id);
}

TEST_F(SwapTest, PromoteRefusesAParentThatMovedNamingWhatChanged) {
  ASSERT_OK(env.manager()->CreateBranch("child", "main", {}));
  Put(env, "child", "k", "c");
  Put(env, "main", "k", "v5");
  Put(env, "main", "k", "v6");
  const uint64_t version = env.catalog()->Current()->version;
  const std::vector<std::string> objects = env.List("branches/");
  Result<BranchInfo> r = env.manager()->PromoteBranch("child", "", nullptr);
  EXPECT_EQ(CodeOf(r), Code::kBusy);
  EXPECT_EQ(r.status().message(),
            "branch 'main' changed since 'child' was forked from it (seqs 5..6): a promote "
            "would drop those changes; nothing was changed");
  // The relations another check names appear as they are.
  uint64_t asked = 0;
  r = env.manager()->PromoteBranch("child", "", [&](const BranchInfo& p, uint64_t since) {
    EXPECT_EQ(p.name, "main");
    asked = since;
    return Result<std::vector<std::string>>(std::vector<std::string>{"public.t", "public.u"});
  });
  EXPECT_EQ(asked, 4u);
  EXPECT_EQ(r.status().message().find(
                "branch 'main' changed since 'child' was forked from it (public.t, public.u): "),
            0u)
      << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  // A failing check refuses with its own error.
  r = env.manager()->PromoteBranch("child", "", [](const BranchInfo&, uint64_t) {
    return Result<std::vector<std::string>>(Status::IO("keyspace unreadable"));
  });
  EXPECT_EQ(CodeOf(r), Code::kIO);
  ExpectUnchanged(version, objects);
  EXPECT_EQ(Val(env, "main", "k"), "v6");
  EXPECT_EQ(Val(env, "child", "k"), "c");
}

TEST_F(SwapTest, PromoteRefusesRootsTakenNamesAndUnknownBranches) {
  ASSERT_OK(env.manager()->CreateBranch("child", "main", {}));
  ASSERT_OK(env.manager()->CreateBranch("other", "", BranchOptions{}));
  const uint64_t version = env.catalog()->Current()->version;
  const std::vector<std::string> objects = env.List("branches/");
  EXPECT_EQ(CodeOf(env.manager()->PromoteBranch("main", "", nullptr)), Code::kInvalid);
  EXPECT_EQ(CodeOf(env.manager()->PromoteBranch("nope", "", nullptr)), Code::kNotFound);
  EXPECT_EQ(CodeOf(env.manager()->PromoteBranch("child", "other", nullptr)), Code::kExists);
  EXPECT_EQ(CodeOf(env.manager()->PromoteBranch("child", "-x", nullptr)), Code::kInvalid);
  ExpectUnchanged(version, objects);
}

TEST(RetiredCatalog, TheFieldIsOptionalAndRoundTrips) {
  CatalogData c;
  c.branches.push_back({1, "main", 0, 0, 1, 0, std::nullopt, "", 0, 0, std::nullopt, ""});
  c.branches.push_back({2, "main", 1, 5, 1, 0, std::nullopt, "", 0, 0, std::nullopt, ""});
  std::string old_format = EncodeCatalog(c);
  EXPECT_EQ(old_format.find("retired"), std::string::npos);
  c.branches[0].retired = true;
  ASSERT_OK_AND_ASSIGN(CatalogData back, DecodeCatalog(EncodeCatalog(c), "c"));
  EXPECT_TRUE(back.branches[0].retired);
  EXPECT_FALSE(back.branches[1].retired);
  EXPECT_EQ(back.FindBranch("main")->id, 2u);
  ASSERT_OK_AND_ASSIGN(CatalogData old, DecodeCatalog(old_format, "c"));
  EXPECT_FALSE(old.branches[0].retired);
  // Pruning goes up the chain: 2 was the last reader of 1.
  back.branches[1].retired = true;
  EXPECT_EQ(back.PruneRetired(), (std::vector<uint32_t>{2, 1}));
  EXPECT_TRUE(back.branches.empty());
}

// Store bytes after a GC pass over main restored to the point before 12 of
// its 16 rounds of overwrites, as a share of the bytes before; the restored
// main must read the point's values throughout.
double BytesLeftAfterRestoreAndGc(const std::string& preserve_as) {
  BranchEnv env;
  EXPECT_OK(env.Open());
  EXPECT_OK(env.manager()->CreateBranch("main", "", BranchOptions{}));
  const uint32_t id = env.Find("main")->id;
  Churn(env, "main", 4, 'a');
  const uint64_t point = env.vs()->HeadSeq(id);
  const std::string at_point = Val(env, "main", "key7");
  Churn(env, "main", 12, 'k');
  EXPECT_OK(env.manager()->RestoreBranch("main", "@seq:" + std::to_string(point), preserve_as));
  const uint64_t before = env.vs()->StoreBytes();
  Collector gc(env.catalog(), env.vs(), env.manager(), CollectorOptions{});
  Result<GcReport> r = gc.RunNow("");
  EXPECT_OK(r.status());
  for (int k = 0; k < 64; k++) {
    EXPECT_EQ(Val(env, "main", "key" + std::to_string(k)), at_point) << k;
  }
  EXPECT_OK(env.ReopenFromCatalog());
  EXPECT_EQ(Val(env, "main", "key7"), at_point);
  return static_cast<double>(env.vs()->StoreBytes()) / static_cast<double>(before);
}

TEST(RetiredCollection, APassKeepsOnlyWhatTheRestoredStateReads) {
  // Retired: the 12 later rounds are no one's, and go.
  EXPECT_LT(BytesLeftAfterRestoreAndGc(""), 0.25);
  // Preserved: they are the preserved branch's head and window, and stay.
  EXPECT_GT(BytesLeftAfterRestoreAndGc("before"), 0.5);
}

}  // namespace
}  // namespace strata
