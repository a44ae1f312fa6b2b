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
#include "layers/key.h"

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

// GC bookkeeping (layers/key.h, ino 0): kDead markers for superseded data
// ids, orphan markers for inodes with no name left, and Purge.
class FsOrphans : public FsTest {
 protected:
  // Whether `key` is live in the branch's view.
  bool Has(const std::string& branch, const std::string& key) {
    Result<std::optional<std::string>> v = env.vs()->Get(env.LineageOf(branch), key);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() && v->has_value();
  }
  // The inos of the branch's orphan markers.
  std::vector<uint64_t> Orphans(const std::string& branch) {
    std::vector<uint64_t> out;
    const std::string prefix = KeyPrefix(0, KeyKind::kOrphan);
    EXPECT_OK(env.vs()->ScanKeys(env.LineageOf(branch), prefix, prefix,
                                 [&](std::string_view key) { out.push_back(MetaKeyId(key)); }));
    return out;
  }
  uint64_t Head(const std::string& branch) { return env.vs()->HeadSeq(env.Find(branch)->id); }
};

TEST_P(FsOrphans, TruncateToZeroWritesADeadMarkerForTheOldDataId) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f"));
  WriteStr("main", f.ino, 0, std::string(8192 * 2 + 5, 'x'));
  ASSERT_OK(Truncate("main", f.ino, 100));  // the data id stays: no marker
  EXPECT_FALSE(Has("main", DeadKey(f.data_id)));
  ASSERT_OK(Truncate("main", f.ino, 0));
  ASSERT_OK_AND_ASSIGN(InodeAttr a, Fs("main").GetAttr(f.ino));
  EXPECT_NE(a.data_id, f.data_id);
  WriteStr("main", f.ino, 0, "new");
  Restart();
  EXPECT_TRUE(Has("main", DeadKey(f.data_id)));
  EXPECT_FALSE(Has("main", DeadKey(a.data_id)));
  EXPECT_EQ(ReadAll("main", f.ino), "new");
}

TEST_P(FsOrphans, UnlinkedFileStaysReadableUntilPurged) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f"));
  WriteStr("main", f.ino, 0, "still here");
  ASSERT_OK(Fs("main").Unlink(Root(), "f"));
  EXPECT_TRUE(Has("main", OrphanKey(f.ino)));
  WriteStr("main", f.ino, 5, "_HERE");  // an open handle keeps working
  Restart();
  EXPECT_EQ(Orphans("main"), std::vector<uint64_t>{f.ino});
  EXPECT_EQ(Nlink("main", f.ino), 0u);
  EXPECT_EQ(ReadAll("main", f.ino), "still_HERE");
  ASSERT_OK(Fs("main").Purge(f.ino));
  EXPECT_EQ(CodeOf(Fs("main").GetAttr(f.ino)), Code::kNotFound);  // not from the cache
  Restart();
  EXPECT_EQ(CodeOf(Fs("main").GetAttr(f.ino)), Code::kNotFound);
  EXPECT_FALSE(Has("main", AttrKey(f.ino)));
  EXPECT_FALSE(Has("main", OrphanKey(f.ino)));
  EXPECT_TRUE(Has("main", DeadKey(f.data_id)));
}

TEST_P(FsOrphans, PurgeOfALinkedOrMissingInodeOnlyDropsAStaleMarker) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f"));
  WriteStr("main", f.ino, 0, "linked");
  ASSERT_OK(Fs("main").Link(f.ino, Root(), "g"));
  ASSERT_OK(Fs("main").Unlink(Root(), "f"));  // one name left: no marker
  EXPECT_FALSE(Has("main", OrphanKey(f.ino)));
  uint64_t head = Head("main");
  ASSERT_OK(Fs("main").Purge(f.ino));
  ASSERT_OK(Fs("main").Purge(f.ino + 1000));  // no such inode
  EXPECT_EQ(Head("main"), head);              // nothing to do: nothing written
  ASSERT_OK(env.vs()->Commit(env.Find("main")->id, {{OrphanKey(f.ino), false, ""}}));
  ASSERT_OK(env.vs()->Commit(env.Find("main")->id, {{OrphanKey(f.ino + 1000), false, ""}}));
  Restart();
  ASSERT_OK(Fs("main").Purge(f.ino));
  ASSERT_OK(Fs("main").Purge(f.ino + 1000));
  Restart();
  EXPECT_EQ(Orphans("main"), std::vector<uint64_t>{});
  EXPECT_EQ(ReadAll("main", InoOf("main", Root(), "g")), "linked");
  EXPECT_EQ(Nlink("main", f.ino), 1u);
  EXPECT_FALSE(Has("main", DeadKey(f.data_id)));
}

TEST_P(FsOrphans, RmdirAndSymlinkUnlinkOrphanAndPurgeDeletesAll) {
  ASSERT_OK_AND_ASSIGN(InodeAttr d, Create("main", Root(), "d", S_IFDIR | 0755));
  ASSERT_OK_AND_ASSIGN(InodeAttr l, Fs("main").Symlink(Root(), "l", "target", 0, 0));
  ASSERT_OK(Fs("main").Rmdir(Root(), "d"));
  ASSERT_OK(Fs("main").Unlink(Root(), "l"));
  Restart();
  EXPECT_EQ(Orphans("main"), (std::vector<uint64_t>{d.ino, l.ino}));
  ASSERT_OK_AND_ASSIGN(std::string target, Fs("main").ReadLink(l.ino));
  EXPECT_EQ(target, "target");
  ASSERT_OK(Fs("main").Purge(d.ino));
  ASSERT_OK(Fs("main").Purge(l.ino));
  Restart();
  EXPECT_EQ(Orphans("main"), std::vector<uint64_t>{});
  EXPECT_FALSE(Has("main", AttrKey(d.ino)));
  EXPECT_FALSE(Has("main", AttrKey(l.ino)));
  EXPECT_FALSE(Has("main", SymlinkKey(l.ino)));
  EXPECT_FALSE(Has("main", DeadKey(d.data_id)));  // only regular files have pages
}

TEST_P(FsOrphans, PurgeOrphansPurgesEveryOrphan) {
  std::vector<uint64_t> gone;
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), name));
    WriteStr("main", f.ino, 0, name);
    gone.push_back(f.ino);
  }
  ASSERT_OK_AND_ASSIGN(InodeAttr kept, Create("main", Root(), "kept"));
  WriteStr("main", kept.ino, 0, "kept");
  for (const char* name : {"a", "b", "c"}) ASSERT_OK(Fs("main").Unlink(Root(), name));
  Restart();
  EXPECT_EQ(Orphans("main"), gone);
  ASSERT_OK(Fs("main").PurgeOrphans());
  Restart();
  EXPECT_EQ(Orphans("main"), std::vector<uint64_t>{});
  for (uint64_t ino : gone) {
    EXPECT_EQ(CodeOf(Fs("main").GetAttr(ino)), Code::kNotFound) << ino;
    EXPECT_TRUE(Has("main", DeadKey(ino))) << ino;  // a new file's data id is its ino
  }
  EXPECT_EQ(ReadAll("main", kept.ino), "kept");
  EXPECT_EQ(Names("main", Root()), NameList{"kept"});
}

TEST_P(FsOrphans, RenameOverAnExistingNameOrphansTheReplacedInode) {
  ASSERT_OK_AND_ASSIGN(InodeAttr a, Create("main", Root(), "a"));
  ASSERT_OK_AND_ASSIGN(InodeAttr b, Create("main", Root(), "b"));
  ASSERT_OK_AND_ASSIGN(InodeAttr c, Create("main", Root(), "c"));
  ASSERT_OK(Fs("main").Link(c.ino, Root(), "c2"));
  ASSERT_OK_AND_ASSIGN(InodeAttr x, Create("main", Root(), "x", S_IFDIR | 0755));
  ASSERT_OK_AND_ASSIGN(InodeAttr y, Create("main", Root(), "y", S_IFDIR | 0755));
  ASSERT_OK(Fs("main").Rename(Root(), "a", Root(), "b", 0));  // b loses its only name
  ASSERT_OK(Fs("main").Rename(Root(), "b", Root(), "c", 0));  // c keeps c2
  ASSERT_OK(Fs("main").Rename(Root(), "x", Root(), "y", 0));  // the empty y goes
  ASSERT_OK(Fs("main").Rename(Root(), "y", Root(), "c2", RENAME_EXCHANGE));  // no link lost
  Restart();
  EXPECT_EQ(Orphans("main"), (std::vector<uint64_t>{b.ino, y.ino}));
  EXPECT_EQ(Nlink("main", c.ino), 1u);
  ASSERT_OK(Fs("main").PurgeOrphans());
  EXPECT_EQ(CodeOf(Fs("main").GetAttr(b.ino)), Code::kNotFound);
  EXPECT_EQ(CodeOf(Fs("main").GetAttr(y.ino)), Code::kNotFound);
  EXPECT_EQ(InoOf("main", Root(), "c"), a.ino);
  EXPECT_EQ(InoOf("main", Root(), "c2"), x.ino);
  EXPECT_EQ(InoOf("main", Root(), "y"), c.ino);
}

// After `strata branch detach` the branch reads its own level alone.
TEST_P(FsOrphans, SetLineageSwapsTheViewAndDropsCachedAttributes) {
  ASSERT_OK_AND_ASSIGN(InodeAttr f, Create("main", Root(), "f"));
  WriteStr("main", f.ino, 0, "parent");
  Restart();
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  const Lineage full = env.LineageOf("kid");
  ASSERT_EQ(full.size(), 2u);
  ASSERT_OK_AND_ASSIGN(InodeAttr own, Create("kid", Root(), "own"));
  WriteStr("kid", own.ino, 0, "kid");
  EXPECT_EQ(ReadAll("kid", f.ino), "parent");  // caches f's attributes
  Fs("kid").SetLineage({full.front()});
  EXPECT_EQ(Fs("kid").branch(), full.front().branch);
  EXPECT_EQ(CodeOf(Fs("kid").GetAttr(f.ino)), Code::kNotFound);
  EXPECT_EQ(CodeOf(Fs("kid").Lookup(Root(), "f")), Code::kNotFound);
  EXPECT_EQ(Names("kid", Root()), NameList{"own"});
  EXPECT_EQ(ReadAll("kid", InoOf("kid", Root(), "own")), "kid");
  Fs("kid").SetLineage(full);
  EXPECT_EQ(ReadAll("kid", InoOf("kid", Root(), "f")), "parent");
}

INSTANTIATE_TEST_SUITE_P(Modes, FsOrphans, STRATA_FS_MODES, testing::ModeName);

}  // namespace
}  // namespace strata
