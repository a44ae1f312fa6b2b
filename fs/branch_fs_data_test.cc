// BranchFs file contents: odd-sized writes, holes, truncate-then-extend
// (invariant 2) in one branch and across a fork, in memory, in layers and
// after recovery.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fs/branch_fs.h"
#include "fs/branch_fs_test_util.h"
#include "layers/key.h"

namespace strata {
namespace {

using testing::FsTest;

std::string Bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>('A' + rng() % 26);
  return s;
}

// Applies a write to the expected contents.
void ModelWrite(std::string* model, uint64_t off, const std::string& s) {
  if (model->size() < off + s.size()) model->resize(off + s.size(), '\0');
  model->replace(off, s.size(), s);
}

class FsData : public FsTest {};

TEST_P(FsData, WritesAtOddOffsetsSpanningPagesAndHolesReadZeros) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f"));
  std::string model;
  struct W {
    uint64_t off;
    size_t len;
  };
  const std::vector<W> writes = {{3, 10},     {8190, 5},  {8192 * 3 + 7, 8192 * 2 + 11},
                                 {100, 8192}, {40000, 1}, {8192 * 10, 8192},
                                 {8191, 1},   {0, 1}};
  uint64_t seed = 1;
  for (const W& w : writes) {
    std::string s = Bytes(w.len, seed++);
    WriteStr("main", f.ino, w.off, s);
    ModelWrite(&model, w.off, s);
  }
  EXPECT_EQ(Size("main", f.ino), model.size());
  EXPECT_EQ(ReadAll("main", f.ino), model);
  Restart();
  EXPECT_EQ(Size("main", f.ino), model.size());
  EXPECT_EQ(ReadAll("main", f.ino), model);
  // Short reads at odd offsets, and at/after EOF.
  std::string buf(20000, '?');
  ASSERT_OK_AND_ASSIGN(size_t n, Fs("main").Read(f.ino, 8187, 20000, buf.data()));
  EXPECT_EQ(n, 20000u);
  EXPECT_EQ(buf, model.substr(8187, 20000));
  ASSERT_OK_AND_ASSIGN(size_t tail, Fs("main").Read(f.ino, model.size() - 5, 100, buf.data()));
  EXPECT_EQ(tail, 5u);
  ASSERT_OK_AND_ASSIGN(size_t past, Fs("main").Read(f.ino, model.size() + 1, 100, buf.data()));
  EXPECT_EQ(past, 0u);
  // Pages 5..9 were never written: zeros.
  EXPECT_EQ(model.substr(8192 * 6, 8192), std::string(8192, '\0'));
}

// Writes `size0` bytes of old data, truncates to `cut`, extends back to
// `size0` (by truncate), then checks the file reads old[0,cut) + zeros.
class FsTruncate : public FsTest {
 protected:
  void CheckTruncateExtend(const std::string& writer, const std::string& cutter, uint64_t cut) {
    const uint64_t size0 = 8192 * 3 + 100;
    const std::string old = Bytes(size0, 7);
    ASSERT_OK_AND_ASSIGN(InodeAttr f, Create(writer, Root(), "t" + std::to_string(cut)));
    WriteStr(writer, f.ino, 0, old);
    if (cutter != writer) {
      Restart();
      ASSERT_OK(env.manager()->CreateBranch(cutter, writer, 0, 0));
    }
    ASSERT_OK(Truncate(cutter, f.ino, cut));
    EXPECT_EQ(Size(cutter, f.ino), cut);
    ASSERT_OK(Truncate(cutter, f.ino, size0));
    std::string want = old.substr(0, cut) + std::string(size0 - cut, '\0');
    EXPECT_EQ(ReadAll(cutter, f.ino), want) << "cut at " << cut;
    // Extending by a write past EOF leaves the gap zero too.
    ASSERT_OK(Truncate(cutter, f.ino, cut));
    WriteStr(cutter, f.ino, size0 + 10, "end");
    std::string want2 = old.substr(0, cut) + std::string(size0 + 10 - cut, '\0') + "end";
    EXPECT_EQ(ReadAll(cutter, f.ino), want2) << "cut at " << cut;
    Restart();
    EXPECT_EQ(ReadAll(cutter, f.ino), want2) << "cut at " << cut << ", after restart";
    if (cutter != writer) {
      EXPECT_EQ(ReadAll(writer, f.ino), old) << "the parent lost its bytes";
      EXPECT_EQ(Size(writer, f.ino), size0);
    }
  }
};

TEST_P(FsTruncate, SameBranchToZero) { CheckTruncateExtend("main", "main", 0); }
TEST_P(FsTruncate, SameBranchMidPage) { CheckTruncateExtend("main", "main", 8192 + 333); }
TEST_P(FsTruncate, SameBranchPageAligned) { CheckTruncateExtend("main", "main", 8192 * 2); }
TEST_P(FsTruncate, ChildOverParentDataToZero) { CheckTruncateExtend("main", "kid", 0); }
TEST_P(FsTruncate, ChildOverParentDataMidPage) { CheckTruncateExtend("main", "kid", 8192 + 333); }
TEST_P(FsTruncate, ChildOverParentDataPageAligned) { CheckTruncateExtend("main", "kid", 8192 * 2); }

TEST_P(FsData, UnlinkRecreateAndRenameOverInAChildLeaveTheParentAlone) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "data"));
  const std::string old = Bytes(8192 * 2 + 5, 3);
  WriteStr("main", f.ino, 0, old);
  ASSERT_OK_AND_ASSIGN(InodeAttr g, Create("main", Root(), "other"));
  WriteStr("main", g.ino, 0, "other-bytes");
  ASSERT_OK(Create("main", Root(), "postmaster.opts"));
  Restart();
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  EXPECT_EQ(ReadAll("kid", InoOf("kid", Root(), "data")), old);

  ASSERT_OK(Fs("kid").Unlink(Root(), "data"));
  ASSERT_OK_AND_ASSIGN(InodeAttr n, Create("kid", Root(), "data"));
  EXPECT_NE(n.ino, f.ino);
  WriteStr("kid", n.ino, 4, "new");
  ASSERT_OK(Fs("kid").Rename(Root(), "other", Root(), "postmaster.opts", 0));
  ASSERT_OK(Create("kid", Root(), "kid-only"));
  Restart();
  EXPECT_EQ(ReadAll("kid", InoOf("kid", Root(), "data")), std::string(4, '\0') + "new");
  EXPECT_EQ(ReadAll("kid", InoOf("kid", Root(), "postmaster.opts")), "other-bytes");
  std::vector<std::string> kid_names = Names("kid", Root());
  EXPECT_EQ(kid_names, (std::vector<std::string>{"data", "kid-only", "postmaster.opts"}));

  EXPECT_EQ(InoOf("main", Root(), "data"), f.ino);
  EXPECT_EQ(ReadAll("main", f.ino), old);
  EXPECT_EQ(Nlink("main", f.ino), 1u);
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "other")), "other-bytes");
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "postmaster.opts")), "");
  EXPECT_EQ(Names("main", Root()), (std::vector<std::string>{"data", "other", "postmaster.opts"}));
  EXPECT_EQ(CodeOf(Fs("main").Lookup(Root(), "kid-only")), Code::kNotFound);
}

TEST_P(FsData, ChildWritesDoNotLeakIntoTheParent) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "rel"));
  const std::string old = Bytes(8192 * 2, 9);
  WriteStr("main", f.ino, 0, old);
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  WriteStr("kid", f.ino, 8190, "XYZW");
  std::string kid = old;
  ModelWrite(&kid, 8190, "XYZW");
  WriteStr("main", f.ino, 0, "P");
  std::string parent = old;
  ModelWrite(&parent, 0, "P");
  Restart();
  EXPECT_EQ(ReadAll("kid", f.ino), kid);
  EXPECT_EQ(ReadAll("main", f.ino), parent);
}

// A page of zeros is stored as a tombstone, which reads as a hole: also in
// a child over its parent's data, and when partial writes zero a page.
TEST_P(FsData, PagesOfZerosAreStoredAsHoles) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "wal"));
  const std::string old = Bytes(8192 * 3, 5);
  WriteStr("main", f.ino, 0, old);
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  WriteStr("kid", f.ino, 8192, std::string(8192 * 2, '\0'));
  WriteStr("kid", f.ino, 0, std::string(100, '\0'));  // page 0 still holds data
  WriteStr("kid", f.ino, 100, std::string(8192 - 100, '\0'));
  Restart();
  EXPECT_EQ(ReadAll("kid", f.ino), std::string(8192 * 3, '\0'));
  EXPECT_EQ(ReadAll("main", f.ino), old);
  ASSERT_OK_AND_ASSIGN(InodeAttr a, Fs("kid").GetAttr(f.ino));
  for (uint64_t block = 0; block < 3; block++) {
    ASSERT_OK_AND_ASSIGN(std::optional<std::string> kid,
                         env.vs()->Get(env.LineageOf("kid"), PageKey(a.data_id, block)));
    EXPECT_FALSE(kid.has_value()) << "page " << block << " was stored as data";
    ASSERT_OK_AND_ASSIGN(std::optional<std::string> parent,
                         env.vs()->Get(env.LineageOf("main"), PageKey(a.data_id, block)));
    EXPECT_EQ(parent, old.substr(block * 8192, 8192));
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, FsData, STRATA_FS_MODES, testing::ModeName);
INSTANTIATE_TEST_SUITE_P(Modes, FsTruncate, STRATA_FS_MODES, testing::ModeName);

}  // namespace
}  // namespace strata
