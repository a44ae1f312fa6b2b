#include "tools/store_verify.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "catalog/catalog.h"
#include "catalog/catalog_codec.h"
#include "cluster/branch_lease.h"
#include "cluster/node_registry.h"
#include "layers/manifest.h"
#include "layers/strata_test_util.h"
#include "storelog/log_object.h"

namespace strata {
namespace {

using testing::Page;
using testing::TestEnv;

void FlipByte(const std::string& path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << path;
  f.seekg(offset);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(offset);
  f.write(&c, 1);
}

// A store with store.json, a catalog and two flushed layers of branch 1.
class StoreVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(env_.Open());
    ObjectStore* store = env_.file_store();
    ASSERT_OK(store->Put("store.json", R"({"kind": "strata-store", "format": 1, "id": "x"})"));
    CatalogData c;
    c.version = 1;
    c.next_branch_id = 2;
    c.branches.push_back({1, "main", 0, 0, 1, 0, std::nullopt, "", 0, 0, std::nullopt, ""});
    ASSERT_OK(store->Put("catalog/00000000000000000001.json", EncodeCatalog(c)));
    ASSERT_OK(env_.vs()->CreateBranch(1));
    ASSERT_OK(env_.vs()->Commit(1, {{"a", false, Page('a')}, {"b", false, "small"}}));
    ASSERT_OK(env_.vs()->Flush(1));
    ASSERT_OK(env_.vs()->Commit(1, {{"c", false, Page('c')}}));
    ASSERT_OK(env_.vs()->Flush(1));
  }

  VerifyReport Verify() {
    Result<VerifyReport> r = VerifyStore(env_.file_store(), 3);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }
  std::string Path(const std::string& key) { return env_.store_root() + "/" + key; }

  TestEnv env_;
};

TEST_F(StoreVerifyTest, CleanStoreHasNoProblems) {
  VerifyReport r = Verify();
  EXPECT_TRUE(r.problems.empty()) << r.problems[0].key << ": " << r.problems[0].what;
  EXPECT_EQ(r.layers, 2u);
  EXPECT_EQ(r.values, 2u);   // two pages; "small" is inline
  EXPECT_GE(r.objects, 6u);  // store.json, catalog, 2 manifests, 2 layers
  EXPECT_TRUE(r.unreferenced.empty());
  EXPECT_TRUE(r.unknown.empty());
}

TEST_F(StoreVerifyTest, ReportsLayerKindsAndTheGarbageOfOverwrittenPages) {
  VerifyReport clean = Verify();
  ASSERT_EQ(clean.branches.size(), 1u);
  EXPECT_EQ(clean.branches[0].name, "main");
  EXPECT_EQ(clean.branches[0].kinds, (std::map<std::string, uint64_t>{{"delta", 2}}));
  EXPECT_EQ(clean.garbage_bytes, 0u);
  // Page "a" written again, and the history floor (which the next manifest
  // records) raised past it: the old page is garbage no point reads.
  ASSERT_OK(env_.vs()->Commit(1, {{"a", false, Page('A')}}));
  env_.vs()->RaiseHistoryFloor(1, env_.vs()->HeadSeq(1), 1);
  ASSERT_OK(env_.vs()->Flush(1));
  VerifyReport r = Verify();
  ASSERT_EQ(r.branches.size(), 1u);
  EXPECT_EQ(r.branches[0].layers, 3u);
  EXPECT_GT(r.garbage_bytes, 0u);
  EXPECT_EQ(r.garbage_bytes, r.branches[0].garbage_bytes);
  // Leaked: a layer object no manifest names.
  ASSERT_OK(env_.file_store()->Put(LayerObjectKey(1, 99),
                                   env_.file_store()->Get(LayerObjectKey(1, 1)).value()));
  VerifyReport leaked = Verify();
  EXPECT_EQ(leaked.unreferenced, (std::vector<std::string>{LayerObjectKey(1, 99)}));
  EXPECT_GT(leaked.unreferenced_bytes, 0u);
}

TEST(StoreVerify, AStoreWithoutStoreJsonIsNotFound) {
  testing::TempDir dir;
  FileObjectStore empty(dir.path());
  EXPECT_EQ(VerifyStore(&empty).status().code(), Code::kNotFound);
}

TEST_F(StoreVerifyTest, FlippedByteAnywhereInALayerIsReportedByName) {
  const std::string key = LayerObjectKey(1, 2);
  std::ifstream in(Path(key), std::ios::binary | std::ios::ate);
  const long size = static_cast<long>(in.tellg());
  for (long offset : {0L, size / 2, size - 1}) {
    SCOPED_TRACE(offset);
    FlipByte(Path(key), offset);
    VerifyReport r = Verify();
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].key, key);
    EXPECT_NE(r.problems[0].what.find(key), std::string::npos) << r.problems[0].what;
    FlipByte(Path(key), offset);  // restore
    EXPECT_TRUE(Verify().problems.empty());
  }
}

TEST_F(StoreVerifyTest, MissingLayerAndBadManifestAndCatalogAreProblems) {
  ASSERT_OK(env_.file_store()->Delete(LayerObjectKey(1, 1)));
  ASSERT_OK(env_.file_store()->Put("catalog/00000000000000000002.json", "{not json"));
  VerifyReport r = Verify();
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].key, "catalog/00000000000000000002.json");
  EXPECT_EQ(r.problems[1].key, LayerObjectKey(1, 1));
  EXPECT_NE(r.problems[1].what.find("missing"), std::string::npos);

  ASSERT_OK(env_.file_store()->Put("branches/1/manifest/99999999999999999999.json", "[]"));
  r = Verify();
  EXPECT_EQ(r.problems.size(), 3u);
}

TEST_F(StoreVerifyTest, ACatalogChainThatDoesNotLoadIsAProblem) {
  // Every object decodes, but the newest version is a delta on a checkpoint
  // the store does not hold: the daemon could not load this catalog.
  CatalogDelta d;
  d.version = 99;
  d.checkpoint = 98;
  ASSERT_OK(env_.file_store()->Put(CatalogKey(99), EncodeCatalogDelta(d)));
  VerifyReport r = Verify();
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].key, "catalog/");
  EXPECT_NE(r.problems[0].what.find(CatalogKey(98)), std::string::npos) << r.problems[0].what;
}

TEST_F(StoreVerifyTest, AMalformedStoreJsonIsAProblem) {
  for (const char* marker : {"{not json", R"({"kind": "other", "format": 1, "id": "x"})",
                             R"({"kind": "strata-store", "format": 2, "id": "x"})"}) {
    SCOPED_TRACE(marker);
    ASSERT_OK(env_.file_store()->Put("store.json", marker));
    VerifyReport r = Verify();
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].key, "store.json");
  }
}

TEST_F(StoreVerifyTest, LeakedLayersAreNotesAndStrangeKeysAreListed) {
  ASSERT_OK_AND_ASSIGN(std::string layer, env_.file_store()->Get(LayerObjectKey(1, 2)));
  ASSERT_OK(env_.file_store()->Put(LayerObjectKey(1, 7), layer));  // a crashed flush's leftover
  ASSERT_OK(env_.file_store()->Put("stray/thing", "x"));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.problems.empty()) << r.problems[0].key << ": " << r.problems[0].what;
  EXPECT_EQ(r.unreferenced, std::vector<std::string>{LayerObjectKey(1, 7)});
  EXPECT_EQ(r.unknown, std::vector<std::string>{"stray/thing"});
}

TEST_F(StoreVerifyTest, NodeRecordsAndLeaseGrantsAreCheckedNotUnknown) {
  NodeRecord node;
  node.id = "n1";
  node.incarnation = "00112233445566ff";
  ASSERT_OK(env_.file_store()->Put(NodeKey("n1"), EncodeNodeRecord(node)));
  ASSERT_OK(env_.file_store()->Put(LeaseKey(1, 1), EncodeLeaseGrant({1, 1, "n1", "i", 0})));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.problems.empty()) << r.problems[0].key << ": " << r.problems[0].what;
  EXPECT_TRUE(r.unknown.empty());

  ASSERT_OK(env_.file_store()->Put(NodeKey("n2"), EncodeNodeRecord(node)));  // names n1
  ASSERT_OK(env_.file_store()->Put(LeaseKey(1, 2), "{"));
  r = Verify();
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].key, LeaseKey(1, 2));
  EXPECT_EQ(r.problems[0].what, "not a lease grant");
  EXPECT_EQ(r.problems[1].key, NodeKey("n2"));
  EXPECT_EQ(r.problems[1].what, "names node n1, not its own");
}

TEST_F(StoreVerifyTest, LogObjectsAreCheckedNotUnknown) {
  LogObject fence;
  fence.kind = LogObjectKind::kFence;
  fence.branch = 1;
  const std::string good = EncodeLogObject(fence);
  ASSERT_OK(env_.file_store()->Put(LogObjectKey(1, 1), good));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.problems.empty()) << r.problems[0].key << ": " << r.problems[0].what;
  EXPECT_TRUE(r.unknown.empty());

  std::string flipped = good;
  flipped[20] ^= 1;
  ASSERT_OK(env_.file_store()->Put(LogObjectKey(1, 2), flipped));
  ASSERT_OK(env_.file_store()->Put(LogObjectKey(2, 1), good));  // holds branch 1
  r = Verify();
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].key, LogObjectKey(1, 2));
  EXPECT_NE(r.problems[0].what.find("checksum mismatch"), std::string::npos) << r.problems[0].what;
  EXPECT_EQ(r.problems[1].key, LogObjectKey(2, 1));
  EXPECT_EQ(r.problems[1].what, "holds branch 1");
}

}  // namespace
}  // namespace strata
