#include "oplog/local_sink.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/thread_cpu.h"
#include "oplog/op_record.h"

namespace strata {

namespace {

constexpr std::string_view kSegmentSuffix = ".log";
constexpr size_t kSegmentDigits = 20;

constexpr uint64_t kWritebackKickBytes = 1 << 20;
constexpr size_t kKeptFrameBytes = 4 << 20;  // see Append

// Closes the fd when the last user lets go: a syncer in flight keeps the old
// segment open across a rotation.
struct SegmentFile {
  explicit SegmentFile(UniqueFd f) : fd(std::move(f)) {}
  const UniqueFd fd;
};

struct Segment {
  std::string path;
  uint64_t size = 0;          // bytes of complete records
  uint64_t kicked = 0;        // writeback started (sync_file_range) up to here
  bool preallocated = false;  // made from a zero-filled spare
  // branch -> highest seq of that branch in this segment; decides Trim.
  std::unordered_map<uint32_t, uint64_t> max_seq;
};

bool ParseSegmentName(std::string_view name, uint64_t* start) {
  if (name.size() != kSegmentDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < kSegmentDigits; i++) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *start = v;
  return true;
}

Status FsyncDir(const std::string& dir) {
  const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::OK();
}

// Reads the first `limit` bytes of `path` (fewer if the file is shorter).
Status ReadPrefix(const std::string& path, uint64_t limit, std::string* out) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  const uint64_t n = std::min<uint64_t>(limit, static_cast<uint64_t>(st.st_size));
  out->resize(n);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd.get(), out->data() + done, n - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(errno, "read " + path);
    if (r == 0) break;  // shrank under us; the caller sees a short buffer
    done += static_cast<uint64_t>(r);
  }
  out->resize(done);
  return Status::OK();
}

// Whether a decodable record starts anywhere after the first byte of `data`.
bool ValidFrameAfter(std::string_view data) {
  for (size_t p = 1; p < data.size(); p++) {
    if (static_cast<uint8_t>(data[p]) != kOpRecordMagic) continue;
    OpRecord rec;
    size_t used = 0;
    if (DecodeOpRecord(data.substr(p), &rec, &used).ok()) return true;
  }
  return false;
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

class LocalSink final : public Sink {
 public:
  LocalSink(std::string dir, LocalSinkOptions options)
      : dir_(std::move(dir)), opts_(std::move(options)) {}
  ~LocalSink() override {
    {
      MutexLock l(&spare_mu_);
      stopping_ = true;
    }
    spare_cv_.SignalAll();
    if (preparer_.joinable()) preparer_.join();
    ::unlink(SparePath().c_str());
    // dir_fd_'s close releases the flock.
  }

  // Starts the thread that keeps a zero-filled spare segment ready.
  void StartPreparer() {
    if (opts_.preallocate) preparer_ = NamedThread("strata-prealloc", [this] { PrepareLoop(); });
  }

  // Scans and repairs the directory; see local_sink.h. Runs before the sink
  // is shared (so the lock it holds is never contended).
  Status Recover() EXCLUDES(mu_);

  Result<uint64_t> Append(const OpRecord& rec) override EXCLUDES(mu_);
  Status Sync(uint64_t token) override EXCLUDES(mu_);
  uint64_t Tail() override EXCLUDES(mu_);
  Status Replay(const std::function<Status(const OpRecord&)>& fn) override EXCLUDES(mu_);
  Status Trim(uint32_t branch, uint64_t seq) override EXCLUDES(mu_);
  SinkStats Stats() override EXCLUDES(mu_);
  uint64_t AckedSeq(uint32_t branch) override EXCLUDES(mu_);
  std::vector<uint32_t> BranchesInLog() override EXCLUDES(mu_);
  Status ReadFrames(uint64_t from, size_t max_bytes, std::string* frames, uint64_t* first,
                    uint64_t* next) override EXCLUDES(mu_);

 private:
  // Writeback to start after an append (sync_file_range), outside mu_.
  struct Kick {
    std::shared_ptr<SegmentFile> file;  // null: none
    uint64_t from = 0, len = 0;
  };

  std::string PathOf(uint64_t start) const { return dir_ + "/" + SegmentFileName(start); }
  int DataSync(int fd) const {
    return opts_.fdatasync_for_test ? opts_.fdatasync_for_test(fd) : ::fdatasync(fd);
  }
  // Recover's steps: opens and flocks the directory (creating it if missing)
  // and drops an old spare; indexes the segment files; checks the records
  // of one segment and sets its size (cutting a torn tail if `last`); opens
  // the last segment for appending.
  Status OpenDirectory();
  Status ListSegments() REQUIRES(mu_);
  Status ScanSegment(Segment& seg, bool last, std::string* data);
  Status ReopenLastLocked() REQUIRES(mu_);
  // Appends the encoded `frame` of `rec`; the writeback to start goes to *kick.
  Result<uint64_t> AppendLocked(const OpRecord& rec, const std::string& frame, Kick* kick)
      REQUIRES(mu_);
  // Makes the sink refuse every later Append and Sync. After a failed
  // fdatasync the kernel may have dropped the dirty pages and cleared the
  // error, so a retry could "succeed" without the data (fsyncgate): the only
  // honest answer from then on is an error.
  Status FailLocked(int err, const std::string& what) REQUIRES(mu_);
  // Creates segment `start`, makes its directory entry durable and makes it
  // current.
  Status CreateSegmentLocked(uint64_t start) REQUIRES(mu_) EXCLUDES(spare_mu_);
  // fdatasyncs the current segment and switches to a new one, so Sync never
  // has to look at more than the current file.
  Status RotateLocked() REQUIRES(mu_) EXCLUDES(spare_mu_);

  // A spare segment file, zero-filled and fdatasync'ed ahead of need by
  // `preparer_` and renamed into place at rotation. Overwriting blocks that
  // are already allocated and written lets fdatasync skip the journal commit
  // that growing a file needs (ext4, 8 KiB write + fdatasync: 139 us instead
  // of 217 us), which is why PostgreSQL zero-fills its WAL segments too.
  std::string SparePath() const { return dir_ + "/spare.zero"; }
  void PrepareLoop() EXCLUDES(spare_mu_);
  bool WriteSpare() EXCLUDES(spare_mu_);
  bool SpareReady() EXCLUDES(spare_mu_) {
    MutexLock l(&spare_mu_);
    return spare_ready_;
  }

  // Set at construction.
  const std::string dir_;
  const LocalSinkOptions opts_;
  // The directory, flock'ed for the sink's lifetime (one writer per op log);
  // also the handle for directory fsyncs. Set by Recover, before the sink is
  // shared.
  UniqueFd dir_fd_;

  // Lock order: mu_, then spare_mu_ (a rotation takes the spare while
  // appending). Both are leaves across modules: with either held no other
  // module is called and no callback runs (Replay calls fn without them).
  // Callers may hold their own locks (the version store holds a branch's
  // commit lock across Append); see oplog/sink.h.
  //
  // mu_ guards what follows it. It is held across write(2) (appends are
  // ordered anyway) but never across the group-commit fdatasync, so appends
  // continue while a sync is in flight.
  Mutex mu_;
  CondVar sync_cv_;                                       // signalled when a syncer finishes
  std::map<uint64_t, Segment> segments_ GUARDED_BY(mu_);  // by start offset; the last is current
  std::shared_ptr<SegmentFile> cur_ GUARDED_BY(mu_);      // the current segment, open for writing
  uint64_t appended_ GUARDED_BY(mu_) = 0;                 // logical offset after the last record
  uint64_t synced_ GUARDED_BY(mu_) = 0;                   // everything below is durable
  bool syncing_ GUARDED_BY(mu_) = false;                  // a thread is in fdatasync for Sync
  Status error_ GUARDED_BY(mu_);                          // sticky; see FailLocked
  // branch -> seq covered by layers / last seq appended / last seq synced
  std::unordered_map<uint32_t, uint64_t> trimmed_ GUARDED_BY(mu_);
  std::unordered_map<uint32_t, uint64_t> appended_seq_ GUARDED_BY(mu_);
  std::unordered_map<uint32_t, uint64_t> synced_seq_ GUARDED_BY(mu_);
  uint64_t appended_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t syncs_ GUARDED_BY(mu_) = 0;
  uint64_t sync_waits_ GUARDED_BY(mu_) = 0;

  // The preparer thread, and the spare it keeps ready.
  std::thread preparer_;
  Mutex spare_mu_ ACQUIRED_AFTER(mu_);
  CondVar spare_cv_;
  bool spare_ready_ GUARDED_BY(spare_mu_) = false;
  std::atomic<bool> stopping_{false};
};

Status LocalSink::FailLocked(int err, const std::string& what) {
  const Status s = Status::FromErrno(err, what);
  error_ =
      Status(s.code(), "op log " + dir_ + " failed, refusing writes and syncs: " + s.message());
  spdlog::error("{}", error_.message());
  sync_cv_.SignalAll();
  return error_;
}

void LocalSink::PrepareLoop() {
  MutexLock l(&spare_mu_);
  while (!stopping_) {
    if (spare_ready_) {
      spare_cv_.Wait(&spare_mu_);
      continue;
    }
    l.Unlock();
    const bool ok = WriteSpare();
    l.Lock();
    if (ok) {
      spare_ready_ = true;
    } else if (!stopping_) {
      spare_cv_.WaitFor(&spare_mu_, std::chrono::seconds(5));  // a full disk: try later
    }
  }
}

bool LocalSink::WriteSpare() {
  const std::string tmp = dir_ + "/spare.tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return false;
  const std::string zeros(1 << 20, '\0');
  bool ok = true;
  for (uint64_t left = opts_.segment_bytes; ok && left > 0 && !stopping_;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
    const ssize_t w = ::write(fd.get(), zeros.data(), n);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) left -= static_cast<uint64_t>(w);
  }
  ok = ok && !stopping_ && ::fdatasync(fd.get()) == 0;
  fd.reset();  // fdatasync'ed: a close error cannot lose the zeros
  ok = ok && ::rename(tmp.c_str(), SparePath().c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

Status LocalSink::CreateSegmentLocked(uint64_t start) {
  const std::string path = PathOf(start);
  bool from_spare = false;
  {
    MutexLock l(&spare_mu_);
    if (spare_ready_ && ::rename(SparePath().c_str(), path.c_str()) == 0) from_spare = true;
    spare_ready_ = false;
  }
  spare_cv_.SignalAll();
  // A spare holds zeros past the records, which recovery reads as a torn tail.
  UniqueFd fd(from_spare ? ::open(path.c_str(), O_WRONLY | O_CLOEXEC)
                         : ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::FromErrno(errno, "create " + path);
  auto file = std::make_shared<SegmentFile>(std::move(fd));
  // The directory entry must be durable before any Sync covering records in
  // this file can return; doing it here, once per segment, keeps Sync to a
  // single fdatasync.
  if (::fsync(dir_fd_.get()) != 0) {
    const Status st = Status::FromErrno(errno, "fsync directory " + dir_);
    ::unlink(path.c_str());
    return st;
  }
  segments_[start] = Segment{path, 0, 0, from_spare, {}};
  cur_ = std::move(file);
  return Status::OK();
}

Status LocalSink::RotateLocked() {
  const Segment& old = segments_.rbegin()->second;
  // Cut a spare's unused zeros: only the last segment may end in anything
  // but a complete record.
  if (::ftruncate(cur_->fd.get(), static_cast<off_t>(old.size)) != 0) {
    return FailLocked(errno, "truncate " + old.path);
  }
  if (DataSync(cur_->fd.get()) != 0) return FailLocked(errno, "fdatasync " + old.path);
  // Every earlier segment was synced when it was rotated out, so the whole
  // log up to here is durable now.
  synced_ = std::max(synced_, appended_);
  synced_seq_ = appended_seq_;
  sync_cv_.SignalAll();
  return CreateSegmentLocked(appended_);
}

Status LocalSink::Recover() {
  STRATA_RETURN_IF_ERROR(OpenDirectory());
  MutexLock l(&mu_);
  STRATA_RETURN_IF_ERROR(ListSegments());
  if (segments_.empty()) return CreateSegmentLocked(0);
  uint64_t prev_end = 0;
  std::string data;
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    if (it->first < prev_end) {
      return Status::Corruption("op log segment " + it->second.path +
                                " overlaps the previous segment");
    }
    STRATA_RETURN_IF_ERROR(ScanSegment(it->second, std::next(it) == segments_.end(), &data));
    prev_end = it->first + it->second.size;
  }
  return ReopenLastLocked();
}

Status LocalSink::OpenDirectory() {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) {
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::FromErrno(ec.value(), "create directory " + dir_);
    const std::string parent = std::filesystem::path(dir_).parent_path().string();
    STRATA_RETURN_IF_ERROR(FsyncDir(parent.empty() ? "." : parent));
  }
  dir_fd_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd_.valid()) return Status::FromErrno(errno, "open directory " + dir_);
  if (::flock(dir_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Status::Busy("op log " + dir_ + " is open in another sink");
    return Status::FromErrno(errno, "lock directory " + dir_);
  }
  // A spare left by an earlier process may be half written: start afresh.
  ::unlink(SparePath().c_str());
  ::unlink((dir_ + "/spare.tmp").c_str());
  return Status::OK();
}

Status LocalSink::ListSegments() {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    uint64_t start = 0;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && ParseSegmentName(it->path().filename().string(), &start)) {
      segments_[start] = Segment{PathOf(start), 0, 0, false, {}};
    }
  }
  if (ec) return Status::FromErrno(ec.value(), "list directory " + dir_);
  return Status::OK();
}

Status LocalSink::ScanSegment(Segment& seg, bool last, std::string* data) {
  STRATA_RETURN_IF_ERROR(ReadPrefix(seg.path, UINT64_MAX, data));
  size_t off = 0;
  while (off < data->size()) {
    OpRecord rec;
    size_t used = 0;
    const std::string_view rest = std::string_view(*data).substr(off);
    const Status st = DecodeOpRecord(rest, &rec, &used);
    if (st.ok()) {
      uint64_t& m = seg.max_seq[rec.branch];
      m = std::max(m, rec.seq);
      off += used;
      continue;
    }
    // A crash can leave a partial frame, or zeros where the file was
    // extended but the data never written, at the end of the last segment
    // only: older segments were fdatasynced before the next was created.
    // After a power loss, the unsynced tail can also hold a complete-looking
    // frame with a page of garbage in it. Like PostgreSQL's WAL, the first
    // bad record ends the log when no valid record follows it: records past
    // the last Sync were never acknowledged. A valid record after a bad one
    // is damage inside the durable log, which is corruption.
    if (last && AllZero(rest)) {
      // What a clean stop leaves too: the rest of a preallocated spare.
      spdlog::info("op log segment {}: ends at offset {}; cutting {} bytes of zeros", seg.path, off,
                   rest.size());
      break;
    }
    if (last && (st.IsNotFound() || !ValidFrameAfter(rest))) {
      spdlog::warn("op log segment {}: truncating torn tail at offset {} ({} bytes): {}", seg.path,
                   off, rest.size(), st.message());
      break;
    }
    return Status::Corruption("op log segment " + seg.path + " offset " + std::to_string(off) +
                              ": " + st.message());
  }
  seg.size = off;
  return Status::OK();
}

Status LocalSink::ReopenLastLocked() {
  // Truncate the torn tail, then fdatasync whatever is there even if nothing
  // was cut: a previous process may have died with dirty pages whose
  // writeback error nobody has seen, and what Replay hands out must be
  // durable.
  auto& [start, last] = *segments_.rbegin();
  UniqueFd fd(::open(last.path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + last.path);
  cur_ = std::make_shared<SegmentFile>(std::move(fd));
  if (::ftruncate(cur_->fd.get(), static_cast<off_t>(last.size)) != 0) {
    return Status::FromErrno(errno, "truncate " + last.path);
  }
  if (DataSync(cur_->fd.get()) != 0) return Status::FromErrno(errno, "fdatasync " + last.path);
  appended_ = synced_ = start + last.size;
  for (const auto& [seg_start, seg] : segments_) {
    for (const auto& [b, seq] : seg.max_seq) {
      appended_seq_[b] = std::max(appended_seq_[b], seq);
    }
  }
  synced_seq_ = appended_seq_;
  return Status::OK();
}

Result<uint64_t> LocalSink::Append(const OpRecord& rec) {
  // Encode and checksum outside the lock so concurrent appenders overlap,
  // into a buffer each thread keeps. A fresh buffer per record landed on
  // memory never touched before (the memtable keeps what the previous
  // record's allocations left behind), and its page faults made encoding an
  // 8 KiB record take 31 us (docs/performance.md). A buffer grown past
  // kKeptFrameBytes is given back.
  thread_local std::string frame;
  if (frame.capacity() > kKeptFrameBytes) std::string().swap(frame);
  frame.clear();
  EncodeOpRecord(rec, &frame);
  if (frame.size() > kOpRecordHeaderBytes + kOpRecordMaxBodyBytes) {
    return Status::TooBig("op record of " + std::to_string(frame.size()) +
                          " bytes exceeds the limit");
  }
  Kick kick;
  Result<uint64_t> token = [&] {
    MutexLock l(&mu_);
    return AppendLocked(rec, frame, &kick);
  }();
  // Start writeback of what piled up since the last kick, without waiting, so
  // a barrier's fdatasync finds little dirty data: under a heavy write load
  // (a checkpoint) that keeps fsync latency flat. Errors surface in fdatasync.
  if (kick.file) {
    ::sync_file_range(kick.file->fd.get(), static_cast<off_t>(kick.from),
                      static_cast<off_t>(kick.len), SYNC_FILE_RANGE_WRITE);
  }
  return token;
}

Result<uint64_t> LocalSink::AppendLocked(const OpRecord& rec, const std::string& frame,
                                         Kick* kick) {
  if (!error_.ok()) return error_;
  // The segment Open made (or kept) is not zero-filled: move to a spare as
  // soon as one is ready, so fdatasyncs get cheap early on.
  if (!segments_.rbegin()->second.preallocated && segments_.rbegin()->second.size > 0 &&
      SpareReady()) {
    STRATA_RETURN_IF_ERROR(RotateLocked());
  }
  if (segments_.rbegin()->second.size > 0 &&
      segments_.rbegin()->second.size + frame.size() > opts_.segment_bytes) {
    STRATA_RETURN_IF_ERROR(RotateLocked());
  }
  Segment& seg = segments_.rbegin()->second;
  const int fd = cur_->fd.get();
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t w =
        ::pwrite(fd, frame.data() + done, frame.size() - done, static_cast<off_t>(seg.size + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const int err = errno;
      // Cut off the partial frame so the next record does not land after
      // garbage; if even that fails the file can no longer be trusted.
      if (done > 0 && ::ftruncate(fd, static_cast<off_t>(seg.size)) != 0) {
        return FailLocked(errno, "truncate partial record in " + seg.path);
      }
      return Status::FromErrno(err, "write " + seg.path);
    }
    done += static_cast<size_t>(w);
  }
  seg.size += frame.size();
  appended_ += frame.size();
  appended_bytes_ += frame.size();
  uint64_t& m = seg.max_seq[rec.branch];
  m = std::max(m, rec.seq);
  appended_seq_[rec.branch] = rec.seq;
  if (seg.size - seg.kicked >= kWritebackKickBytes) {
    *kick = Kick{cur_, seg.kicked, seg.size - seg.kicked};
    seg.kicked = seg.size;
  }
  return appended_;
}

Status LocalSink::Sync(uint64_t token) {
  MutexLock l(&mu_);
  sync_waits_++;
  if (token > appended_) {
    return Status::Invalid("sync token " + std::to_string(token) + " is past the op log tail " +
                           std::to_string(appended_));
  }
  for (;;) {
    if (!error_.ok()) return error_;
    if (synced_ >= token) return Status::OK();
    if (syncing_) {
      // Someone else is in fdatasync; it may or may not cover our token
      // (it captured the tail when it started), so re-check when it is done.
      sync_cv_.Wait(&mu_);
      continue;
    }
    // Become the syncer for everything appended so far: that is the group.
    syncing_ = true;
    const uint64_t target = appended_;
    // Per-branch seqs for AckedSeq; a copy per group commit is cheap next to
    // the fdatasync it rides on.
    std::unordered_map<uint32_t, uint64_t> target_seqs = appended_seq_;
    const std::shared_ptr<SegmentFile> file = cur_;
    const std::string path = segments_.rbegin()->second.path;
    l.Unlock();
    const int rc = DataSync(file->fd.get());
    const int err = errno;
    l.Lock();
    syncing_ = false;
    syncs_++;
    if (rc != 0) {
      FailLocked(err, "fdatasync " + path).PermitUnchecked();
    } else {
      synced_ = std::max(synced_, target);
      for (const auto& [b, seq] : target_seqs) {
        if (appended_seq_.count(b)) synced_seq_[b] = std::max(synced_seq_[b], seq);
      }
    }
    sync_cv_.SignalAll();
  }
}

uint64_t LocalSink::Tail() {
  MutexLock l(&mu_);
  return appended_;
}

Status LocalSink::Replay(const std::function<Status(const OpRecord&)>& fn) {
  // Replay what was complete when it started; later appends are not shown.
  std::vector<std::pair<uint64_t, Segment>> snap;
  {
    MutexLock l(&mu_);
    for (const auto& [start, seg] : segments_)
      snap.emplace_back(start, Segment{seg.path, seg.size, 0, false, {}});
  }
  std::string data;
  for (const auto& [start, seg] : snap) {
    Status st = ReadPrefix(seg.path, seg.size, &data);
    if (st.IsNotFound()) {
      MutexLock l(&mu_);
      if (segments_.count(start) == 0) continue;  // trimmed while we ran
    }
    STRATA_RETURN_IF_ERROR(st);
    if (data.size() < seg.size) {
      return Status::Corruption("op log segment " + seg.path + " is " +
                                std::to_string(data.size()) + " bytes, expected " +
                                std::to_string(seg.size));
    }
    size_t off = 0;
    while (off < data.size()) {
      OpRecord rec;
      size_t used = 0;
      st = DecodeOpRecord(std::string_view(data).substr(off), &rec, &used);
      if (!st.ok()) {
        // Recover already validated every byte; this is damage since Open.
        return Status::Corruption("op log segment " + seg.path + " offset " + std::to_string(off) +
                                  ": " + st.message());
      }
      STRATA_RETURN_IF_ERROR(fn(rec));
      off += used;
    }
  }
  return Status::OK();
}

Status LocalSink::Trim(uint32_t branch, uint64_t seq) {
  std::vector<std::string> doomed;
  {
    MutexLock l(&mu_);
    if (seq == UINT64_MAX) {
      // A deleted branch: its records matter to nobody. Forget it entirely so
      // the id's state does not linger.
      trimmed_.erase(branch);
      appended_seq_.erase(branch);
      synced_seq_.erase(branch);
      for (auto& [start, seg] : segments_) seg.max_seq.erase(branch);
    } else {
      uint64_t& t = trimmed_[branch];
      t = std::max(t, seq);
    }
    const uint64_t current = segments_.rbegin()->first;
    for (auto it = segments_.begin(); it != segments_.end() && it->first != current;) {
      const bool covered = std::all_of(it->second.max_seq.begin(), it->second.max_seq.end(),
                                       [&](const auto& kv) REQUIRES(mu_) {
                                         auto t = trimmed_.find(kv.first);
                                         return t != trimmed_.end() && kv.second <= t->second;
                                       });
      if (covered) {
        doomed.push_back(it->second.path);
        it = segments_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Unlink outside the lock. No directory fsync: a segment that reappears
  // after a crash holds only covered records, which replay filters out.
  Status result;
  for (const std::string& path : doomed) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && result.ok()) {
      result = Status::FromErrno(errno, "delete trimmed op log segment " + path);
    }
  }
  return result;
}

std::vector<uint32_t> LocalSink::BranchesInLog() {
  std::set<uint32_t> ids;
  MutexLock l(&mu_);
  for (const auto& [start, seg] : segments_) {
    for (const auto& [b, seq] : seg.max_seq) ids.insert(b);
  }
  return {ids.begin(), ids.end()};
}

uint64_t LocalSink::AckedSeq(uint32_t branch) {
  MutexLock l(&mu_);
  auto it = synced_seq_.find(branch);
  return it == synced_seq_.end() ? 0 : it->second;
}

Status LocalSink::ReadFrames(uint64_t from, size_t max_bytes, std::string* frames, uint64_t* first,
                             uint64_t* next) {
  frames->clear();
  std::string path;
  uint64_t start = 0, size = 0;
  {
    MutexLock l(&mu_);
    // The segment holding `from`, or the first one after it when `from` was
    // trimmed away or sits at the end of a segment.
    auto it = segments_.upper_bound(from);
    if (it != segments_.begin()) {
      auto prev = std::prev(it);
      if (from < prev->first + prev->second.size) it = prev;
    }
    if (it == segments_.end()) {
      *first = *next = std::max(from, appended_);
      return Status::OK();
    }
    path = it->second.path;
    start = it->first;
    size = it->second.size;
  }
  const uint64_t pos = std::max(from, start);
  *first = *next = pos;
  const uint64_t avail = start + size - pos;
  if (avail == 0) return Status::OK();
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) {
    // Trimmed between the lookup and the open: the caller asks again.
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno(errno, "open " + path);
  }
  const int fd = file.get();
  uint64_t want = std::min<uint64_t>(avail, std::max<size_t>(max_bytes, kOpRecordHeaderBytes));
  for (;;) {
    frames->resize(want);
    size_t done = 0;
    while (done < want) {
      const ssize_t r =
          ::pread(fd, frames->data() + done, want - done, static_cast<off_t>(pos - start + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Status::FromErrno(errno, "read " + path);
      if (r == 0) {
        return Status::Corruption("op log segment " + path + " ends before offset " +
                                  std::to_string(pos - start + want));
      }
      done += static_cast<size_t>(r);
    }
    // Keep whole frames only; make room for a first frame larger than asked.
    size_t off = 0;
    while (off + kOpRecordHeaderBytes <= frames->size()) {
      const size_t len = kOpRecordHeaderBytes + DecodeFixed32(frames->data() + off + 1);
      if (off + len > frames->size()) break;
      off += len;
    }
    if (off == 0 && want < avail) {
      const size_t len = frames->size() >= kOpRecordHeaderBytes
                             ? kOpRecordHeaderBytes + DecodeFixed32(frames->data() + 1)
                             : kOpRecordHeaderBytes;
      if (len > avail) {
        return Status::Corruption("op log segment " + path + " offset " +
                                  std::to_string(pos - start) + ": frame runs past the segment");
      }
      want = len;
      continue;
    }
    if (off == 0) {
      return Status::Corruption("op log segment " + path + " offset " +
                                std::to_string(pos - start) + ": partial frame inside the log");
    }
    frames->resize(off);
    *next = pos + off;
    return Status::OK();
  }
}

SinkStats LocalSink::Stats() {
  MutexLock l(&mu_);
  SinkStats s;
  for (const auto& [start, seg] : segments_) s.bytes_on_disk += seg.size;
  s.segments = segments_.size();
  s.appended_bytes = appended_bytes_;
  s.syncs = syncs_;
  s.sync_waits = sync_waits_;
  return s;
}

}  // namespace

std::string SegmentFileName(uint64_t start) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%020llu.log", static_cast<unsigned long long>(start));
  return buf;
}

Result<std::unique_ptr<Sink>> OpenLocalSink(const std::string& dir,
                                            const LocalSinkOptions& options) {
  if (dir.empty()) return Status::Invalid("op log directory is empty");
  auto sink = std::make_unique<LocalSink>(dir, options);
  STRATA_RETURN_IF_ERROR(sink->Recover());
  sink->StartPreparer();
  return std::unique_ptr<Sink>(std::move(sink));
}

Result<std::unique_ptr<Sink>> OpenLocalSink(const std::string& dir, uint64_t segment_bytes) {
  LocalSinkOptions options;
  options.segment_bytes = segment_bytes;
  return OpenLocalSink(dir, options);
}

}  // namespace strata
