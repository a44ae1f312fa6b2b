#include "catalog/catalog_delta.h"

#include <gtest/gtest.h>

#include "catalog/catalog_codec.h"

namespace strata {
namespace {

bool IsCorruption(const Status& st) { return st.code() == Code::kCorruption; }

BranchInfo Branch(uint32_t id, const std::string& name, uint32_t parent = 0) {
  BranchInfo b;
  b.id = id;
  b.name = name;
  b.parent = parent;
  b.root_ino = (uint64_t{id} << 40) | 1;
  b.created_ns = 1'795'000'000'000'000'000 + id;
  return b;
}

CatalogData Sample() {
  CatalogData c;
  c.version = 7;
  c.next_branch_id = 65;
  c.branches = {Branch(1, "main"), Branch(2, "dev", 1), Branch(3, "old", 1)};
  c.branches[1].owner = "agent-7";
  c.branches[1].durability = Durability::kRemote;
  c.snapshots = {{"s1", 1, 100, 5}, {"s2", 2, 200, 6}};
  c.credentials = {{"u1", 2, "postgres", "SCRAM-SHA-256$4096:x$y:z", 7, 0}};
  c.quotas = {{"agent-7", {50, 1 << 30}}, {"agent-8", {5, -1}}};
  c.tokens = {{"3f9a0c71d2e4", "agent-7", std::string(64, 'a'), 8, 9, 0}};
  return c;
}

// Diffs, round-trips the delta through its stored form, applies it to a
// copy of `from` and expects `to` exactly.
void ExpectDeltaRebuilds(const CatalogData& from, const CatalogData& to) {
  std::optional<CatalogDelta> d = DiffCatalog(from, to);
  ASSERT_TRUE(d.has_value());
  d->checkpoint = 1;
  Result<CatalogObject> o = DecodeCatalogObject(EncodeCatalogDelta(*d), "test");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ASSERT_TRUE(o->delta.has_value());
  EXPECT_EQ(o->delta->checkpoint, 1u);
  CatalogData rebuilt = from;
  ASSERT_TRUE(ApplyCatalogDelta(*o->delta, "test", &rebuilt).ok());
  EXPECT_EQ(EncodeCatalog(rebuilt), EncodeCatalog(to));
}

TEST(CatalogDelta, EveryKindOfChangeRebuildsTheNextVersion) {
  const CatalogData from = Sample();
  std::vector<std::function<void(CatalogData&)>> changes = {
      [](CatalogData& c) { c.branches.push_back(Branch(65, "new", 1)); },
      [](CatalogData& c) { c.branches[1].expires_ns = 42; },
      [](CatalogData& c) { c.branches[2].retired = true; },
      [](CatalogData& c) {  // delete a branch with its credentials and snapshots
        c.branches.erase(c.branches.begin() + 1);
        c.credentials.clear();
        c.snapshots.pop_back();
      },
      [](CatalogData& c) {
        c.snapshots.push_back({"s3", 3, 300, 10});
      },
      [](CatalogData& c) {
        c.credentials.push_back({"u2", 1, "app", "v", 11, 12});
      },
      [](CatalogData& c) { c.quotas["agent-7"].max_branches = 51; },
      [](CatalogData& c) { c.quotas.erase("agent-8"); },
      [](CatalogData& c) {
        c.quotas["agent-9"] = {1, 2};
      },
      [](CatalogData& c) { c.tokens[0].revoked_ns = 99; },
      [](CatalogData& c) {
        c.tokens.push_back({"000000000001", "agent-8", "b", 1, 0, 0});
      },
      [](CatalogData& c) { c.next_branch_id = 129; },
      [](CatalogData&) {},  // nothing but the version
  };
  for (size_t i = 0; i < changes.size(); i++) {
    SCOPED_TRACE("change " + std::to_string(i));
    CatalogData to = from;
    to.version++;
    changes[i](to);
    ExpectDeltaRebuilds(from, to);
  }
}

TEST(CatalogDelta, OnlyTheChangedEntriesAreInIt) {
  CatalogData from;
  from.version = 1;
  for (uint32_t id = 1; id <= 10'000; id++) {
    from.branches.push_back(Branch(id, "branch-with-a-long-name-" + std::to_string(id)));
  }
  CatalogData to = from;
  to.version = 2;
  to.branches.push_back(Branch(10'001, "one-more"));
  to.branches[5000].expires_ns = 1;
  const std::optional<CatalogDelta> d = DiffCatalog(from, to);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->put_branches.size(), 2u);
  EXPECT_EQ(d->put_branches[0].id, 5001u);
  EXPECT_EQ(d->put_branches[1].id, 10'001u);
  EXPECT_TRUE(d->del_branches.empty());
  EXPECT_LT(EncodeCatalogDelta(*d).size(), 1000u);
  EXPECT_GT(EncodeCatalog(to).size(), 1'000'000u);
}

TEST(CatalogDelta, AMovedOrInsertedEntryNeedsAWholeVersion) {
  const CatalogData from = Sample();
  CatalogData moved = from;
  moved.version++;
  std::swap(moved.branches[0], moved.branches[1]);
  EXPECT_FALSE(DiffCatalog(from, moved).has_value());
  CatalogData inserted = from;
  inserted.version++;
  inserted.snapshots.insert(inserted.snapshots.begin(), {"s0", 1, 1, 1});
  EXPECT_FALSE(DiffCatalog(from, inserted).has_value());
  CatalogData twice = from;
  twice.version++;
  twice.credentials.push_back(twice.credentials[0]);
  EXPECT_FALSE(DiffCatalog(from, twice).has_value());
  CatalogData skipped = from;
  skipped.version += 2;
  EXPECT_FALSE(DiffCatalog(from, skipped).has_value());
}

TEST(CatalogDelta, ApplyRefusesTheWrongBaseAndMissingEntries) {
  CatalogData base = Sample();
  CatalogDelta d;
  d.version = base.version + 2;
  d.checkpoint = 1;
  CatalogData c = base;
  Status st = ApplyCatalogDelta(d, "catalog/x.json", &c);
  EXPECT_TRUE(IsCorruption(st)) << st.ToString();
  EXPECT_NE(st.message().find("catalog/x.json"), std::string::npos) << st.message();
  d.version = base.version + 1;
  d.del_branches = {99};
  c = base;
  st = ApplyCatalogDelta(d, "catalog/x.json", &c);
  EXPECT_TRUE(IsCorruption(st)) << st.ToString();
  d.del_branches.clear();
  d.del_quotas = {"nobody"};
  c = base;
  EXPECT_TRUE(IsCorruption(ApplyCatalogDelta(d, "catalog/x.json", &c)));
}

TEST(CatalogCodec, BadObjectsAreCorruptionNamingTheKey) {
  const std::vector<std::string> bad = {
      "",
      "{",
      R"({"format": 3, "version": 1})",
      R"({"format": 1, "version": 1})",
      R"({"format": 2, "version": 5, "next_branch_id": 1})",
      R"({"format": 2, "version": 5, "checkpoint": 5, "next_branch_id": 1})",
      R"({"format": 2, "version": 5, "checkpoint": 0, "next_branch_id": 1})",
      R"({"format": 2, "version": 5, "checkpoint": 1, "next_branch_id": 1,
          "branches": {"put": [{"id": 1}]}})",
      R"({"format": 1, "version": 1, "next_branch_id": 2, "snapshots": [],
          "branches": [{"id": 1, "name": "a", "parent": 0, "fork_seq": 0, "root_ino": 1,
                        "created_ns": 0, "durability": "sometimes"}]})",
  };
  for (const std::string& data : bad) {
    Result<CatalogObject> o = DecodeCatalogObject(data, "catalog/k.json");
    ASSERT_FALSE(o.ok()) << data;
    EXPECT_TRUE(IsCorruption(o.status())) << o.status().ToString();
    EXPECT_NE(o.status().message().find("catalog/k.json"), std::string::npos)
        << o.status().message();
  }
  CatalogDelta d;
  d.version = 3;
  d.checkpoint = 1;
  Result<CatalogData> whole = DecodeCatalog(EncodeCatalogDelta(d), "catalog/d.json");
  EXPECT_TRUE(IsCorruption(whole.status())) << whole.status().ToString();
}

TEST(CatalogCodec, AWholeCatalogRoundTrips) {
  const CatalogData c = Sample();
  Result<CatalogData> back = DecodeCatalog(EncodeCatalog(c), "test");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->branches, c.branches);
  EXPECT_EQ(back->snapshots, c.snapshots);
  EXPECT_EQ(back->credentials, c.credentials);
  EXPECT_EQ(back->quotas, c.quotas);
  EXPECT_EQ(back->tokens, c.tokens);
  EXPECT_EQ(back->version, c.version);
  EXPECT_EQ(back->next_branch_id, c.next_branch_id);
}

}  // namespace
}  // namespace strata
