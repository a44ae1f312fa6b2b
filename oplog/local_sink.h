// LocalSink: the op log as a directory of append-only segment files.
//
// Segments are "<dir>/<20-digit decimal>.log"; the number is the logical
// offset of the segment's first byte, so tokens (logical offsets) and file
// names share one unit. OpenLocalSink recovers the directory before it
// returns: it checks every record, truncates a torn tail of the last segment,
// and fails with kCorruption (naming file and offset) on anything else.
// Format and rules: docs/oplog-format.md.
//
// Threads and locks. One background thread (the preparer, with
// preallocate) keeps a zero-filled spare segment ready; it takes only the
// spare's lock, never while writing the spare. The sink's main lock is held
// across an append's write(2) and, at a rotation, the old segment's
// ftruncate + fdatasync and the new one's directory fsync (appends are
// ordered anyway), but never across a Sync's group-commit fdatasync, so
// appends go on while a sync is in flight; Replay, ReadFrames and Trim's
// unlinks do their file I/O without it. Order: the main lock, then the
// spare's. Neither is held while anything outside the sink runs (Replay's fn
// included); what callers may hold is in oplog/sink.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "oplog/sink.h"

namespace strata {

struct LocalSinkOptions {
  // Start a new segment when the next record would grow the current one past
  // this (a single larger record still gets a segment of its own).
  uint64_t segment_bytes = 64ull << 20;
  // Keep a zero-filled spare segment ready (a background thread), so appends
  // overwrite allocated blocks and fdatasync needs no metadata commit.
  bool preallocate = true;
  // Test hook: replaces fdatasync(2) on segment files; returns 0 or -1 with
  // errno set. Empty in production.
  std::function<int(int fd)> fdatasync_for_test;
};

Result<std::unique_ptr<Sink>> OpenLocalSink(const std::string& dir,
                                            const LocalSinkOptions& options);

// Segment file name for a segment starting at logical offset `start`.
std::string SegmentFileName(uint64_t start);

}  // namespace strata
