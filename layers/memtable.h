// Memtable: the newest versions of one branch's keys that are not yet in a
// layer, ordered by (key asc, seq desc), the order a layer is written in.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "layers/layer.h"

namespace strata {

struct Version {
  uint64_t seq = 0;
  bool tombstone = false;
  std::string value;
};

// Thread-safe: every method takes the memtable's own lock, a leaf (nothing
// else is locked under it). VersionStore calls it with a branch's commit_mu
// or mu held (layers/version_store.h).
class Memtable {
 public:
  // Adds (key, seq). Thread-safe against concurrent readers.
  void Add(std::string_view key, uint64_t seq, bool tombstone, std::string value);
  void AddTime(uint64_t seq, uint64_t time_ns);

  // The newest version of `key` with seq <= max_seq, if any.
  std::optional<Version> Get(std::string_view key, uint64_t max_seq) const;
  // Calls fn(key, version) for every distinct key starting with `prefix`, with
  // its newest version <= max_seq (tombstones included), in key order.
  // Keys before `start` (if given and after `prefix`) are skipped.
  void Scan(std::string_view prefix, uint64_t max_seq,
            const std::function<void(std::string_view, const Version&)>& fn,
            std::string_view start = {}) const;
  // Every entry in layer order; for flushing. REQUIRES: no concurrent Add.
  void ForEach(const std::function<void(std::string_view key, const Version&)>& fn) const;
  // The largest time point with time_ns <= t, if the memtable holds one.
  std::optional<TimePoint> SeqAtTime(uint64_t t) const;

  size_t ApproximateBytes() const;
  bool Empty() const;
  uint64_t MinSeq() const;
  uint64_t MaxSeq() const;
  // The time points, in seq order (a copy: Add may run meanwhile).
  std::vector<TimePoint> times() const;

 private:
  // Orders (key, seq) by key, then newest seq first: the layer order. Compares
  // keys whole, so a key that is a prefix of another still sorts first.
  struct Order {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      const int c = std::string_view(a.first).compare(std::string_view(b.first));
      return c < 0 || (c == 0 && a.second > b.second);
    }
  };
  using Slot = std::pair<std::string, uint64_t>;
  using Probe = std::pair<std::string_view, uint64_t>;

  mutable SharedMutex mu_;
  std::map<Slot, Version, Order> map_ GUARDED_BY(mu_);
  std::vector<TimePoint> times_ GUARDED_BY(mu_);
  size_t bytes_ GUARDED_BY(mu_) = 0;
  uint64_t min_seq_ GUARDED_BY(mu_) = UINT64_MAX;
  uint64_t max_seq_ GUARDED_BY(mu_) = 0;
};

}  // namespace strata
