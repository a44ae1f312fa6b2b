#include "catalog/history.h"

#include <algorithm>
#include <string>

#include "common/text.h"

namespace strata {

Status CheckHistorySeconds(int64_t seconds) {
  if (seconds >= 0 && seconds <= kMaxHistorySeconds) return Status::OK();
  return Status::Invalid("history_seconds must be from 0 to " + std::to_string(kMaxHistorySeconds) +
                         " (10 years), not " + std::to_string(seconds));
}

Result<std::optional<TimePoint>> OldestPoint(VersionStore* versions, const BranchInfo& b,
                                             int64_t window_s, int64_t now_ns) {
  // A root branch has nothing, not even its top directory, at seq 0; a child
  // has its fork point there.
  const uint64_t first = b.parent == 0 ? 1 : 0;
  if (versions->HeadSeq(b.id) < first) return std::optional<TimePoint>();
  TimePoint oldest{first, static_cast<uint64_t>(b.created_ns)};
  const auto [floor_seq, floor_ns] = versions->HistoryFloor(b.id);
  if (floor_seq > oldest.seq) oldest = {floor_seq, floor_ns};
  const int64_t cutoff = now_ns - window_s * 1000000000;
  if (cutoff > 0) {
    STRATA_ASSIGN_OR_RETURN(std::optional<TimePoint> p,
                            versions->PointAtTime(b.id, static_cast<uint64_t>(cutoff)));
    if (p && p->seq > oldest.seq) oldest = *p;
  }
  return std::optional<TimePoint>(oldest);
}

Status CheckForkPoint(const BranchInfo& parent, int64_t window_s,
                      const std::optional<TimePoint>& oldest, const ForkSpec& spec, uint64_t seq) {
  if (!oldest) return Status::OK();
  std::string what;
  if (spec.kind == ForkSpec::Kind::kSeq && seq < oldest->seq) {
    what = "seq " + std::to_string(seq);
  } else if (spec.kind == ForkSpec::Kind::kTime &&
             (spec.time_ns < static_cast<int64_t>(oldest->time_ns) || seq < oldest->seq)) {
    what = "time " + FormatRfc3339(spec.time_ns);
  } else {
    return Status::OK();
  }
  return Status::Invalid("branch '" + parent.name + "': " + what +
                         " is older than its history window (" + FormatDuration(window_s) +
                         "); the oldest point still available is seq " +
                         std::to_string(oldest->seq) + " (" +
                         FormatRfc3339(static_cast<int64_t>(oldest->time_ns)) + ")");
}

GcPoints RetainedPoints(const CatalogData& cat, uint32_t id, uint64_t window_start) {
  GcPoints p;
  // A retired branch keeps no window: no fork can name it any more, so only
  // its snapshots and its children's fork points are read.
  const BranchInfo* b = cat.FindBranchById(id);
  p.retain.window_start = b && b->retired ? UINT64_MAX : window_start;
  for (const SnapshotInfo& s : cat.snapshots) {
    if (s.branch == id) p.retain.pins.push_back(s.seq);
  }
  for (const BranchInfo& b : cat.branches) {
    if (b.parent != id) continue;
    p.retain.pins.push_back(b.fork_seq);
    p.child_pins.push_back(b.fork_seq);
  }
  p.retain.Normalize();
  std::sort(p.child_pins.begin(), p.child_pins.end());
  p.child_pins.erase(std::unique(p.child_pins.begin(), p.child_pins.end()), p.child_pins.end());
  return p;
}

}  // namespace strata
