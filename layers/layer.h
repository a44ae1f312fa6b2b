// Layer: an immutable object holding versions (key, seq) -> value of one
// branch over one seq range. Byte format: docs/layer-format.md; constants in
// layers/layer_format.h.
//
// Values are zstd-compressed one by one and checksummed with xxh64, so a
// reader fetches and verifies one 8 KiB page with one ranged GET. Values of at
// most kInlineMax bytes (attributes, directory entries) are kept inline in the
// index, so the index block alone answers namespace lookups and rebuilds the
// local RocksDB index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace strata {

// Where a value lives inside a layer object.
struct ValueRef {
  uint64_t offset = 0;  // of the compressed bytes within the object
  uint32_t length = 0;  // compressed length
  uint32_t raw_length = 0;
  uint64_t checksum = 0;  // xxh64 (seed 0) of the compressed bytes
};

struct LayerEntry {
  std::string key;
  uint64_t seq = 0;
  bool tombstone = false;
  bool inline_value = false;  // value holds the raw bytes; ref is unused
  std::string value;          // raw bytes when inline_value
  ValueRef ref;               // when !tombstone && !inline_value
};

// (seq, wall-clock time) of every op in the layer, ascending: the time->seq map.
struct TimePoint {
  uint64_t seq = 0;
  uint64_t time_ns = 0;
};

struct LayerInfo {
  uint32_t branch = 0;
  uint64_t min_seq = 0;
  uint64_t max_seq = 0;
  uint64_t entry_count = 0;
};

// Builds a layer in memory. Add entries sorted by key ascending, then seq
// descending (the memtable's order).
class LayerBuilder {
 public:
  LayerBuilder(uint32_t branch, int zstd_level = 1);
  // REQUIRES: (key, seq) sorts after every previously added entry.
  void Add(std::string_view key, uint64_t seq, bool tombstone, std::string_view value);
  // Adds a value already compressed by another layer: `frame` is the bytes
  // src.offset..+src.length of that layer, copied as they are (compaction
  // moves values without recompressing them). REQUIRES: as for Add, and the
  // caller verified the frame against src.checksum.
  void AddFrame(std::string_view key, uint64_t seq, const ValueRef& src, std::string_view frame);
  void AddTime(uint64_t seq, uint64_t time_ns);
  // Appends index, time map and footer; returns the whole object. Call once;
  // the builder is spent afterwards. The entries written, with their
  // ValueRefs filled in, remain available from entries().
  std::string Finish();
  const std::vector<LayerEntry>& entries() const { return entries_; }
  // Bytes of compressed values so far (the index and footer are not counted).
  size_t ApproximateSize() const { return data_.size(); }
  bool Empty() const { return entries_.empty() && times_.empty(); }
  // The seq range Finish() records (0..0 for an empty layer).
  uint64_t MinSeq() const { return Empty() ? 0 : min_seq_; }
  uint64_t MaxSeq() const { return Empty() ? 0 : max_seq_; }

 private:
  uint32_t branch_;
  int level_;
  std::string data_;
  std::vector<LayerEntry> entries_;
  std::vector<TimePoint> times_;
  uint64_t min_seq_ = UINT64_MAX;
  uint64_t max_seq_ = 0;
};

// The decoded index block, time map and footer of a layer object. `name` is
// used in error messages ("layer <name>: index checksum mismatch").
struct LayerIndex {
  LayerInfo info;
  std::vector<LayerEntry> entries;
  std::vector<TimePoint> times;
};

// Size of the fixed footer at the end of every layer object.
size_t LayerFooterSize();
// From the last LayerFooterSize() bytes: where the index block starts and its
// length (index + time map up to the footer). Verifies magic, version and the
// footer's own checksum. The caller, which knows the object size, must check
// index_offset + index_length + LayerFooterSize() == object size.
Status DecodeLayerFooter(std::string_view footer, const std::string& name, uint64_t* index_offset,
                         uint64_t* index_length);
// Decodes the index block (bytes [index_offset, object_size - footer)) and
// the footer. Verifies checksums; kCorruption naming `name` otherwise.
Result<LayerIndex> DecodeLayerIndex(std::string_view index_block, std::string_view footer,
                                    const std::string& name);
// Verifies and decompresses one value fetched with ref.offset/ref.length.
Result<std::string> DecodeLayerValue(std::string_view compressed, const ValueRef& ref,
                                     const std::string& name);

// Checks a whole layer object: footer, index and every value's checksum and
// zstd frame. Returns the decoded index (its info names branch and seqs) or
// the first problem found, as kCorruption naming `name`.
Result<LayerIndex> VerifyLayerObject(std::string_view object, const std::string& name);

}  // namespace strata
