// BranchFs namespace operations, in memory, in layers and after recovery.
#include "fs/branch_fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "fs/branch_fs_test_util.h"

namespace strata {
namespace {

using testing::FsTest;
using NameList = std::vector<std::string>;

class FsNamespace : public FsTest {};

TEST_P(FsNamespace, CreateLookupReaddirUnlinkRmdir) {
  BranchFs& fs = Fs("main");
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "file"));
  EXPECT_EQ(f.mode, static_cast<uint32_t>(S_IFREG | 0644));
  EXPECT_EQ(f.uid, 1000u);
  EXPECT_EQ(f.nlink, 1u);
  EXPECT_EQ(f.size, 0u);
  ASSERT_OK_AND_ASSIGN(InodeAttr d, Create("main", Root(), "dir", S_IFDIR | 0755));
  EXPECT_EQ(d.nlink, 2u);
  ASSERT_OK(Create("main", d.ino, "inner"));
  ASSERT_OK(Create("main", Root(), "gone"));
  ASSERT_OK(fs.Unlink(Root(), "gone"));
  EXPECT_EQ(CodeOf(fs.MakeNode(Root(), "file", S_IFREG | 0600, 0, 0, 0)), Code::kExists);  // O_EXCL
  EXPECT_EQ(CodeOf(fs.MakeNode(Root(), "dir", S_IFDIR | 0700, 0, 0, 0)), Code::kExists);
  Restart();
  BranchFs& fs2 = Fs("main");
  EXPECT_EQ(Names("main", Root()), (NameList{"dir", "file"}));
  EXPECT_EQ(Names("main", InoOf("main", Root(), "dir")), NameList{"inner"});
  EXPECT_EQ(InoOf("main", Root(), "file"), f.ino);
  EXPECT_EQ(CodeOf(fs2.Lookup(Root(), "gone")), Code::kNotFound);
  EXPECT_EQ(Nlink("main", Root()), 3u);  // ".", its name, and dir's ".."
  EXPECT_EQ(CodeOf(fs2.MakeNode(Root(), "file", S_IFREG | 0600, 0, 0, 0)), Code::kExists);
  EXPECT_EQ(CodeOf(fs2.Rmdir(Root(), "dir")), Code::kNotEmpty);
  EXPECT_EQ(CodeOf(fs2.Rmdir(Root(), "file")), Code::kNotDir);
  EXPECT_EQ(CodeOf(fs2.Unlink(Root(), "dir")), Code::kIsDir);
  EXPECT_EQ(CodeOf(fs2.Unlink(Root(), "nothing")), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs2.Lookup(f.ino, "x")), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs2.MakeNode(f.ino, "x", S_IFREG | 0600, 0, 0, 0)), Code::kNotDir);
  ASSERT_OK(fs2.Unlink(d.ino, "inner"));
  ASSERT_OK(fs2.Rmdir(Root(), "dir"));
  EXPECT_EQ(Nlink("main", Root()), 2u);
  Restart();
  EXPECT_EQ(Names("main", Root()), NameList{"file"});
  EXPECT_EQ(Nlink("main", Root()), 2u);
}

TEST_P(FsNamespace, RenameOverNoReplaceExchangeAndCycles) {
  BranchFs& fs = Fs("main");
  ASSERT_OK_AND_ASSIGN(InodeAttr a, Create("main", Root(), "a"));
  ASSERT_OK_AND_ASSIGN(InodeAttr b, Create("main", Root(), "b"));
  WriteStr("main", a.ino, 0, "AAA");
  WriteStr("main", b.ino, 0, "BB");
  ASSERT_OK_AND_ASSIGN(InodeAttr d, Create("main", Root(), "d", S_IFDIR | 0755));
  ASSERT_OK_AND_ASSIGN(InodeAttr sub, Create("main", d.ino, "sub", S_IFDIR | 0755));
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "a", Root(), "b", RENAME_NOREPLACE)), Code::kExists);
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "a", Root(), "none", RENAME_EXCHANGE)), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "d", d.ino, "x", 0)), Code::kInvalid);
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "d", sub.ino, "x", 0)), Code::kInvalid);
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "missing", Root(), "x", 0)), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "a", Root(), "d", 0)), Code::kIsDir);
  EXPECT_EQ(CodeOf(fs.Rename(Root(), "d", Root(), "a", 0)), Code::kNotDir);
  ASSERT_OK(fs.Rename(Root(), "a", Root(), "b", 0));  // over an existing file
  ASSERT_OK(Create("main", Root(), "c"));
  ASSERT_OK(fs.Rename(Root(), "b", Root(), "c", RENAME_EXCHANGE));
  ASSERT_OK(fs.Rename(d.ino, "sub", Root(), "sub2", RENAME_NOREPLACE));  // dir moves up
  Restart();
  EXPECT_EQ(Names("main", Root()), (NameList{"b", "c", "d", "sub2"}));
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "c")), "AAA");
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "b")), "");
  EXPECT_EQ(InoOf("main", Root(), "c"), a.ino);
  EXPECT_EQ(Nlink("main", b.ino), 0u);  // replaced: no name left
  EXPECT_EQ(Names("main", d.ino), NameList{});
  EXPECT_EQ(Nlink("main", d.ino), 2u);
  EXPECT_EQ(Nlink("main", Root()), 4u);  // d and sub2
  ASSERT_OK_AND_ASSIGN(InodeAttr s2, Fs("main").GetAttr(sub.ino));
  EXPECT_EQ(s2.parent, Root());
}

// Renaming a directory over an empty one in the same parent removes one
// subdirectory, so the parent loses exactly one link.
TEST_P(FsNamespace, RenameDirOverEmptyDirInSameParentFixesParentLinks) {
  BranchFs& fs = Fs("main");
  ASSERT_OK(Create("main", Root(), "x", S_IFDIR | 0755));
  ASSERT_OK(Create("main", Root(), "y", S_IFDIR | 0755));
  EXPECT_EQ(Nlink("main", Root()), 4u);
  ASSERT_OK(fs.Rename(Root(), "x", Root(), "y", 0));
  Restart();
  EXPECT_EQ(Names("main", Root()), (NameList{"y"}));
  EXPECT_EQ(Nlink("main", Root()), 3u);
}

// Truncation tombstones only the pages that exist: cutting a petabyte-sized
// sparse file must not try to write 1.3e11 tombstones.
TEST_P(FsNamespace, TruncatingAHugeSparseFileCostsWhatItHolds) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "sparse"));
  ASSERT_OK(Truncate("main", f.ino, uint64_t{1} << 50));
  WriteStr("main", f.ino, 5ull << 30, "far");
  WriteStr("main", f.ino, 0, "near");
  ASSERT_OK(Truncate("main", f.ino, 2));
  ASSERT_OK(Truncate("main", f.ino, 6ull << 30));
  Restart();
  std::string buf(8, 'x');
  ASSERT_OK_AND_ASSIGN(size_t n, Fs("main").Read(f.ino, 5ull << 30, buf.size(), buf.data()));
  EXPECT_EQ(n, buf.size());
  EXPECT_EQ(buf, std::string(8, '\0'));  // the page past the cut stays hidden
  ASSERT_OK_AND_ASSIGN(n, Fs("main").Read(f.ino, 0, buf.size(), buf.data()));
  EXPECT_EQ(buf, std::string("ne") + std::string(6, '\0'));
}

TEST_P(FsNamespace, HardLinksSymlinksAndReadlink) {
  BranchFs& fs = Fs("main");
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f"));
  WriteStr("main", f.ino, 0, "shared");
  ASSERT_OK_AND_ASSIGN(InodeAttr l, fs.Link(f.ino, Root(), "g"));
  EXPECT_EQ(l.nlink, 2u);
  EXPECT_EQ(CodeOf(fs.Link(f.ino, Root(), "g")), Code::kExists);
  EXPECT_EQ(CodeOf(fs.Link(Root(), Root(), "rootlink")), Code::kPermission);
  ASSERT_OK_AND_ASSIGN(InodeAttr s, fs.Symlink(Root(), "ln", "../target/x", 1000, 1000));
  EXPECT_EQ(s.mode & S_IFMT, static_cast<uint32_t>(S_IFLNK));
  EXPECT_EQ(s.size, 11u);
  EXPECT_EQ(CodeOf(fs.Symlink(Root(), "ln", "y", 0, 0)), Code::kExists);
  EXPECT_EQ(CodeOf(fs.ReadLink(f.ino)), Code::kInvalid);
  Restart();
  BranchFs& fs2 = Fs("main");
  EXPECT_EQ(Nlink("main", f.ino), 2u);
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "g")), "shared");
  ASSERT_OK_AND_ASSIGN(std::string target, fs2.ReadLink(InoOf("main", Root(), "ln")));
  EXPECT_EQ(target, "../target/x");
  ASSERT_OK(fs2.Unlink(Root(), "f"));
  EXPECT_EQ(Nlink("main", f.ino), 1u);
  Restart();
  EXPECT_EQ(Nlink("main", f.ino), 1u);
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "g")), "shared");
  ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> entries, Fs("main").ReadDir(Root()));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "g");
  EXPECT_EQ(entries[0].type, static_cast<uint32_t>(S_IFREG));
  EXPECT_EQ(entries[1].name, "ln");
  EXPECT_EQ(entries[1].type, static_cast<uint32_t>(S_IFLNK));
}

TEST_P(FsNamespace, SetAttrModeUidGidAndFallocate) {
  BranchFs& fs = Fs("main");
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f", S_IFREG | 0600));
  SetAttrRequest req;
  req.mode = 04751;
  req.uid = 26;
  req.gid = 27;
  ASSERT_OK_AND_ASSIGN(InodeAttr a, fs.SetAttr(f.ino, req));
  EXPECT_EQ(a.mode, static_cast<uint32_t>(S_IFREG | 04751));
  ASSERT_OK(fs.Fallocate(f.ino, 0, 0, 20000));
  EXPECT_EQ(Size("main", f.ino), 20000u);
  ASSERT_OK(fs.Fallocate(f.ino, FALLOC_FL_KEEP_SIZE, 0, 90000));
  EXPECT_EQ(Size("main", f.ino), 20000u);
  ASSERT_OK(fs.Fallocate(f.ino, 0, 100, 50));  // inside the file: no change
  EXPECT_EQ(Size("main", f.ino), 20000u);
  EXPECT_EQ(CodeOf(fs.Fallocate(f.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10)),
            Code::kNotSupported);
  EXPECT_EQ(CodeOf(fs.Fallocate(f.ino, FALLOC_FL_ZERO_RANGE, 0, 10)), Code::kNotSupported);
  EXPECT_EQ(CodeOf(fs.Fallocate(f.ino, FALLOC_FL_COLLAPSE_RANGE, 0, 8192)), Code::kNotSupported);
  Restart();
  ASSERT_OK_AND_ASSIGN(InodeAttr b, Fs("main").GetAttr(f.ino));
  EXPECT_EQ(b.mode, static_cast<uint32_t>(S_IFREG | 04751));
  EXPECT_EQ(b.uid, 26u);
  EXPECT_EQ(b.gid, 27u);
  EXPECT_EQ(b.size, 20000u);
  EXPECT_EQ(ReadAll("main", f.ino), std::string(20000, '\0'));
}

INSTANTIATE_TEST_SUITE_P(Modes, FsNamespace, STRATA_FS_MODES, testing::ModeName);

}  // namespace
}  // namespace strata
