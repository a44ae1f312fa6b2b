// BranchFs on a store several daemons share (docs/cluster.md, "Failover"):
// a mutation claims the branch before it reads anything, so it builds on
// what another daemon wrote since this one last read the branch, never on
// attributes cached before.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "catalog/branch_test_util.h"
#include "common/status_test_util.h"
#include "fs/branch_fs.h"
#include "oplog/local_sink.h"

namespace strata {
namespace {

using testing::BranchEnv;

TEST(BranchFsClaim, AMutationBuildsOnWhatTheLastHolderWroteNotOnACachedAttribute) {
  uint64_t epochs = 0;
  auto grant = [&](uint32_t) -> Result<uint64_t> { return ++epochs; };
  BranchEnv a;
  a.options().claim = grant;
  ASSERT_OK(a.Open());
  ASSERT_OK(a.vs()->Recover({}));
  ASSERT_OK(a.manager()->CreateBranch("main", "", 0, 0).status());
  const BranchInfo main = *a.Find("main");
  BranchFs fs_a(a.vs(), a.LineageOf("main"), main.root_ino);
  ASSERT_OK_AND_ASSIGN(InodeAttr f, fs_a.MakeNode(main.root_ino, "f", S_IFREG | 0644, 0, 0, 0));
  ASSERT_OK(fs_a.Write(f.ino, 0, std::string(100, 'a').data(), 100).status());
  ASSERT_OK(a.vs()->Flush(main.id));
  ASSERT_OK(a.vs()->Unclaim(main.id));  // A hands the branch over

  // B, another daemon on the store, reads the file: 100 bytes, cached.
  testing::TempDir b_dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Sink> b_sink, OpenLocalSink(b_dir.path() + "/sink"));
  VersionStoreOptions b_opts;
  b_opts.index_dir = b_dir.path() + "/index";
  b_opts.background_flush = false;
  b_opts.claim = grant;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<VersionStore> b,
                       VersionStore::Open(a.store(), b_sink.get(), b_opts));
  ASSERT_OK(b->Recover({main.id}));
  BranchFs fs_b(b.get(), a.LineageOf("main"), main.root_ino);
  int claims_seen = 0;
  fs_b.SetClaimHook([&](uint32_t id) {
    EXPECT_EQ(id, main.id);
    claims_seen++;
  });
  ASSERT_OK_AND_ASSIGN(InodeAttr seen, fs_b.GetAttr(f.ino));
  EXPECT_EQ(seen.size, 100u);

  // A takes the branch back and grows the file to 300 bytes.
  ASSERT_OK(fs_a.Write(f.ino, 100, std::string(200, 'b').data(), 200).status());
  ASSERT_OK(a.vs()->Flush(main.id));
  ASSERT_OK(a.vs()->Unclaim(main.id));

  // B writes one byte: it claims first, then reads the file as A left it.
  ASSERT_OK(fs_b.Write(f.ino, 0, "x", 1).status());
  EXPECT_EQ(claims_seen, 1);
  ASSERT_OK_AND_ASSIGN(InodeAttr now, fs_b.GetAttr(f.ino));
  EXPECT_EQ(now.size, 300u);
  std::string buf(300, '\0');
  ASSERT_OK_AND_ASSIGN(size_t n, fs_b.Read(f.ino, 0, buf.size(), buf.data()));
  ASSERT_EQ(n, 300u);
  EXPECT_EQ(buf, "x" + std::string(99, 'a') + std::string(200, 'b'));
  // A second write does not claim again.
  ASSERT_OK(fs_b.Write(f.ino, 1, "y", 1).status());
  EXPECT_EQ(claims_seen, 1);
}

}  // namespace
}  // namespace strata
