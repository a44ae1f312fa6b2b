// GcPlan: which versions of one branch's layers are retained, and what the
// branch's space is spent on (docs/gc.md). A pure function of the layers'
// entries and the retained points, so the daemon's collector and the offline
// `strata verify` judge a store the same way.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "layers/layer.h"
#include "layers/manifest.h"
#include "layers/retention.h"

namespace strata {

// One layer of the branch as its object's index block lists it.
struct LayerContents {
  LayerMeta meta;
  std::vector<LayerEntry> entries;
  std::vector<TimePoint> times;
};

struct GcPoints {
  RetainPoints retain;               // the branch's retained points (normalized)
  std::vector<uint64_t> child_pins;  // the fork points of its children, sorted
};

// Bytes of the branch's own layers (object bytes, apportioned to entries).
struct SpaceAccount {
  uint64_t layer_bytes = 0;      // all of them
  uint64_t live_bytes = 0;       // retained versions
  uint64_t garbage_bytes = 0;    // the rest: what collection frees
  uint64_t history_bytes = 0;    // retained only because they are inside the window
  uint64_t child_bytes = 0;      // read by children at their fork points
  uint64_t exclusive_bytes = 0;  // layer_bytes - child_bytes: what deleting the branch frees
  uint64_t versions = 0;
  uint64_t garbage_versions = 0;
};

struct GcAnalysis {
  std::vector<std::vector<bool>> keep;  // [layer][entry]: retained
  // [layer][entry]: another layer holds the same (key, seq) and keep names
  // the copy that stays; the index must point at that one.
  std::vector<std::vector<bool>> duplicate;
  // (layer, entry) of each retained entry that had such copies.
  std::vector<std::pair<uint32_t, uint32_t>> repoint;
  std::vector<uint64_t> live_bytes;       // per layer: object bytes of its retained entries
  std::vector<uint64_t> garbage_entries;  // per layer
  SpaceAccount space;
};

// REQUIRES: each layer's entries sorted by key, then seq descending (as
// every layer object stores them).
GcAnalysis AnalyzeLayers(const std::vector<LayerContents>& layers, const GcPoints& points);

}  // namespace strata
