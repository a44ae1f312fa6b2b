#include "catalog/quota.h"

#include <gtest/gtest.h>

#include "catalog/branch_test_util.h"

namespace strata {
namespace {

using testing::BranchEnv;

TEST(Quota, CatalogEntryOverridesTheDefaults) {
  CatalogData cat;
  cat.quotas["a"] = {3, 1000};
  const OwnerQuota defaults{10, -1};
  EXPECT_EQ(QuotaOf(cat, "a", defaults).max_branches, 3);
  EXPECT_EQ(QuotaOf(cat, "a", defaults).max_bytes, 1000);
  EXPECT_EQ(QuotaOf(cat, "b", defaults).max_branches, 10);
  EXPECT_EQ(QuotaOf(cat, "b", defaults).max_bytes, -1);
}

TEST(Quota, BranchCountAndBytesAreCheckedAtTheLimit) {
  const OwnerQuota q{2, 100};
  EXPECT_TRUE(CheckNewBranch("a", q, {1, 99}).ok());
  Status full = CheckNewBranch("a", q, {2, 0});
  EXPECT_EQ(full.code(), Code::kQuota);
  EXPECT_NE(full.message().find("owner 'a' has 2 branches, its quota is 2"), std::string::npos)
      << full.message();
  Status bytes = CheckNewBranch("a", q, {0, 100});
  EXPECT_EQ(bytes.code(), Code::kQuota);
  EXPECT_NE(bytes.message().find("stores 100 bytes"), std::string::npos) << bytes.message();
  EXPECT_EQ(CheckBytes("a", q, {5, 100}).code(), Code::kQuota);
  EXPECT_TRUE(CheckBytes("a", q, {5, 99}).ok());
}

TEST(Quota, UnlimitedAndUnownedAreNeverRefused) {
  EXPECT_TRUE(CheckNewBranch("a", {-1, -1}, {1000000, int64_t{1} << 50}).ok());
  EXPECT_TRUE(CheckNewBranch("", {0, 0}, {5, 5}).ok());
  EXPECT_EQ(CheckNewBranch("a", {0, -1}, {0, 0}).code(), Code::kQuota);
}

TEST(Quota, UsageCountsTheOwnersBranchesAndTheirOwnBytes) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  BranchOptions mine;
  mine.owner = "agent";
  ASSERT_OK_AND_ASSIGN(BranchInfo a, env.manager()->CreateBranch("a", "", mine));
  ASSERT_OK(env.manager()->CreateBranch("b", "a", mine));
  ASSERT_OK(env.manager()->CreateBranch("other", "a", 0, 0));
  ASSERT_OK(env.vs()->Commit(a.id, {{"k", false, std::string(5000, 'x')}}));
  OwnerUsage u = UsageOf(*env.catalog()->Current(), "agent", env.vs());
  EXPECT_EQ(u.branches, 2);
  EXPECT_GE(u.bytes, 5000);
  EXPECT_EQ(UsageOf(*env.catalog()->Current(), "nobody", env.vs()).branches, 0);
}

TEST(Quota, UsageCountsExclusiveBytesOnceMeasured) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  BranchOptions mine;
  mine.owner = "agent";
  ASSERT_OK_AND_ASSIGN(BranchInfo a, env.manager()->CreateBranch("a", "", mine));
  ASSERT_OK(env.vs()->Commit(a.id, {{"k", false, std::string(5000, 'x')}}));
  ASSERT_OK(env.vs()->Flush(a.id));
  const CatalogData& cat = *env.catalog()->Current();
  const int64_t layers = UsageOf(cat, "agent", env.vs()).bytes;
  EXPECT_GT(layers, 0);
  auto measured = [](uint32_t) { return std::optional<uint64_t>(7); };
  EXPECT_EQ(UsageOf(cat, "agent", env.vs(), measured).bytes, 7);
  auto unmeasured = [](uint32_t) { return std::optional<uint64_t>(); };
  EXPECT_EQ(UsageOf(cat, "agent", env.vs(), unmeasured).bytes, layers);
}

}  // namespace
}  // namespace strata
