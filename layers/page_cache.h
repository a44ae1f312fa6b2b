// PageCache: the L1 cache, decompressed values read from layers, in memory,
// least recently used first out, under a byte cap. Optional (docs/design.md
// invariant 5): a cache of capacity 0 keeps nothing and answers nothing.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace strata {

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t bytes = 0;     // held now
  uint64_t capacity = 0;  // cap in bytes
  uint64_t evictions = 0;
};

class PageCache {
 public:
  // Where a value lives: layer (branch, number) and the value's offset in it.
  struct Key {
    uint32_t branch = 0;
    uint32_t layer_no = 0;
    uint64_t offset = 0;
    bool operator==(const Key& o) const {
      return branch == o.branch && layer_no == o.layer_no && offset == o.offset;
    }
  };

  explicit PageCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The cached value, or nullptr (counted as a miss).
  std::shared_ptr<const std::string> Lookup(const Key& key);
  // Caches `value`, evicting the least recently used entries past the cap.
  // A value larger than the whole cap is not kept.
  void Insert(const Key& key, std::shared_ptr<const std::string> value);
  // Drops every value of layers of `branch` (the branch was dropped).
  void EraseBranch(uint32_t branch);
  CacheStats Stats();

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t h = (uint64_t{k.branch} << 32 | k.layer_no) * 0x9E3779B97F4A7C15ull;
      return static_cast<size_t>(h ^ (k.offset + (h << 6) + (h >> 2)));
    }
  };
  using Entry = std::pair<Key, std::shared_ptr<const std::string>>;

  const uint64_t capacity_;

  // A leaf lock: nothing else is taken while it is held, so any caller may
  // hold its own locks (VersionStore calls with at most a branch's gc_mu).
  Mutex mu_;
  std::list<Entry> lru_ GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> map_ GUARDED_BY(mu_);
  CacheStats stats_ GUARDED_BY(mu_);
};

}  // namespace strata
