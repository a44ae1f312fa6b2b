// Small POSIX file helpers shared by the modules that write files directly:
// an fd closer, a full write, and unique temp-file names.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace strata {

// Closes an fd on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser();
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
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

}  // namespace strata
