// VerifyStore: reads every object of a store and checks it against its own
// checksums and against the objects that name it, for `strata verify`.
//
// Checked: store.json; every catalog version decodes; every manifest version
// decodes and names its own branch; every layer named by a branch's newest
// manifest exists and passes VerifyLayerObject (footer, index, every value's
// xxh64 and zstd frame) and holds the branch and seq range the manifest says.
// Layers that no newest manifest names (a flush that crashed before its
// manifest, a dropped branch) are still checked, and listed as unreferenced:
// a crash leaks objects by design (DESIGN.md invariant 5), so that is a note,
// not a problem. Only reads; safe while the store is mounted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "objstore/object_store.h"

namespace strata {

struct VerifyProblem {
  std::string key;
  std::string what;
};

struct VerifyReport {
  uint64_t objects = 0;  // objects read
  uint64_t bytes = 0;    // bytes read
  uint64_t layers = 0;
  uint64_t values = 0;  // layer values whose checksum was checked
  std::vector<VerifyProblem> problems;
  std::vector<std::string> unreferenced;  // layer objects no newest manifest names
  std::vector<std::string> unknown;       // keys outside the documented layout
};

// `threads` objects are read at once. Fails only if the store cannot be
// listed or has no store.json (kNotFound); every per-object failure
// (including a read that failed after retries) is a problem in the report.
Result<VerifyReport> VerifyStore(ObjectStore* store, int threads = 4);

}  // namespace strata
