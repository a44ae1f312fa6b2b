// VersionStore::ChangedKeys: what a branch wrote in a seq range, from its own
// memtables and layer index blocks (docs/diff.md).
#include <spdlog/spdlog.h>

#include <map>

#include "layers/version_store.h"

namespace strata {

namespace {

// Keeps the newest version of each key seen in (from, to].
class ChangeSet {
 public:
  ChangeSet(uint64_t from, uint64_t to) : from_(from), to_(to) {}
  void Add(std::string_view key, uint64_t seq, bool tombstone) {
    if (seq <= from_ || seq > to_) return;
    auto it = newest_.find(key);
    if (it == newest_.end()) {
      newest_.emplace(std::string(key), std::make_pair(seq, tombstone));
    } else if (seq > it->second.first) {
      it->second = {seq, tombstone};
    }
  }
  std::vector<KeyChange> Take() {
    std::vector<KeyChange> out;
    out.reserve(newest_.size());
    for (auto& [k, v] : newest_) out.push_back({k, v.first, v.second});
    return out;
  }

 private:
  const uint64_t from_, to_;
  std::map<std::string, std::pair<uint64_t, bool>, std::less<>> newest_;
};

}  // namespace

Result<std::vector<KeyChange>> VersionStore::ChangedKeys(uint32_t branch, uint64_t from,
                                                         uint64_t to) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  ChangeSet changes(from, to);
  if (from >= to) return changes.Take();
  // The guard first: no layer the manifest below names is deleted under us.
  auto guard = readers_.Read();
  std::vector<std::shared_ptr<Memtable>> tables;
  std::vector<LayerMeta> layers;
  {
    // One look under mu: a flush publishes its layer before it drops the
    // frozen table, so every version is in one or the other (or both).
    ReaderLock lock(&bs->mu);
    tables.push_back(bs->active);
    tables.insert(tables.end(), bs->frozen.begin(), bs->frozen.end());
    layers = bs->manifest.layers;
  }
  for (const auto& t : tables) {
    if (t->Empty() || t->MaxSeq() <= from || t->MinSeq() > to) continue;
    t->ForEach([&](std::string_view k, const Version& v) { changes.Add(k, v.seq, v.tombstone); });
  }
  for (const LayerMeta& meta : layers) {
    if (meta.max_seq <= from || meta.min_seq > to) continue;
    Result<LayerIndex> li = LoadLayerIndex(branch, meta);
    if (!li.ok() && li.status().code() == Code::kCorruption) {
      // Maybe a rotten cached copy: drop it and read the store of record.
      store_->Invalidate(LayerObjectKey(branch, meta.no));
      li = LoadLayerIndex(branch, meta);
    }
    if (!li.ok()) return li.status();
    for (const LayerEntry& e : li->entries) changes.Add(e.key, e.seq, e.tombstone);
  }
  return changes.Take();
}

}  // namespace strata
