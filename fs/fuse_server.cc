#define FUSE_USE_VERSION 312
#include "fs/fuse_server.h"

#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <set>
#include <vector>

#include "common/clock.h"
#include "common/filename.h"
#include "common/thread_cpu.h"
#include "layers/key.h"

namespace strata {

namespace {

constexpr fuse_ino_t kRootNode = FUSE_ROOT_ID;
constexpr fuse_ino_t kControlNode = 2;
constexpr double kRootTimeout = 1.0;  // branch names change outside the kernel's view

FuseServer* Server(fuse_req_t req) { return static_cast<FuseServer*>(fuse_req_userdata(req)); }

void FillStat(uint64_t nodeid, const InodeAttr& a, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = nodeid;
  st->st_mode = a.mode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_rdev = a.rdev;
  st->st_blksize = kPageSize;
  st->st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st->st_atim = {static_cast<time_t>(a.atime_ns / 1000000000), a.atime_ns % 1000000000};
  st->st_mtim = {static_cast<time_t>(a.mtime_ns / 1000000000), a.mtime_ns % 1000000000};
  st->st_ctim = {static_cast<time_t>(a.ctime_ns / 1000000000), a.ctime_ns % 1000000000};
}

void RootStat(struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = kRootNode;
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
}

void ControlStat(FuseServer* s, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = kControlNode;
  st->st_mode = S_IFLNK | 0777;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(s->options().control_socket.size());
}

// The request being answered on this thread, for ReplyErr and the byte
// counts of READ and WRITE; a libfuse worker answers one request at a time.
class OpScope {
 public:
  OpScope(FuseStats* stats, FuseOp op) : stats_(stats), op_(op), start_ns_(MonotonicNs()) {
    NameWorkerThread();
    current_ = this;
  }
  ~OpScope() {
    current_ = nullptr;
    stats_->Record(op_, MonotonicNs() - start_ns_, failed_, bytes_);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

  static OpScope* Current() { return current_; }
  void Failed() { failed_ = true; }
  void Bytes(uint64_t n) { bytes_ = n; }

 private:
  static uint64_t MonotonicNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
  }
  // libfuse makes its workers; they are named on their first request so
  // that CPU time per thread role (common/thread_cpu.h) can find them.
  static void NameWorkerThread() {
    static thread_local bool named = false;
    if (!named) SetThreadName(kFuseThreadName);
    named = true;
  }

  static thread_local OpScope* current_;
  FuseStats* stats_;
  FuseOp op_;
  uint64_t start_ns_;
  bool failed_ = false;
  uint64_t bytes_ = 0;
};

thread_local OpScope* OpScope::current_ = nullptr;

int ReplyErr(fuse_req_t req, int err) {
  if (err != 0 && OpScope::Current()) OpScope::Current()->Failed();
  return fuse_reply_err(req, err);
}

int ReplyStatus(fuse_req_t req, const Status& st) {
  if (st.code() == Code::kCorruption || st.code() == Code::kIO || st.code() == Code::kUnavailable) {
    spdlog::error("I/O error: {}", st.ToString());
  }
  return ReplyErr(req, st.ToErrno());
}

// A resolved (branch filesystem, inode) for a node id, or an errno.
struct Target {
  std::shared_ptr<BranchFs> fs;
  uint64_t ino = 0;
  uint64_t nodeid = 0;
};

int Resolve(fuse_req_t req, fuse_ino_t nodeid, Target* t) {
  FuseServer::Node n;
  if (!Server(req)->ResolveNode(nodeid, &n)) return ESTALE;
  t->fs = Server(req)->FsFor(n.branch);
  if (!t->fs) return ESTALE;  // the branch was deleted or reset
  t->ino = n.ino;
  t->nodeid = nodeid;
  return 0;
}

void ReplyEntry(fuse_req_t req, uint32_t branch, const InodeAttr& a) {
  fuse_entry_param e;
  std::memset(&e, 0, sizeof(e));
  FuseServer* s = Server(req);
  e.ino = s->RememberNode(branch, a.ino);
  e.generation = 1;
  FillStat(e.ino, a, &e.attr);
  e.attr_timeout = s->options().attr_timeout;
  e.entry_timeout = s->options().attr_timeout;
  if (fuse_reply_entry(req, &e) != 0) s->ForgetNode(e.ino, 1);
}

// Every callback body runs inside Guard: no exception may reach libfuse,
// and each request is counted and timed under its opcode (FuseStats).
template <class F>
void Guard(fuse_req_t req, FuseOp op, F&& body) {
  OpScope scope(Server(req)->stats(), op);
  try {
    body();
  } catch (const std::bad_alloc&) {
    ReplyErr(req, ENOMEM);
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    ReplyErr(req, EIO);
  }
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  if (conn->capable & FUSE_CAP_WRITEBACK_CACHE) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  conn->want &= ~FUSE_CAP_SPLICE_READ;
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, FuseOp::kLookup, [&] {
    FuseServer* s = Server(req);
    if (parent == kRootNode) {
      if (std::strcmp(name, filename::kControlLink) == 0) {
        fuse_entry_param e;
        std::memset(&e, 0, sizeof(e));
        e.ino = kControlNode;
        ControlStat(s, &e.attr);
        e.attr_timeout = e.entry_timeout = kRootTimeout;
        fuse_reply_entry(req, &e);
        return;
      }
      std::shared_ptr<BranchFs> fs = s->FsForName(name);
      if (!fs) {
        fuse_entry_param e;
        std::memset(&e, 0, sizeof(e));
        e.entry_timeout = 0;  // a branch may be created under this name at any time
        fuse_reply_entry(req, &e);
        return;
      }
      Result<InodeAttr> a = fs->GetAttr(fs->root());
      if (!a.ok()) {
        ReplyStatus(req, a.status());
        return;
      }
      fuse_entry_param e;
      std::memset(&e, 0, sizeof(e));
      e.ino = s->RememberNode(fs->branch(), a->ino);
      e.generation = 1;
      FillStat(e.ino, *a, &e.attr);
      e.attr_timeout = s->options().attr_timeout;
      e.entry_timeout = kRootTimeout;
      if (fuse_reply_entry(req, &e) != 0) s->ForgetNode(e.ino, 1);
      return;
    }
    Target t;
    if (int err = Resolve(req, parent, &t)) return (void)ReplyErr(req, err);
    Result<InodeAttr> a = t.fs->Lookup(t.ino, name);
    if (a.status().IsNotFound()) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof(e));
      e.entry_timeout = s->options().attr_timeout;  // negative entry
      fuse_reply_entry(req, &e);
      return;
    }
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    ReplyEntry(req, t.fs->branch(), *a);
  });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  OpScope scope(Server(req)->stats(), FuseOp::kForget);
  Server(req)->ForgetNode(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  OpScope scope(Server(req)->stats(), FuseOp::kForget);
  for (size_t i = 0; i < count; i++) Server(req)->ForgetNode(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Guard(req, FuseOp::kGetattr, [&] {
    FuseServer* s = Server(req);
    struct stat st;
    if (ino == kRootNode) {
      RootStat(&st);
      fuse_reply_attr(req, &st, kRootTimeout);
      return;
    }
    if (ino == kControlNode) {
      ControlStat(s, &st);
      fuse_reply_attr(req, &st, kRootTimeout);
      return;
    }
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    Result<InodeAttr> a = t.fs->GetAttr(t.ino);
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    FillStat(ino, *a, &st);
    fuse_reply_attr(req, &st, s->options().attr_timeout);
  });
}

int64_t TimespecNs(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Guard(req, FuseOp::kSetattr, [&] {
    if (ino == kRootNode || ino == kControlNode) return (void)ReplyErr(req, EPERM);
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    SetAttrRequest r;
    if (to_set & FUSE_SET_ATTR_MODE) r.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) r.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) r.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) r.size = static_cast<uint64_t>(attr->st_size);
    if (to_set & FUSE_SET_ATTR_ATIME) r.atime_ns = TimespecNs(attr->st_atim);
    if (to_set & FUSE_SET_ATTR_MTIME) r.mtime_ns = TimespecNs(attr->st_mtim);
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) r.atime_ns = NowNs();
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) r.mtime_ns = NowNs();
    Result<InodeAttr> a = t.fs->SetAttr(t.ino, r);
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    struct stat st;
    FillStat(ino, *a, &st);
    fuse_reply_attr(req, &st, Server(req)->options().attr_timeout);
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, FuseOp::kReadlink, [&] {
    if (ino == kControlNode) {
      fuse_reply_readlink(req, Server(req)->options().control_socket.c_str());
      return;
    }
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    Result<std::string> target = t.fs->ReadLink(t.ino);
    if (!target.ok()) return (void)ReplyStatus(req, target.status());
    fuse_reply_readlink(req, target->c_str());
  });
}

// Creates a node of any type under a branch directory; the mount root is
// read-only (branches are made with `strata branch create`).
void MakeNode(fuse_req_t req, FuseOp op, fuse_ino_t parent, const char* name, mode_t mode,
              dev_t rdev, fuse_file_info* fi) {
  Guard(req, op, [&] {
    if (parent == kRootNode) return (void)ReplyErr(req, EPERM);
    Target t;
    if (int err = Resolve(req, parent, &t)) return (void)ReplyErr(req, err);
    const fuse_ctx* ctx = fuse_req_ctx(req);
    Result<InodeAttr> a = t.fs->MakeNode(t.ino, name, mode, ctx->uid, ctx->gid, rdev);
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    if (!fi) return ReplyEntry(req, t.fs->branch(), *a);
    fuse_entry_param e;
    std::memset(&e, 0, sizeof(e));
    FuseServer* s = Server(req);
    e.ino = s->RememberNode(t.fs->branch(), a->ino);
    e.generation = 1;
    FillStat(e.ino, *a, &e.attr);
    e.attr_timeout = e.entry_timeout = s->options().attr_timeout;
    fi->keep_cache = 1;
    fi->fh = static_cast<uint64_t>(fi->flags);
    if (fuse_reply_create(req, &e, fi) != 0) s->ForgetNode(e.ino, 1);
  });
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  MakeNode(req, FuseOp::kMknod, parent, name, mode, rdev, nullptr);
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  MakeNode(req, FuseOp::kMkdir, parent, name, S_IFDIR | (mode & 07777), 0, nullptr);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  MakeNode(req, FuseOp::kCreate, parent, name, S_IFREG | (mode & 07777), 0, fi);
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, FuseOp::kSymlink, [&] {
    if (parent == kRootNode) return (void)ReplyErr(req, EPERM);
    Target t;
    if (int err = Resolve(req, parent, &t)) return (void)ReplyErr(req, err);
    const fuse_ctx* ctx = fuse_req_ctx(req);
    Result<InodeAttr> a = t.fs->Symlink(t.ino, name, link, ctx->uid, ctx->gid);
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    ReplyEntry(req, t.fs->branch(), *a);
  });
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Guard(req, FuseOp::kLink, [&] {
    if (newparent == kRootNode) return (void)ReplyErr(req, EPERM);
    Target t, d;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    if (int err = Resolve(req, newparent, &d)) return (void)ReplyErr(req, err);
    if (t.fs != d.fs) return (void)ReplyErr(req, EXDEV);
    Result<InodeAttr> a = t.fs->Link(t.ino, d.ino, newname);
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    ReplyEntry(req, t.fs->branch(), *a);
  });
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, FuseOp::kUnlink, [&] {
    if (parent == kRootNode) return (void)ReplyErr(req, EPERM);
    Target t;
    if (int err = Resolve(req, parent, &t)) return (void)ReplyErr(req, err);
    ReplyErr(req, t.fs->Unlink(t.ino, name).ToErrno());
  });
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, FuseOp::kRmdir, [&] {
    if (parent == kRootNode) return (void)ReplyErr(req, EPERM);
    Target t;
    if (int err = Resolve(req, parent, &t)) return (void)ReplyErr(req, err);
    ReplyErr(req, t.fs->Rmdir(t.ino, name).ToErrno());
  });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Guard(req, FuseOp::kRename, [&] {
    if (parent == kRootNode || newparent == kRootNode) return (void)ReplyErr(req, EPERM);
    Target a, b;
    if (int err = Resolve(req, parent, &a)) return (void)ReplyErr(req, err);
    if (int err = Resolve(req, newparent, &b)) return (void)ReplyErr(req, err);
    if (a.fs != b.fs) return (void)ReplyErr(req, EXDEV);
    ReplyErr(req, a.fs->Rename(a.ino, name, b.ino, newname, flags).ToErrno());
  });
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, FuseOp::kOpen, [&] {
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    Result<InodeAttr> a = t.fs->GetAttr(t.ino);
    if (!a.ok()) return (void)ReplyStatus(req, a.status());
    if (a->IsDir()) return (void)ReplyErr(req, EISDIR);
    // Only strata writes a branch, so the kernel's cached pages stay valid.
    fi->keep_cache = 1;
    fi->fh = static_cast<uint64_t>(fi->flags);
    fuse_reply_open(req, fi);
  });
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Guard(req, FuseOp::kRead, [&] {
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    std::vector<char> buf(size);
    Result<size_t> n = t.fs->Read(t.ino, static_cast<uint64_t>(off), size, buf.data());
    if (!n.ok()) return (void)ReplyStatus(req, n.status());
    OpScope::Current()->Bytes(*n);
    fuse_reply_buf(req, buf.data(), *n);
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  Guard(req, FuseOp::kWrite, [&] {
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    Result<size_t> n = t.fs->Write(t.ino, static_cast<uint64_t>(off), buf, size);
    if (!n.ok()) return (void)ReplyStatus(req, n.status());
    // O_SYNC/O_DSYNC: the write is a barrier (docs/design.md invariant 4).
    if (fi && (fi->fh & (O_SYNC | O_DSYNC))) {
      Status st = t.fs->Sync();
      if (!st.ok()) return (void)ReplyStatus(req, st);
    }
    OpScope::Current()->Bytes(*n);
    fuse_reply_write(req, *n);
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  OpScope scope(Server(req)->stats(), FuseOp::kFlush);
  ReplyErr(req, 0);
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  OpScope scope(Server(req)->stats(), FuseOp::kRelease);
  ReplyErr(req, 0);
}

// FSYNC and FSYNCDIR: both are a barrier of the inode's branch.
void SyncNode(fuse_req_t req, FuseOp op, fuse_ino_t ino) {
  Guard(req, op, [&] {
    if (ino == kRootNode) return (void)ReplyErr(req, 0);
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    ReplyErr(req, t.fs->Sync().ToErrno());
  });
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  SyncNode(req, FuseOp::kFsync, ino);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  SyncNode(req, FuseOp::kFsyncdir, ino);
}

struct DirHandle {
  std::vector<DirEntry> entries;
};

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, FuseOp::kOpendir, [&] {
    auto h = std::make_unique<DirHandle>();
    h->entries.push_back({".", ino, S_IFDIR});
    h->entries.push_back({"..", kRootNode, S_IFDIR});
    if (ino == kRootNode) {
      auto cat = Server(req)->catalog()->Current();
      for (const BranchInfo* b : cat->LiveBranches()) {
        h->entries.push_back({b->name, b->root_ino, S_IFDIR});
      }
    } else {
      Target t;
      if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
      Result<std::vector<DirEntry>> list = t.fs->ReadDir(t.ino);
      if (!list.ok()) return (void)ReplyStatus(req, list.status());
      for (DirEntry& e : *list) h->entries.push_back(std::move(e));
    }
    fi->fh = reinterpret_cast<uint64_t>(h.release());
    fi->cache_readdir = 0;
    fuse_reply_open(req, fi);
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, FuseOp::kReaddir, [&] {
    auto* h = reinterpret_cast<DirHandle*>(fi->fh);
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < h->entries.size(); i++) {
      struct stat st;
      std::memset(&st, 0, sizeof(st));
      st.st_ino = h->entries[i].ino;
      st.st_mode = h->entries[i].type;
      size_t need = fuse_add_direntry(req, buf.data() + used, size - used,
                                      h->entries[i].name.c_str(), &st, static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  OpScope scope(Server(req)->stats(), FuseOp::kReleasedir);
  delete reinterpret_cast<DirHandle*>(fi->fh);
  ReplyErr(req, 0);
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  OpScope scope(Server(req)->stats(), FuseOp::kStatfs);
  struct statvfs st;
  if (statvfs(Server(req)->options().statfs_path.c_str(), &st) != 0) {
    return (void)ReplyErr(req, errno);
  }
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info*) {
  Guard(req, FuseOp::kFallocate, [&] {
    Target t;
    if (int err = Resolve(req, ino, &t)) return (void)ReplyErr(req, err);
    ReplyErr(req, t.fs->Fallocate(t.ino, mode, static_cast<uint64_t>(offset),
                                  static_cast<uint64_t>(length))
                      .ToErrno());
  });
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.create = OpCreate;
  ops.fallocate = OpFallocate;
  return ops;
}

}  // namespace

FuseServer::FuseServer(VersionStore* versions, Catalog* catalog, FuseOptions options)
    : versions_(versions), catalog_(catalog), options_(std::move(options)) {}

FuseServer::~FuseServer() {
  if (session_) {
    if (mounted_) fuse_session_unmount(session_);
    if (options_.handle_signals) fuse_remove_signal_handlers(session_);
    fuse_session_destroy(session_);
  }
}

Status FuseServer::Mount() {
  std::vector<std::string> argv_s = {"strata", "-o", "default_permissions,allow_other", "-o",
                                     "fsname=strata,subtype=strata"};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  static const fuse_lowlevel_ops ops = MakeOps();
  session_ = fuse_session_new(&args, &ops, sizeof(ops), this);
  if (!session_) return Status::IO("fuse_session_new failed");
  if (options_.handle_signals && fuse_set_signal_handlers(session_) != 0) {
    return Status::IO("cannot set signal handlers");
  }
  if (fuse_session_mount(session_, options_.mountpoint.c_str()) != 0) {
    return Status::IO("cannot mount FUSE at " + options_.mountpoint +
                      " (is /dev/fuse there and are you root?)");
  }
  mounted_ = true;
  return Status::OK();
}

int FuseServer::Loop() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(options_.max_threads));
  // Keep every worker: creating one costs a thread plus a cloned /dev/fuse fd,
  // and under load libfuse would otherwise churn through thousands a second.
  fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(options_.max_threads));
  loop_thread_ = pthread_self();
  looping_ = true;
  int rc = fuse_session_loop_mt(session_, cfg);
  looping_ = false;
  fuse_loop_cfg_destroy(cfg);
  return rc;
}

namespace {
void WakeHandler(int) {}
}  // namespace

void FuseServer::Exit() {
  if (!session_) return;
  fuse_session_exit(session_);
  // The loop's thread waits in sem_wait(), which any handled signal
  // interrupts; it then sees the exit flag and cancels the workers. Repeat in
  // case the signal lands just before it starts waiting.
  struct sigaction sa = {};
  sa.sa_handler = WakeHandler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, nullptr);
  while (looping_) {
    pthread_kill(loop_thread_, SIGUSR2);
    for (int i = 0; i < 20 && looping_; i++) usleep(5000);
  }
}

void FuseServer::InvalidateBranch(const std::string& name) {
  {
    MutexLock lock(&fs_mu_);
    std::shared_ptr<const CatalogData> cat = catalog_->Current();
    for (auto it = fs_.begin(); it != fs_.end();) {
      // A retired branch is read through its children's lineages only.
      const BranchInfo* b = cat->FindBranchById(it->first);
      it = b && !b->retired ? std::next(it) : fs_.erase(it);
    }
  }
  if (session_ && mounted_) {
    fuse_lowlevel_notify_inval_entry(session_, kRootNode, name.c_str(), name.size());
  }
}

std::vector<uint32_t> FuseServer::OpenBranches() {
  MutexLock lock(&fs_mu_);
  std::vector<uint32_t> ids;
  ids.reserve(fs_.size());
  for (const auto& [id, slot] : fs_) ids.push_back(id);
  return ids;
}

void FuseServer::ReloadBranch(uint32_t branch, const std::string& name) {
  {
    MutexLock lock(&fs_mu_);
    fs_.erase(branch);
  }
  InvalidateKernelCaches(branch, name);
}

void FuseServer::InvalidateClaimedBranches() {
  std::set<uint32_t> claimed;
  {
    MutexLock l(&claimed_mu_);
    claimed.swap(claimed_);
  }
  if (claimed.empty()) return;
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  for (uint32_t id : claimed) {
    if (const BranchInfo* b = cat->FindBranchById(id)) InvalidateKernelCaches(id, b->name);
  }
}

void FuseServer::InvalidateKernelCaches(uint32_t branch, const std::string& name) {
  std::vector<uint64_t> nodeids;
  {
    MutexLock lock(&nodes_mu_);
    for (const auto& [key, nodeid] : ids_) {
      if (key.first == branch) nodeids.push_back(nodeid);
    }
  }
  if (!session_ || !mounted_) return;
  // Attributes and cached pages of every inode the kernel knows there.
  for (uint64_t nodeid : nodeids) fuse_lowlevel_notify_inval_inode(session_, nodeid, 0, 0);
  fuse_lowlevel_notify_inval_entry(session_, kRootNode, name.c_str(), name.size());
}

bool FuseServer::ResolveNode(uint64_t nodeid, Node* out) {
  MutexLock lock(&nodes_mu_);
  auto it = nodes_.find(nodeid);
  if (it == nodes_.end()) return false;
  *out = it->second;
  return true;
}

uint64_t FuseServer::RememberNode(uint32_t branch, uint64_t ino) {
  MutexLock lock(&nodes_mu_);
  auto [it, fresh] = ids_.try_emplace({branch, ino}, 0);
  if (fresh) {
    it->second = next_nodeid_++;
    nodes_[it->second] = Node{branch, ino, 0};
  }
  nodes_[it->second].lookups++;
  return it->second;
}

void FuseServer::ForgetNode(uint64_t nodeid, uint64_t n) {
  if (nodeid == kRootNode || nodeid == kControlNode) return;
  Node gone;
  {
    MutexLock lock(&nodes_mu_);
    auto it = nodes_.find(nodeid);
    if (it == nodes_.end()) return;
    if (it->second.lookups > n) {
      it->second.lookups -= n;
      return;
    }
    gone = it->second;
    ids_.erase({gone.branch, gone.ino});
    nodes_.erase(it);
  }
  PurgeIfUnlinked(gone.branch, gone.ino);
}

void FuseServer::PurgeIfUnlinked(uint32_t branch, uint64_t ino) {
  // Runs outside any callback's Guard (forget has no reply to fail).
  try {
    std::shared_ptr<BranchFs> fs = FsFor(branch);
    if (!fs) return;  // the branch was deleted or reset
    Result<InodeAttr> a = fs->GetAttr(ino);
    if (!a.ok() || a->nlink > 0) return;
    Status st = fs->Purge(ino);
    if (!st.ok()) spdlog::error("branch {}: purge of inode {}: {}", branch, ino, st.ToString());
  } catch (const std::exception& e) {
    spdlog::error("branch {}: purge of inode {}: {}", branch, ino, e.what());
  }
}

std::shared_ptr<FuseServer::FsSlot> FuseServer::SlotFor(uint32_t branch) {
  MutexLock lock(&fs_mu_);
  auto it = fs_.find(branch);
  if (it != fs_.end()) return it->second;
  // The catalog is read under fs_mu_, so a SetLineage that follows a
  // catalog change never misses a BranchFs made from the older lineage.
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranchById(branch);
  if (!b || b->retired || !versions_->HasBranch(branch)) return nullptr;
  auto slot = std::make_shared<FsSlot>();
  slot->fs = std::make_shared<BranchFs>(versions_, cat->LineageOf(branch), b->root_ino);
  slot->fs->SetClaimHook([this](uint32_t id) {
    MutexLock l(&claimed_mu_);
    claimed_.insert(id);
  });
  fs_[branch] = slot;
  return slot;
}

std::shared_ptr<BranchFs> FuseServer::FsFor(uint32_t branch) {
  std::shared_ptr<FsSlot> slot = SlotFor(branch);
  if (!slot) return nullptr;
  // Every caller waits for the purge, so no operation can orphan (and hold
  // open) an inode that the purge would then delete.
  std::call_once(slot->orphans_purged, [&] {
    // A branch another daemon writes reads as of its newest manifest now
    // (docs/cluster.md).
    if (Result<bool> r = versions_->RefreshForeign(branch); !r.ok()) {
      spdlog::warn("branch {}: reading its newest manifest: {}", branch, r.status().ToString());
    }
    Status st = slot->fs->PurgeOrphans();
    if (!st.ok()) spdlog::error("branch {}: purge of orphans: {}", branch, st.ToString());
  });
  return slot->fs;
}

void FuseServer::SetLineage(uint32_t branch, Lineage lineage) {
  std::shared_ptr<BranchFs> fs;
  {
    MutexLock lock(&fs_mu_);
    auto it = fs_.find(branch);
    if (it == fs_.end()) return;
    fs = it->second->fs;
  }
  fs->SetLineage(std::move(lineage));
}

std::shared_ptr<BranchFs> FuseServer::FsForName(const std::string& name) {
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranch(name);
  if (!b) return nullptr;
  return FsFor(b->id);
}

}  // namespace strata
