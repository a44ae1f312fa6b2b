// VerifyStore: reads every object of a store and checks it against its own
// checksums and against the objects that name it, for `strata verify`.
//
// Checked: store.json; every catalog version decodes; every manifest version
// decodes and names its own branch; every layer named by a branch's newest
// manifest exists and passes VerifyLayerObject (footer, index, every value's
// xxh64 and zstd frame) and holds the branch and seq range the manifest says.
// Layers that no newest manifest names (a flush that crashed before its
// manifest, a dropped branch) are still checked, and listed as unreferenced:
// a crash leaks objects by design (docs/design.md invariant 5), so that is a note,
// not a problem. Only reads; safe while the store is mounted.
//
// Also measured, per branch of the newest catalog: its layers by kind and
// what garbage collection would free (layers/gc_plan.h) at the retained
// points the catalog and the manifest's history floor define: its snapshots,
// its children's fork points and every seq from the floor on. A mounted
// daemon's window may reach further than the floor, so this is the garbage
// a collection pass would free at least.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

struct VerifyProblem {
  std::string key;
  std::string what;
};

struct VerifyBranchSpace {
  uint32_t branch = 0;
  std::string name;  // "" for a branch the catalog no longer names (all garbage)
  uint64_t layers = 0;
  std::map<std::string, uint64_t> kinds;  // layers by LayerKindName
  uint64_t layer_bytes = 0, garbage_bytes = 0, history_bytes = 0, exclusive_bytes = 0;
};

struct VerifyReport {
  uint64_t objects = 0;  // objects read
  uint64_t bytes = 0;    // bytes read
  uint64_t layers = 0;
  uint64_t values = 0;  // layer values whose checksum was checked
  std::vector<VerifyProblem> problems;
  std::vector<std::string> unreferenced;  // layer objects no newest manifest names
  uint64_t unreferenced_bytes = 0;
  std::vector<VerifyBranchSpace> branches;  // by branch id
  uint64_t garbage_bytes = 0;               // summed over branches
  std::vector<std::string> unknown;         // keys outside the documented layout
};

// `threads` objects are read at once. Fails only if the store cannot be
// listed or has no store.json (kNotFound); every per-object failure
// (including a read that failed after retries) is a problem in the report.
Result<VerifyReport> VerifyStore(ObjectStore* store, int threads = 4);

}  // namespace strata
