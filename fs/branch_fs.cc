#include "fs/branch_fs.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/clock.h"
#include "layers/key.h"

namespace strata {

namespace {

constexpr size_t kMaxName = 255;
constexpr size_t kMaxSymlink = 4095;
constexpr size_t kAttrCacheMax = 1 << 17;

Status NameCheck(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return Status::Invalid("bad name");
  if (name.size() > kMaxName) return Status::TooBig("name too long");
  return Status::OK();
}

KeyPut PutAttr(const InodeAttr& a) { return {AttrKey(a.ino), false, EncodeInodeAttr(a)}; }

// Marks an inode that lost its last name: Purge deletes it once it is closed.
KeyPut PutOrphan(uint64_t ino) { return {OrphanKey(ino), false, ""}; }

// One page's put, its key left for the caller. A page of zeros is stored as
// a tombstone, which reads back as zeros (a hole), so the op log, the
// memtable and the layers carry a key instead of 8 KiB. PostgreSQL writes
// runs of them: every new 16 MiB WAL segment is zero-filled and fsynced.
KeyPut PagePut(std::string_view page) {
  static const char kZeros[kPageSize] = {};
  if (std::memcmp(page.data(), kZeros, kPageSize) == 0) return {"", true, ""};
  return {"", false, std::string(page)};
}

uint64_t BlocksFor(uint64_t size) { return (size + kPageSize - 1) / kPageSize; }

}  // namespace

BranchFs::BranchFs(VersionStore* versions, Lineage lineage, uint64_t root_ino)
    : versions_(versions),
      branch_(lineage.front().branch),
      root_(root_ino),
      lineage_(std::make_shared<const Lineage>(std::move(lineage))) {}

void BranchFs::SetLineage(Lineage lineage) {
  auto next = std::make_shared<const Lineage>(std::move(lineage));
  MutexLock lock(&mu_);  // no mutation runs across the swap
  MutexLock cache_lock(&cache_mu_);
  lineage_ = std::move(next);
  attrs_.clear();
  cache_gen_++;
}

BranchFs::LineageRef BranchFs::CurrentLineage() {
  MutexLock lock(&cache_mu_);
  return lineage_;
}

Result<InodeAttr> BranchFs::LoadAttr(const LineageRef& lin, uint64_t ino) {
  uint64_t gen;
  {
    MutexLock lock(&cache_mu_);
    // The cache holds what the current lineage shows; an operation that
    // started before SetLineage reads its own (old) view instead.
    auto it = attrs_.find(ino);
    if (it != attrs_.end() && lin == lineage_) return it->second;
    gen = cache_gen_;
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v, versions_->Get(*lin, AttrKey(ino)));
  if (!v) return Status::NotFound("no inode " + std::to_string(ino));
  InodeAttr a;
  if (!DecodeInodeAttr(*v, &a)) {
    return Status::Corruption("inode " + std::to_string(ino) + ": malformed attributes");
  }
  // A mutation may have committed and cached a newer version while we read:
  // only cache what we read if no mutation ran in between.
  MutexLock lock(&cache_mu_);
  if (cache_gen_ == gen && lin == lineage_) {
    if (attrs_.size() >= kAttrCacheMax) attrs_.clear();
    attrs_.emplace(ino, a);
  }
  return a;
}

void BranchFs::CacheAttr(const InodeAttr& a) {
  MutexLock lock(&cache_mu_);
  if (attrs_.size() >= kAttrCacheMax) attrs_.clear();
  attrs_[a.ino] = a;
  cache_gen_++;
}

void BranchFs::UncacheAttr(uint64_t ino) {
  MutexLock lock(&cache_mu_);
  attrs_.erase(ino);
  cache_gen_++;
}

Result<InodeAttr> BranchFs::GetAttr(uint64_t ino) { return LoadAttr(CurrentLineage(), ino); }

Result<InodeAttr> BranchFs::LoadDir(const LineageRef& lin, uint64_t dir) {
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, dir));
  if (!a.IsDir()) return Status::NotDir("not a directory");
  return a;
}

Result<std::optional<std::pair<uint64_t, uint32_t>>> BranchFs::LookupEntry(const LineageRef& lin,
                                                                           uint64_t dir,
                                                                           std::string_view name) {
  using Out = std::optional<std::pair<uint64_t, uint32_t>>;
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v, versions_->Get(*lin, DirentKey(dir, name)));
  if (!v) return Out();
  uint64_t ino;
  uint32_t type;
  if (!DecodeDirent(*v, &ino, &type)) return Status::Corruption("malformed directory entry");
  return Out(std::make_pair(ino, type));
}

Result<InodeAttr> BranchFs::LoadEntryAttr(const LineageRef& lin, uint64_t dir,
                                          std::string_view name) {
  STRATA_ASSIGN_OR_RETURN(auto entry, LookupEntry(lin, dir, name));
  if (!entry) return Status::NotFound("no such entry");
  return LoadAttr(lin, entry->first);
}

Result<InodeAttr> BranchFs::Lookup(uint64_t dir, std::string_view name) {
  if (name.size() > kMaxName) return Status::TooBig("name too long");
  return LoadEntryAttr(CurrentLineage(), dir, name);
}

Status BranchFs::Commit(std::vector<KeyPut> puts) {
  return versions_->Commit(branch(), std::move(puts)).status();
}

InodeAttr BranchFs::NewInode(InodeAttr* parent, uint32_t mode, uint32_t uid, uint32_t gid,
                             uint64_t rdev) {
  const int64_t now = NowNs();
  InodeAttr a;
  a.ino = MakeIno(branch(), versions_->AllocCounter(branch()));
  a.mode = mode;
  a.uid = uid;
  a.gid = gid;
  if (parent->mode & S_ISGID) {  // BSD group semantics of setgid directories
    a.gid = parent->gid;
    if (S_ISDIR(mode)) a.mode |= S_ISGID;
  }
  a.nlink = S_ISDIR(mode) ? 2 : 1;
  a.data_id = a.ino;
  a.rdev = rdev;
  a.parent = S_ISDIR(mode) ? parent->ino : 0;
  a.atime_ns = a.mtime_ns = a.ctime_ns = now;
  parent->mtime_ns = parent->ctime_ns = now;
  if (S_ISDIR(mode)) parent->nlink++;
  return a;
}

Result<BranchFs::LineageRef> BranchFs::BeginMutation() {
  if (versions_->Shared() && versions_->Epoch(branch_) == 0) {
    // Take the branch first: a takeover brings in what the earlier holder
    // left (docs/cluster.md, "Failover"), and nothing this mutation reads
    // may predate it.
    STRATA_RETURN_IF_ERROR(versions_->Claim(branch_));
    {
      MutexLock lock(&cache_mu_);
      attrs_.clear();
      cache_gen_++;
    }
    if (on_claim_) on_claim_(branch_);
  }
  return CurrentLineage();
}

Result<InodeAttr> BranchFs::MakeNode(uint64_t dir, std::string_view name, uint32_t mode,
                                     uint32_t uid, uint32_t gid, uint64_t rdev) {
  STRATA_RETURN_IF_ERROR(NameCheck(name));
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr parent, LoadDir(lin, dir));
  STRATA_ASSIGN_OR_RETURN(auto existing, LookupEntry(lin, dir, name));
  if (existing) return Status::Exists("entry exists");
  const InodeAttr a = NewInode(&parent, mode, uid, gid, rdev);
  STRATA_RETURN_IF_ERROR(Commit(
      {PutAttr(a), {DirentKey(dir, name), false, EncodeDirent(a.ino, a.mode)}, PutAttr(parent)}));
  CacheAttr(a);
  CacheAttr(parent);
  return a;
}

Result<InodeAttr> BranchFs::Symlink(uint64_t dir, std::string_view name, std::string_view target,
                                    uint32_t uid, uint32_t gid) {
  STRATA_RETURN_IF_ERROR(NameCheck(name));
  if (target.empty() || target.size() > kMaxSymlink) {
    return Status::TooBig("symlink target too long");
  }
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr parent, LoadDir(lin, dir));
  STRATA_ASSIGN_OR_RETURN(auto existing, LookupEntry(lin, dir, name));
  if (existing) return Status::Exists("entry exists");
  InodeAttr a = NewInode(&parent, S_IFLNK | 0777, uid, gid, 0);
  a.size = target.size();
  STRATA_RETURN_IF_ERROR(Commit({PutAttr(a),
                                 {SymlinkKey(a.ino), false, std::string(target)},
                                 {DirentKey(dir, name), false, EncodeDirent(a.ino, a.mode)},
                                 PutAttr(parent)}));
  CacheAttr(a);
  CacheAttr(parent);
  return a;
}

Result<std::string> BranchFs::ReadLink(uint64_t ino) {
  const LineageRef lin = CurrentLineage();
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, ino));
  if (!a.IsLink()) return Status::Invalid("not a symlink");
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v, versions_->Get(*lin, SymlinkKey(ino)));
  if (!v) return Status::Corruption("symlink " + std::to_string(ino) + " has no target");
  return *v;
}

Result<InodeAttr> BranchFs::Link(uint64_t ino, uint64_t new_dir, std::string_view new_name) {
  STRATA_RETURN_IF_ERROR(NameCheck(new_name));
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, ino));
  if (a.IsDir()) return Status::Permission("hard link to a directory");
  STRATA_ASSIGN_OR_RETURN(InodeAttr parent, LoadDir(lin, new_dir));
  STRATA_ASSIGN_OR_RETURN(auto existing, LookupEntry(lin, new_dir, new_name));
  if (existing) return Status::Exists("entry exists");
  const int64_t now = NowNs();
  a.nlink++;
  a.ctime_ns = now;
  parent.mtime_ns = parent.ctime_ns = now;
  STRATA_RETURN_IF_ERROR(Commit({PutAttr(a),
                                 {DirentKey(new_dir, new_name), false, EncodeDirent(a.ino, a.mode)},
                                 PutAttr(parent)}));
  CacheAttr(a);
  CacheAttr(parent);
  return a;
}

Status BranchFs::Unlink(uint64_t dir, std::string_view name) {
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr parent, LoadDir(lin, dir));
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadEntryAttr(lin, dir, name));
  if (a.IsDir()) return Status::IsDir("is a directory");
  const int64_t now = NowNs();
  // The inode stays (nlink 0, orphaned) so that open handles keep working,
  // until Purge deletes it once the kernel forgets it.
  a.nlink = a.nlink > 0 ? a.nlink - 1 : 0;
  a.ctime_ns = now;
  parent.mtime_ns = parent.ctime_ns = now;
  std::vector<KeyPut> puts = {{DirentKey(dir, name), true, ""}, PutAttr(a), PutAttr(parent)};
  if (a.nlink == 0) puts.push_back(PutOrphan(a.ino));
  STRATA_RETURN_IF_ERROR(Commit(std::move(puts)));
  CacheAttr(a);
  CacheAttr(parent);
  return Status::OK();
}

Result<bool> BranchFs::DirIsEmpty(const LineageRef& lin, uint64_t dir) {
  bool empty = true;
  STRATA_RETURN_IF_ERROR(versions_->Scan(
      *lin, DirentPrefix(dir), [&](std::string_view, const std::string&) { empty = false; }));
  return empty;
}

Status BranchFs::Rmdir(uint64_t dir, std::string_view name) {
  if (name == ".") return Status::Invalid("rmdir .");
  if (name == "..") return Status::NotEmpty("rmdir ..");
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr parent, LoadDir(lin, dir));
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadEntryAttr(lin, dir, name));
  if (!a.IsDir()) return Status::NotDir("not a directory");
  STRATA_ASSIGN_OR_RETURN(bool empty, DirIsEmpty(lin, a.ino));
  if (!empty) return Status::NotEmpty("directory not empty");
  const int64_t now = NowNs();
  a.nlink = 0;
  a.ctime_ns = now;
  parent.nlink = parent.nlink > 2 ? parent.nlink - 1 : 2;
  parent.mtime_ns = parent.ctime_ns = now;
  STRATA_RETURN_IF_ERROR(
      Commit({{DirentKey(dir, name), true, ""}, PutAttr(a), PutAttr(parent), PutOrphan(a.ino)}));
  CacheAttr(a);
  CacheAttr(parent);
  return Status::OK();
}

Result<bool> BranchFs::IsWithin(const LineageRef& lin, uint64_t dir, uint64_t ancestor) {
  // Directories record their parent, so walking up ends at the branch root.
  for (int depth = 0; depth < 4096; depth++) {
    if (dir == ancestor) return true;
    if (dir == root_) return false;
    STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, dir));
    if (a.parent == 0) return false;
    dir = a.parent;
  }
  return Status::Corruption("directory tree deeper than 4096 levels");
}

// One rename as it is worked out: the two names, the parents (`np` is `op`
// itself when one directory holds both names, so both edits land in one
// copy), the source inode and the target's, if the new name exists.
struct BranchFs::RenameOp {
  uint64_t old_dir;
  std::string_view old_name;
  uint64_t new_dir;
  std::string_view new_name;
  InodeAttr& op;
  InodeAttr& np;
  InodeAttr src;
  std::optional<InodeAttr> dst;
  int64_t now;
  std::vector<KeyPut> puts;
};

namespace {

// A directory moving from one parent to another takes its ".." link along.
void MoveDirLink(InodeAttr* from, InodeAttr* to) {
  if (from->ino == to->ino) return;
  from->nlink = from->nlink > 2 ? from->nlink - 1 : 2;
  to->nlink++;
}

}  // namespace

Status BranchFs::ExchangeNames(const LineageRef& lin, RenameOp* r) {
  InodeAttr& src = r->src;
  InodeAttr& dst = *r->dst;
  if (dst.IsDir() && r->new_dir != r->old_dir) {
    STRATA_ASSIGN_OR_RETURN(bool cycle, IsWithin(lin, r->old_dir, dst.ino));
    if (cycle) return Status::Invalid("cannot move a directory inside itself");
  }
  r->puts.push_back({DirentKey(r->new_dir, r->new_name), false, EncodeDirent(src.ino, src.mode)});
  r->puts.push_back({DirentKey(r->old_dir, r->old_name), false, EncodeDirent(dst.ino, dst.mode)});
  if (src.IsDir() && !dst.IsDir()) MoveDirLink(&r->op, &r->np);
  if (dst.IsDir() && !src.IsDir()) MoveDirLink(&r->np, &r->op);
  if (src.IsDir()) src.parent = r->new_dir;
  if (dst.IsDir()) dst.parent = r->old_dir;
  dst.ctime_ns = r->now;
  r->puts.push_back(PutAttr(dst));
  return Status::OK();
}

Status BranchFs::MoveName(const LineageRef& lin, RenameOp* r) {
  InodeAttr& src = r->src;
  if (r->dst) {
    InodeAttr& dst = *r->dst;
    if (src.IsDir() && !dst.IsDir()) return Status::NotDir("target is not a directory");
    if (!src.IsDir() && dst.IsDir()) return Status::IsDir("target is a directory");
    if (dst.IsDir()) {
      STRATA_ASSIGN_OR_RETURN(bool empty, DirIsEmpty(lin, dst.ino));
      if (!empty) return Status::NotEmpty("target directory not empty");
      dst.nlink = 0;
      r->np.nlink = r->np.nlink > 2 ? r->np.nlink - 1 : 2;  // the replaced directory's ".."
    } else {
      dst.nlink = dst.nlink > 0 ? dst.nlink - 1 : 0;
    }
    dst.ctime_ns = r->now;
    r->puts.push_back(PutAttr(dst));
    if (dst.nlink == 0) r->puts.push_back(PutOrphan(dst.ino));
  }
  r->puts.push_back({DirentKey(r->new_dir, r->new_name), false, EncodeDirent(src.ino, src.mode)});
  r->puts.push_back({DirentKey(r->old_dir, r->old_name), true, ""});
  if (src.IsDir()) {
    MoveDirLink(&r->op, &r->np);
    src.parent = r->new_dir;
  }
  return Status::OK();
}

Status BranchFs::Rename(uint64_t old_dir, std::string_view old_name, uint64_t new_dir,
                        std::string_view new_name, unsigned flags) {
  STRATA_RETURN_IF_ERROR(NameCheck(new_name));
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Status::Invalid("rename flags");
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr op, LoadDir(lin, old_dir));
  STRATA_ASSIGN_OR_RETURN(InodeAttr new_parent, LoadDir(lin, new_dir));
  STRATA_ASSIGN_OR_RETURN(InodeAttr src, LoadEntryAttr(lin, old_dir, old_name));
  STRATA_ASSIGN_OR_RETURN(auto dst_entry, LookupEntry(lin, new_dir, new_name));
  if ((flags & RENAME_NOREPLACE) && dst_entry) return Status::Exists("target exists");
  if ((flags & RENAME_EXCHANGE) && !dst_entry) return Status::NotFound("no target to exchange");
  if (old_dir == new_dir && old_name == new_name) return Status::OK();
  if (src.IsDir() && old_dir != new_dir) {
    STRATA_ASSIGN_OR_RETURN(bool cycle, IsWithin(lin, new_dir, src.ino));
    if (cycle) return Status::Invalid("cannot move a directory inside itself");
  }
  InodeAttr& np = old_dir == new_dir ? op : new_parent;
  RenameOp r{old_dir, old_name, new_dir, new_name, op, np, src, std::nullopt, NowNs(), {}};
  if (dst_entry) {
    STRATA_ASSIGN_OR_RETURN(r.dst, LoadAttr(lin, dst_entry->first));
    if (r.dst->ino == src.ino) return Status::OK();  // two links to one inode: POSIX no-op
  }
  STRATA_RETURN_IF_ERROR((flags & RENAME_EXCHANGE) ? ExchangeNames(lin, &r) : MoveName(lin, &r));
  r.src.ctime_ns = r.now;
  op.mtime_ns = op.ctime_ns = r.now;
  np.mtime_ns = np.ctime_ns = r.now;
  r.puts.push_back(PutAttr(r.src));
  r.puts.push_back(PutAttr(op));
  if (np.ino != op.ino) r.puts.push_back(PutAttr(np));
  STRATA_RETURN_IF_ERROR(Commit(std::move(r.puts)));
  CacheAttr(r.src);
  CacheAttr(op);
  if (np.ino != op.ino) CacheAttr(np);
  if (r.dst) CacheAttr(*r.dst);
  return Status::OK();
}

Result<std::string> BranchFs::ReadPage(const LineageRef& lin, uint64_t data_id, uint64_t block) {
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v,
                          versions_->Get(*lin, PageKey(data_id, block)));
  if (!v) return std::string(kPageSize, '\0');  // a hole
  if (v->size() != kPageSize) v->resize(kPageSize, '\0');
  return std::move(*v);
}

Status BranchFs::TruncatePuts(const LineageRef& lin, InodeAttr* a, uint64_t size,
                              std::vector<KeyPut>* puts) {
  if (size >= a->size) {
    a->size = size;  // holes read as zeros; pages past EOF were zeroed when cut
    return Status::OK();
  }
  if (size == 0) {
    // A fresh data id hides every old page at once, in O(1); the kDead
    // marker tells GC that this branch's pages of the old one are garbage.
    puts->push_back({DeadKey(a->data_id), false, ""});
    a->data_id = MakeIno(branch(), versions_->AllocCounter(branch()));
  } else {
    // Tombstones only for pages that exist past the cut (in this branch or
    // an ancestor): the cost follows the data, not the old size, so a huge
    // sparse file truncates cheaply.
    const uint64_t keep = BlocksFor(size);
    STRATA_RETURN_IF_ERROR(versions_->ScanKeys(*lin, KeyPrefix(a->data_id, KeyKind::kPage),
                                               PageKey(a->data_id, keep),
                                               [&](std::string_view key) {
                                                 puts->push_back({std::string(key), true, ""});
                                               }));
    if (size % kPageSize != 0) {
      const uint64_t last = size / kPageSize;
      STRATA_ASSIGN_OR_RETURN(std::string page, ReadPage(lin, a->data_id, last));
      std::memset(page.data() + size % kPageSize, 0, kPageSize - size % kPageSize);
      puts->push_back({PageKey(a->data_id, last), false, std::move(page)});
    }
  }
  a->size = size;
  return Status::OK();
}

Result<InodeAttr> BranchFs::SetAttr(uint64_t ino, const SetAttrRequest& req) {
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, ino));
  const int64_t now = NowNs();
  std::vector<KeyPut> puts;
  if (req.size) {
    if (a.IsDir()) return Status::IsDir("truncate of a directory");
    if (!a.IsReg()) return Status::Invalid("truncate of a special file");
    STRATA_RETURN_IF_ERROR(TruncatePuts(lin, &a, *req.size, &puts));
    a.mtime_ns = now;
  }
  if (req.mode) a.mode = (a.mode & S_IFMT) | (*req.mode & 07777);
  if (req.uid) a.uid = *req.uid;
  if (req.gid) a.gid = *req.gid;
  if (req.atime_ns) a.atime_ns = *req.atime_ns;
  if (req.mtime_ns) a.mtime_ns = *req.mtime_ns;
  a.ctime_ns = now;
  puts.push_back(PutAttr(a));
  STRATA_RETURN_IF_ERROR(Commit(std::move(puts)));
  CacheAttr(a);
  return a;
}

Result<size_t> BranchFs::Read(uint64_t ino, uint64_t offset, size_t size, char* buf) {
  const LineageRef lin = CurrentLineage();
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, ino));
  if (a.IsDir()) return Status::IsDir("read of a directory");
  if (offset >= a.size) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(size, a.size - offset));
  size_t done = 0;
  while (done < n) {
    const uint64_t pos = offset + done;
    const uint64_t block = pos / kPageSize;
    const size_t in_page = pos % kPageSize;
    const size_t take = std::min<size_t>(n - done, kPageSize - in_page);
    STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v,
                            versions_->Get(*lin, PageKey(a.data_id, block)));
    if (!v || v->size() <= in_page) {
      std::memset(buf + done, 0, take);
    } else {
      const size_t have = std::min(take, v->size() - in_page);
      std::memcpy(buf + done, v->data() + in_page, have);
      std::memset(buf + done + have, 0, take - have);
    }
    done += take;
  }
  return n;
}

Result<size_t> BranchFs::Write(uint64_t ino, uint64_t offset, const char* data, size_t size) {
  if (size == 0) return size_t{0};
  // One put per page touched. Whole pages are copied before the branch's
  // lock is taken, so a write to another file (the WAL's, at a commit) does
  // not wait behind the copying of a megabyte of writeback; keys need the
  // data id, and partial pages what is there, so both are made under it.
  std::vector<KeyPut> puts;
  puts.reserve(size / kPageSize + 3);
  for (size_t done = 0; done < size;) {
    const size_t take = std::min<size_t>(size - done, kPageSize - (offset + done) % kPageSize);
    puts.push_back(take == kPageSize ? PagePut({data + done, kPageSize}) : KeyPut{});
    done += take;
  }
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, ino));
  if (a.IsDir()) return Status::IsDir("write to a directory");
  size_t done = 0;
  for (KeyPut& p : puts) {
    const uint64_t pos = offset + done;
    const uint64_t block = pos / kPageSize;
    const size_t in_page = pos % kPageSize;
    const size_t take = std::min<size_t>(size - done, kPageSize - in_page);
    if (take < kPageSize) {
      // A partial page: read-modify-write into a full page.
      STRATA_ASSIGN_OR_RETURN(std::string page, ReadPage(lin, a.data_id, block));
      std::memcpy(page.data() + in_page, data + done, take);
      p = PagePut(page);
    }
    p.key = PageKey(a.data_id, block);
    done += take;
  }
  if (offset + size > a.size) {
    a.size = offset + size;
    a.mtime_ns = a.ctime_ns = NowNs();
    puts.push_back(PutAttr(a));
  }
  STRATA_RETURN_IF_ERROR(Commit(std::move(puts)));
  CacheAttr(a);
  return size;
}

Status BranchFs::Fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) {
  if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE) {
    return Status::NotSupported("unsupported fallocate mode");
  }
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  STRATA_ASSIGN_OR_RETURN(InodeAttr a, LoadAttr(lin, ino));
  if (!a.IsReg()) return Status::IsDir("fallocate of a non-regular file");
  // Space is never reserved: pages are written on demand and holes read as zeros.
  if (mode == FALLOC_FL_KEEP_SIZE || offset + length <= a.size) return Status::OK();
  a.size = offset + length;
  a.mtime_ns = a.ctime_ns = NowNs();
  STRATA_RETURN_IF_ERROR(Commit({PutAttr(a)}));
  CacheAttr(a);
  return Status::OK();
}

Result<std::vector<DirEntry>> BranchFs::ReadDir(uint64_t dir) {
  const LineageRef lin = CurrentLineage();
  STRATA_RETURN_IF_ERROR(LoadDir(lin, dir).status());
  std::vector<DirEntry> out;
  Status bad;
  STRATA_RETURN_IF_ERROR(
      versions_->Scan(*lin, DirentPrefix(dir), [&](std::string_view key, const std::string& v) {
        DirEntry e;
        e.name.assign(DirentName(key));
        if (!DecodeDirent(v, &e.ino, &e.type)) {
          bad = Status::Corruption("malformed directory entry");
          return;
        }
        out.push_back(std::move(e));
      }));
  STRATA_RETURN_IF_ERROR(bad);
  return out;
}

Status BranchFs::Sync() { return versions_->Sync(branch_); }

std::vector<KeyPut> BranchFs::PurgePuts(const InodeAttr& a) {
  std::vector<KeyPut> puts = {{AttrKey(a.ino), true, ""}, {OrphanKey(a.ino), true, ""}};
  if (a.IsLink()) puts.push_back({SymlinkKey(a.ino), true, ""});
  if (a.IsReg()) puts.push_back({DeadKey(a.data_id), false, ""});
  return puts;
}

Status BranchFs::DropStaleOrphan(const LineageRef& lin, uint64_t ino) {
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> v, versions_->Get(*lin, OrphanKey(ino)));
  if (!v) return Status::OK();
  return Commit({{OrphanKey(ino), true, ""}});
}

Status BranchFs::Purge(uint64_t ino) {
  MutexLock lock(&mu_);
  STRATA_ASSIGN_OR_RETURN(const LineageRef lin, BeginMutation());
  Result<InodeAttr> a = LoadAttr(lin, ino);
  if (!a.ok() && !a.status().IsNotFound()) return a.status();
  if (!a.ok() || a->nlink > 0) return DropStaleOrphan(lin, ino);
  STRATA_RETURN_IF_ERROR(Commit(PurgePuts(*a)));
  UncacheAttr(ino);
  return Status::OK();
}

Status BranchFs::PurgeOrphans() {
  std::vector<uint64_t> inos;
  const std::string prefix = KeyPrefix(0, KeyKind::kOrphan);
  STRATA_RETURN_IF_ERROR(
      versions_->ScanKeys(*CurrentLineage(), prefix, prefix,
                          [&](std::string_view key) { inos.push_back(MetaKeyId(key)); }));
  Status first;  // one inode failing does not keep the others
  for (uint64_t ino : inos) {
    Status st = Purge(ino);
    if (first.ok()) first = st;
  }
  return first;
}

}  // namespace strata
