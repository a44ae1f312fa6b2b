#include "layers/layer.h"

#include <gtest/gtest.h>
#include <xxhash.h>
#include <zstd.h>

#include <initializer_list>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/status_test_util.h"
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

// The empty time map that ends most forged indexes.
const std::string kNoTimes(8, '\0');

// Raw index bytes of inline entries (key, seq, value), in the order given.
std::string InlineIndex(
    std::initializer_list<std::tuple<std::string_view, uint64_t, std::string_view>> entries) {
  std::string raw;
  for (const auto& [key, seq, value] : entries) PutInline(&raw, key, seq, value);
  return raw;
}

// A real zstd frame of a 200-byte value, for entries that reference one.
struct ValueFrame {
  std::string bytes;
  uint32_t length = 0;
  uint64_t checksum = 0;
};

ValueFrame Frame200() {
  const std::string value(200, 'q');
  ValueFrame v;
  v.bytes.resize(ZSTD_compressBound(value.size()));
  v.bytes.resize(ZSTD_compress(v.bytes.data(), v.bytes.size(), value.data(), value.size(), 1));
  v.length = static_cast<uint32_t>(v.bytes.size());
  v.checksum = XXH64(v.bytes.data(), v.bytes.size(), 0);
  return v;
}

// An entry referencing `frame` at (off, len) with raw length raw_len.
void PutRef(std::string* raw, const ValueFrame& frame, std::string_view key, uint64_t seq,
            uint64_t off, uint32_t len, uint32_t raw_len) {
  PutEntryHead(raw, key, seq, 0);
  PutFixed64(raw, off);
  PutFixed32(raw, len);
  PutFixed32(raw, raw_len);
  PutFixed64(raw, frame.checksum);
}

std::string RefIndex(const ValueFrame& frame, uint64_t seq, uint32_t len, uint32_t raw_len) {
  std::string raw;
  PutRef(&raw, frame, "a", seq, 0, len, raw_len);
  return raw;
}

// A time map of (seq, time) points, in the order given.
std::string TimeMap(uint64_t count, std::initializer_list<std::pair<uint64_t, uint64_t>> points) {
  std::string t;
  PutFixed64(&t, count);
  for (const auto& [seq, time] : points) {
    PutFixed64(&t, seq);
    PutFixed64(&t, time);
  }
  return t;
}

// A forged object whose every checksum is right, and what must reject it.
struct ForgedCase {
  std::string what;
  std::string object;
  std::string message_part;  // a part of the corruption message
};

// Index entries with inline values or none, and the footer's view of them.
std::vector<ForgedCase> EntryCases() {
  const std::string x1 = InlineIndex({{"a", 1, "x"}});
  const std::string x5 = InlineIndex({{"a", 5, "x"}});
  std::vector<ForgedCase> cases = {
      {"keys out of order",
       Forge("", InlineIndex({{"b", 2, "x"}, {"a", 1, "y"}}) + kNoTimes, 2, 1, 2), "out of order"},
      {"same key, seq ascending",
       Forge("", InlineIndex({{"a", 2, "x"}, {"a", 3, "y"}}) + kNoTimes, 2, 2, 3), "out of order"},
      {"same key, seq equal",
       Forge("", InlineIndex({{"a", 2, "x"}, {"a", 2, "y"}}) + kNoTimes, 2, 2, 2), "out of order"},
      {"inline value over kInlineMax",
       Forge("", InlineIndex({{"a", 1, std::string(lf::kInlineMax + 1, 'v')}}) + kNoTimes, 1, 1, 1),
       "inline value of"},
      {"footer counts more entries", Forge("", x1 + kNoTimes, 2, 1, 1), "index truncated"},
      // The entry's bytes are then read as the time map.
      {"footer counts fewer entries", Forge("", x1 + kNoTimes, 0, 1, 1), "does not fit"},
      {"footer seq range starts lower", Forge("", x5 + kNoTimes, 1, 4, 5), "seq range"},
      {"footer seq range ends higher", Forge("", x5 + kNoTimes, 1, 5, 6), "seq range"},
  };
  for (uint8_t flags : {uint8_t(lf::kFlagInline | lf::kFlagTombstone), uint8_t(0x80)}) {
    std::string raw;
    PutEntryHead(&raw, "a", 1, flags);
    PutFixed32(&raw, 0);
    cases.push_back(
        {"flags " + std::to_string(flags), Forge("", raw + kNoTimes, 1, 1, 1), "bad flags"});
  }
  return cases;
}

// Entries that reference values in the value area.
std::vector<ForgedCase> ValueRefCases() {
  const ValueFrame f = Frame200();
  std::string shared;  // two entries sharing one value
  PutRef(&shared, f, "a", 2, 0, f.length, 200);
  PutRef(&shared, f, "a", 1, 0, f.length, 200);
  return {
      {"values overlap", Forge(f.bytes + f.bytes, shared + kNoTimes, 2, 1, 2), "back to back"},
      {"value runs into the index",
       Forge(f.bytes, RefIndex(f, 1, f.length + 1, 200) + kNoTimes, 1, 1, 1),
       "outside the value area"},
      {"gap after the values",
       Forge(f.bytes + "gap", RefIndex(f, 1, f.length, 200) + kNoTimes, 1, 1, 1), "values end at"},
      {"raw length small enough to be inline",
       Forge(f.bytes, RefIndex(f, 1, f.length, lf::kInlineMax) + kNoTimes, 1, 1, 1), "raw length"},
      {"raw length over kMaxValueLength",
       Forge(f.bytes, RefIndex(f, 1, f.length, lf::kMaxValueLength + 1) + kNoTimes, 1, 1, 1),
       "raw length"},
  };
}

// The time map after the entries.
std::vector<ForgedCase> TimeMapCases() {
  const std::string x5 = InlineIndex({{"a", 5, "x"}});
  return {
      {"time map count too large", Forge("", x5 + TimeMap(2, {{5, 1}}), 1, 5, 5), "does not fit"},
      {"bytes after the time map", Forge("", x5 + TimeMap(2, {{5, 1}, {6, 2}}) + "x", 1, 5, 6),
       "does not fit"},
      {"time map seqs descending", Forge("", x5 + TimeMap(2, {{6, 1}, {5, 2}}), 1, 5, 6),
       "time map seq 5 out of order"},
      {"time map count UINT64_MAX", Forge("", x5 + TimeMap(UINT64_MAX, {}), 1, 5, 5),
       "does not fit"},
  };
}

// An index region of the right checksum that is not a zstd frame.
ForgedCase NotZstdCase() {
  std::string object = Forge("", kNoTimes, 0, 0, 0);
  const size_t base = object.size() - lf::kFooterSize;
  const uint64_t off = DecodeFixed64(object.data() + base);
  const uint64_t len = DecodeFixed64(object.data() + base + 8);
  std::string junk(len, 'j');
  object.replace(off, len, junk);
  std::string sum_bytes;
  PutFixed64(&sum_bytes, XXH64(junk.data(), junk.size(), 0));
  RewriteFooter(&object, lf::kFooterIndexChecksum, sum_bytes);
  return {"index region not zstd", object, "zstd"};
}

TEST(LayerTest, ForgedLayersWithConsistentIndexesAreReadable) {
  // The forge itself produces readable layers, so the cases below fail for
  // the one thing each breaks.
  ASSERT_OK(
      OpenLayer(Forge("", InlineIndex({{"a", 2, "x"}, {"b", 1, "y"}}) + kNoTimes, 2, 1, 2), kName)
          .status());
  const ValueFrame f = Frame200();
  ASSERT_OK(
      OpenLayer(Forge(f.bytes, RefIndex(f, 1, f.length, 200) + kNoTimes, 1, 1, 1), kName).status());
  ASSERT_OK(
      OpenLayer(Forge("", InlineIndex({{"a", 5, "x"}}) + TimeMap(2, {{5, 1}, {6, 2}}), 1, 5, 6),
                kName)
          .status());
}

TEST(LayerTest, ForgedIndexesWithValidChecksumsAreRejected) {
  std::vector<ForgedCase> cases = EntryCases();
  for (auto more : {ValueRefCases(), TimeMapCases(), std::vector<ForgedCase>{NotZstdCase()}}) {
    cases.insert(cases.end(), more.begin(), more.end());
  }
  for (const ForgedCase& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string message = ExpectForgedCorrupt(c.object);
    EXPECT_NE(message.find(c.message_part), std::string::npos) << message;
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
