// BranchManager: O(1) branching (invariant 1), PostgreSQL fixups, and what a
// failed catalog write leaves behind.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "catalog/branch_manager.h"
#include "catalog/branch_test_util.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {
namespace {

using testing::BranchEnv;
using testing::CountingStore;
using testing::Page;

struct Cost {
  uint64_t puts = 0;
  uint64_t bytes = 0;
  std::vector<std::string> keys;
};

// Objects and bytes written to create a child (and a snapshot) of a branch
// holding `commits` commits of `pages_per_commit` pages each.
void MeasureBranchCost(int commits, int pages_per_commit, Cost* child, Cost* snap) {
  BranchEnv env;
  CountingStore* counter = env.Wrap<CountingStore>();
  ASSERT_OK(env.Open());
  ASSERT_OK_AND_ASSIGN(BranchInfo main, env.manager()->CreateBranch("main", "", 0, 0));
  uint64_t block = 0;
  for (int c = 0; c < commits; c++) {
    std::vector<KeyPut> puts;
    for (int p = 0; p < pages_per_commit; p++) {
      puts.push_back({PageKey(MakeIno(1, 7), block++), false, Page(static_cast<char>('a' + c))});
    }
    ASSERT_OK(env.vs()->Commit(main.id, std::move(puts)));
  }
  ASSERT_OK(env.vs()->Flush(main.id));
  EXPECT_EQ(env.vs()->HeadSeq(main.id), static_cast<uint64_t>(commits + 1));
  counter->Reset();
  ASSERT_OK(env.manager()->CreateBranch("child", "main", 0, 0));
  *child = {counter->puts, counter->bytes, counter->keys};
  counter->Reset();
  ASSERT_OK(env.manager()->CreateSnapshot("main", "snap"));
  *snap = {counter->puts, counter->bytes, counter->keys};
}

TEST(BranchManagerCost, BranchAndSnapshotWriteTheSameMetadataWhateverTheDataSize) {
  Cost small_child, small_snap, big_child, big_snap;
  MeasureBranchCost(10, 1, &small_child, &small_snap);  // 10 pages
  MeasureBranchCost(10, 1000, &big_child, &big_snap);   // 10000 pages
  EXPECT_EQ(small_child.puts, big_child.puts);
  EXPECT_EQ(small_child.bytes, big_child.bytes);
  EXPECT_EQ(small_child.keys, big_child.keys);
  EXPECT_EQ(small_snap.puts, big_snap.puts);
  EXPECT_EQ(small_snap.bytes, big_snap.bytes);
  // Constant and small: a catalog version (two when a block of branch ids
  // is reserved); no manifest, no layer, no page copied.
  EXPECT_LE(big_child.puts, 3u);
  EXPECT_LT(big_child.bytes, 4096u);
  EXPECT_LE(big_snap.puts, 1u);
  EXPECT_LT(big_snap.bytes, 4096u);
  for (const std::vector<std::string>* keys : {&big_child.keys, &big_snap.keys}) {
    for (const std::string& k : *keys) {
      EXPECT_EQ(k.rfind("catalog/", 0), 0u) << "branch or snapshot creation wrote " << k;
    }
  }
}

TEST(BranchManagerPostgres, ChildDoesNotInheritThePostmasterPid) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  ASSERT_OK_AND_ASSIGN(BranchInfo main, env.manager()->CreateBranch("main", "", 70, 70));
  InodeAttr pid;
  pid.ino = MakeIno(main.id, env.vs()->AllocCounter(main.id));
  pid.data_id = pid.ino;
  pid.mode = S_IFREG | 0600;
  pid.nlink = 1;
  pid.size = 5;
  const std::string dirent = DirentKey(main.root_ino, "postmaster.pid");
  ASSERT_OK(env.vs()->Commit(
      main.id, {{AttrKey(pid.ino), false, EncodeInodeAttr(pid)},
                {dirent, false, EncodeDirent(pid.ino, pid.mode)},
                {DirentKey(main.root_ino, "PG_VERSION"), false, EncodeDirent(pid.ino + 1, S_IFREG)},
                {PageKey(pid.ino, 0), false, std::string("4242\n")}}));
  ASSERT_OK(env.manager()->CreateBranch("child", "main", 0, 0));
  for (int round = 0; round < 2; round++) {
    ASSERT_OK_AND_ASSIGN(auto in_child, env.vs()->Get(env.LineageOf("child"), dirent));
    EXPECT_FALSE(in_child.has_value());
    ASSERT_OK_AND_ASSIGN(auto in_parent, env.vs()->Get(env.LineageOf("main"), dirent));
    EXPECT_TRUE(in_parent.has_value());
    std::vector<std::string> child_names, parent_names;
    ASSERT_OK(env.vs()->Scan(
        env.LineageOf("child"), DirentPrefix(main.root_ino),
        [&](std::string_view k, const std::string&) { child_names.emplace_back(DirentName(k)); }));
    ASSERT_OK(env.vs()->Scan(
        env.LineageOf("main"), DirentPrefix(main.root_ino),
        [&](std::string_view k, const std::string&) { parent_names.emplace_back(DirentName(k)); }));
    EXPECT_EQ(child_names, std::vector<std::string>{"PG_VERSION"});
    EXPECT_EQ(parent_names, (std::vector<std::string>{"PG_VERSION", "postmaster.pid"}));
    // The parent's inode keeps its link.
    ASSERT_OK_AND_ASSIGN(auto attr, env.vs()->Get(env.LineageOf("main"), AttrKey(pid.ino)));
    InodeAttr a;
    ASSERT_TRUE(attr && DecodeInodeAttr(*attr, &a));
    EXPECT_EQ(a.nlink, 1u);
    ASSERT_OK(env.vs()->FlushAll());
    ASSERT_OK(env.ReopenFromCatalog());
  }
}

TEST(BranchManagerFailure, FailedCatalogWriteLeavesNoBranchBehind) {
  BranchEnv env;
  CountingStore* store = env.Wrap<CountingStore>();
  ASSERT_OK(env.Open());
  ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
  store->fail_catalog = true;
  const uint64_t version = env.catalog()->Current()->version;
  const std::vector<std::string> before = env.List("branches/");
  EXPECT_EQ(CodeOf(env.manager()->CreateBranch("child", "main", 0, 0)), Code::kIO);
  EXPECT_EQ(CodeOf(env.manager()->CreateBranch("root2", "", 0, 0)), Code::kIO);
  EXPECT_EQ(CodeOf(env.manager()->CreateSnapshot("main", "s")), Code::kIO);
  EXPECT_EQ(env.catalog()->Current()->version, version);
  EXPECT_EQ(env.List("branches/"), before);
  EXPECT_FALSE(env.vs()->HasBranch(2));
  store->fail_catalog = false;
}

// A creation that fails at the catalog write must leave nothing that a later
// branch could inherit: ids come from blocks reserved in the catalog, so the
// failed attempt gets no id at all here, and an attempt that fails later
// (after writing op-log records) burns its id. After a crash, replay must not
// hand a dead attempt's records to the new branch.
TEST(BranchManagerFailure, ReusedIdAfterAFailedCreationRecoversTheNewBranchsData) {
  BranchEnv env;
  CountingStore* store = env.Wrap<CountingStore>();
  ASSERT_OK(env.Open());
  store->fail_catalog = true;
  EXPECT_EQ(CodeOf(env.manager()->CreateBranch("first", "", 1000, 1000)), Code::kIO);
  store->fail_catalog = false;
  ASSERT_OK_AND_ASSIGN(BranchInfo b, env.manager()->CreateBranch("second", "", 2000, 2000));
  ASSERT_OK(env.vs()->Sync());
  ASSERT_OK(env.ReopenFromCatalog());
  ASSERT_OK_AND_ASSIGN(auto bytes, env.vs()->Get(env.LineageOf("second"), AttrKey(b.root_ino)));
  InodeAttr a;
  ASSERT_TRUE(bytes && DecodeInodeAttr(*bytes, &a));
  EXPECT_EQ(a.uid, 2000u) << "branch 'second' came back with the failed attempt's root dir";
}

}  // namespace
}  // namespace strata
