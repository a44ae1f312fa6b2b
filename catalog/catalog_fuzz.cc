// Fuzz target: one stored catalog version (catalog/catalog_codec.h), as a
// store might hand back damaged. Whatever the bytes, decoding answers a
// whole catalog, a delta or kCorruption, and never crashes; a delta applied
// to a sample catalog either applies or is kCorruption; what decodes
// encodes to bytes that decode to the same thing. Built as a libFuzzer
// fuzzer with -DSTRATA_FUZZ=ON (clang), else run over its seeds in
// tests/fuzz/catalog_fuzz/ (CMake's strata_fuzz).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "catalog/catalog_codec.h"

namespace {

strata::CatalogData Sample() {
  strata::CatalogData c;
  c.version = 4;
  c.next_branch_id = 65;
  for (uint32_t id = 1; id <= 3; id++) {
    strata::BranchInfo b;
    b.id = id;
    b.name = "b" + std::to_string(id);
    c.branches.push_back(b);
  }
  c.snapshots.push_back({"s1", 1, 10, 0});
  c.credentials.push_back({"u1", 2, "postgres", "v", 0, 0});
  c.quotas["o"] = {1, 2};
  c.tokens.push_back({"0123456789ab", "o", "h", 0, 0, 0});
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  strata::Result<strata::CatalogObject> o = strata::DecodeCatalogObject(bytes, "fuzz");
  if (!o.ok()) {
    if (o.status().code() != strata::Code::kCorruption) abort();
    return 0;
  }
  if (o->whole.has_value() == o->delta.has_value()) abort();
  if (o->whole) {
    const std::string again = strata::EncodeCatalog(*o->whole);
    strata::Result<strata::CatalogData> back = strata::DecodeCatalog(again, "fuzz");
    if (!back.ok() || strata::EncodeCatalog(*back) != again) abort();
    return 0;
  }
  const std::string again = strata::EncodeCatalogDelta(*o->delta);
  strata::Result<strata::CatalogObject> back = strata::DecodeCatalogObject(again, "fuzz");
  if (!back.ok() || !back->delta || strata::EncodeCatalogDelta(*back->delta) != again) abort();
  strata::CatalogData c = Sample();
  c.version = o->delta->version - 1;
  const strata::Status st = strata::ApplyCatalogDelta(*o->delta, "fuzz", &c);
  if (!st.ok() && st.code() != strata::Code::kCorruption) abort();
  return 0;
}
