// Fuzz target: one log object (storelog/log_object.h) as a store might hand
// it back damaged. Whatever the bytes, decoding answers a whole object or
// kCorruption and never crashes; the header alone decodes or is kCorruption;
// what decodes has records that decode, and encodes back to the same bytes.
// Built as a libFuzzer fuzzer with -DSTRATA_FUZZ=ON (clang), else run over
// its seeds in tests/fuzz/log_object_fuzz/ (CMake's strata_fuzz).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "storelog/log_object.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  strata::Result<strata::LogObject> h = strata::DecodeLogObjectHeader(bytes, "fuzz");
  if (!h.ok() && h.status().code() != strata::Code::kCorruption) abort();
  strata::Result<strata::LogObject> o = strata::DecodeLogObject(bytes, "fuzz");
  if (!o.ok()) {
    if (o.status().code() != strata::Code::kCorruption) abort();
    return 0;
  }
  if (!h.ok()) abort();  // a whole object has a good header
  uint32_t records = 0;
  strata::Status st = strata::ForEachLogRecord(*o, [&](const strata::OpRecord& r) {
    if (r.branch != o->branch) abort();
    records++;
    return strata::Status::OK();
  });
  if (!st.ok() || records != o->count) abort();
  if (strata::EncodeLogObject(*o) != bytes) abort();
  return 0;
}
