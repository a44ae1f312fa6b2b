// MarkFile: a number per branch that only rises, kept on disk. The walsink
// server keeps its fence in one (`DIR/<store id>/epochs`: the highest lease
// epoch a writer registered for each branch, so that a restart does not let
// a fenced writer back in), the walsink client and the store sink their void
// marks (`void` in the local op log's directory: records of a branch below
// that offset are another holder's past). docs/sink-protocol.md, "Fencing".
//
// The file is a sequence of 16-byte records, each a raise: branch u32,
// mark u64, then the low 32 bits of XXH64 of those 12 bytes (all
// little-endian). A branch's mark is the highest of its records. A raise
// appends one record and fdatasyncs before it counts. Open cuts a torn tail
// (a partial last record) and fails with kCorruption on a record whose
// checksum does not match; it rewrites the file with one record per branch
// once stale records outnumber live ones (and 1,024).
//
// Not thread-safe: the server calls it under its namespace's lock, the
// sinks under their own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/fd_util.h"
#include "common/status.h"

namespace strata {

class MarkFile {
 public:
  static constexpr size_t kRecordBytes = 16;

  // Opens (creating if missing) the file at `path` and reads it.
  // `fdatasync_for_test` replaces fdatasync(2) (0, or -1 with errno set).
  static Result<std::unique_ptr<MarkFile>> Open(
      const std::string& path, std::function<int(int fd)> fdatasync_for_test = nullptr);

  // The branch's mark: 0 if never raised.
  uint64_t Get(uint32_t branch) const;
  // Makes `mark` the branch's, durably, if it is higher; OK and nothing
  // written otherwise. After a failure the mark is unchanged in memory and
  // every later Raise fails the same way: reopen the file (Open cuts the
  // torn record a failed write may have left).
  Status Raise(uint32_t branch, uint64_t mark);
  size_t branches() const { return marks_.size(); }

 private:
  MarkFile(std::string path, UniqueFd fd, std::map<uint32_t, uint64_t> marks, uint64_t size,
           std::function<int(int fd)> fdatasync_for_test)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        marks_(std::move(marks)),
        size_(size),
        fdatasync_(std::move(fdatasync_for_test)) {}
  // Rewrites the file with one record per branch (WriteFileAtomically).
  Status Compact();

  const std::string path_;
  UniqueFd fd_;  // O_APPEND
  std::map<uint32_t, uint64_t> marks_;
  uint64_t size_ = 0;                           // bytes of whole records in the file
  Status failed_;                               // the first failed Raise: final
  const std::function<int(int fd)> fdatasync_;  // null: fdatasync(2)
};

}  // namespace strata
