// Index: the local RocksDB index of every layer entry, so that a read finds
// the newest version of a key with one seek instead of searching layers.
//
// It is a cache of the store (docs/design.md invariant 5): everything in it is
// rebuilt from the layers named by the manifests (AddLayer), so it is written
// without sync and may be deleted at any time while unmounted.
//
// Layout of RocksDB keys:
//   'v' branch(BE32) key ~seq(BE64)  -> IndexValue (see index.cc)
//   'l' branch(BE32) layer_no(BE32)  -> ""  (the layer's entries are indexed)
//   't' branch(BE32) time_ns(BE64)   -> seq (u64 LE): the time->seq map
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "layers/layer.h"

namespace rocksdb {
class DB;
}

namespace strata {

// Where a version of a key lives: inline, a tombstone, or a value in a layer.
struct IndexedVersion {
  uint64_t seq = 0;
  bool tombstone = false;
  bool inline_value = false;
  std::string value;          // when inline_value
  uint32_t layer_branch = 0;  // else: in layer (layer_branch, layer_no) at ref
  uint32_t layer_no = 0;
  ValueRef ref;
};

class Index {
 public:
  ~Index();
  // Opens (creating if missing) the index at `dir`.
  static Result<std::unique_ptr<Index>> Open(const std::string& dir);

  bool HasLayer(uint32_t branch, uint32_t layer_no);
  // Indexes every entry and time point of one layer, atomically with its marker.
  Status AddLayer(uint32_t branch, uint32_t layer_no, const std::vector<LayerEntry>& entries,
                  const std::vector<TimePoint>& times);
  // The newest version of `key` in `branch` with seq <= max_seq.
  Result<std::optional<IndexedVersion>> Get(uint32_t branch, std::string_view key,
                                            uint64_t max_seq);
  // fn(key, version) for each distinct key with `prefix` in `branch`, newest
  // version <= max_seq, in key order.
  // Keys before `start` (if given and after `prefix`) are skipped.
  Status Scan(uint32_t branch, std::string_view prefix, uint64_t max_seq,
              const std::function<void(std::string_view, const IndexedVersion&)>& fn,
              std::string_view start = {});
  // The time point with the largest time_ns <= t.
  Result<std::optional<TimePoint>> SeqAtTime(uint32_t branch, uint64_t t);
  // The layer numbers of `branch` whose entries are indexed (its markers).
  Result<std::vector<uint32_t>> Layers(uint32_t branch);
  // One atomic batch for a compaction of `branch` (docs/gc.md): forgets the
  // markers of `removed` layers and the versions in `pruned`, then indexes
  // every entry and time point of the `added` layers, and points `repointed`
  // versions at the layer that now holds them.
  struct AddedLayer {
    uint32_t no = 0;
    const std::vector<LayerEntry>* entries = nullptr;
    const std::vector<TimePoint>* times = nullptr;
  };
  struct Repointed {
    uint32_t layer_no = 0;
    const LayerEntry* entry = nullptr;
  };
  Status ApplyCompaction(uint32_t branch, const std::vector<uint32_t>& removed,
                         const std::vector<std::pair<std::string, uint64_t>>& pruned,
                         const std::vector<AddedLayer>& added,
                         const std::vector<Repointed>& repointed);
  // Removes everything of a branch.
  Status DropBranch(uint32_t branch);
  uint64_t ApproximateBytes();

 private:
  explicit Index(rocksdb::DB* db) : db_(db) {}
  rocksdb::DB* const db_;
};

}  // namespace strata
