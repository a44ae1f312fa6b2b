#include "layers/gc_plan.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "layers/key.h"

namespace strata {
namespace {

struct Ref {
  uint32_t layer;
  uint32_t entry;
};

// What an entry costs in its layer before apportioning the object's bytes:
// its value bytes plus the index entry.
uint64_t RawBytes(const LayerEntry& e) {
  const uint64_t value = e.tombstone ? 0 : e.inline_value ? e.value.size() : e.ref.length;
  return value + e.key.size() + 17;
}

bool IsDeadKey(std::string_view key) {
  return key.size() == 17 && KeyIno(key) == 0 && KeyKindOf(key) == KeyKind::kDead;
}

// data id -> the seq of the branch's kDead marker for it.
std::map<uint64_t, uint64_t> DeadMarkers(const std::vector<LayerContents>& layers) {
  std::map<uint64_t, uint64_t> dead;
  for (const LayerContents& l : layers) {
    for (const LayerEntry& e : l.entries) {
      if (e.tombstone || !IsDeadKey(e.key)) continue;
      auto [it, fresh] = dead.try_emplace(MetaKeyId(e.key), e.seq);
      if (!fresh) it->second = std::min(it->second, e.seq);
    }
  }
  return dead;
}

// Every entry of every layer in (key, seq descending) order; of two copies
// of one (key, seq) the one in the later layer comes first.
std::vector<Ref> MergedOrder(const std::vector<LayerContents>& layers) {
  std::vector<Ref> refs;
  for (uint32_t l = 0; l < layers.size(); l++) {
    for (uint32_t i = 0; i < layers[l].entries.size(); i++) refs.push_back({l, i});
  }
  auto entry = [&](const Ref& r) -> const LayerEntry& { return layers[r.layer].entries[r.entry]; };
  std::sort(refs.begin(), refs.end(), [&](const Ref& a, const Ref& b) {
    const LayerEntry& x = entry(a);
    const LayerEntry& y = entry(b);
    if (int c = x.key.compare(y.key); c != 0) return c < 0;
    if (x.seq != y.seq) return x.seq > y.seq;
    return a.layer > b.layer;
  });
  return refs;
}

uint64_t DeadAt(const std::map<uint64_t, uint64_t>& dead, std::string_view key) {
  if (key.size() != 17 || KeyKindOf(key) != KeyKind::kPage) return UINT64_MAX;
  auto it = dead.find(KeyIno(key));
  return it == dead.end() ? UINT64_MAX : it->second;
}

// Raw (unapportioned) bytes per layer of each class.
struct RawTotals {
  std::vector<uint64_t> all, live, history, child;
  explicit RawTotals(size_t n) : all(n), live(n), history(n), child(n) {}
};

// Apportions each object's bytes (values, index block, footer) to the
// classes, in proportion to their raw bytes in it.
void Apportion(const std::vector<LayerContents>& layers, const RawTotals& raw, GcAnalysis* out) {
  out->live_bytes.assign(layers.size(), 0);
  for (size_t l = 0; l < layers.size(); l++) {
    const uint64_t total = layers[l].meta.bytes;
    auto share = [&](uint64_t part) {
      return raw.all[l] == 0
                 ? 0
                 : static_cast<uint64_t>(static_cast<long double>(total) * part / raw.all[l]);
    };
    out->space.layer_bytes += total;
    out->live_bytes[l] = raw.all[l] == 0 ? 0 : share(raw.live[l]);
    out->space.live_bytes += out->live_bytes[l];
    out->space.history_bytes += share(raw.history[l]);
    out->space.child_bytes += share(raw.child[l]);
  }
  out->space.garbage_bytes = out->space.layer_bytes - out->space.live_bytes;
  out->space.exclusive_bytes = out->space.layer_bytes - out->space.child_bytes;
}

}  // namespace

GcAnalysis AnalyzeLayers(const std::vector<LayerContents>& layers, const GcPoints& points) {
  GcAnalysis out;
  for (const LayerContents& l : layers) {
    out.keep.emplace_back(l.entries.size(), false);
    out.duplicate.emplace_back(l.entries.size(), false);
  }
  const std::map<uint64_t, uint64_t> dead = DeadMarkers(layers);
  // The same pins with no window (head only), and the children's view alone.
  RetainPoints no_history = points.retain;
  no_history.window_start = UINT64_MAX - 1;
  RetainPoints children;
  children.window_start = UINT64_MAX;
  children.pins = points.child_pins;
  children.Normalize();

  RawTotals raw(layers.size());
  out.garbage_entries.assign(layers.size(), 0);
  const std::vector<Ref> refs = MergedOrder(layers);
  std::vector<KeyVersion> versions;
  std::vector<Ref> group;
  std::vector<bool> keep, keep_now, keep_child, copied;
  for (size_t i = 0; i < refs.size();) {
    const std::string& key = layers[refs[i].layer].entries[refs[i].entry].key;
    versions.clear();
    group.clear();
    copied.clear();
    for (; i < refs.size() && layers[refs[i].layer].entries[refs[i].entry].key == key; i++) {
      const LayerEntry& e = layers[refs[i].layer].entries[refs[i].entry];
      raw.all[refs[i].layer] += RawBytes(e);
      if (!versions.empty() && versions.back().seq == e.seq) {
        out.duplicate[refs[i].layer][refs[i].entry] = true;  // a copy: never kept
        out.garbage_entries[refs[i].layer]++;
        copied.back() = true;
        continue;
      }
      versions.push_back({e.seq, e.tombstone});
      group.push_back(refs[i]);
      copied.push_back(false);
    }
    const uint64_t dead_at = DeadAt(dead, key);
    DecideKey(points.retain, versions, dead_at, &keep);
    DecideKey(no_history, versions, dead_at, &keep_now);
    DecideKey(children, versions, dead_at, &keep_child);
    const bool marker = IsDeadKey(key);  // bookkeeping: always kept
    for (size_t v = 0; v < group.size(); v++) {
      const Ref& r = group[v];
      const uint64_t bytes = RawBytes(layers[r.layer].entries[r.entry]);
      out.space.versions++;
      if (!keep[v] && !marker) {
        out.space.garbage_versions++;
        out.garbage_entries[r.layer]++;
        continue;
      }
      out.keep[r.layer][r.entry] = true;
      if (copied[v]) out.repoint.emplace_back(r.layer, r.entry);
      raw.live[r.layer] += bytes;
      if (!keep_now[v] && !keep_child[v] && !marker) raw.history[r.layer] += bytes;
      if (keep_child[v]) raw.child[r.layer] += bytes;
    }
  }
  Apportion(layers, raw, &out);
  return out;
}

}  // namespace strata
