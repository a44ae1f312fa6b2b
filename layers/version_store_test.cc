#include "layers/version_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layers/strata_test_util.h"
#include "objstore/fault_injection.h"

namespace strata {
namespace {

using testing::Page;
using testing::TestEnv;

std::string Answer(VersionStore* vs, const Lineage& l, const std::string& key) {
  Result<std::optional<std::string>> r = vs->Get(l, key);
  if (!r.ok()) return "ERR:" + r.status().ToString();
  return r->has_value() ? **r : "<absent>";
}

std::string ScanAnswer(VersionStore* vs, const Lineage& l, const std::string& prefix) {
  std::string out;
  Status st = vs->Scan(l, prefix, [&](std::string_view k, const std::string& v) {
    out += std::string(k) + "=" + (v.size() > 16 ? "page:" + v.substr(0, 1) : v) + ";";
  });
  return st.ok() ? out : "ERR:" + st.ToString();
}

const Lineage kParent = {{1, UINT64_MAX}};
const Lineage kChild = {{2, UINT64_MAX}, {1, 2}};

// Branch 1: seq1 a=A1 b=page(b); seq2 a=A2 c=C2; seq3 b deleted; seq4 d=page(d).
// Branch 2 forked from 1 at seq 2: seq1 c deleted; seq2 e=E; seq3 a=page(z).
void BuildWorld(TestEnv& env) {
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(1));
  ASSERT_OK(vs->CreateBranch(2));
  ASSERT_OK(vs->Commit(1, {{"a", false, "A1"}, {"b", false, Page('b')}}));
  ASSERT_OK(vs->Commit(1, {{"a", false, "A2"}, {"c", false, "C2"}}));
  ASSERT_OK(vs->Commit(1, {{"b", true, ""}}));
  ASSERT_OK(vs->Commit(1, {{"d", false, Page('d')}}));
  ASSERT_OK(vs->Commit(2, {{"c", true, ""}}));
  ASSERT_OK(vs->Commit(2, {{"e", false, "E"}}));
  ASSERT_OK(vs->Commit(2, {{"a", false, Page('z')}}));
}

// Every answer the world can give, as one string per query.
std::vector<std::string> AllAnswers(VersionStore* vs) {
  std::vector<std::string> out;
  std::vector<Lineage> lineages = {kParent, kChild};
  for (uint64_t s = 0; s <= 4; s++) lineages.push_back({{1, s}});
  for (uint64_t s = 0; s <= 3; s++) lineages.push_back({{2, s}, {1, 2}});
  for (const Lineage& l : lineages) {
    for (const char* k : {"a", "b", "c", "d", "e", "zz"}) out.push_back(Answer(vs, l, k));
    out.push_back(ScanAnswer(vs, l, ""));
  }
  return out;
}

void ExpectWorld(VersionStore* vs) {
  EXPECT_EQ(Answer(vs, kParent, "a"), "A2");
  EXPECT_EQ(Answer(vs, kParent, "b"), "<absent>");
  EXPECT_EQ(Answer(vs, {{1, 2}}, "b"), Page('b'));
  EXPECT_EQ(Answer(vs, {{1, 1}}, "a"), "A1");
  EXPECT_EQ(Answer(vs, {{1, 0}}, "a"), "<absent>");
  EXPECT_EQ(Answer(vs, kParent, "d"), Page('d'));
  EXPECT_EQ(Answer(vs, kParent, "e"), "<absent>");  // the parent never sees the child
  EXPECT_EQ(Answer(vs, kChild, "a"), Page('z'));
  EXPECT_EQ(Answer(vs, kChild, "b"), Page('b'));       // deleted in the parent after the fork
  EXPECT_EQ(Answer(vs, kChild, "c"), "<absent>");      // the child's tombstone
  EXPECT_EQ(Answer(vs, kParent, "c"), "C2");           // ... hides it only in the child
  EXPECT_EQ(Answer(vs, kChild, "d"), "<absent>");      // written after the fork
  EXPECT_EQ(Answer(vs, {{2, 2}, {1, 2}}, "a"), "A2");  // before the child's own write
  EXPECT_EQ(Answer(vs, {{2, 0}, {1, 2}}, "c"), "C2");
  EXPECT_EQ(ScanAnswer(vs, kParent, ""), "a=A2;c=C2;d=page:d;");
  EXPECT_EQ(ScanAnswer(vs, kChild, ""), "a=page:z;b=page:b;e=E;");
  EXPECT_EQ(ScanAnswer(vs, {{1, 1}}, ""), "a=A1;b=page:b;");
}

TEST(VersionStore, ReadsAcrossMemtableFrozenAndLayersGiveIdenticalAnswers) {
  TestEnv env;
  FaultInjectingStore* faults = env.Wrap<FaultInjectingStore>();
  ASSERT_OK(env.Open());
  BuildWorld(env);
  ExpectWorld(env.vs());
  const std::vector<std::string> want = AllAnswers(env.vs());

  // A failed flush leaves the memtables frozen, still readable.
  FaultConfig down;
  down.fail_all = true;
  faults->set_config(down);
  EXPECT_FALSE(env.vs()->Flush(1).ok());
  EXPECT_FALSE(env.vs()->Flush(2).ok());
  EXPECT_EQ(env.vs()->Stats(1).layers, 0u);
  faults->set_config(FaultConfig{});
  EXPECT_EQ(AllAnswers(env.vs()), want);

  ASSERT_OK(env.vs()->Flush(1));
  EXPECT_EQ(AllAnswers(env.vs()), want);  // parent in a layer, child in memory
  ASSERT_OK(env.vs()->Flush(2));
  EXPECT_EQ(env.vs()->Stats(1).layers, 1u);
  EXPECT_EQ(env.vs()->Stats(2).layers, 1u);
  EXPECT_EQ(env.vs()->Stats(1).memtable_bytes, 0u);
  ExpectWorld(env.vs());
  EXPECT_EQ(AllAnswers(env.vs()), want);
}

TEST(VersionStore, GrandchildSeesEachAncestorOnlyUpToItsForkPoint) {
  TestEnv env;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  for (uint32_t b : {1u, 2u, 3u}) ASSERT_OK(vs->CreateBranch(b));
  ASSERT_OK(vs->Commit(1, {{"x", false, "root1"}, {"y", false, "root1"}}));  // 1:1
  ASSERT_OK(vs->Commit(2, {{"y", false, "child1"}}));                        // 2:1
  ASSERT_OK(vs->Commit(1, {{"x", false, "root2"}}));                         // 1:2, after fork
  ASSERT_OK(vs->Commit(2, {{"z", false, "child2"}}));                        // 2:2, after fork
  ASSERT_OK(vs->Commit(3, {{"w", false, "gc1"}}));
  const Lineage grandchild = {{3, UINT64_MAX}, {2, 1}, {1, 1}};
  for (int round = 0; round < 2; round++) {
    EXPECT_EQ(Answer(vs, grandchild, "x"), "root1");
    EXPECT_EQ(Answer(vs, grandchild, "y"), "child1");
    EXPECT_EQ(Answer(vs, grandchild, "z"), "<absent>");
    EXPECT_EQ(Answer(vs, grandchild, "w"), "gc1");
    EXPECT_EQ(Answer(vs, {{2, UINT64_MAX}, {1, 1}}, "w"), "<absent>");
    EXPECT_EQ(Answer(vs, {{1, UINT64_MAX}}, "y"), "root1");
    EXPECT_EQ(ScanAnswer(vs, grandchild, ""), "w=gc1;x=root1;y=child1;");
    ASSERT_OK(vs->FlushAll());
  }
}

TEST(VersionStore, RecoverReplaysTheOpLogToIdenticalAnswers) {
  TestEnv env;
  ASSERT_OK(env.Open());
  BuildWorld(env);
  const std::vector<std::string> want = AllAnswers(env.vs());
  ASSERT_OK(env.vs()->Sync());
  ASSERT_OK(env.Reopen({1, 2}));
  EXPECT_EQ(env.vs()->Stats(1).head_seq, 4u);
  EXPECT_EQ(env.vs()->Stats(1).durable_seq, 0u);
  EXPECT_EQ(env.vs()->Stats(2).head_seq, 3u);
  ExpectWorld(env.vs());
  EXPECT_EQ(AllAnswers(env.vs()), want);
  // New commits continue the seq sequence.
  ASSERT_OK_AND_ASSIGN(uint64_t seq, env.vs()->Commit(1, {{"f", false, "F"}}));
  EXPECT_EQ(seq, 5u);
}

TEST(VersionStore, RecoverRebuildsADeletedIndexFromLayers) {
  TestEnv env;
  ASSERT_OK(env.Open());
  BuildWorld(env);
  ASSERT_OK(env.vs()->Flush(1));
  ASSERT_OK(env.vs()->Commit(2, {{"g", false, "G"}}));  // 2:4, stays in the op log
  ASSERT_OK(env.vs()->Sync());
  const std::vector<std::string> want = AllAnswers(env.vs());
  EXPECT_EQ(Answer(env.vs(), kChild, "g"), "G");
  env.Close();
  env.DeleteIndex();
  ASSERT_OK(env.Reopen({1, 2}));
  EXPECT_EQ(AllAnswers(env.vs()), want);
  EXPECT_EQ(Answer(env.vs(), kChild, "g"), "G");
  EXPECT_EQ(env.vs()->Stats(1).durable_seq, 4u);
  EXPECT_EQ(env.vs()->Stats(1).head_seq, 4u);
  EXPECT_EQ(env.vs()->Stats(2).durable_seq, 0u);
  EXPECT_EQ(env.vs()->Stats(2).head_seq, 4u);

  // Everything in layers, index deleted again: still the same answers.
  ASSERT_OK(env.vs()->FlushAll());
  env.Close();
  env.DeleteIndex();
  ASSERT_OK(env.Reopen({1, 2}));
  EXPECT_EQ(AllAnswers(env.vs()), want);
  EXPECT_EQ(env.vs()->Stats(2).durable_seq, 4u);
}

// The L1 cache serves a value read from a layer the second time, and with
// the cache off every answer is the same (invariant 5).
TEST(VersionStore, PageCacheServesRepeatedLayerReadsAndIsOptional) {
  for (uint64_t capacity : {uint64_t{1} << 20, uint64_t{0}}) {
    SCOPED_TRACE(capacity);
    TestEnv env;
    env.options().page_cache_bytes = capacity;
    ASSERT_OK(env.Open());
    ASSERT_OK(env.vs()->CreateBranch(1));
    const std::string page(8192, 'p');
    ASSERT_OK(env.vs()->Commit(1, {{"k", false, page}}));
    ASSERT_OK(env.vs()->Flush(1));
    for (int i = 0; i < 3; i++) {
      ASSERT_OK_AND_ASSIGN(auto v, env.vs()->Get({{1, UINT64_MAX}}, "k"));
      EXPECT_EQ(v, std::optional<std::string>(page));
    }
    const CacheStats s = env.vs()->PageCacheStats();
    EXPECT_EQ(s.hits, capacity ? 2u : 0u);
    EXPECT_EQ(s.misses, 3u - s.hits);
    EXPECT_EQ(s.bytes, capacity ? page.size() : 0u);
  }
}

TEST(VersionStore, StatsTrackHeadAndDurableSeq) {
  TestEnv env;
  ASSERT_OK(env.Open());
  VersionStore* vs = env.vs();
  ASSERT_OK(vs->CreateBranch(7));
  EXPECT_EQ(vs->Stats(7).head_seq, 0u);
  EXPECT_EQ(vs->Stats(7).durable_seq, 0u);
  for (int i = 1; i <= 3; i++) {
    ASSERT_OK_AND_ASSIGN(uint64_t seq, vs->Commit(7, {{"k", false, std::to_string(i)}}));
    EXPECT_EQ(seq, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(vs->HeadSeq(7), 3u);
  EXPECT_EQ(vs->Stats(7).head_seq, 3u);
  EXPECT_EQ(vs->Stats(7).durable_seq, 0u);
  EXPECT_GT(vs->Stats(7).memtable_bytes, 0u);
  ASSERT_OK(vs->Flush(7));
  BranchStats s = vs->Stats(7);
  EXPECT_EQ(s.durable_seq, 3u);
  EXPECT_EQ(s.head_seq, 3u);
  EXPECT_EQ(s.layers, 1u);
  EXPECT_GT(s.layer_bytes, 0u);
  ASSERT_OK(vs->Commit(7, {{"k", false, "4"}}));
  EXPECT_EQ(vs->Stats(7).head_seq, 4u);
  EXPECT_EQ(vs->Stats(7).durable_seq, 3u);
  ASSERT_OK(vs->Flush(7));  // an empty second flush changes nothing
  ASSERT_OK(vs->Flush(7));
  EXPECT_EQ(vs->Stats(7).layers, 2u);
  EXPECT_EQ(vs->Stats(7).durable_seq, 4u);
  EXPECT_EQ(env.List("branches/7/layers/").size(), 2u);
}

}  // namespace
}  // namespace strata
