#include "catalog/branch_changes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "catalog/branch_test_util.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {
namespace {

using testing::BranchEnv;
using testing::Page;

// The keys BranchFs writes for each operation (docs/keyspace.md), on one
// branch, enough to build a PGDATA-like tree.
class Writer {
 public:
  Writer(BranchEnv& env, const std::string& branch) : env_(env), branch_(branch) {}
  uint32_t id() { return env_.Find(branch_)->id; }
  InodeAttr Get(uint64_t ino) {
    auto v = env_.vs()->Get(env_.LineageOf(branch_), AttrKey(ino));
    InodeAttr a;
    EXPECT_TRUE(v.ok() && v->has_value() && DecodeInodeAttr(**v, &a)) << ino;
    return a;
  }
  void Commit(std::vector<KeyPut> puts) { ASSERT_OK(env_.vs()->Commit(id(), std::move(puts))); }
  uint64_t Make(uint64_t dir, const std::string& name, uint32_t mode) {
    InodeAttr a;
    a.ino = a.data_id = MakeIno(id(), env_.vs()->AllocCounter(id()));
    a.mode = mode;
    a.nlink = S_ISDIR(mode) ? 2 : 1;
    Commit({{AttrKey(a.ino), false, EncodeInodeAttr(a)},
            {DirentKey(dir, name), false, EncodeDirent(a.ino, mode)}});
    return a.ino;
  }
  void Write(uint64_t ino, uint64_t block, char c) {
    InodeAttr a = Get(ino);
    std::vector<KeyPut> puts = {{PageKey(a.data_id, block), false, Page(c)}};
    if (a.size < (block + 1) * kPageSize) {
      a.size = (block + 1) * kPageSize;
      puts.push_back({AttrKey(ino), false, EncodeInodeAttr(a)});
    }
    Commit(std::move(puts));
  }
  void TruncateToZero(uint64_t ino) {
    InodeAttr a = Get(ino);
    const uint64_t old = a.data_id;
    a.data_id = MakeIno(id(), env_.vs()->AllocCounter(id()));
    a.size = 0;
    Commit({{DeadKey(old), false, ""}, {AttrKey(ino), false, EncodeInodeAttr(a)}});
  }
  void Unlink(uint64_t dir, const std::string& name, uint64_t ino) {
    InodeAttr a = Get(ino);
    Commit({{DirentKey(dir, name), true, ""},
            {AttrKey(ino), true, ""},
            {DeadKey(a.data_id), false, ""}});
  }
  void Touch(uint64_t ino) {
    InodeAttr a = Get(ino);
    a.mtime_ns += 1;
    Commit({{AttrKey(ino), false, EncodeInodeAttr(a)}});
  }

 private:
  BranchEnv& env_;
  const std::string branch_;
};

std::map<std::string, FileChange> ByPath(const SideChanges& s) {
  std::map<std::string, FileChange> m;
  for (const FileChange& f : s.files) m[f.path] = f;
  return m;
}

class BranchChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(env.Open());
    ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
    root = env.Find("main")->root_ino;
    Writer w(env, "main");
    base = w.Make(root, "base", S_IFDIR | 0700);
    db = w.Make(base, "5", S_IFDIR | 0700);
    for (int i = 0; i < 20; i++) {
      rel[i] = w.Make(db, std::to_string(16384 + i), S_IFREG | 0600);
      for (uint64_t b = 0; b < 3; b++) w.Write(rel[i], b, 'a');
    }
    ctl = w.Make(root, "pg_control", S_IFREG | 0600);
    w.Write(ctl, 0, 'c');
    ASSERT_OK(env.vs()->Flush(env.Find("main")->id));
  }
  Result<BranchChanges> Diff(const std::string& a, const std::string& b) {
    auto cat = env.catalog()->Current();
    return DiffBranches(env.vs(), *cat, *cat->FindBranch(a), *cat->FindBranch(b));
  }

  BranchEnv env;
  uint64_t root = 0, base = 0, db = 0, ctl = 0;
  uint64_t rel[20] = {};
};

TEST_F(BranchChangesTest, ChildChangesResolveToPathsWithPages) {
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  Writer kid(env, "kid");
  kid.Write(rel[1], 0, 'x');
  kid.Write(rel[1], 5, 'x');        // grows: block 5, size 6 pages
  kid.TruncateToZero(rel[2]);       // 3 old pages gone
  kid.Write(rel[2], 0, 'y');        // one new page where an old one was
  kid.Unlink(db, "16387", rel[3]);  // deleted: its 3 pages
  const uint64_t fresh = kid.Make(db, "99999", S_IFREG | 0600);
  kid.Write(fresh, 0, 'n');
  kid.Touch(rel[4]);                                          // times only: not a change
  const uint64_t gone = kid.Make(db, "tmp", S_IFREG | 0600);  // came and went
  kid.Write(gone, 0, 't');
  kid.Unlink(db, "tmp", gone);

  ASSERT_OK_AND_ASSIGN(BranchChanges d, Diff("kid", "main"));
  EXPECT_EQ(d.base.branch, env.Find("main")->id);
  EXPECT_EQ(d.base.seq, env.Find("kid")->fork_seq);
  EXPECT_TRUE(d.against.files.empty());
  auto files = ByPath(d.branch);
  ASSERT_EQ(files.size(), 4u) << d.branch.keys;
  EXPECT_EQ(files["base/5/16385"].pages, 2u);
  EXPECT_EQ(files["base/5/16385"].size, 6 * kPageSize);
  EXPECT_TRUE(files["base/5/16386"].truncated);
  EXPECT_EQ(files["base/5/16386"].pages, 3u);
  EXPECT_TRUE(files["base/5/16387"].deleted);
  EXPECT_EQ(files["base/5/16387"].pages, 3u);
  EXPECT_TRUE(files["base/5/99999"].created);
  EXPECT_EQ(files["base/5/99999"].pages, 1u);

  // The same after a flush: layers instead of memtables.
  ASSERT_OK(env.vs()->FlushAll());
  ASSERT_OK_AND_ASSIGN(BranchChanges again, Diff("kid", "main"));
  EXPECT_EQ(ByPath(again.branch).size(), 4u);
}

TEST_F(BranchChangesTest, ParentSideSiblingsAndGrandchildren) {
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  Writer(env, "kid").Write(rel[0], 0, 'k');
  Writer main(env, "main");
  main.Write(rel[9], 1, 'm');  // the parent moves on after the fork
  ASSERT_OK(env.manager()->CreateBranch("sib", "main", 0, 0));
  Writer(env, "sib").Write(rel[7], 0, 's');
  ASSERT_OK(env.manager()->CreateBranch("grandkid", "kid", 0, 0));
  Writer(env, "grandkid").Write(rel[5], 2, 'g');

  ASSERT_OK_AND_ASSIGN(BranchChanges d, Diff("kid", "main"));
  EXPECT_EQ(ByPath(d.branch).count("base/5/16384"), 1u);
  ASSERT_EQ(d.against.files.size(), 1u);
  EXPECT_EQ(d.against.files[0].path, "base/5/16393");

  // Siblings: kid forked before main's write, sib after it. The common point
  // is kid's fork point, and sib's side holds main's write too.
  ASSERT_OK_AND_ASSIGN(BranchChanges s, Diff("kid", "sib"));
  EXPECT_EQ(s.base.seq, env.Find("kid")->fork_seq);
  auto sib = ByPath(s.against);
  EXPECT_EQ(sib.size(), 2u);
  EXPECT_EQ(sib.count("base/5/16391"), 1u);
  EXPECT_EQ(sib.count("base/5/16393"), 1u);

  // A grandchild against its grandparent: its own level, and kid's.
  ASSERT_OK_AND_ASSIGN(BranchChanges g, Diff("grandkid", "main"));
  auto gk = ByPath(g.branch);
  EXPECT_EQ(gk.size(), 2u);
  EXPECT_EQ(gk.count("base/5/16384"), 1u);
  EXPECT_EQ(gk.count("base/5/16389"), 1u);

  // Since a seq, on the parent alone (promote's check).
  auto cat = env.catalog()->Current();
  ASSERT_OK_AND_ASSIGN(SideChanges since, ChangesSince(env.vs(), *cat, *cat->FindBranch("main"),
                                                       env.Find("kid")->fork_seq));
  ASSERT_EQ(since.files.size(), 1u);
  EXPECT_EQ(since.files[0].path, "base/5/16393");
}

TEST_F(BranchChangesTest, TwoRootsHaveNoCommonAncestor) {
  ASSERT_OK(env.manager()->CreateBranch("other", "", 0, 0));
  Result<BranchChanges> d = Diff("main", "other");
  ASSERT_EQ(d.status().code(), Code::kInvalid);
  EXPECT_EQ(d.status().message(),
            "branches 'main' and 'other' have no common ancestor: nothing to diff against");
}

TEST_F(BranchChangesTest, RandomPageWritesMatchTheirPaths) {
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  Writer kid(env, "kid");
  std::mt19937 rng(7);
  std::map<std::string, std::set<uint64_t>> want;
  for (int i = 0; i < 200; i++) {
    const int r = static_cast<int>(rng() % 20);
    const uint64_t b = rng() % 3;  // within the file: no size change
    kid.Write(rel[r], b, 'r');
    want["base/5/" + std::to_string(16384 + r)].insert(b);
    if (i % 50 == 49) ASSERT_OK(env.vs()->FlushAll());
  }
  ASSERT_OK_AND_ASSIGN(BranchChanges d, Diff("kid", "main"));
  auto files = ByPath(d.branch);
  ASSERT_EQ(files.size(), want.size());
  for (const auto& [path, blocks] : want) EXPECT_EQ(files[path].pages, blocks.size()) << path;
}

// ReadFirstPage follows the path through the directory entries and reads
// page 0 as the branch saw it at a seq: the version of then, not the head's.
TEST_F(BranchChangesTest, ReadFirstPageAtASeq) {
  Writer w(env, "main");
  const uint64_t global = w.Make(root, "global", S_IFDIR | 0700);
  const uint64_t control = w.Make(global, "pg_control", S_IFREG | 0600);
  w.Write(control, 0, 'x');
  const uint64_t then = env.vs()->HeadSeq(w.id());
  w.Write(control, 0, 'y');
  auto cat = env.catalog()->Current();
  const BranchInfo& main = *cat->FindBranch("main");
  ASSERT_OK_AND_ASSIGN(std::string old_page,
                       ReadFirstPage(env.vs(), *cat, main, then, "global/pg_control"));
  EXPECT_EQ(old_page, Page('x'));
  ASSERT_OK_AND_ASSIGN(std::string head,
                       ReadFirstPage(env.vs(), *cat, main, UINT64_MAX, "global/pg_control"));
  EXPECT_EQ(head, Page('y'));
  EXPECT_EQ(ReadFirstPage(env.vs(), *cat, main, UINT64_MAX, "global/nosuch").status().code(),
            Code::kNotFound);
  EXPECT_EQ(ReadFirstPage(env.vs(), *cat, main, UINT64_MAX, "global").status().code(),
            Code::kNotFound)
      << "a directory is not a file";
  // Before the file was made.
  EXPECT_EQ(ReadFirstPage(env.vs(), *cat, main, then - 2, "global/pg_control").status().code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace strata
