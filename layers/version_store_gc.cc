// VersionStore: compaction, garbage collection and detach (docs/gc.md).
//
// Locks (the order is written down in layers/version_store.h): gc_mu (one GC
// or detach per branch) for the whole pass. Layers are read and written
// without flush_mu, so flushes go on while a compaction runs; only the
// publish (manifest and index batch) holds it.
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <set>

#include "layers/key.h"
#include "layers/version_store.h"

namespace strata {

struct VersionStore::Rewrite {
  std::vector<size_t> selected;  // indexes into the analysed layers
  std::vector<LayerMeta> out;    // compacted layers written, in order
  std::vector<std::vector<LayerEntry>> out_entries;
  std::vector<std::vector<TimePoint>> out_times;
  uint64_t read_bytes = 0;
  uint64_t written_bytes = 0;
};

namespace {

// The layers one pass rewrites: those mostly garbage, plus small ones once
// there are enough of them to be worth merging; at most max_input_bytes.
std::vector<size_t> SelectLayers(const std::vector<LayerContents>& layers, const GcAnalysis& a,
                                 const CompactionPolicy& policy) {
  std::vector<size_t> picked, small;
  uint64_t input = 0;
  auto take = [&](size_t l) {
    const uint64_t read = a.live_bytes[l] == 0 ? 0 : layers[l].meta.bytes;
    if (input + read > policy.max_input_bytes && read > 0 && !picked.empty()) return;
    input += read;
    picked.push_back(l);
  };
  for (size_t l = 0; l < layers.size(); l++) {
    const uint64_t bytes = layers[l].meta.bytes;
    const uint64_t garbage = bytes - std::min(bytes, a.live_bytes[l]);
    if (a.garbage_entries[l] > 0 && garbage >= policy.rewrite_garbage_ratio * bytes) {
      take(l);
    } else if (bytes < policy.small_layer_bytes) {
      small.push_back(l);
    }
  }
  if (small.size() >= policy.merge_small_layers) {
    for (size_t l : small) take(l);
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

struct Ref {
  size_t layer;
  size_t entry;
};

// The retained entries of the selected layers in layer order: key, then seq
// descending (a compacted layer's required order).
std::vector<Ref> RetainedInOrder(const std::vector<LayerContents>& layers, const GcAnalysis& a,
                                 const std::vector<size_t>& selected) {
  std::vector<Ref> refs;
  for (size_t l : selected) {
    for (size_t i = 0; i < layers[l].entries.size(); i++) {
      if (a.keep[l][i]) refs.push_back({l, i});
    }
  }
  std::sort(refs.begin(), refs.end(), [&](const Ref& x, const Ref& y) {
    const LayerEntry& p = layers[x.layer].entries[x.entry];
    const LayerEntry& q = layers[y.layer].entries[y.entry];
    if (int c = p.key.compare(q.key); c != 0) return c < 0;
    return p.seq > q.seq;
  });
  return refs;
}

LayerMeta MetaOf(const LayerBuilder& b, const std::vector<TimePoint>& times, uint32_t no,
                 uint64_t bytes, LayerKind kind) {
  LayerMeta m;
  m.no = no;
  m.min_seq = b.MinSeq();
  m.max_seq = b.MaxSeq();
  for (const TimePoint& t : times) {
    m.min_time_ns = m.min_time_ns == 0 ? t.time_ns : std::min(m.min_time_ns, t.time_ns);
    m.max_time_ns = std::max(m.max_time_ns, t.time_ns);
  }
  m.bytes = bytes;
  m.entries = b.entries().size();
  m.kind = kind;
  return m;
}

}  // namespace

Result<std::vector<LayerContents>> VersionStore::LoadContents(uint32_t branch, const Manifest& m) {
  std::vector<LayerContents> out;
  out.reserve(m.layers.size());
  for (const LayerMeta& meta : m.layers) {
    STRATA_ASSIGN_OR_RETURN(LayerIndex li, LoadLayerIndex(branch, meta));
    out.push_back({meta, std::move(li.entries), std::move(li.times)});
  }
  return out;
}

Status VersionStore::BuildRewrite(BranchState* bs, const std::vector<LayerContents>& layers,
                                  const GcAnalysis& a, const GcPoints& points,
                                  const CompactionPolicy& policy, Rewrite* rw) {
  rw->selected = SelectLayers(layers, a, policy);
  if (rw->selected.empty()) return Status::OK();
  std::map<size_t, std::string> objects;  // selected layers whose values move
  for (size_t l : rw->selected) {
    if (a.live_bytes[l] == 0) continue;
    const std::string key = LayerObjectKey(bs->id, layers[l].meta.no);
    STRATA_ASSIGN_OR_RETURN(std::string obj, store_->Get(key));
    if (obj.size() != layers[l].meta.bytes) {
      return Status::Corruption("layer " + key + ": " + std::to_string(obj.size()) +
                                " bytes, the manifest says " +
                                std::to_string(layers[l].meta.bytes));
    }
    rw->read_bytes += obj.size();
    objects[l] = std::move(obj);
  }
  std::vector<TimePoint> times;  // what @time: forks inside the window need
  for (size_t l : rw->selected) {
    for (const TimePoint& t : layers[l].times) {
      if (t.seq >= points.retain.window_start) times.push_back(t);
    }
  }
  auto builder = std::make_unique<LayerBuilder>(bs->id, options_.zstd_level);
  auto finish = [&](bool last) -> Status {
    if (last) {
      for (const TimePoint& t : times) builder->AddTime(t.seq, t.time_ns);
    }
    if (builder->Empty()) return Status::OK();
    std::vector<TimePoint> own = last ? times : std::vector<TimePoint>{};
    const uint64_t min_seq = builder->MinSeq(), max_seq = builder->MaxSeq();
    std::string object = builder->Finish();
    LayerMeta meta = MetaOf(*builder, own, TakeLayerNo(bs), object.size(), LayerKind::kCompacted);
    meta.min_seq = min_seq;
    meta.max_seq = max_seq;
    STRATA_RETURN_IF_ERROR(UploadLayer(bs, object, &meta.no));
    rw->written_bytes += object.size();
    rw->out.push_back(meta);
    rw->out_entries.push_back(builder->entries());
    rw->out_times.push_back(std::move(own));
    builder = std::make_unique<LayerBuilder>(bs->id, options_.zstd_level);
    return Status::OK();
  };
  for (const Ref& r : RetainedInOrder(layers, a, rw->selected)) {
    const LayerEntry& e = layers[r.layer].entries[r.entry];
    if (e.tombstone || e.inline_value) {
      builder->Add(e.key, e.seq, e.tombstone, e.value);
    } else {
      const std::string& obj = objects.at(r.layer);
      if (e.ref.offset + e.ref.length > obj.size() ||
          XXH64(obj.data() + e.ref.offset, e.ref.length, 0) != e.ref.checksum) {
        return Status::Corruption("layer " + LayerObjectKey(bs->id, layers[r.layer].meta.no) +
                                  ": value checksum mismatch at offset " +
                                  std::to_string(e.ref.offset));
      }
      builder->AddFrame(e.key, e.seq, e.ref,
                        std::string_view(obj).substr(e.ref.offset, e.ref.length));
    }
    if (builder->ApproximateSize() >= policy.target_layer_bytes) {
      STRATA_RETURN_IF_ERROR(finish(false));
    }
  }
  return finish(true);
}

Status VersionStore::PublishRewrite(BranchState* bs, const std::vector<LayerContents>& layers,
                                    const GcAnalysis& a, Rewrite* rw) {
  std::set<uint32_t> removed;
  for (size_t l : rw->selected) removed.insert(layers[l].meta.no);
  MutexLock flush_lock(&bs->flush_mu);
  if (bs->dropped) return BranchGone(bs->id);
  Manifest next = NextManifest(bs);
  std::erase_if(next.layers, [&](const LayerMeta& m) { return removed.count(m.no) > 0; });
  next.layers.insert(next.layers.end(), rw->out.begin(), rw->out.end());
  next.version++;
  STRATA_RETURN_IF_ERROR(PublishManifest(bs, next));
  // The index forgets the replaced layers' garbage (their retained entries
  // are put again, pointing at the new layers) and moves copies that stay.
  std::vector<std::pair<std::string, uint64_t>> pruned;
  for (size_t l : rw->selected) {
    for (size_t i = 0; i < layers[l].entries.size(); i++) {
      if (!a.keep[l][i] && !a.duplicate[l][i]) {
        pruned.emplace_back(layers[l].entries[i].key, layers[l].entries[i].seq);
      }
    }
  }
  std::vector<Index::AddedLayer> added;
  for (size_t o = 0; o < rw->out.size(); o++) {
    added.push_back({rw->out[o].no, &rw->out_entries[o], &rw->out_times[o]});
  }
  std::vector<Index::Repointed> repointed;
  for (const auto& [l, i] : a.repoint) {
    if (!removed.count(layers[l].meta.no)) {
      repointed.push_back({layers[l].meta.no, &layers[l].entries[i]});
    }
  }
  Status st =
      index_->ApplyCompaction(bs->id, {removed.begin(), removed.end()}, pruned, added, repointed);
  if (!st.ok()) {
    bs->index_stale = true;
    spdlog::error(
        "gc: branch {}: the index update failed after manifest {} was published; "
        "no layer of the branch is deleted until the next mount: {}",
        bs->id, next.version, st.ToString());
  }
  return st;
}

Status VersionStore::CheckIndexFresh(const BranchState& bs) {
  if (!bs.index_stale) return Status::OK();
  return Status::Unavailable("branch " + std::to_string(bs.id) +
                             ": the index is out of date after a failed update; remount to "
                             "rebuild it before collecting garbage");
}

Result<CompactionResult> VersionStore::Compact(uint32_t branch, const GcPoints& points,
                                               const CompactionPolicy& policy) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  MutexLock gc_lock(&bs->gc_mu);
  if (bs->dropped) return BranchGone(branch);
  if (options_.may_write) STRATA_RETURN_IF_ERROR(options_.may_write());
  STRATA_RETURN_IF_ERROR(CheckIndexFresh(*bs));
  Manifest m;
  {
    ReaderLock lock(&bs->mu);
    m = bs->manifest;
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<LayerContents> layers, LoadContents(branch, m));
  const GcAnalysis a = AnalyzeLayers(layers, points);
  CompactionResult r;
  r.space = a.space;
  r.layers_before = r.layers_after = m.layers.size();
  r.bytes_before = r.bytes_after = a.space.layer_bytes;
  if (SelectLayers(layers, a, policy).empty()) return r;
  if (options_.claim && bs->epoch == 0) {
    // Work to do on a branch this process does not hold (idle since the
    // mount, or held elsewhere): claim it first (claim_mu comes before
    // gc_mu), then start over on what the claim adopted.
    gc_lock.Unlock();
    STRATA_RETURN_IF_ERROR(EnsureHeld(bs.get()));
    return Compact(branch, points, policy);
  }
  Rewrite rw;
  STRATA_RETURN_IF_ERROR(BuildRewrite(bs.get(), layers, a, points, policy, &rw));
  if (rw.selected.empty()) return r;
  STRATA_RETURN_IF_ERROR(PublishRewrite(bs.get(), layers, a, &rw));
  DeleteReplaced(branch, layers, a, rw, &r);
  spdlog::info("gc: branch {}: {} layers ({} bytes) rewritten into {} ({} bytes); {} -> {} bytes",
               branch, r.deleted_layers, rw.read_bytes, r.written_layers, rw.written_bytes,
               r.bytes_before, r.bytes_after);
  return r;
}

void VersionStore::DeleteReplaced(uint32_t branch, const std::vector<LayerContents>& layers,
                                  const GcAnalysis& a, const Rewrite& rw, CompactionResult* r) {
  // Published: no new read can find the old layers. Wait for the reads that
  // might have found them before, then delete them.
  readers_.Synchronize();
  for (size_t l : rw.selected) {
    const std::string key = LayerObjectKey(branch, layers[l].meta.no);
    Status st = store_->Delete(key);
    if (!st.ok())
      spdlog::warn("gc: deleting {} failed (a later sweep retries): {}", key, st.ToString());
    r->bytes_after -= layers[l].meta.bytes;
    if (!a.keep.empty()) {
      for (size_t i = 0; i < layers[l].entries.size(); i++) r->pruned_versions += !a.keep[l][i];
    }
  }
  for (const LayerMeta& o : rw.out) r->bytes_after += o.bytes;
  r->layers_after = r->layers_before - rw.selected.size() + rw.out.size();
  r->read_bytes = rw.read_bytes;
  r->written_bytes = rw.written_bytes;
  r->deleted_layers = rw.selected.size();
  r->written_layers = rw.out.size();
}

Result<SpaceAccount> VersionStore::Analyze(uint32_t branch, const GcPoints& points) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  Manifest m;
  {
    ReaderLock lock(&bs->mu);
    m = bs->manifest;
  }
  auto guard = readers_.Read();  // the layers must outlive the reads of their index blocks
  STRATA_ASSIGN_OR_RETURN(std::vector<LayerContents> layers, LoadContents(branch, m));
  return AnalyzeLayers(layers, points).space;
}

std::pair<uint64_t, uint64_t> VersionStore::HistoryFloor(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return {0, 0};
  ReaderLock lock(&bs->mu);
  return {bs->history_floor, bs->history_floor_ns};
}

void VersionStore::RaiseHistoryFloor(uint32_t branch, uint64_t seq, uint64_t time_ns) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return;
  WriterLock lock(&bs->mu);
  bs->history_floor = std::max(bs->history_floor, seq);
  bs->history_floor_ns = std::max(bs->history_floor_ns, time_ns);
}

Result<std::optional<TimePoint>> VersionStore::PointAtTime(uint32_t branch, uint64_t time_ns) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  for (const auto& t : Tables(bs.get())) {
    if (std::optional<TimePoint> p = t->SeqAtTime(time_ns)) return p;
  }
  return index_->SeqAtTime(branch, time_ns);
}

Result<uint64_t> VersionStore::Detach(uint32_t branch, const Lineage& ancestors) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  STRATA_RETURN_IF_ERROR(EnsureHeld(bs.get()));
  MutexLock gc_lock(&bs->gc_mu);
  // As in Compact: a DropBranch that got gc_mu first may be deleting the
  // branch's objects now, and layers uploaded here would outlive it.
  if (bs->dropped) return BranchGone(branch);
  if (options_.may_write) STRATA_RETURN_IF_ERROR(options_.may_write());
  // Held for the whole copy: the ancestors' layers stay until it is done.
  auto guard = readers_.Read();
  STRATA_ASSIGN_OR_RETURN(auto view, Collect(ancestors, "", "", /*with_values=*/true));
  std::vector<LayerMeta> metas;
  std::vector<std::vector<LayerEntry>> entries;
  uint64_t bytes = 0;
  LayerBuilder builder(branch, options_.zstd_level);
  auto finish = [&](LayerBuilder& b) -> Status {
    if (b.Empty()) return Status::OK();
    std::string object = b.Finish();
    LayerMeta meta = MetaOf(b, {}, TakeLayerNo(bs.get()), object.size(), LayerKind::kDetach);
    STRATA_RETURN_IF_ERROR(UploadLayer(bs.get(), object, &meta.no));
    bytes += object.size();
    metas.push_back(meta);
    entries.push_back(b.entries());
    b = LayerBuilder(branch, options_.zstd_level);
    return Status::OK();
  };
  for (const auto& [key, v] : view) {
    if (!v) continue;  // deleted in the ancestors' view: absent here too
    if (v->inline_value) {
      builder.Add(key, 0, false, v->value);
    } else {
      STRATA_ASSIGN_OR_RETURN(std::string value, ReadValue(*v));
      builder.Add(key, 0, false, value);
    }
    if (builder.ApproximateSize() >= options_.memtable_bytes)
      STRATA_RETURN_IF_ERROR(finish(builder));
  }
  STRATA_RETURN_IF_ERROR(finish(builder));
  MutexLock flush_lock(&bs->flush_mu);
  if (bs->dropped) return BranchGone(branch);
  Manifest next = NextManifest(bs.get());
  next.layers.insert(next.layers.end(), metas.begin(), metas.end());
  next.version++;
  STRATA_RETURN_IF_ERROR(PublishManifest(bs.get(), next));
  for (size_t i = 0; i < metas.size(); i++) {
    STRATA_RETURN_IF_ERROR(index_->AddLayer(branch, metas[i].no, entries[i], {}));
  }
  spdlog::info("branch {}: detached: {} keys copied into {} layers ({} bytes)", branch, view.size(),
               metas.size(), bytes);
  return bytes;
}

Result<uint64_t> VersionStore::SweepLeaked(uint32_t branch) {
  std::shared_ptr<BranchState> bs = Find(branch);
  if (!bs) return BranchGone(branch);
  MutexLock gc_lock(&bs->gc_mu);
  MutexLock flush_lock(&bs->flush_mu);  // no upload of this branch is in flight
  if (bs->dropped) return uint64_t{0};
  // Only the holder knows which uploads are in flight; a branch not held
  // here leaked nothing of this process's (a crash's leftovers come back
  // with its replayed records, which claim it at mount).
  if (options_.claim && bs->epoch == 0) return uint64_t{0};
  // A daemon that lost its lease must not delete what a new owner uploads.
  if (options_.may_write) STRATA_RETURN_IF_ERROR(options_.may_write());
  STRATA_RETURN_IF_ERROR(CheckIndexFresh(*bs));
  // Believe both the manifest in memory and the store's: a manifest write
  // that reported an error may still have happened.
  STRATA_ASSIGN_OR_RETURN(Manifest stored, LoadManifest(store_, branch));
  std::set<uint32_t> named;
  uint64_t newest = stored.version;
  {
    ReaderLock lock(&bs->mu);
    for (const LayerMeta& m : bs->manifest.layers) named.insert(m.no);
    newest = std::max(newest, bs->manifest.version);
  }
  for (const LayerMeta& m : stored.layers) named.insert(m.no);
  const std::string prefix = BranchObjectPrefix(branch);
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store_->List(prefix));
  uint64_t deleted = 0;
  for (const std::string& k : keys) {
    unsigned no = 0;
    unsigned long long version = 0;
    const std::string tail = k.substr(prefix.size());
    bool leaked = false;
    if (std::sscanf(tail.c_str(), "layers/%u.layer", &no) == 1) {
      leaked = !named.count(no);
    } else if (std::sscanf(tail.c_str(), "manifest/%llu.json", &version) == 1) {
      leaked = version + 1 < newest;  // the newest and the one before stay
    }
    if (!leaked) continue;
    Status st = store_->Delete(k);
    if (!st.ok()) return st;
    deleted++;
  }
  if (deleted) spdlog::info("gc: branch {}: deleted {} objects no manifest names", branch, deleted);
  return deleted;
}

uint64_t VersionStore::StoreBytes() {
  uint64_t total = 0;
  ReaderLock lock(&branches_mu_);
  for (const auto& [id, bs] : branches_) {
    ReaderLock l(&bs->mu);
    for (const LayerMeta& m : bs->manifest.layers) total += m.bytes;
  }
  return total;
}

}  // namespace strata
