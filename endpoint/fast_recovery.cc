#include "endpoint/fast_recovery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/fd_util.h"

namespace strata {

namespace {

// ControlFileData (PostgreSQL's pg_control.h) begins with system_identifier
// (uint64), pg_control_version and catalog_version_no (uint32 each), then
// `state` (DBState); stable since 9.x.
constexpr size_t kStateOffset = 16;
constexpr uint32_t kDbShutdowned = 1;
constexpr uint32_t kDbShutdownedInRecovery = 2;

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

Result<std::vector<std::pair<std::string, std::string>>> PrepareFastRecovery(
    const std::string& data_dir, bool first_start) {
  std::vector<std::pair<std::string, std::string>> settings;
  STRATA_ASSIGN_OR_RETURN(std::string control, ReadPgdataFile(data_dir + "/global/pg_control", 64));
  const std::optional<uint32_t> state = PgControlState(control);
  if (!state || *state == kDbShutdowned || *state == kDbShutdownedInRecovery) return settings;
  STRATA_ASSIGN_OR_RETURN(std::string version, ReadPgdataFile(data_dir + "/PG_VERSION", 16));
  if (version != "12\n" && version != "13\n" && version != "14\n" && version != "15\n") {
    return settings;
  }
  const std::string standby = data_dir + "/standby.signal";
  if (Exists(data_dir + "/recovery.signal")) return settings;
  Result<std::string> signal = ReadPgdataFile(standby, kFastRecoveryMark.size() + 1);
  if (signal.ok() && *signal != kFastRecoveryMark) return settings;  // the user's standby
  if (!signal.ok() && !signal.status().IsNotFound()) return signal.status();
  const std::string trigger = data_dir + "/" + std::string(kPromoteFile);
  STRATA_RETURN_IF_ERROR(WritePgdataFile(trigger, "", data_dir));
  STRATA_RETURN_IF_ERROR(WritePgdataFile(standby, kFastRecoveryMark, data_dir));
  settings = {{"hot_standby", "off"}, {"promote_trigger_file", trigger}};
  if (first_start && version != "12\n" && version != "13\n") {
    settings.emplace_back("recovery_init_sync_method", "syncfs");
  }
  return settings;
}

}  // namespace strata
