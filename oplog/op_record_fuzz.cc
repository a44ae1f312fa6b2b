// libFuzzer target for DecodeOpRecord; not part of the CMake build.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     oplog/op_record_fuzz.cc oplog/op_record.cc common/status.cc -lxxhash \
//     -o /tmp/op_record_fuzz && /tmp/op_record_fuzz -max_total_time=60
//
// Add -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION to skip checksum verification
// so mutations reach the body parser instead of dying at the checksum.
//
// Decodes frames back to back like Replay does, and checks that whatever
// decodes re-encodes to the same bytes (the format has one encoding).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "oplog/op_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    strata::OpRecord rec;
    size_t used = 0;
    const strata::Status s = strata::DecodeOpRecord(in, &rec, &used);
    if (!s.ok()) break;
    if (used == 0 || used > in.size()) abort();
    std::string again;
    strata::EncodeOpRecord(rec, &again);
    // In the no-checksum build (see op_record.cc) the stored checksum may
    // differ; every other byte must match.
    if (again.size() != used || again.compare(0, 5, in.substr(0, 5)) != 0 ||
        again.compare(9, std::string::npos, in.substr(9, used - 9)) != 0) {
      abort();
    }
    in.remove_prefix(used);
  }
  return 0;
}
