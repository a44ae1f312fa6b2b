#include "objstore/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <random>

#include "common/fd_util.h"

namespace strata {
namespace {

constexpr std::string_view kTempPrefix = kTempFilePrefix;
// The lease file of daemons from before shared stores: nothing reads or writes
// it today, but an old store may hold it, so List skips it.
constexpr std::string_view kLockName = "LOCK";

bool IsTempName(std::string_view name) { return name.substr(0, kTempPrefix.size()) == kTempPrefix; }

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Reads exactly `len` bytes at `offset`; a short file is reported, not padded.
Status PreadAll(int fd, uint64_t offset, uint64_t len, std::string* out, const std::string& what) {
  out->resize(len);
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, out->data() + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, what);
    }
    if (n == 0) {
      return Status::IO(what + ": object shrank while being read (" + std::to_string(done) +
                        " of " + std::to_string(len) + " bytes)");
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status FsyncDir(const std::string& dir, const std::string& what) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, what + ": open directory " + dir);
  UniqueFd closer(fd);
  if (fsync(fd) != 0) return Status::FromErrno(errno, what + ": fsync directory " + dir);
  return Status::OK();
}

}  // namespace

struct FileObjectStore::CachedFd {
  CachedFd(UniqueFd f, uint64_t s) : fd(std::move(f)), size(s) {}
  const UniqueFd fd;
  const uint64_t size;  // objects are immutable while cached (see header)
};

struct FileObjectStore::CacheEntry {
  std::string key;
  // shared_ptr: an evicted fd stays open until in-flight preads on it finish.
  std::shared_ptr<CachedFd> fd;
};

FileObjectStore::FileObjectStore(std::string root, size_t fd_cache_capacity)
    : root_([&] {
        while (root.size() > 1 && root.back() == '/') root.pop_back();
        return root;
      }()),
      fd_cache_capacity_(fd_cache_capacity) {}

FileObjectStore::~FileObjectStore() = default;

std::string FileObjectStore::What(std::string_view op, const std::string& key) const {
  std::string s = "file store " + root_ + ": ";
  s += op;
  if (!key.empty()) s += " " + key;
  return s;
}

Status FileObjectStore::CheckKey(std::string_view op, const std::string& key) const {
  std::string_view why = InvalidKeyReason(key);
  if (why.empty()) return Status::OK();
  std::string shown = key;
  std::replace(shown.begin(), shown.end(), '\0', '?');
  return Status::Invalid("file store " + root_ + ": " + std::string(op) + ": invalid key \"" +
                         shown + "\": " + std::string(why));
}

Status FileObjectStore::EnsureDir(const std::string& dir, const std::string& what) {
  {
    MutexLock l(&durable_mu_);
    if (durable_dirs_.count(dir)) return Status::OK();
  }
  // Walk down from "/" so a missing root is created too; directories above
  // the root are only fsync'ed into their parent when we create them.
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string cur = dir.substr(0, pos);
    bool inside_root = cur.size() > root_.size();
    if (inside_root || cur == root_) {
      MutexLock l(&durable_mu_);
      if (durable_dirs_.count(cur)) continue;
    }
    bool created = mkdir(cur.c_str(), 0755) == 0;
    if (!created) {
      if (errno != EEXIST) return Status::FromErrno(errno, what + ": mkdir " + cur);
      struct stat st;
      if (stat(cur.c_str(), &st) != 0) return Status::FromErrno(errno, what + ": stat " + cur);
      if (!S_ISDIR(st.st_mode)) return Status::FromErrno(ENOTDIR, what + ": mkdir " + cur);
    }
    // An existing directory may have just been made by another thread that
    // has not fsync'ed its parent yet; fsync it ourselves rather than return
    // OK for an object whose directory could vanish in a crash.
    if (created || inside_root) STRATA_RETURN_IF_ERROR(FsyncDir(DirName(cur), what));
    if (inside_root || cur == root_) {
      MutexLock l(&durable_mu_);
      durable_dirs_.insert(cur);
    }
  }
  return Status::OK();
}

Status FileObjectStore::WriteTemp(const std::string& dir, std::string_view data,
                                  const std::string& what, std::string* tmp) {
  int fd = -1;
  {
    // Shared only until the temp file exists: from then on the directory is
    // non-empty and PruneEmptyDirs cannot remove it, so the slow write+fsync
    // below does not hold up Deletes.
    ReaderLock l(&dir_mu_);
    STRATA_RETURN_IF_ERROR(EnsureDir(dir, what));
    for (int attempt = 0; fd < 0; attempt++) {
      *tmp = dir + "/" + TempFileName();
      fd = open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0 && (errno != EEXIST || attempt >= 8)) return Status::FromErrno(errno, what);
    }
  }
  UniqueFd closer(fd);
  Status s = WriteAll(fd, data, what);
  if (s.ok() && fsync(fd) != 0) s = Status::FromErrno(errno, what);
  if (s.ok() && close(closer.release()) != 0) s = Status::FromErrno(errno, what);
  if (!s.ok()) unlink(tmp->c_str());
  return s;
}

Status FileObjectStore::PutImpl(const std::string& key, std::string_view data, bool if_absent) {
  std::string_view op = if_absent ? "put-if-absent" : "put";
  STRATA_RETURN_IF_ERROR(CheckKey(op, key));
  const std::string what = What(op, key);
  const std::string path = PathOf(key);
  const std::string dir = DirName(path);
  std::string tmp;
  STRATA_RETURN_IF_ERROR(WriteTemp(dir, data, what, &tmp));
  if (if_absent) {
    // link(2) fails with EEXIST instead of replacing: the atomic "create only
    // if absent" that rename lacks. The temp name is dropped either way.
    int rc = link(tmp.c_str(), path.c_str());
    int err = errno;
    unlink(tmp.c_str());
    if (rc != 0) {
      if (err == EEXIST) return Status::Exists(what + ": object already exists");
      return Status::FromErrno(err, what);
    }
  } else if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return Status::FromErrno(err, what);
  }
  Invalidate(key);
  return FsyncDir(dir, what);
}

Status FileObjectStore::Put(const std::string& key, std::string_view data) {
  return PutImpl(key, data, /*if_absent=*/false);
}

Status FileObjectStore::PutIfAbsent(const std::string& key, std::string_view data) {
  return PutImpl(key, data, /*if_absent=*/true);
}

Result<std::string> FileObjectStore::Get(const std::string& key) {
  STRATA_RETURN_IF_ERROR(CheckKey("get", key));
  const std::string what = What("get", key);
  // Not through the fd cache: whole-object reads are how mutable objects
  // (manifests) are read, and they must see the current file.
  int fd = open(PathOf(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(what + ": no such object");
    return Status::FromErrno(errno, what);
  }
  UniqueFd closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, what);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(what + ": no such object (a directory)");
  std::string out;
  STRATA_RETURN_IF_ERROR(PreadAll(fd, 0, static_cast<uint64_t>(st.st_size), &out, what));
  return out;
}

uint64_t& FileObjectStore::EpochOf(const std::string& key) {
  return epochs_[std::hash<std::string>{}(key) % kEpochStripes];
}

Result<std::shared_ptr<FileObjectStore::CachedFd>> FileObjectStore::OpenCached(
    const std::string& key, const std::string& what) {
  uint64_t epoch;
  {
    MutexLock l(&cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->fd;
    }
    epoch = EpochOf(key);
  }
  // open() outside the lock so a slow disk does not serialize every reader.
  UniqueFd fd(open(PathOf(key).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(what + ": no such object");
    return Status::FromErrno(errno, what);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, what);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(what + ": no such object (a directory)");
  auto cached = std::make_shared<CachedFd>(std::move(fd), static_cast<uint64_t>(st.st_size));
  if (fd_cache_capacity_ == 0) return cached;
  MutexLock l(&cache_mu_);
  if (EpochOf(key) != epoch) return cached;  // a Put/Delete raced us: use once
  auto it = cache_.find(key);
  if (it != cache_.end()) {  // another reader won the race; keep theirs
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->fd;
  }
  lru_.push_front(CacheEntry{key, cached});
  cache_[key] = lru_.begin();
  if (lru_.size() > fd_cache_capacity_) {
    cache_.erase(lru_.back().key);
    lru_.pop_back();
  }
  return cached;
}

void FileObjectStore::Invalidate(const std::string& key) {
  std::shared_ptr<CachedFd> victim;  // closed after the lock is dropped
  MutexLock l(&cache_mu_);
  EpochOf(key)++;
  auto it = cache_.find(key);
  if (it == cache_.end()) return;
  victim = std::move(it->second->fd);
  lru_.erase(it->second);
  cache_.erase(it);
}

size_t FileObjectStore::CachedFdCount() const {
  MutexLock l(&cache_mu_);
  return lru_.size();
}

Result<std::string> FileObjectStore::GetRange(const std::string& key, uint64_t offset,
                                              uint64_t len) {
  STRATA_RETURN_IF_ERROR(CheckKey("get-range", key));
  const std::string what = What("get-range", key);
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<CachedFd> f, OpenCached(key, what));
  if (offset > f->size || len > f->size - offset) {
    return Status::Invalid(what + ": range [" + std::to_string(offset) + ", +" +
                           std::to_string(len) + ") runs past the end of the object (" +
                           std::to_string(f->size) + " bytes)");
  }
  std::string out;
  STRATA_RETURN_IF_ERROR(PreadAll(f->fd.get(), offset, len, &out, what));
  return out;
}

Result<uint64_t> FileObjectStore::Size(const std::string& key) {
  STRATA_RETURN_IF_ERROR(CheckKey("size", key));
  const std::string what = What("size", key);
  struct stat st;
  if (stat(PathOf(key).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(what + ": no such object");
    return Status::FromErrno(errno, what);
  }
  if (!S_ISREG(st.st_mode)) return Status::NotFound(what + ": no such object (a directory)");
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<std::string>> FileObjectStore::List(const std::string& prefix) {
  const std::string what = What("list", prefix);
  if (!prefix.empty() && (prefix.front() == '/' || prefix.find("..") != std::string::npos ||
                          prefix.find('\0') != std::string::npos)) {
    return Status::Invalid(what + ": invalid prefix (must be relative, without \"..\")");
  }
  std::vector<std::string> keys;
  // Start at the deepest directory the prefix names in full; the rest of the
  // prefix may stop in the middle of a name.
  size_t slash = prefix.rfind('/');
  std::string start_rel = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  std::vector<std::string> pending = {start_rel};  // relative dirs, "" or ending in '/'
  while (!pending.empty()) {
    std::string rel = std::move(pending.back());
    pending.pop_back();
    std::string dir_path = rel.empty() ? root_ : root_ + "/" + rel.substr(0, rel.size() - 1);
    DIR* d = opendir(dir_path.c_str());
    if (d == nullptr) {
      // Gone (a concurrent Delete pruned it) or never there: nothing to list.
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return Status::FromErrno(errno, what + ": opendir " + dir_path);
    }
    errno = 0;
    while (struct dirent* e = readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || IsTempName(name)) continue;
      if (rel.empty() && name == kLockName) continue;
      std::string key = rel + std::string(name);
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      if (type == DT_DIR) {
        std::string sub = key + "/";
        // Descend only where keys with this prefix can live.
        if (sub.compare(0, std::min(sub.size(), prefix.size()), prefix, 0,
                        std::min(sub.size(), prefix.size())) == 0) {
          pending.push_back(std::move(sub));
        }
      } else if (type == DT_REG && key.compare(0, prefix.size(), prefix) == 0) {
        keys.push_back(std::move(key));
      }
      errno = 0;
    }
    int err = errno;
    closedir(d);
    if (err != 0) return Status::FromErrno(err, what + ": readdir " + dir_path);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

Status FileObjectStore::Delete(const std::string& key) {
  STRATA_RETURN_IF_ERROR(CheckKey("delete", key));
  const std::string what = What("delete", key);
  const std::string path = PathOf(key);
  {
    // Shared until the directory fsync is done, so another Delete cannot
    // prune the directory between our unlink and its fsync.
    ReaderLock l(&dir_mu_);
    if (unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
      return Status::FromErrno(errno, what);
    }
    Invalidate(key);
    STRATA_RETURN_IF_ERROR(FsyncDir(DirName(path), what));
  }
  PruneEmptyDirs(DirName(path));
  return Status::OK();
}

void FileObjectStore::PruneEmptyDirs(std::string dir) {
  // Thousands of short-lived branches a day would otherwise leave as many
  // empty directories for List to walk. Best effort: a crash may resurrect an
  // empty directory, which is harmless.
  WriterLock l(&dir_mu_);
  while (dir.size() > root_.size()) {
    {
      // Forget it first: a later Put must re-create and re-fsync it.
      MutexLock dl(&durable_mu_);
      durable_dirs_.erase(dir);
    }
    if (rmdir(dir.c_str()) != 0) return;  // ENOTEMPTY, the common case
    dir = DirName(dir);
  }
}

}  // namespace strata
