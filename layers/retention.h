// The retention rule of garbage collection (docs/gc.md, "The rule").
//
// A branch's history is read at its retained points: every seq from the
// start of its window to the head, each of its snapshots, and the fork point
// of each of its children. A version of a key is retained if it is the
// version some retained point reads; every other version is garbage.
// Tombstones follow the same rule: one the head reads stays, because an
// older version may survive in a layer that was not rewritten (docs/gc.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

struct RetainPoints {
  // Every point >= window_start is retained (the head included). 0 keeps all
  // history; UINT64_MAX none, only the pins (a retired branch, docs/gc.md).
  uint64_t window_start = 0;
  // Snapshots of the branch and fork points of its children, any order.
  std::vector<uint64_t> pins;

  // Sorts and deduplicates pins (DecideKey needs them sorted).
  void Normalize();
  // Whether some retained point p has from <= p < to.
  bool AnyPointIn(uint64_t from, uint64_t to) const;
};

// One version of a key, as the index lists them: newest first.
struct KeyVersion {
  uint64_t seq = 0;
  bool tombstone = false;
};

// Decides every version of one key of one branch. `versions` is newest
// first with strictly descending seqs. `dead_at` is the seq of the branch's
// kDead marker for the key's data id (page keys), or UINT64_MAX: a page
// written before it stops being visible there. keep->at(i) says whether
// versions[i] is retained. REQUIRES: points.Normalize() was called.
void DecideKey(const RetainPoints& points, const std::vector<KeyVersion>& versions,
               uint64_t dead_at, std::vector<bool>* keep);

}  // namespace strata
