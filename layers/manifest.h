// Manifest: per branch, the layers that make it up and durable_seq, the
// highest seq fully contained in uploaded layers. Stored as a new immutable
// object per version (PutIfAbsent), written only after the layers it names
// are uploaded (docs/design.md invariant 5). Format: docs/store-layout.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

// What wrote a layer: a memtable flush, a compaction (the retained versions
// of the layers it replaced) or a detach (the inherited state at seq 0).
enum class LayerKind : uint8_t { kDelta = 0, kCompacted = 1, kDetach = 2 };
const char* LayerKindName(LayerKind k);

struct LayerMeta {
  uint32_t no = 0;
  uint64_t min_seq = 0;
  uint64_t max_seq = 0;
  uint64_t min_time_ns = 0;
  uint64_t max_time_ns = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  LayerKind kind = LayerKind::kDelta;
};

struct Manifest {
  uint32_t branch = 0;
  uint64_t version = 0;       // 0: never written
  uint64_t durable_seq = 0;   // every op <= this is in `layers`
  uint64_t next_counter = 2;  // inode/data id counter (layers/key.h) not yet used
  uint64_t last_time_ns = 0;  // time of durable_seq
  uint32_t next_layer_no = 1;
  // History below this seq (and time) is gone: garbage collection kept only
  // what the retained points need (docs/gc.md). 0: all history is there.
  uint64_t history_floor = 0;
  uint64_t history_floor_ns = 0;
  // The fencing epoch of the branch lease under which this version was
  // written (docs/cluster.md); 0 for a store mounted by one daemon. A
  // holder that finds a newer epoch in the store has lost the branch.
  uint64_t epoch = 0;
  std::vector<LayerMeta> layers;
};

std::string LayerObjectKey(uint32_t branch, uint32_t layer_no);
std::string BranchObjectPrefix(uint32_t branch);

std::string EncodeManifest(const Manifest& m);
Result<Manifest> DecodeManifest(const std::string& data, const std::string& name);

// Loads the newest manifest of `branch`; a Manifest with version 0 if none.
Result<Manifest> LoadManifest(ObjectStore* store, uint32_t branch);
// Writes m (m.version must be one past the stored newest) and deletes the
// manifest two versions back. Only the newest is ever read; the one before
// it may name layers a compaction deleted (docs/gc.md, "Leaked objects").
Status StoreManifest(ObjectStore* store, const Manifest& m);

}  // namespace strata
