// BranchManager's fleet controls: owners, expiry, idle timeouts, admission
// (quotas) and the credentials that follow a branch.
#include <gtest/gtest.h>

#include "catalog/branch_manager.h"
#include "catalog/branch_test_util.h"
#include "catalog/catalog_codec.h"

namespace strata {
namespace {

using testing::BranchEnv;

CredentialInfo Cred(const std::string& id, uint32_t branch) {
  return {id, branch, "postgres", "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5", 1, 0};
}

TEST(BranchFleet, CatalogKeepsOwnerExpiryIdleTimeoutCredentialsAndQuotas) {
  CatalogData c;
  c.branches.push_back(
      {7, "b", 0, 0, 99, 5, Durability::kLocal, "agent-1", 123, 45, std::nullopt, ""});
  c.branches.push_back({8, "plain", 7, 3, 99, 5, std::nullopt, "", 0, 0, std::nullopt, ""});
  c.credentials.push_back(Cred("c1", 7));
  c.quotas["agent-1"] = {4, 5000};
  ASSERT_OK_AND_ASSIGN(CatalogData d, DecodeCatalog(EncodeCatalog(c), "t"));
  ASSERT_EQ(d.branches.size(), 2u);
  EXPECT_EQ(d.branches[0].owner, "agent-1");
  EXPECT_EQ(d.branches[0].expires_ns, 123);
  EXPECT_EQ(d.branches[0].idle_timeout_s, 45);
  EXPECT_EQ(d.branches[1].owner, "");
  EXPECT_EQ(d.branches[1].expires_ns, 0);
  ASSERT_EQ(d.credentials.size(), 1u);
  EXPECT_EQ(d.credentials[0].id, "c1");
  EXPECT_EQ(d.credentials[0].branch, 7u);
  EXPECT_EQ(d.credentials[0].verifier, c.credentials[0].verifier);
  EXPECT_EQ(d.quotas["agent-1"].max_branches, 4);
  EXPECT_EQ(d.quotas["agent-1"].max_bytes, 5000);
  // A catalog written before the fleet fields decodes with their defaults.
  CatalogData old;
  old.branches.push_back({1, "main", 0, 0, 99, 5, std::nullopt, "", 0, 0, std::nullopt, ""});
  std::string text = EncodeCatalog(old);
  EXPECT_EQ(text.find("owner"), std::string::npos);
  EXPECT_EQ(text.find("credentials"), std::string::npos);
}

TEST(BranchFleet, CatalogKeepsOwnerTokensHashedWithTheirStates) {
  CatalogData c;
  c.tokens.push_back({"0a1b2c3d4e5f", "agent-1", std::string(64, 'e'), 10, 20, 0});
  c.tokens.push_back({"ffeeddccbbaa", "agent-2", std::string(64, 'f'), 11, 0, 15});
  const std::string text = EncodeCatalog(c);
  ASSERT_OK_AND_ASSIGN(CatalogData d, DecodeCatalog(text, "t"));
  ASSERT_EQ(d.tokens.size(), 2u);
  EXPECT_EQ(d.tokens[0].id, "0a1b2c3d4e5f");
  EXPECT_EQ(d.tokens[0].owner, "agent-1");
  EXPECT_EQ(d.tokens[0].secret_sha256, std::string(64, 'e'));
  EXPECT_EQ(d.tokens[0].created_ns, 10);
  EXPECT_EQ(d.tokens[0].expires_ns, 20);
  EXPECT_EQ(d.tokens[0].revoked_ns, 0);
  EXPECT_EQ(d.tokens[1].revoked_ns, 15);
  ASSERT_NE(d.FindToken("ffeeddccbbaa"), nullptr);
  EXPECT_EQ(d.FindToken("ffeeddccbbaa")->owner, "agent-2");
  EXPECT_EQ(d.FindToken("nope"), nullptr);
  // No tokens: no "tokens" member, so older catalogs and this one read alike.
  EXPECT_EQ(EncodeCatalog(CatalogData()).find("tokens"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(CatalogData none, DecodeCatalog(EncodeCatalog(CatalogData()), "t"));
  EXPECT_TRUE(none.tokens.empty());
}

TEST(BranchFleet, CreateRecordsOwnerExpiryAndIdleTimeout) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  BranchOptions o;
  o.owner = "agent-1";
  o.expires_ns = 1'900'000'000'000'000'000;
  o.idle_timeout_s = 30;
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->CreateBranch("b", "", o));
  EXPECT_EQ(b.owner, "agent-1");
  const BranchInfo* stored = env.Find("b");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->expires_ns, o.expires_ns);
  EXPECT_EQ(stored->idle_timeout_s, 30);
  BranchOptions bad;
  bad.expires_ns = -1;
  EXPECT_EQ(env.manager()->CreateBranch("c", "", bad).status().code(), Code::kInvalid);
}

TEST(BranchFleet, AdmissionRefusalCreatesNothing) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
  std::string asked_owner;
  env.manager()->SetAdmission([&](const CatalogData&, const std::string& owner) {
    asked_owner = owner;
    return Status::Quota("owner '" + owner + "' is over quota");
  });
  const uint64_t version = env.catalog()->Current()->version;
  BranchOptions o;
  o.owner = "greedy";
  Result<BranchInfo> r = env.manager()->CreateBranch("child", "main", o);
  EXPECT_EQ(r.status().code(), Code::kQuota);
  EXPECT_EQ(asked_owner, "greedy");
  EXPECT_EQ(env.Find("child"), nullptr);
  EXPECT_EQ(env.catalog()->Current()->version, version);
}

TEST(BranchFleet, UpdateChangesOnlyTheGivenFields) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  BranchOptions o;
  o.owner = "x";
  o.expires_ns = 100;
  o.idle_timeout_s = 7;
  ASSERT_OK(env.manager()->CreateBranch("b", "", o));
  ASSERT_OK_AND_ASSIGN(BranchInfo u, env.manager()->UpdateBranch(
                                         "b", {std::nullopt, 0, std::nullopt, std::nullopt}));
  EXPECT_EQ(u.expires_ns, 0);
  EXPECT_EQ(u.idle_timeout_s, 7);
  EXPECT_EQ(u.owner, "x");
  EXPECT_EQ(env.manager()
                ->UpdateBranch("b", {std::nullopt, std::nullopt, -5, std::nullopt})
                .status()
                .code(),
            Code::kInvalid);
  EXPECT_EQ(env.manager()->UpdateBranch("nope", {}).status().code(), Code::kNotFound);
}

TEST(BranchFleet, DeleteDropsTheBranchsCredentialsAndResetKeepsThem) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK_AND_ASSIGN(BranchInfo main, env.manager()->CreateBranch("main", "", 0, 0));
  ASSERT_OK_AND_ASSIGN(BranchInfo kid, env.manager()->CreateBranch("kid", "main", 0, 0));
  ASSERT_OK_AND_ASSIGN(BranchInfo gone, env.manager()->CreateBranch("gone", "main", 0, 0));
  ASSERT_OK(env.catalog()->Update([&](CatalogData& c) {
    c.credentials.push_back(Cred("for-main", main.id));
    c.credentials.push_back(Cred("for-kid", kid.id));
    c.credentials.push_back(Cred("for-gone", gone.id));
    return Status::OK();
  }));
  ASSERT_OK(env.manager()->DeleteBranch("gone"));
  auto cat = env.catalog()->Current();
  EXPECT_EQ(cat->FindCredential("for-gone"), nullptr);
  ASSERT_NE(cat->FindCredential("for-main"), nullptr);
  ASSERT_OK_AND_ASSIGN(BranchInfo reset, env.manager()->ResetBranch("kid"));
  EXPECT_NE(reset.id, kid.id);
  cat = env.catalog()->Current();
  ASSERT_NE(cat->FindCredential("for-kid"), nullptr);
  EXPECT_EQ(cat->FindCredential("for-kid")->branch, reset.id);
  EXPECT_EQ(cat->FindCredential("for-main")->branch, main.id);
}

}  // namespace
}  // namespace strata
