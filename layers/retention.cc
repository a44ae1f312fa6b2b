#include "layers/retention.h"

#include <algorithm>

namespace strata {

void RetainPoints::Normalize() {
  std::sort(pins.begin(), pins.end());
  pins.erase(std::unique(pins.begin(), pins.end()), pins.end());
}

bool RetainPoints::AnyPointIn(uint64_t from, uint64_t to) const {
  if (from >= to) return false;
  if (to > window_start) return true;  // [from, to) meets [window_start, head]
  auto it = std::lower_bound(pins.begin(), pins.end(), from);
  return it != pins.end() && *it < to;
}

void DecideKey(const RetainPoints& points, const std::vector<KeyVersion>& versions,
               uint64_t dead_at, std::vector<bool>* keep) {
  keep->assign(versions.size(), false);
  // versions[i] is what points in [seq_i, end_i) read, where end_i is the
  // next newer version or the data id's death, whichever comes first.
  uint64_t newer = UINT64_MAX;
  for (size_t i = 0; i < versions.size(); i++) {
    const uint64_t seq = versions[i].seq;
    const uint64_t end = dead_at > seq ? std::min(newer, dead_at) : newer;
    (*keep)[i] = points.AnyPointIn(seq, end);
    newer = seq;
  }
}

}  // namespace strata
