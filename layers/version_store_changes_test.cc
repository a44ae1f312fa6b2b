#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "layers/strata_test_util.h"
#include "layers/version_store.h"

namespace strata {
namespace {

using testing::TestEnv;

// (key -> newest (seq, tombstone)) of every put with from < seq <= to.
using Expected = std::map<std::string, std::pair<uint64_t, bool>>;

Expected BruteForce(const std::vector<std::pair<uint64_t, KeyPut>>& log, uint64_t from,
                    uint64_t to) {
  Expected e;
  for (const auto& [seq, put] : log) {
    if (seq <= from || seq > to) continue;
    e[put.key] = {seq, put.tombstone};  // the log is in seq order
  }
  return e;
}

Expected AsMap(const std::vector<KeyChange>& changes) {
  Expected e;
  for (const KeyChange& c : changes) e[c.key] = {c.seq, c.tombstone};
  return e;
}

TEST(VersionStoreChanges, RandomWritesMatchABruteForceEnumeration) {
  TestEnv env(/*memtable_bytes=*/4096);
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(1));
  ASSERT_OK(vs->CreateBranch(2));
  std::mt19937 rng(13);
  std::vector<std::pair<uint64_t, KeyPut>> log1, log2;
  for (int op = 0; op < 300; op++) {
    const uint32_t branch = rng() % 3 == 0 ? 2 : 1;
    std::vector<KeyPut> puts;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; i++) {
      const bool tomb = rng() % 5 == 0;
      puts.push_back({"k" + std::to_string(rng() % 60), tomb, tomb ? "" : std::string(100, 'v')});
    }
    Result<uint64_t> seq = vs->Commit(branch, puts);
    ASSERT_OK(seq);
    for (const KeyPut& p : puts) (branch == 1 ? log1 : log2).push_back({*seq, p});
    // Layers, frozen and active memtables all take part.
    if (rng() % 17 == 0) ASSERT_OK(vs->Flush(branch));
  }
  for (uint32_t branch : {1u, 2u}) {
    const auto& log = branch == 1 ? log1 : log2;
    const uint64_t head = vs->HeadSeq(branch);
    for (int trial = 0; trial < 40; trial++) {
      uint64_t from = rng() % (head + 1), to = rng() % (head + 2);
      if (trial == 0) from = 0, to = UINT64_MAX;
      Result<std::vector<KeyChange>> got = vs->ChangedKeys(branch, from, to);
      ASSERT_OK(got);
      EXPECT_EQ(AsMap(*got), BruteForce(log, from, to))
          << "branch " << branch << " (" << from << ", " << to << "]";
      for (size_t i = 1; i < got->size(); i++) EXPECT_LT((*got)[i - 1].key, (*got)[i].key);
    }
  }
  // The same answers from the layers alone, after a crash and replay.
  ASSERT_OK(vs->FlushAll());
  ASSERT_OK(env.Reopen({1, 2}));
  Result<std::vector<KeyChange>> all = env.vs()->ChangedKeys(1, 0, UINT64_MAX);
  ASSERT_OK(all);
  EXPECT_EQ(AsMap(*all), BruteForce(log1, 0, UINT64_MAX));
}

TEST(VersionStoreChanges, AnAncestorsKeysAreNotTheChildsChanges) {
  TestEnv env;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(1));
  ASSERT_OK(vs->CreateBranch(2));
  for (int i = 0; i < 50; i++) ASSERT_OK(vs->Commit(1, {{"p" + std::to_string(i), false, "x"}}));
  ASSERT_OK(vs->Flush(1));
  ASSERT_OK(vs->Commit(2, {{"p3", false, "y"}}));
  ASSERT_OK(vs->Commit(2, {{"p4", true, ""}}));
  Result<std::vector<KeyChange>> got = vs->ChangedKeys(2, 0, UINT64_MAX);
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].key, "p3");
  EXPECT_FALSE((*got)[0].tombstone);
  EXPECT_EQ((*got)[1].key, "p4");
  EXPECT_TRUE((*got)[1].tombstone);
  // The parent since seq 48: two keys.
  got = vs->ChangedKeys(1, 48, UINT64_MAX);
  ASSERT_OK(got);
  EXPECT_EQ(got->size(), 2u);
  EXPECT_TRUE(vs->ChangedKeys(9, 0, 1).status().IsNotFound());
}

}  // namespace
}  // namespace strata
