#include "tools/store_verify.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "catalog/catalog.h"
#include "catalog/catalog_codec.h"
#include "catalog/history.h"
#include "cluster/branch_lease.h"
#include "cluster/node_registry.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "daemon/daemon.h"
#include "layers/gc_plan.h"
#include "layers/layer.h"
#include "layers/manifest.h"
#include "storelog/log_object.h"

namespace strata {
namespace {

bool StartsWith(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }
bool EndsWith(const std::string& s, std::string_view x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// "branches/<id>/<rest>": the id, or 0 if the key is not shaped so.
uint32_t BranchOf(const std::string& key, std::string* rest) {
  if (!StartsWith(key, "branches/")) return 0;
  size_t slash = key.find('/', 9);
  if (slash == std::string::npos || slash == 9) return 0;
  uint64_t id = 0;
  for (size_t i = 9; i < slash; i++) {
    if (key[i] < '0' || key[i] > '9' || id > UINT32_MAX) return 0;
    id = id * 10 + static_cast<uint64_t>(key[i] - '0');
  }
  if (id == 0 || id > UINT32_MAX) return 0;
  *rest = key.substr(slash + 1);
  return static_cast<uint32_t>(id);
}

// Run() reads the store in three phases: the keys, manifests and catalogs on
// the calling thread; the layers on `threads` workers (CheckLayer); the space
// and the missing layers on the calling thread again. newest_ and catalog_
// are written in the first phase only, so the workers read them unlocked.
class Verifier {
 public:
  explicit Verifier(ObjectStore* store) : store_(store) {}

  Result<VerifyReport> Run(int threads) EXCLUDES(mu_) {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> keys, store_->List(""));
    if (std::find(keys.begin(), keys.end(), "store.json") == keys.end()) {
      return Status::NotFound("no strata store at " + store_->Url() + " (no store.json)");
    }
    std::vector<std::string> layers;
    for (const std::string& key : keys) Classify(key, &layers);
    LoadNewestCatalog();
    // Manifests are read first (above), so each layer is checked against the
    // newest manifest of its branch.
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i = next++; i < layers.size(); i = next++) CheckLayer(layers[i]);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < std::max(1, threads); t++) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
    MeasureSpace();
    // Layers a manifest names that the store does not hold.
    std::set<std::string> present(layers.begin(), layers.end());
    for (const auto& [branch, m] : newest_) {
      for (const LayerMeta& meta : m.layers) {
        const std::string key = LayerObjectKey(branch, meta.no);
        if (!present.count(key)) {
          Problem(key, "missing: named by manifest version " + std::to_string(m.version));
        }
      }
    }
    MutexLock lock(&mu_);
    return std::move(report_);
  }

 private:
  Result<std::string> Read(const std::string& key) EXCLUDES(mu_) {
    Result<std::string> r = store_->Get(key);
    MutexLock lock(&mu_);
    report_.objects++;
    if (r.ok()) report_.bytes += r->size();
    return r;
  }

  void Problem(const std::string& key, const std::string& what) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    report_.problems.push_back({key, what});
  }

  void Classify(const std::string& key, std::vector<std::string>* layers) EXCLUDES(mu_) {
    std::string rest;
    if (key == "store.json") return CheckMarker(key);
    if (StartsWith(key, "catalog/") && EndsWith(key, ".json")) return CheckCatalog(key);
    if (StartsWith(key, "nodes/") && EndsWith(key, ".json")) return CheckNode(key);
    uint32_t log_branch = 0;
    uint64_t log_number = 0;
    if (ParseLogObjectKey(key, &log_branch, &log_number)) return CheckLogObject(log_branch, key);
    if (uint32_t branch = BranchOf(key, &rest)) {
      if (StartsWith(rest, "manifest/") && EndsWith(rest, ".json")) {
        return CheckManifest(branch, key);
      }
      if (StartsWith(rest, "lease/") && EndsWith(rest, ".json")) return CheckLease(branch, key);
      if (StartsWith(rest, "layers/") && EndsWith(rest, ".layer")) return layers->push_back(key);
    }
    MutexLock lock(&mu_);
    report_.unknown.push_back(key);
  }

  void CheckMarker(const std::string& key) {
    Result<std::string> data = Read(key);
    if (!data.ok()) return Problem(key, data.status().ToString());
    Result<std::string> id = ParseStoreMarker(*data, store_->Url());
    if (!id.ok()) Problem(key, id.status().ToString());
  }

  // Each catalog version must decode (whole or delta); the newest catalog is
  // rebuilt from its chain once all keys are classified (LoadNewestCatalog).
  void CheckCatalog(const std::string& key) {
    catalog_seen_ = true;
    Result<std::string> data = Read(key);
    Result<CatalogObject> c =
        data.ok() ? DecodeCatalogObject(*data, key) : Result<CatalogObject>(data.status());
    if (c.ok()) return;
    catalog_damaged_ = true;
    Problem(key, c.status().ToString());
  }

  // A damaged version already reported is most likely why the chain does not
  // load: the load's error is reported only when no version was.
  void LoadNewestCatalog() {
    if (!catalog_seen_) return;
    Result<CatalogData> c = LoadCatalogData(store_);
    if (c.ok()) {
      catalog_ = std::move(*c);
    } else if (!catalog_damaged_) {
      Problem("catalog/", "the newest catalog does not load: " + c.status().ToString());
    }
  }

  // Garbage and kinds of each branch's newest layers (see store_verify.h).
  void MeasureSpace() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    for (const auto& [branch, m] : newest_) {
      VerifyBranchSpace sp;
      sp.branch = branch;
      const BranchInfo* b = catalog_ ? catalog_->FindBranchById(branch) : nullptr;
      if (b) sp.name = b->retired ? b->name + " (retired)" : b->name;
      std::vector<LayerContents> layers;
      for (const LayerMeta& meta : m.layers) {
        sp.layers++;
        sp.kinds[LayerKindName(meta.kind)]++;
        auto it = contents_.find(LayerObjectKey(branch, meta.no));
        if (it != contents_.end()) layers.push_back(std::move(it->second));
      }
      if (b) {
        const SpaceAccount a =
            AnalyzeLayers(layers, RetainedPoints(*catalog_, branch, m.history_floor)).space;
        sp.layer_bytes = a.layer_bytes;
        sp.garbage_bytes = a.garbage_bytes;
        sp.history_bytes = a.history_bytes;
        sp.exclusive_bytes = a.exclusive_bytes;
      } else {
        for (const LayerContents& l : layers) sp.layer_bytes += l.meta.bytes;
        sp.garbage_bytes = sp.layer_bytes;
      }
      report_.garbage_bytes += sp.garbage_bytes;
      report_.branches.push_back(std::move(sp));
    }
  }

  // A daemon's record (docs/cluster.md); it changes while the daemon runs.
  void CheckNode(const std::string& key) {
    Result<std::string> data = Read(key);
    if (data.status().IsNotFound()) return;  // the daemon stopped meanwhile
    if (!data.ok()) return Problem(key, data.status().ToString());
    std::optional<NodeRecord> r = DecodeNodeRecord(*data);
    if (!r) return Problem(key, "not a node record");
    if (NodeKey(r->id) != key) Problem(key, "names node " + r->id + ", not its own");
  }

  // One object of a branch's op log in the store (--sink store).
  void CheckLogObject(uint32_t branch, const std::string& key) {
    Result<std::string> data = Read(key);
    if (data.status().IsNotFound()) return;  // trimmed meanwhile
    if (!data.ok()) return Problem(key, data.status().ToString());
    Result<LogObject> obj = DecodeLogObject(*data, key);
    if (!obj.ok()) return Problem(key, obj.status().ToString());
    if (obj->branch != branch) Problem(key, "holds branch " + std::to_string(obj->branch));
  }

  // One epoch of a branch's lease chain.
  void CheckLease(uint32_t branch, const std::string& key) {
    Result<std::string> data = Read(key);
    if (data.status().IsNotFound()) return;  // a newer claim cleaned it up meanwhile
    if (!data.ok()) return Problem(key, data.status().ToString());
    std::optional<LeaseGrant> g = DecodeLeaseGrant(*data);
    if (!g) return Problem(key, "not a lease grant");
    if (LeaseKey(branch, g->epoch) != key || g->branch != branch) {
      Problem(key, "names branch " + std::to_string(g->branch) + " epoch " +
                       std::to_string(g->epoch) + ", not its own");
    }
  }

  void CheckManifest(uint32_t branch, const std::string& key) {
    Result<std::string> data = Read(key);
    if (!data.ok()) return Problem(key, data.status().ToString());
    Result<Manifest> m = DecodeManifest(*data, key);
    if (!m.ok()) return Problem(key, m.status().ToString());
    if (m->branch != branch) {
      return Problem(key, "names branch " + std::to_string(m->branch) + ", not its own");
    }
    // Keys are listed sorted and versions are zero-padded: the last wins.
    newest_[branch] = *m;
  }

  void CheckLayer(const std::string& key) EXCLUDES(mu_) {
    std::string rest;
    const uint32_t branch = BranchOf(key, &rest);
    const LayerMeta* meta = nullptr;
    if (auto it = newest_.find(branch); it != newest_.end()) {
      for (const LayerMeta& l : it->second.layers) {
        if (LayerObjectKey(branch, l.no) == key) meta = &l;
      }
    }
    Result<std::string> data = Read(key);
    if (meta == nullptr) {
      MutexLock lock(&mu_);
      report_.unreferenced.push_back(key);
      if (data.ok()) report_.unreferenced_bytes += data->size();
    }
    if (!data.ok()) return Problem(key, data.status().ToString());
    Result<LayerIndex> index = VerifyLayerObject(*data, key);
    if (!index.ok()) return Problem(key, index.status().ToString());
    uint64_t values = 0;
    for (const LayerEntry& e : index->entries) values += !e.tombstone && !e.inline_value;
    {
      MutexLock lock(&mu_);
      report_.layers++;
      report_.values += values;
      if (meta != nullptr) {
        contents_[key] = LayerContents{*meta, std::move(index->entries), std::move(index->times)};
      }
    }
    if (index->info.branch != branch) {
      return Problem(key, "holds branch " + std::to_string(index->info.branch));
    }
    if (meta != nullptr &&
        (index->info.min_seq != meta->min_seq || index->info.max_seq != meta->max_seq)) {
      Problem(key, "holds seqs " + std::to_string(index->info.min_seq) + ".." +
                       std::to_string(index->info.max_seq) + ", the manifest says " +
                       std::to_string(meta->min_seq) + ".." + std::to_string(meta->max_seq));
    }
  }

  ObjectStore* const store_;
  std::map<uint32_t, Manifest> newest_;  // written before the workers start
  std::optional<CatalogData> catalog_;   // the newest; written before the workers start
  bool catalog_seen_ = false;            // a catalog version is stored
  bool catalog_damaged_ = false;         // ... and one does not decode
  // A leaf: held only around updates of the report, never across a store read.
  Mutex mu_;
  VerifyReport report_ GUARDED_BY(mu_);
  std::map<std::string, LayerContents> contents_ GUARDED_BY(mu_);  // named layers, by key
};

}  // namespace

Result<VerifyReport> VerifyStore(ObjectStore* store, int threads) {
  Verifier v(store);
  return v.Run(threads);
}

}  // namespace strata
