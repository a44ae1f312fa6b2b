// Parsing of fork points ("main", "main@snap", "main@seq:42",
// "main@time:2026-11-21T10:00:00Z") and RFC 3339 times; names: common/names.h.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/names.h"
#include "common/status.h"

namespace strata {

struct ForkSpec {
  enum class Kind { kHead, kSnapshot, kSeq, kTime };
  std::string parent;
  Kind kind = Kind::kHead;
  std::string snapshot;  // kSnapshot
  uint64_t seq = 0;      // kSeq
  int64_t time_ns = 0;   // kTime
};

// kInvalid with one clear sentence for anything malformed.
Result<ForkSpec> ParseForkSpec(const std::string& spec);
// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" -> ns since the epoch.
Result<int64_t> ParseRfc3339(const std::string& text);
// FormatRfc3339, the other way: common/clock.h.

}  // namespace strata
