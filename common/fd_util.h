// Small POSIX file helpers shared by the modules that write files directly:
// an owned fd, a full write, and unique temp-file names.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace strata {

// Owns a file descriptor: closes it on destruction or reset() unless
// released; movable, so an fd can be returned and kept in containers. -1
// means none. close(2) errors are not reported: call ::close(release()) where
// they matter (they never do for sockets and read-only files).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  // Closes the fd held (if any) and holds `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Writes all of `data` (retrying short writes and EINTR); the error names `what`.
Status WriteAll(int fd, std::string_view data, const std::string& what);

// Takes an exclusive flock on DIR/LOCK (created if missing) and returns its
// fd: one process per directory until that fd is closed. kBusy with
// `busy_message` if another process holds it.
Result<int> LockDirectory(const std::string& dir, const std::string& busy_message);

// The prefix of every temp file name made by TempFileName.
constexpr std::string_view kTempFilePrefix = ".tmp-";

// ".tmp-" + 16 hex digits: unique within the process (a counter), and across
// processes with high probability (a random per-process base); create with
// O_EXCL and retry on EEXIST to be sure.
std::string TempFileName();

// `data` into `path` through a temporary file (TempFileName) in its
// directory, of mode `mode`, fsynced and renamed into place: a reader (or a
// crash) sees the old file or the whole new one, never part of it.
Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode);

}  // namespace strata
