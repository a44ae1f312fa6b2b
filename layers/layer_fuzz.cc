// libFuzzer target for the layer decoders: arbitrary bytes must never crash,
// hang, allocate without bound, or decode into something that breaks the
// invariants DecodeLayerIndex promises. Built only with clang:
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I. \
//     layers/layer_fuzz.cc layers/layer.cc common/status.cc -lzstd -lxxhash
//   ./a.out -max_total_time=60 -rss_limit_mb=2048 CORPUS_DIR
#include <xxhash.h>
#include <zstd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/coding.h"
#include "layers/layer.h"
#include "layers/layer_format.h"

namespace {

// Decoders may only fail with kCorruption on bad bytes.
void CheckFailure(const strata::Status& s) {
  if (!s.ok() && s.code() != strata::Code::kCorruption) {
    std::fprintf(stderr, "unexpected status: %s\n", s.ToString().c_str());
    std::abort();
  }
}

void Check(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// The input as a whole layer object, read the way a reader does.
void FuzzObject(std::string_view in) {
  const std::string name = "fuzz.layer";
  const size_t fsize = strata::LayerFooterSize();
  if (in.size() < fsize) return;
  const std::string_view footer = in.substr(in.size() - fsize);
  const std::string_view body = in.substr(0, in.size() - fsize);

  // Whatever precedes the footer as the index block, even when the footer
  // disagrees with the layout.
  CheckFailure(strata::DecodeLayerIndex(body, footer, name).status());

  uint64_t off = 0;
  uint64_t len = 0;
  strata::Status s = strata::DecodeLayerFooter(footer, name, &off, &len);
  CheckFailure(s);
  if (!s.ok() || off > body.size() || len != body.size() - off) return;
  auto index = strata::DecodeLayerIndex(body.substr(off, len), footer, name);
  CheckFailure(index.status());
  if (!index.ok()) return;

  Check(index->entries.size() == index->info.entry_count, "entry count");
  Check(index->info.min_seq <= index->info.max_seq, "seq range");
  uint64_t next = 0;
  for (size_t i = 0; i < index->entries.size(); i++) {
    const strata::LayerEntry& e = index->entries[i];
    if (i > 0) {
      const strata::LayerEntry& p = index->entries[i - 1];
      Check(p.key < e.key || (p.key == e.key && p.seq > e.seq), "entry order");
    }
    Check(e.seq >= index->info.min_seq && e.seq <= index->info.max_seq, "seq within range");
    if (e.tombstone || e.inline_value) continue;
    Check(e.ref.offset == next && e.ref.length <= off - e.ref.offset, "value within value area");
    next = e.ref.offset + e.ref.length;
    // Value bytes are not covered by the index checksum: either outcome is
    // fine as long as it is a clean one.
    auto v = strata::DecodeLayerValue(body.substr(e.ref.offset, e.ref.length), e.ref, name);
    CheckFailure(v.status());
    if (v.ok()) Check(v->size() == e.ref.raw_length, "value raw length");
  }
}

// The input as one fetched value: 1 control byte, 4 bytes raw_length, then
// the compressed bytes. The ref's checksum is made to match when the control
// byte says so, so the fuzzer reaches the zstd checks.
void FuzzValue(std::string_view in) {
  if (in.size() < 5) return;
  strata::ValueRef ref;
  const bool good_sum = (in[0] & 1) != 0;
  ref.raw_length = strata::DecodeFixed32(in.data() + 1);
  const std::string_view compressed = in.substr(5);
  ref.offset = 4096;
  ref.length = static_cast<uint32_t>(compressed.size());
  ref.checksum = good_sum ? XXH64(compressed.data(), compressed.size(), 0) : 0;
  auto v = strata::DecodeLayerValue(compressed, ref, "fuzz.layer");
  CheckFailure(v.status());
  if (v.ok()) Check(v->size() == ref.raw_length, "value raw length");
}

// The input as the decompressed index region of a layer whose checksums are
// all right, so mutations reach the semantic checks behind them: u16 entry
// count, u64 min_seq, u64 max_seq, u16 value area length, the value area,
// then the raw index.
void FuzzForgedIndex(std::string_view in) {
  namespace lf = strata::layer_format;
  if (in.size() < 20) return;
  const uint64_t entry_count = in[0] | (static_cast<uint8_t>(in[1]) << 8);
  const uint64_t min_seq = strata::DecodeFixed64(in.data() + 2);
  const uint64_t max_seq = strata::DecodeFixed64(in.data() + 10);
  size_t values_len = static_cast<uint8_t>(in[18]) | (static_cast<uint8_t>(in[19]) << 8);
  in.remove_prefix(20);
  if (values_len > in.size()) values_len = in.size();
  std::string object(in.substr(0, values_len));
  const std::string_view raw = in.substr(values_len);
  std::string z(ZSTD_compressBound(raw.size()), '\0');
  const size_t zn = ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), 1);
  if (ZSTD_isError(zn)) return;
  z.resize(zn);
  object += z;
  std::string f;
  strata::PutFixed64(&f, values_len);
  strata::PutFixed64(&f, z.size());
  strata::PutFixed64(&f, XXH64(z.data(), z.size(), 0));
  strata::PutFixed64(&f, entry_count);
  strata::PutFixed64(&f, min_seq);
  strata::PutFixed64(&f, max_seq);
  strata::PutFixed64(&f, 0);
  strata::PutFixed32(&f, 1);
  strata::PutFixed32(&f, lf::kFormatVersion);
  strata::PutFixed64(&f, lf::kMagic);
  std::string sum;
  strata::PutFixed64(&sum, XXH64(f.data(), f.size(), 0));
  f.replace(lf::kFooterChecksum, 8, sum);
  object += f;
  FuzzObject(object);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  FuzzObject(in);
  FuzzValue(in);
  FuzzForgedIndex(in);
  return 0;
}
