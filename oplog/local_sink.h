// LocalSink: the op log as a directory of append-only segment files.
//
// Segments are "<dir>/<20-digit decimal>.log"; the number is the logical
// offset of the segment's first byte, so tokens (logical offsets) and file
// names share one unit. OpenLocalSink recovers the directory before it
// returns: it checks every record, truncates a torn tail of the last segment,
// and fails with kCorruption (naming file and offset) on anything else.
// Format and rules: docs/oplog-format.md.
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
