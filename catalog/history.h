// The history window of a branch (docs/gc.md, "The window"): the oldest
// point a fork or restore of it may still use, and the points its garbage
// collection must retain.
#pragma once

#include <cstdint>
#include <optional>

#include "catalog/catalog.h"
#include "catalog/fork_spec.h"
#include "common/status.h"
#include "layers/gc_plan.h"
#include "layers/version_store.h"

namespace strata {

// As the CLI's durations and docs/openapi.yaml: 10 years of 366 days.
inline constexpr int64_t kMaxHistorySeconds = int64_t{10} * 366 * 86400;

// kInvalid unless 0 <= seconds <= 10 years.
Status CheckHistorySeconds(int64_t seconds);

// The branch's window in seconds: its own, or `default_s`.
inline int64_t HistoryOf(const BranchInfo& b, int64_t default_s) {
  return b.history_s.value_or(default_s);
}

// The oldest point of `b` still available: the newest of its first point,
// its history floor (what collection may already have dropped) and its
// newest op at or before now - window. nullopt for a root branch with no op.
Result<std::optional<TimePoint>> OldestPoint(VersionStore* versions, const BranchInfo& b,
                                             int64_t window_s, int64_t now_ns);

// OK if a fork of `parent` by `spec` at `seq` reads a point that is still
// available; kInvalid naming the oldest one otherwise. Snapshots and the head
// are always available.
Status CheckForkPoint(const BranchInfo& parent, int64_t window_s,
                      const std::optional<TimePoint>& oldest, const ForkSpec& spec, uint64_t seq);

// The retained points of branch `id` whose window starts at `window_start`:
// its snapshots and the fork points of its children. A retired branch
// retains nothing else (window_start UINT64_MAX).
GcPoints RetainedPoints(const CatalogData& cat, uint32_t id, uint64_t window_start);

}  // namespace strata
