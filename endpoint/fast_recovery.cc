#include "endpoint/fast_recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "common/fd_util.h"

namespace strata {

namespace {

// ControlFileData (PostgreSQL's pg_control.h) begins with system_identifier
// (uint64), pg_control_version and catalog_version_no (uint32 each), then
// `state` (DBState), `time` (int64), checkPoint (XLogRecPtr) and
// checkPointCopy, whose first field is `redo` (XLogRecPtr); stable since 9.x.
// In checkPointCopy (PostgreSQL 12-15): nextXid (a 64-bit
// FullTransactionId) at +24 and oldestActiveXid (32 bits) at +80.
constexpr size_t kStateOffset = 16;
constexpr size_t kRedoOffset = 40;
constexpr size_t kNextXidOffset = 64;
constexpr size_t kOldestActiveXidOffset = 120;
constexpr uint32_t kDbShutdowned = 1;
constexpr uint32_t kDbShutdownedInRecovery = 2;

// A WAL segment file's name: timeline, then the segment number as two
// 8-digit hex halves (the high half counts 4 GiB of WAL).
constexpr size_t kSegmentNameLen = 24;

bool IsSegmentName(std::string_view name) {
  return name.size() == kSegmentNameLen && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
         });
}

// The segment number of a name IsSegmentName accepts.
uint64_t SegmentNumber(std::string_view name, uint64_t segment_size) {
  const uint64_t hi = std::stoull(std::string(name.substr(8, 8)), nullptr, 16);
  const uint64_t lo = std::stoull(std::string(name.substr(16, 8)), nullptr, 16);
  return hi * ((uint64_t{1} << 32) / segment_size) + lo;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

Result<std::string> ReadPgdataFile(const std::string& path, size_t max) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return errno == ENOENT ? Status::NotFound("no " + path)
                           : Status::FromErrno(errno, "open " + path);
  }
  std::string out(max, '\0');
  size_t got = 0;
  while (got < max) {
    ssize_t n = read(fd.get(), out.data() + got, max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read " + path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

Status WritePgdataFile(const std::string& path, std::string_view data,
                       const std::string& owner_of) {
  struct stat owner {};
  if (::stat(owner_of.c_str(), &owner) != 0) return Status::FromErrno(errno, "stat " + owner_of);
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Status::FromErrno(errno, "create " + path);
  if (geteuid() == 0 && fchown(fd.get(), owner.st_uid, owner.st_gid) != 0) {
    return Status::FromErrno(errno, "chown " + path);
  }
  STRATA_RETURN_IF_ERROR(WriteAll(fd.get(), data, "write " + path));
  if (fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync " + path);
  return Status::OK();
}

std::optional<uint32_t> PgControlState(std::string_view pg_control) {
  uint32_t state = 0;
  if (pg_control.size() < kStateOffset + sizeof state) return std::nullopt;
  std::memcpy(&state, pg_control.data() + kStateOffset, sizeof state);
  return state;
}

bool PgControlSaysShutDown(std::string_view pg_control) {
  const std::optional<uint32_t> state = PgControlState(pg_control);
  return state && (*state == kDbShutdowned || *state == kDbShutdownedInRecovery);
}

std::optional<uint64_t> PgControlRedo(std::string_view pg_control) {
  uint64_t redo = 0;
  if (pg_control.size() < kRedoOffset + sizeof redo) return std::nullopt;
  std::memcpy(&redo, pg_control.data() + kRedoOffset, sizeof redo);
  return redo;
}

bool PgControlNoTransactionBetween(std::string_view then, std::string_view now, int major) {
  if (major < 12 || major > 15) return false;
  if (then.size() < kOldestActiveXidOffset + 4 || now.size() < kNextXidOffset + 8) return false;
  if (!PgControlSaysShutDown(now)) return false;
  uint64_t next_then = 0, next_now = 0;
  uint32_t oldest_active = 0;
  std::memcpy(&next_then, then.data() + kNextXidOffset, sizeof next_then);
  std::memcpy(&next_now, now.data() + kNextXidOffset, sizeof next_now);
  std::memcpy(&oldest_active, then.data() + kOldestActiveXidOffset, sizeof oldest_active);
  return next_then == next_now &&
         (oldest_active == 0 || oldest_active == static_cast<uint32_t>(next_then));
}

namespace {

// Whether a segment file holds WAL of its own: its first page header
// (XLogLongPageHeaderData) names the segment's own start as xlp_pageaddr,
// at byte 8. A segment made ahead of need (wal_init_zero=off: a sparse
// file, zeros) or recycled from an older one (another address) does not.
bool SegmentInUse(const std::string& path, uint64_t start_lsn) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  uint64_t pageaddr = 0;
  return fd.valid() && pread(fd.get(), &pageaddr, sizeof pageaddr, 8) == sizeof pageaddr &&
         pageaddr == start_lsn;
}

}  // namespace

Result<bool> RedoWithinLastSegment(const std::string& data_dir, uint64_t redo) {
  const std::string wal = data_dir + "/pg_wal";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(wal.c_str()), closedir);
  if (!dir) return Status::FromErrno(errno, "open " + wal);
  std::vector<std::string> names;
  while (dirent* e = readdir(dir.get())) {
    if (IsSegmentName(e->d_name)) names.emplace_back(e->d_name);
  }
  if (names.empty()) return false;
  struct stat st {};
  if (::stat((wal + "/" + names.front()).c_str(), &st) != 0) return false;
  const auto size = static_cast<uint64_t>(st.st_size);
  // initdb --wal-segsize: a power of two from 1 MiB to 1 GiB.
  if (size < (uint64_t{1} << 20) || size > (uint64_t{1} << 30) || (size & (size - 1)) != 0) {
    return false;
  }
  // Any timeline: a promoted cluster continues the same numbers on the next.
  const uint64_t redo_segno = redo / size;
  bool redo_segment_found = false;
  for (const std::string& name : names) {
    const uint64_t segno = SegmentNumber(name, size);
    if (segno == redo_segno) redo_segment_found = true;
    if (segno > redo_segno && SegmentInUse(wal + "/" + name, segno * size)) return false;
  }
  return redo_segment_found;
}

Result<RecoveryPlan> PrepareFastRecovery(const std::string& data_dir, bool first_start) {
  RecoveryPlan plan;
  STRATA_ASSIGN_OR_RETURN(std::string control, ReadPgdataFile(data_dir + "/global/pg_control", 64));
  if (!PgControlState(control) || PgControlSaysShutDown(control)) return plan;
  if (Exists(data_dir + "/recovery.signal")) return plan;
  const std::string standby = data_dir + "/standby.signal";
  Result<std::string> signal = ReadPgdataFile(standby, kFastRecoveryMark.size() + 1);
  if (signal.ok() && *signal != kFastRecoveryMark) return plan;  // the user's standby
  if (!signal.ok() && !signal.status().IsNotFound()) return signal.status();
  // Our standby.signal, from a start cut short before its promotion: that
  // start chose the promotion, and its files are left as they are.
  const bool promote_pending = signal.ok();
  STRATA_ASSIGN_OR_RETURN(std::string version, ReadPgdataFile(data_dir + "/PG_VERSION", 16));
  const int major = std::atoi(version.c_str());  // "15\n"; 9.6 and older read as 9
  const std::optional<uint64_t> redo = PgControlRedo(control);
  bool short_redo = false;
  if (redo && !promote_pending) {
    STRATA_ASSIGN_OR_RETURN(short_redo, RedoWithinLastSegment(data_dir, *redo));
  }
  // promote_trigger_file: PostgreSQL 12 to 15.
  const bool promote_supported = major >= 12 && major <= 15;
  if (short_redo || !promote_supported) {
    plan.kind = RecoveryPlan::Kind::kCrashRecovery;
    plan.reason = short_redo ? "less than one WAL segment to replay: plain crash recovery"
                             : "plain crash recovery (no promote_trigger_file in PostgreSQL " +
                                   std::to_string(major) + ")";
  } else {
    const std::string trigger = data_dir + "/" + std::string(kPromoteFile);
    STRATA_RETURN_IF_ERROR(WritePgdataFile(trigger, "", data_dir));
    STRATA_RETURN_IF_ERROR(WritePgdataFile(standby, kFastRecoveryMark, data_dir));
    plan.kind = RecoveryPlan::Kind::kPromote;
    plan.reason = "a WAL segment or more to replay: it starts as a standby promoted at once";
    plan.settings = {{"hot_standby", "off"}, {"promote_trigger_file", trigger}};
  }
  if (first_start && major >= 14) {  // recovery_init_sync_method
    plan.settings.emplace_back("recovery_init_sync_method", "syncfs");
  }
  return plan;
}

}  // namespace strata
