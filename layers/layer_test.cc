#include "layers/layer.h"

#include <gtest/gtest.h>
#include <xxhash.h>
#include <zstd.h>

#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "layers/layer_format.h"

namespace strata {
namespace {

namespace lf = layer_format;

const std::string kName = "branches/3/layers/0000000007.layer";

// A content key as the memtable spells it: big-endian (inode, block).
std::string Key(uint64_t inode, uint64_t block) {
  std::string k;
  PutBig64(&k, inode);
  PutBig64(&k, block);
  return k;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string CompressiblePage(uint64_t seed) {
  std::string s(8192, '\0');
  for (size_t i = 0; i < s.size(); i++) s[i] = static_cast<char>("postgres"[i % 8] + seed % 3);
  return s;
}

// What every reader does with a whole object (or the ranged GETs it stands
// for): footer from the last bytes, the index region the footer names, and a
// check that the pieces tile the object.
Result<LayerIndex> OpenLayer(std::string_view object, const std::string& name) {
  if (object.size() < LayerFooterSize()) {
    return Status::Corruption("layer " + name + ": object is " + std::to_string(object.size()) +
                              " bytes, shorter than a footer");
  }
  std::string_view footer = object.substr(object.size() - LayerFooterSize());
  uint64_t off = 0;
  uint64_t len = 0;
  STRATA_RETURN_IF_ERROR(DecodeLayerFooter(footer, name, &off, &len));
  if (off > object.size() - LayerFooterSize() || len != object.size() - LayerFooterSize() - off) {
    return Status::Corruption("layer " + name + ": footer does not match the object size");
  }
  return DecodeLayerIndex(object.substr(off, len), footer, name);
}

struct Input {
  std::string key;
  uint64_t seq;
  bool tombstone;
  std::string value;
};

// A mixed layer: 8 KiB pages (compressible and random), tiny inline values,
// values on both sides of kInlineMax, tombstones, an empty value and many
// versions of one key.
std::vector<Input> MixedInputs() {
  std::vector<Input> in;
  uint64_t seq = 1000;
  for (uint64_t block = 0; block < 6; block++) {
    std::string page = block % 2 ? RandomBytes(8192, block) : CompressiblePage(block);
    in.push_back({Key(10, block), seq--, false, page});
  }
  in.push_back({Key(11, 0), 500, false, "attr"});
  in.push_back({Key(11, 1), 501, false, std::string(lf::kInlineMax, 'i')});
  in.push_back({Key(11, 2), 502, false, std::string(lf::kInlineMax + 1, 'r')});
  in.push_back({Key(11, 3), 503, true, ""});
  in.push_back({Key(11, 4), 504, false, ""});
  for (uint64_t s = 900; s > 850; s--) {  // 50 versions, seq descending
    const bool tomb = s % 10 == 0;
    std::string v = tomb ? "" : (s % 3 ? RandomBytes(8192, s) : std::string(3, char('a' + s % 26)));
    in.push_back({Key(12, 7), s, tomb, v});
  }
  in.push_back(
      {"meta/dirent/\x01"
       "name",
       42, false, "inode=12"});
  return in;
}

std::string BuildMixed(std::vector<Input>* in, LayerBuilder* b) {
  *in = MixedInputs();
  for (const Input& i : *in) b->Add(i.key, i.seq, i.tombstone, i.value);
  for (uint64_t s = 40; s < 1010; s += 7) b->AddTime(s, s * 1000000 + 17);
  return b->Finish();
}

TEST(LayerTest, MixedRoundtrip) {
  std::vector<Input> in;
  LayerBuilder b(3);
  const std::string object = BuildMixed(&in, &b);
  ASSERT_EQ(b.entries().size(), in.size());

  auto index = OpenLayer(object, kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->info.branch, 3u);
  EXPECT_EQ(index->info.entry_count, in.size());
  EXPECT_EQ(index->info.min_seq, 40u);    // from the time map
  EXPECT_EQ(index->info.max_seq, 1006u);  // from the time map
  ASSERT_EQ(index->entries.size(), in.size());

  size_t inline_count = 0, ref_count = 0, tomb_count = 0;
  for (size_t i = 0; i < in.size(); i++) {
    const LayerEntry& got = index->entries[i];
    const LayerEntry& built = b.entries()[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(got.key, in[i].key);
    EXPECT_EQ(got.seq, in[i].seq);
    EXPECT_EQ(got.tombstone, in[i].tombstone);
    EXPECT_EQ(built.key, got.key);
    EXPECT_EQ(built.seq, got.seq);
    EXPECT_EQ(built.tombstone, got.tombstone);
    EXPECT_EQ(built.inline_value, got.inline_value);
    if (got.tombstone) {
      tomb_count++;
      EXPECT_FALSE(got.inline_value);
    } else if (got.inline_value) {
      inline_count++;
      EXPECT_LE(in[i].value.size(), lf::kInlineMax);
      EXPECT_EQ(got.value, in[i].value);
      EXPECT_EQ(built.value, in[i].value);
    } else {
      ref_count++;
      EXPECT_GT(in[i].value.size(), lf::kInlineMax);
      EXPECT_EQ(got.ref.offset, built.ref.offset);
      EXPECT_EQ(got.ref.length, built.ref.length);
      EXPECT_EQ(got.ref.raw_length, in[i].value.size());
      EXPECT_EQ(got.ref.checksum, built.ref.checksum);
      auto v = DecodeLayerValue(std::string_view(object).substr(got.ref.offset, got.ref.length),
                                got.ref, kName);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_EQ(*v, in[i].value);
    }
  }
  EXPECT_GT(inline_count, 4u);
  EXPECT_GT(ref_count, 10u);
  EXPECT_EQ(tomb_count, 6u);

  // Compressible pages shrink; random ones cost at most a frame header more.
  EXPECT_LT(b.entries()[0].ref.length, 1000u);
  EXPECT_LT(b.entries()[1].ref.length, 8192u + 64);
}

TEST(LayerTest, TimeMapRoundtrip) {
  LayerBuilder b(1);
  b.Add(Key(1, 0), 20, false, "x");
  std::vector<TimePoint> times;
  for (uint64_t s = 10; s < 30; s++) times.push_back({s, 1700000000000000000ull + s * 997});
  times.push_back({UINT64_MAX, 0});  // wall clock may go anywhere; seq is what is ordered
  for (const TimePoint& t : times) b.AddTime(t.seq, t.time_ns);
  auto index = OpenLayer(b.Finish(), kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  ASSERT_EQ(index->times.size(), times.size());
  for (size_t i = 0; i < times.size(); i++) {
    EXPECT_EQ(index->times[i].seq, times[i].seq);
    EXPECT_EQ(index->times[i].time_ns, times[i].time_ns);
  }
  EXPECT_EQ(index->info.min_seq, 10u);
  EXPECT_EQ(index->info.max_seq, UINT64_MAX);
}

TEST(LayerTest, TimePointsInAnyOrderAreSortedAndDeduplicated) {
  LayerBuilder b(1);
  b.AddTime(30, 3);
  b.AddTime(10, 1);
  b.AddTime(20, 2);
  b.AddTime(10, 99);  // a seq recorded twice keeps its first time
  auto index = OpenLayer(b.Finish(), kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  ASSERT_EQ(index->times.size(), 3u);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(index->times[i].seq, 10 * (i + 1));
    EXPECT_EQ(index->times[i].time_ns, i + 1);
  }
  EXPECT_EQ(index->info.min_seq, 10u);
  EXPECT_EQ(index->info.max_seq, 30u);
}

TEST(LayerTest, MinMaxSeqAndCountsFromEntries) {
  LayerBuilder b(77);
  b.Add(Key(1, 1), 5, false, "a");
  b.Add(Key(1, 1), 3, true, "");
  b.Add(Key(2, 0), 9, false, std::string(9000, 'z'));
  b.Add(Key(3, 0), 4, false, "");
  auto index = OpenLayer(b.Finish(), kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->info.branch, 77u);
  EXPECT_EQ(index->info.entry_count, 4u);
  EXPECT_EQ(index->info.min_seq, 3u);
  EXPECT_EQ(index->info.max_seq, 9u);
  EXPECT_TRUE(index->times.empty());
}

TEST(LayerTest, EmptyLayer) {
  LayerBuilder b(5);
  const std::string object = b.Finish();
  auto index = OpenLayer(object, kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->info.entry_count, 0u);
  EXPECT_EQ(index->info.min_seq, 0u);
  EXPECT_EQ(index->info.max_seq, 0u);
  EXPECT_TRUE(index->entries.empty());
}

TEST(LayerTest, HigherZstdLevelRoundtrips) {
  LayerBuilder b(1, 19);
  const std::string page = CompressiblePage(1);
  b.Add(Key(1, 0), 1, false, page);
  const std::string object = b.Finish();
  auto index = OpenLayer(object, kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  const ValueRef& ref = index->entries[0].ref;
  auto v = DecodeLayerValue(std::string_view(object).substr(ref.offset, ref.length), ref, kName);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, page);
}

TEST(LayerTest, ReaderUsesOnlyRangesOfTheObject) {
  std::vector<Input> in;
  LayerBuilder b(3);
  const std::string object = BuildMixed(&in, &b);
  // A reader that knows only the object size and can issue ranged GETs.
  auto get = [&](uint64_t off, uint64_t len) { return object.substr(off, len); };
  const std::string footer = get(object.size() - LayerFooterSize(), LayerFooterSize());
  uint64_t off = 0, len = 0;
  ASSERT_TRUE(DecodeLayerFooter(footer, kName, &off, &len).ok());
  EXPECT_EQ(off + len + LayerFooterSize(), object.size());
  auto index = DecodeLayerIndex(get(off, len), footer, kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  size_t fetched = 0;
  for (size_t i = 0; i < index->entries.size(); i++) {
    const LayerEntry& e = index->entries[i];
    if (e.tombstone || e.inline_value) continue;
    auto v = DecodeLayerValue(get(e.ref.offset, e.ref.length), e.ref, kName);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(*v, in[i].value);
    fetched++;
  }
  EXPECT_GT(fetched, 10u);
}

std::string SmallLayer(uint64_t* index_offset) {
  LayerBuilder b(9);
  b.Add(Key(1, 0), 8, false, std::string(300, 'p'));
  b.Add(Key(1, 1), 7, false, "tiny");
  b.Add(Key(1, 1), 6, true, "");
  b.Add(Key(2, 0), 5, false, "");
  b.AddTime(5, 50);
  b.AddTime(8, 80);
  *index_offset = b.entries()[0].ref.length;
  return b.Finish();
}

void ExpectCorruptionNamingLayer(const Status& s) {
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_EQ(s.message().rfind("layer " + kName + ": ", 0), 0u) << s.message();
}

TEST(LayerTest, EveryBitFlipInFooterAndIndexIsCorruption) {
  uint64_t index_offset = 0;
  const std::string object = SmallLayer(&index_offset);
  ASSERT_TRUE(OpenLayer(object, kName).ok());
  size_t tried = 0;
  for (size_t pos = index_offset; pos < object.size(); pos++) {
    for (int mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}) {
      std::string bad = object;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      auto index = OpenLayer(bad, kName);
      ASSERT_FALSE(index.ok()) << "flip 0x" << std::hex << mask << " at " << std::dec << pos;
      ExpectCorruptionNamingLayer(index.status());
      tried++;
    }
  }
  EXPECT_GT(tried, 9u * (lf::kFooterSize + 20));
}

TEST(LayerTest, ValueByteFlipIsCorruptionNamingLayer) {
  uint64_t index_offset = 0;
  const std::string object = SmallLayer(&index_offset);
  auto index = OpenLayer(object, kName);
  ASSERT_TRUE(index.ok());
  const ValueRef ref = index->entries[0].ref;
  ASSERT_EQ(ref.offset, 0u);
  for (size_t pos = ref.offset; pos < ref.offset + ref.length; pos++) {
    std::string bad = object;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x20);
    // The index does not cover value bytes; only the value's own decode fails.
    ASSERT_TRUE(OpenLayer(bad, kName).ok());
    auto v = DecodeLayerValue(std::string_view(bad).substr(ref.offset, ref.length), ref, kName);
    ASSERT_FALSE(v.ok());
    ExpectCorruptionNamingLayer(v.status());
    EXPECT_EQ(v.status().message(), "layer " + kName + ": value at offset " +
                                        std::to_string(ref.offset) + " checksum mismatch");
  }
}

TEST(LayerTest, VerifyLayerObjectChecksEveryByteOfTheObject) {
  uint64_t index_offset = 0;
  const std::string object = SmallLayer(&index_offset);
  auto index = VerifyLayerObject(object, kName);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->entries.size(), OpenLayer(object, kName)->entries.size());
  // Values, index and footer: a flip anywhere is caught without a hint of
  // where to look.
  for (size_t pos = 0; pos < object.size(); pos++) {
    std::string bad = object;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x01);
    auto r = VerifyLayerObject(bad, kName);
    ASSERT_FALSE(r.ok()) << "flip at " << pos << " of " << object.size();
    ExpectCorruptionNamingLayer(r.status());
  }
  EXPECT_FALSE(VerifyLayerObject(object.substr(1), kName).ok());
  EXPECT_FALSE(VerifyLayerObject("", kName).ok());
}

TEST(LayerTest, TruncatedObjectsAreCorruption) {
  uint64_t index_offset = 0;
  const std::string object = SmallLayer(&index_offset);
  for (size_t n = 0; n < object.size(); n++) {
    auto index = OpenLayer(object.substr(0, n), kName);
    ASSERT_FALSE(index.ok()) << n;
    EXPECT_EQ(index.status().code(), Code::kCorruption) << n;
  }
  // A short ranged GET of the index region, or of a value.
  const std::string footer = object.substr(object.size() - LayerFooterSize());
  uint64_t off = 0, len = 0;
  ASSERT_TRUE(DecodeLayerFooter(footer, kName, &off, &len).ok());
  for (uint64_t cut = 0; cut < len; cut++) {
    auto index = DecodeLayerIndex(std::string_view(object).substr(off, cut), footer, kName);
    ASSERT_FALSE(index.ok());
    ExpectCorruptionNamingLayer(index.status());
  }
  auto index = OpenLayer(object, kName);
  ASSERT_TRUE(index.ok());
  const ValueRef ref = index->entries[0].ref;
  auto v = DecodeLayerValue(std::string_view(object).substr(0, ref.length - 1), ref, kName);
  ASSERT_FALSE(v.ok());
  ExpectCorruptionNamingLayer(v.status());
  // A footer of the wrong size.
  Status s = DecodeLayerFooter(footer.substr(1), kName, &off, &len);
  ExpectCorruptionNamingLayer(s);
}

TEST(LayerTest, WrongMagic) {
  uint64_t index_offset = 0;
  std::string object = SmallLayer(&index_offset);
  object.back() = 'X';
  auto index = OpenLayer(object, kName);
  ASSERT_FALSE(index.ok());
  ExpectCorruptionNamingLayer(index.status());
  EXPECT_NE(index.status().message().find("bad magic"), std::string::npos);
  // Not a layer at all.
  auto junk = OpenLayer(std::string(200, 'a'), kName);
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("bad magic"), std::string::npos);
}

// Sets footer field bytes and recomputes the footer checksum, as a writer of
// that footer would have.
void RewriteFooter(std::string* object, size_t field, std::string_view bytes) {
  const size_t base = object->size() - lf::kFooterSize;
  object->replace(base + field, bytes.size(), bytes);
  std::string footer = object->substr(base);
  std::fill(footer.begin() + lf::kFooterChecksum, footer.begin() + lf::kFooterChecksum + 8, 0);
  std::string sum;
  PutFixed64(&sum, XXH64(footer.data(), footer.size(), 0));
  object->replace(base + lf::kFooterChecksum, 8, sum);
}

TEST(LayerTest, FutureVersionIsUnsupported) {
  uint64_t index_offset = 0;
  std::string object = SmallLayer(&index_offset);
  std::string v;
  PutFixed32(&v, lf::kFormatVersion + 1);
  RewriteFooter(&object, lf::kFooterFormatVersion, v);
  auto index = OpenLayer(object, kName);
  ASSERT_FALSE(index.ok());
  ExpectCorruptionNamingLayer(index.status());
  EXPECT_EQ(index.status().message(), "layer " + kName + ": unsupported layer format version " +
                                          std::to_string(lf::kFormatVersion + 1));
}

// Builds an object around a hand-written raw index, with every checksum
// right, to check the semantic checks behind them.
std::string Forge(const std::string& values, const std::string& raw_index, uint64_t entry_count,
                  uint64_t min_seq, uint64_t max_seq) {
  std::string object = values;
  std::string z(ZSTD_compressBound(raw_index.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), raw_index.data(), raw_index.size(), 1));
  object += z;
  std::string f;
  PutFixed64(&f, values.size());
  PutFixed64(&f, z.size());
  PutFixed64(&f, XXH64(z.data(), z.size(), 0));
  PutFixed64(&f, entry_count);
  PutFixed64(&f, min_seq);
  PutFixed64(&f, max_seq);
  PutFixed64(&f, 0);
  PutFixed32(&f, 1);
  PutFixed32(&f, lf::kFormatVersion);
  PutFixed64(&f, lf::kMagic);
  object += f;
  RewriteFooter(&object, 0, f.substr(0, 8));
  return object;
}

void PutEntryHead(std::string* raw, std::string_view key, uint64_t seq, uint8_t flags) {
  PutFixed32(raw, static_cast<uint32_t>(key.size()));
  raw->append(key);
  PutFixed64(raw, seq);
  raw->push_back(static_cast<char>(flags));
}

void PutInline(std::string* raw, std::string_view key, uint64_t seq, std::string_view v) {
  PutEntryHead(raw, key, seq, lf::kFlagInline);
  PutFixed32(raw, static_cast<uint32_t>(v.size()));
  raw->append(v);
}

std::string ExpectForgedCorrupt(const std::string& object) {
  auto index = OpenLayer(object, kName);
  EXPECT_FALSE(index.ok());
  if (index.ok()) return "";
  ExpectCorruptionNamingLayer(index.status());
  return index.status().message();
}

TEST(LayerTest, ForgedIndexesWithValidChecksumsAreRejected) {
  const std::string no_times(8, '\0');
  {  // Sanity: the forge itself produces readable layers.
    std::string raw;
    PutInline(&raw, "a", 2, "x");
    PutInline(&raw, "b", 1, "y");
    ASSERT_TRUE(OpenLayer(Forge("", raw + no_times, 2, 1, 2), kName).ok());
  }
  {  // Keys out of order.
    std::string raw;
    PutInline(&raw, "b", 2, "x");
    PutInline(&raw, "a", 1, "y");
    EXPECT_NE(ExpectForgedCorrupt(Forge("", raw + no_times, 2, 1, 2)).find("out of order"),
              std::string::npos);
  }
  {  // Same key, seq ascending (and equal).
    for (uint64_t second : {3, 2}) {
      std::string raw;
      PutInline(&raw, "a", 2, "x");
      PutInline(&raw, "a", second, "y");
      ExpectForgedCorrupt(Forge("", raw + no_times, 2, 2, second));
    }
  }
  {  // Both flags, unknown flags.
    for (uint8_t flags : {uint8_t(lf::kFlagInline | lf::kFlagTombstone), uint8_t(0x80)}) {
      std::string raw;
      PutEntryHead(&raw, "a", 1, flags);
      PutFixed32(&raw, 0);
      ExpectForgedCorrupt(Forge("", raw + no_times, 1, 1, 1));
    }
  }
  {  // Inline value longer than kInlineMax.
    std::string raw;
    PutInline(&raw, "a", 1, std::string(lf::kInlineMax + 1, 'v'));
    ExpectForgedCorrupt(Forge("", raw + no_times, 1, 1, 1));
  }
  // Referenced values: a real frame of a 200-byte value.
  const std::string value(200, 'q');
  std::string frame(ZSTD_compressBound(value.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), value.data(), value.size(), 1));
  const uint64_t sum = XXH64(frame.data(), frame.size(), 0);
  auto ref_entry = [&](std::string* raw, std::string_view key, uint64_t seq, uint64_t off,
                       uint32_t len, uint32_t raw_len) {
    PutEntryHead(raw, key, seq, 0);
    PutFixed64(raw, off);
    PutFixed32(raw, len);
    PutFixed32(raw, raw_len);
    PutFixed64(raw, sum);
  };
  const uint32_t flen = static_cast<uint32_t>(frame.size());
  {  // Sanity.
    std::string raw;
    ref_entry(&raw, "a", 1, 0, flen, 200);
    ASSERT_TRUE(OpenLayer(Forge(frame, raw + no_times, 1, 1, 1), kName).ok());
  }
  {  // Two entries sharing one value: overlap.
    std::string raw;
    ref_entry(&raw, "a", 2, 0, flen, 200);
    ref_entry(&raw, "a", 1, 0, flen, 200);
    ExpectForgedCorrupt(Forge(frame + frame, raw + no_times, 2, 1, 2));
  }
  {  // Value running into the index.
    std::string raw;
    ref_entry(&raw, "a", 1, 0, flen + 1, 200);
    ExpectForgedCorrupt(Forge(frame, raw + no_times, 1, 1, 1));
  }
  {  // A gap: value area longer than its values.
    std::string raw;
    ref_entry(&raw, "a", 1, 0, flen, 200);
    ExpectForgedCorrupt(Forge(frame + "gap", raw + no_times, 1, 1, 1));
  }
  {  // Referenced raw length small enough to be inline, or beyond the limit.
    for (uint32_t raw_len : {uint32_t(lf::kInlineMax), uint32_t(lf::kMaxValueLength + 1)}) {
      std::string raw;
      ref_entry(&raw, "a", 1, 0, flen, raw_len);
      ExpectForgedCorrupt(Forge(frame, raw + no_times, 1, 1, 1));
    }
  }
  {  // Footer entry count disagrees with the index.
    std::string raw;
    PutInline(&raw, "a", 1, "x");
    ExpectForgedCorrupt(Forge("", raw + no_times, 2, 1, 1));
    ExpectForgedCorrupt(Forge("", raw + no_times, 0, 1, 1));
  }
  {  // Footer seq range disagrees with the index.
    std::string raw;
    PutInline(&raw, "a", 5, "x");
    EXPECT_NE(ExpectForgedCorrupt(Forge("", raw + no_times, 1, 4, 5)).find("seq range"),
              std::string::npos);
    ExpectForgedCorrupt(Forge("", raw + no_times, 1, 5, 6));
  }
  {  // Time map: count too large, trailing bytes, seq not ascending.
    std::string raw;
    PutInline(&raw, "a", 5, "x");
    std::string t;
    PutFixed64(&t, 2);
    PutFixed64(&t, 5);
    PutFixed64(&t, 1);
    ExpectForgedCorrupt(Forge("", raw + t, 1, 5, 5));
    PutFixed64(&t, 6);
    PutFixed64(&t, 2);
    ASSERT_TRUE(OpenLayer(Forge("", raw + t, 1, 5, 6), kName).ok());
    ExpectForgedCorrupt(Forge("", raw + t + "x", 1, 5, 6));
    std::string back;
    PutFixed64(&back, 2);
    PutFixed64(&back, 6);
    PutFixed64(&back, 1);
    PutFixed64(&back, 5);
    PutFixed64(&back, 2);
    ExpectForgedCorrupt(Forge("", raw + back, 1, 5, 6));
    std::string huge;
    PutFixed64(&huge, UINT64_MAX);
    ExpectForgedCorrupt(Forge("", raw + huge, 1, 5, 5));
  }
  {  // Index region that is not zstd.
    std::string object = Forge("", no_times, 0, 0, 0);
    const size_t base = object.size() - lf::kFooterSize;
    const uint64_t off = DecodeFixed64(object.data() + base);
    const uint64_t len = DecodeFixed64(object.data() + base + 8);
    std::string junk(len, 'j');
    object.replace(off, len, junk);
    std::string sum_bytes;
    PutFixed64(&sum_bytes, XXH64(junk.data(), junk.size(), 0));
    RewriteFooter(&object, lf::kFooterIndexChecksum, sum_bytes);
    EXPECT_NE(ExpectForgedCorrupt(object).find("zstd"), std::string::npos);
  }
}

TEST(LayerTest, ValueRefDisagreeingWithFrameIsCorruption) {
  const std::string page = RandomBytes(8192, 1);
  LayerBuilder b(1);
  b.Add(Key(1, 0), 1, false, page);
  const std::string object = b.Finish();
  ValueRef ref = b.entries()[0].ref;
  std::string_view bytes = std::string_view(object).substr(ref.offset, ref.length);
  ASSERT_TRUE(DecodeLayerValue(bytes, ref, kName).ok());
  ValueRef wrong = ref;
  wrong.raw_length = 8191;
  auto v = DecodeLayerValue(bytes, wrong, kName);
  ASSERT_FALSE(v.ok());
  ExpectCorruptionNamingLayer(v.status());
  wrong.raw_length = UINT32_MAX;
  v = DecodeLayerValue(bytes, wrong, kName);
  ASSERT_FALSE(v.ok());
  ExpectCorruptionNamingLayer(v.status());
  wrong = ref;
  wrong.length++;
  v = DecodeLayerValue(object.substr(ref.offset, ref.length + 1), wrong, kName);
  ASSERT_FALSE(v.ok());  // trailing byte: checksum first
  ExpectCorruptionNamingLayer(v.status());
}

TEST(LayerDeathTest, AddOutOfOrderAssertsInDebug) {
  EXPECT_DEBUG_DEATH(
      {
        LayerBuilder b(1);
        b.Add(Key(2, 0), 1, false, "x");
        b.Add(Key(1, 0), 2, false, "y");
      },
      "");
  EXPECT_DEBUG_DEATH(
      {
        LayerBuilder b(1);
        b.Add(Key(1, 0), 1, false, "x");
        b.Add(Key(1, 0), 1, false, "y");
      },
      "");
}

}  // namespace
}  // namespace strata
