#include "layers/layer.h"

#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cassert>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "common/coding.h"
#include "layers/layer_format.h"

namespace strata {

namespace lf = layer_format;

namespace {

// Smallest encoded index entry: key length, empty key, seq, flags (a
// tombstone). Bounds how many entries a given number of bytes can hold, so an
// untrusted entry_count never drives a huge allocation.
constexpr size_t kMinEntrySize = 4 + 8 + 1;
constexpr size_t kTimePointSize = 16;

// One compression and one decompression context per thread: creating a
// context costs more than compressing an 8 KiB page, and layers are built and
// read on many threads at once.
struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  return cctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  return dctx.get();
}

// Appends `src` to `dst` as one zstd frame (with its content size in the frame
// header, which readers check against the index).
void AppendZstdFrame(std::string* dst, std::string_view src, int level) {
  const size_t bound = ZSTD_compressBound(src.size());
  const size_t old = dst->size();
  dst->resize(old + bound);
  ZSTD_CCtx* cctx = ThreadCCtx();
  // With an output buffer of ZSTD_compressBound bytes, compression fails only
  // when memory runs out. Add() and Finish() cannot report errors, and writing
  // on would produce an object that is not what the caller asked for, so stop.
  if (cctx == nullptr) {
    std::fprintf(stderr, "strata: out of memory for a zstd compression context\n");
    std::abort();
  }
  const size_t n = ZSTD_compressCCtx(cctx, dst->data() + old, bound, src.data(), src.size(), level);
  if (ZSTD_isError(n)) {
    std::fprintf(stderr, "strata: zstd compression failed: %s\n", ZSTD_getErrorName(n));
    std::abort();
  }
  dst->resize(old + n);
}

std::string Prefix(const std::string& name) { return "layer " + name + ": "; }

Status Corrupt(const std::string& name, const std::string& what) {
  return Status::Corruption(Prefix(name) + what);
}

std::string U64(uint64_t v) { return std::to_string(v); }

// Keys are binary (big-endian inode and block numbers); print them in hex.
std::string KeyHex(std::string_view key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  constexpr size_t kMaxShown = 48;
  std::string out;
  for (size_t i = 0; i < key.size() && i < kMaxShown; i++) {
    const auto b = static_cast<uint8_t>(key[i]);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  if (key.size() > kMaxShown) out += "...";
  if (out.empty()) out = "(empty)";
  return out;
}

struct Footer {
  uint64_t index_offset = 0;
  uint64_t index_length = 0;
  uint64_t index_checksum = 0;
  uint64_t entry_count = 0;
  uint64_t min_seq = 0;
  uint64_t max_seq = 0;
  uint64_t checksum = 0;
  uint32_t branch = 0;
  uint32_t version = 0;
};

uint64_t FooterChecksum(std::string_view footer) {
  // xxh64 of the footer with its own checksum field zeroed: covers every
  // other footer byte, including branch, counts and seq range, which no other
  // checksum protects.
  char buf[lf::kFooterSize];
  std::copy(footer.begin(), footer.end(), buf);
  std::fill(buf + lf::kFooterChecksum, buf + lf::kFooterChecksum + 8, 0);
  return XXH64(buf, sizeof(buf), 0);
}

std::string EncodeFooter(const Footer& f) {
  std::string out;
  out.reserve(lf::kFooterSize);
  PutFixed64(&out, f.index_offset);
  PutFixed64(&out, f.index_length);
  PutFixed64(&out, f.index_checksum);
  PutFixed64(&out, f.entry_count);
  PutFixed64(&out, f.min_seq);
  PutFixed64(&out, f.max_seq);
  PutFixed64(&out, 0);  // checksum, filled below
  PutFixed32(&out, f.branch);
  PutFixed32(&out, f.version);
  PutFixed64(&out, lf::kMagic);
  assert(out.size() == lf::kFooterSize);
  const uint64_t sum = FooterChecksum(out);
  std::string sum_bytes;
  PutFixed64(&sum_bytes, sum);
  out.replace(lf::kFooterChecksum, 8, sum_bytes);
  return out;
}

// Parses and verifies the footer on its own: magic first (is this a layer at
// all?), then version (can we read it?), then the checksum (is it intact?),
// then the fields' plausibility.
Status ParseFooter(std::string_view footer, const std::string& name, Footer* f) {
  if (footer.size() != lf::kFooterSize) {
    return Corrupt(name, "footer is " + U64(footer.size()) + " bytes, want " +
                             U64(lf::kFooterSize) + " (object truncated?)");
  }
  const char* p = footer.data();
  const uint64_t magic = DecodeFixed64(p + lf::kFooterMagic);
  if (magic != lf::kMagic) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "0x%016" PRIx64, magic);
    return Corrupt(name, std::string("bad magic ") + hex + ", not a layer object (truncated?)");
  }
  f->version = DecodeFixed32(p + lf::kFooterFormatVersion);
  if (f->version != lf::kFormatVersion) {
    return Corrupt(name, "unsupported layer format version " + U64(f->version));
  }
  f->checksum = DecodeFixed64(p + lf::kFooterChecksum);
  if (FooterChecksum(footer) != f->checksum) return Corrupt(name, "footer checksum mismatch");
  f->index_offset = DecodeFixed64(p + lf::kFooterIndexOffset);
  f->index_length = DecodeFixed64(p + lf::kFooterIndexLength);
  f->index_checksum = DecodeFixed64(p + lf::kFooterIndexChecksum);
  f->entry_count = DecodeFixed64(p + lf::kFooterEntryCount);
  f->min_seq = DecodeFixed64(p + lf::kFooterMinSeq);
  f->max_seq = DecodeFixed64(p + lf::kFooterMaxSeq);
  f->branch = DecodeFixed32(p + lf::kFooterBranch);

  // The checksum only proves the writer wrote these bytes; a buggy or hostile
  // writer still must not make a reader fetch or allocate absurd amounts.
  if (f->index_length == 0 || f->index_length > lf::kMaxIndexLength) {
    return Corrupt(name, "index region length " + U64(f->index_length) + " out of range");
  }
  if (f->index_offset > UINT64_MAX - f->index_length - lf::kFooterSize) {
    return Corrupt(name, "index region offset " + U64(f->index_offset) + " out of range");
  }
  if (f->entry_count > lf::kMaxIndexRawLength / kMinEntrySize) {
    return Corrupt(name, "entry count " + U64(f->entry_count) + " out of range");
  }
  if (f->min_seq > f->max_seq) {
    return Corrupt(name, "min_seq " + U64(f->min_seq) + " > max_seq " + U64(f->max_seq));
  }
  return Status::OK();
}

// Decompresses a single zstd frame whose content size must be declared in the
// frame header, be at most `max_size` and, when `want` is given, equal it.
// Nothing is allocated before those checks pass.
Status DecompressFrame(std::string_view src, uint64_t max_size, const uint64_t* want,
                       const std::string& name, const std::string& what, std::string* out) {
  const unsigned long long size = ZSTD_getFrameContentSize(src.data(), src.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return Corrupt(name, what + " is not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Corrupt(name, what + " zstd frame does not declare its size");
  }
  if (want != nullptr && size != *want) {
    return Corrupt(name,
                   what + " decompresses to " + U64(size) + " bytes, index says " + U64(*want));
  }
  if (size > max_size) return Corrupt(name, what + " size " + U64(size) + " out of range");
  const size_t frame = ZSTD_findFrameCompressedSize(src.data(), src.size());
  if (ZSTD_isError(frame)) {
    return Corrupt(name, what + " zstd frame is damaged: " + ZSTD_getErrorName(frame));
  }
  if (frame != src.size()) {
    return Corrupt(name, what + " has " + U64(src.size() - frame) + " bytes after its zstd frame");
  }
  ZSTD_DCtx* dctx = ThreadDCtx();
  if (dctx == nullptr) return Status::IO(Prefix(name) + "out of memory for zstd context");
  out->resize(size);
  const size_t n = ZSTD_decompressDCtx(dctx, out->data(), out->size(), src.data(), src.size());
  if (ZSTD_isError(n)) {
    return Corrupt(name, what + " does not decompress: " + ZSTD_getErrorName(n));
  }
  if (n != size) {
    return Corrupt(name, what + " decompressed to " + U64(n) + " bytes, frame says " + U64(size));
  }
  return Status::OK();
}

std::string EntryName(uint64_t i, std::string_view key, uint64_t seq) {
  return "entry " + U64(i) + " (key " + KeyHex(key) + ", seq " + U64(seq) + ")";
}

}  // namespace

LayerBuilder::LayerBuilder(uint32_t branch, int zstd_level) : branch_(branch), level_(zstd_level) {}

void LayerBuilder::Add(std::string_view key, uint64_t seq, bool tombstone, std::string_view value) {
  // Order is the caller's contract; a release build that breaks it still
  // cannot produce silently wrong reads, because every reader rejects an
  // out-of-order index as corrupt.
  assert(entries_.empty() || key > std::string_view(entries_.back().key) ||
         (key == entries_.back().key && seq < entries_.back().seq));
  assert(!tombstone || value.empty());
  assert(key.size() <= UINT32_MAX);
  assert(value.size() <= lf::kMaxValueLength);

  LayerEntry e;
  e.key.assign(key);
  e.seq = seq;
  e.tombstone = tombstone;
  if (!tombstone) {
    if (value.size() <= lf::kInlineMax) {
      e.inline_value = true;
      e.value.assign(value);
    } else {
      e.ref.offset = data_.size();
      AppendZstdFrame(&data_, value, level_);
      e.ref.length = static_cast<uint32_t>(data_.size() - e.ref.offset);
      e.ref.raw_length = static_cast<uint32_t>(value.size());
      e.ref.checksum = XXH64(data_.data() + e.ref.offset, e.ref.length, 0);
    }
  }
  min_seq_ = std::min(min_seq_, seq);
  max_seq_ = std::max(max_seq_, seq);
  entries_.push_back(std::move(e));
}

void LayerBuilder::AddFrame(std::string_view key, uint64_t seq, const ValueRef& src,
                            std::string_view frame) {
  assert(entries_.empty() || key > std::string_view(entries_.back().key) ||
         (key == entries_.back().key && seq < entries_.back().seq));
  assert(frame.size() == src.length);
  LayerEntry e;
  e.key.assign(key);
  e.seq = seq;
  e.ref = src;
  e.ref.offset = data_.size();
  data_.append(frame);
  min_seq_ = std::min(min_seq_, seq);
  max_seq_ = std::max(max_seq_, seq);
  entries_.push_back(std::move(e));
}

void LayerBuilder::AddTime(uint64_t seq, uint64_t time_ns) {
  // Any order is accepted: Finish() sorts. Ops are numbered and recorded by
  // different threads, so insisting on order here would turn a harmless race
  // into a layer every reader rejects.
  times_.push_back({seq, time_ns});
  min_seq_ = std::min(min_seq_, seq);
  max_seq_ = std::max(max_seq_, seq);
}

std::string LayerBuilder::Finish() {
  // The time map is stored with seq strictly ascending; a seq recorded twice
  // keeps its first time.
  std::stable_sort(times_.begin(), times_.end(),
                   [](const TimePoint& a, const TimePoint& b) { return a.seq < b.seq; });
  times_.erase(std::unique(times_.begin(), times_.end(),
                           [](const TimePoint& a, const TimePoint& b) { return a.seq == b.seq; }),
               times_.end());
  std::string raw;
  for (const LayerEntry& e : entries_) {
    PutFixed32(&raw, static_cast<uint32_t>(e.key.size()));
    raw.append(e.key);
    PutFixed64(&raw, e.seq);
    if (e.tombstone) {
      raw.push_back(static_cast<char>(lf::kFlagTombstone));
    } else if (e.inline_value) {
      raw.push_back(static_cast<char>(lf::kFlagInline));
      PutFixed32(&raw, static_cast<uint32_t>(e.value.size()));
      raw.append(e.value);
    } else {
      raw.push_back(0);
      PutFixed64(&raw, e.ref.offset);
      PutFixed32(&raw, e.ref.length);
      PutFixed32(&raw, e.ref.raw_length);
      PutFixed64(&raw, e.ref.checksum);
    }
  }
  PutFixed64(&raw, times_.size());
  for (const TimePoint& t : times_) {
    PutFixed64(&raw, t.seq);
    PutFixed64(&raw, t.time_ns);
  }
  assert(raw.size() <= lf::kMaxIndexRawLength);

  Footer f;
  f.index_offset = data_.size();
  AppendZstdFrame(&data_, raw, level_);
  f.index_length = data_.size() - f.index_offset;
  f.index_checksum = XXH64(data_.data() + f.index_offset, f.index_length, 0);
  f.entry_count = entries_.size();
  // An empty layer records the seq range [0, 0] rather than the sentinels.
  const bool empty = entries_.empty() && times_.empty();
  f.min_seq = empty ? 0 : min_seq_;
  f.max_seq = empty ? 0 : max_seq_;
  f.branch = branch_;
  f.version = lf::kFormatVersion;
  data_.append(EncodeFooter(f));
  return std::move(data_);
}

size_t LayerFooterSize() { return lf::kFooterSize; }

Status DecodeLayerFooter(std::string_view footer, const std::string& name, uint64_t* index_offset,
                         uint64_t* index_length) {
  Footer f;
  STRATA_RETURN_IF_ERROR(ParseFooter(footer, name, &f));
  *index_offset = f.index_offset;
  *index_length = f.index_length;
  return Status::OK();
}

namespace {

// The index region, checked against the footer and decompressed.
Result<std::string> RawIndexRegion(std::string_view index_block, const Footer& f,
                                   const std::string& name) {
  if (index_block.size() != f.index_length) {
    return Corrupt(name, "index region is " + U64(index_block.size()) + " bytes, footer says " +
                             U64(f.index_length) + " (truncated?)");
  }
  if (XXH64(index_block.data(), index_block.size(), 0) != f.index_checksum) {
    return Corrupt(name, "index checksum mismatch");
  }
  std::string raw;
  STRATA_RETURN_IF_ERROR(
      DecompressFrame(index_block, lf::kMaxIndexRawLength, nullptr, name, "index region", &raw));
  return raw;
}

// The value reference of entry `i`. Values are written back to back in entry
// order, so each one must start exactly where the previous one ended
// (*next_offset, moved past it) and the last must end where the index
// starts: no overlaps, no gaps, nothing outside [0, index_offset).
Status DecodeValueRef(Reader* r, const Footer& f, uint64_t i, const std::string& name,
                      uint64_t* next_offset, LayerEntry* e) {
  ValueRef& ref = e->ref;
  auto entry = [&] { return EntryName(i, e->key, e->seq); };  // only for errors
  if (!r->GetFixed64(&ref.offset) || !r->GetFixed32(&ref.length) ||
      !r->GetFixed32(&ref.raw_length) || !r->GetFixed64(&ref.checksum)) {
    return Corrupt(name, "index truncated in " + entry());
  }
  if (ref.offset != *next_offset) {
    return Corrupt(name, entry() + ": value at offset " + U64(ref.offset) + ", want " +
                             U64(*next_offset) + " (values are back to back)");
  }
  if (ref.length == 0 || ref.length > f.index_offset - ref.offset) {
    return Corrupt(name, entry() + ": value at offset " + U64(ref.offset) + " length " +
                             U64(ref.length) + " outside the value area [0, " +
                             U64(f.index_offset) + ")");
  }
  if (ref.raw_length <= lf::kInlineMax || ref.raw_length > lf::kMaxValueLength) {
    return Corrupt(name, entry() + ": value at offset " + U64(ref.offset) + " raw length " +
                             U64(ref.raw_length) + " out of range");
  }
  *next_offset = ref.offset + ref.length;
  return Status::OK();
}

// Index entry `i`, which must sort after `prev` (null for the first).
Status DecodeEntry(Reader* r, const Footer& f, uint64_t i, const LayerEntry* prev,
                   const std::string& name, uint64_t* next_offset, LayerEntry* e) {
  uint32_t key_len = 0;
  std::string_view key;
  uint8_t flags = 0;
  if (!r->GetFixed32(&key_len) || !r->GetBytes(key_len, &key) || !r->GetFixed64(&e->seq) ||
      !r->GetByte(&flags)) {
    return Corrupt(name, "index truncated in entry " + U64(i) + " of " + U64(f.entry_count));
  }
  e->key.assign(key);
  if ((flags & ~lf::kKnownFlags) != 0 ||
      (flags & (lf::kFlagTombstone | lf::kFlagInline)) == (lf::kFlagTombstone | lf::kFlagInline)) {
    return Corrupt(name,
                   EntryName(i, key, e->seq) + ": bad flags 0x" + KeyHex(std::string(1, flags)));
  }
  if (prev) {
    const int c = key.compare(prev->key);
    if (c < 0 || (c == 0 && e->seq >= prev->seq)) {
      return Corrupt(name, EntryName(i, key, e->seq) + " out of order after " +
                               EntryName(i - 1, prev->key, prev->seq));
    }
  }
  if (flags & lf::kFlagTombstone) {
    e->tombstone = true;
    return Status::OK();
  }
  if (!(flags & lf::kFlagInline)) return DecodeValueRef(r, f, i, name, next_offset, e);
  e->inline_value = true;
  uint32_t len = 0;
  std::string_view value;
  if (!r->GetFixed32(&len) || !r->GetBytes(len, &value)) {
    return Corrupt(name, "index truncated in " + EntryName(i, key, e->seq));
  }
  if (len > lf::kInlineMax) {
    return Corrupt(name, EntryName(i, key, e->seq) + ": inline value of " + U64(len) +
                             " bytes, limit " + U64(lf::kInlineMax));
  }
  e->value.assign(value);
  return Status::OK();
}

// The time map that ends the index region: it fills what is left exactly,
// seqs ascending.
Status DecodeTimeMap(Reader* r, const std::string& name, std::vector<TimePoint>* times) {
  uint64_t time_count = 0;
  if (!r->GetFixed64(&time_count)) return Corrupt(name, "index truncated before the time map");
  if (time_count > r->remaining() / kTimePointSize ||
      r->remaining() != time_count * kTimePointSize) {
    return Corrupt(name, "time map of " + U64(time_count) + " points does not fit the " +
                             U64(r->remaining()) + " bytes left in the index region");
  }
  times->reserve(time_count);
  for (uint64_t i = 0; i < time_count; i++) {
    TimePoint t;
    if (!r->GetFixed64(&t.seq) || !r->GetFixed64(&t.time_ns)) {
      return Corrupt(name, "time map truncated");  // unreachable: size checked above
    }
    if (!times->empty() && t.seq <= times->back().seq) {
      return Corrupt(
          name, "time map seq " + U64(t.seq) + " out of order after " + U64(times->back().seq));
    }
    times->push_back(t);
  }
  return Status::OK();
}

}  // namespace

Result<LayerIndex> DecodeLayerIndex(std::string_view index_block, std::string_view footer,
                                    const std::string& name) {
  Footer f;
  STRATA_RETURN_IF_ERROR(ParseFooter(footer, name, &f));
  STRATA_ASSIGN_OR_RETURN(std::string raw, RawIndexRegion(index_block, f, name));

  LayerIndex index;
  index.info.branch = f.branch;
  index.info.entry_count = f.entry_count;
  index.info.min_seq = f.min_seq;
  index.info.max_seq = f.max_seq;
  if (f.entry_count > raw.size() / kMinEntrySize) {
    return Corrupt(name, "footer says " + U64(f.entry_count) +
                             " entries, index region holds at most " +
                             U64(raw.size() / kMinEntrySize));
  }
  index.entries.reserve(f.entry_count);

  uint64_t min_seq = UINT64_MAX;
  uint64_t max_seq = 0;
  uint64_t next_offset = 0;  // where the next referenced value must start
  Reader r(raw);
  for (uint64_t i = 0; i < f.entry_count; i++) {
    LayerEntry e;
    const LayerEntry* prev = index.entries.empty() ? nullptr : &index.entries.back();
    STRATA_RETURN_IF_ERROR(DecodeEntry(&r, f, i, prev, name, &next_offset, &e));
    min_seq = std::min(min_seq, e.seq);
    max_seq = std::max(max_seq, e.seq);
    index.entries.push_back(std::move(e));
  }
  if (next_offset != f.index_offset) {
    return Corrupt(name, "values end at " + U64(next_offset) + " but the index starts at " +
                             U64(f.index_offset));
  }
  STRATA_RETURN_IF_ERROR(DecodeTimeMap(&r, name, &index.times));
  for (const TimePoint& t : index.times) {
    min_seq = std::min(min_seq, t.seq);
    max_seq = std::max(max_seq, t.seq);
  }

  if (index.entries.empty() && index.times.empty()) min_seq = max_seq = 0;
  if (min_seq != f.min_seq || max_seq != f.max_seq) {
    return Corrupt(name, "footer seq range [" + U64(f.min_seq) + ", " + U64(f.max_seq) +
                             "] does not match the index [" + U64(min_seq) + ", " + U64(max_seq) +
                             "]");
  }
  return index;
}

Result<std::string> DecodeLayerValue(std::string_view compressed, const ValueRef& ref,
                                     const std::string& name) {
  const std::string what = "value at offset " + U64(ref.offset);
  if (compressed.size() != ref.length) {
    return Corrupt(name, what + " is " + U64(compressed.size()) + " bytes, index says " +
                             U64(ref.length) + " (short read?)");
  }
  // Checksum before anything looks inside the bytes: a mismatch is the common
  // corruption and deserves the plain message.
  if (XXH64(compressed.data(), compressed.size(), 0) != ref.checksum) {
    return Corrupt(name, what + " checksum mismatch");
  }
  if (ref.raw_length > lf::kMaxValueLength) {
    return Corrupt(name, what + " raw length " + U64(ref.raw_length) + " out of range");
  }
  const uint64_t want = ref.raw_length;
  std::string out;
  STRATA_RETURN_IF_ERROR(DecompressFrame(compressed, lf::kMaxValueLength, &want, name, what, &out));
  return out;
}

Result<LayerIndex> VerifyLayerObject(std::string_view object, const std::string& name) {
  const size_t footer_size = LayerFooterSize();
  if (object.size() < footer_size) {
    return Corrupt(name, "object is " + U64(object.size()) + " bytes, shorter than a footer");
  }
  std::string_view footer = object.substr(object.size() - footer_size);
  uint64_t index_offset = 0, index_length = 0;
  STRATA_RETURN_IF_ERROR(DecodeLayerFooter(footer, name, &index_offset, &index_length));
  if (index_offset + index_length + footer_size != object.size()) {
    return Corrupt(name, "footer does not match the object size " + U64(object.size()));
  }
  STRATA_ASSIGN_OR_RETURN(
      LayerIndex index, DecodeLayerIndex(object.substr(index_offset, index_length), footer, name));
  for (const LayerEntry& e : index.entries) {
    if (e.tombstone || e.inline_value) continue;
    if (e.ref.offset > index_offset || e.ref.length > index_offset - e.ref.offset) {
      return Corrupt(name, "value at offset " + U64(e.ref.offset) + " runs into the index");
    }
    STRATA_RETURN_IF_ERROR(
        DecodeLayerValue(object.substr(e.ref.offset, e.ref.length), e.ref, name).status());
  }
  return index;
}

}  // namespace strata
