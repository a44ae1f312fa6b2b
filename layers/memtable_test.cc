#include "layers/memtable.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "layers/key.h"

namespace strata {
namespace {

using Seen = std::vector<std::pair<std::string, Version>>;

Seen ScanAll(const Memtable& m, std::string_view prefix, uint64_t max_seq) {
  Seen out;
  m.Scan(prefix, max_seq,
         [&](std::string_view k, const Version& v) { out.emplace_back(std::string(k), v); });
  return out;
}

TEST(Memtable, GetReturnsNewestVersionAtOrBelowMaxSeq) {
  Memtable m;
  m.Add("k", 3, false, "v3");
  m.Add("k", 7, false, "v7");
  m.Add("k", 5, false, "v5");
  EXPECT_FALSE(m.Get("k", 2).has_value());
  for (auto [max, want] : std::vector<std::pair<uint64_t, std::string>>{
           {3, "v3"}, {4, "v3"}, {5, "v5"}, {6, "v5"}, {7, "v7"}, {UINT64_MAX, "v7"}}) {
    auto v = m.Get("k", max);
    ASSERT_TRUE(v.has_value()) << max;
    EXPECT_EQ(v->value, want) << max;
    EXPECT_FALSE(v->tombstone);
  }
  EXPECT_EQ(m.Get("k", 6)->seq, 5u);
  EXPECT_FALSE(m.Get("j", UINT64_MAX).has_value());
  EXPECT_FALSE(m.Get("kk", UINT64_MAX).has_value());
  EXPECT_EQ(m.MinSeq(), 3u);
  EXPECT_EQ(m.MaxSeq(), 7u);
}

TEST(Memtable, TombstoneIsReturnedAsTheNewestVersion) {
  Memtable m;
  m.Add("k", 1, false, "old");
  m.Add("k", 2, true, "");
  m.Add("k", 3, false, "new");
  EXPECT_EQ(m.Get("k", 1)->value, "old");
  auto t = m.Get("k", 2);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->tombstone);
  EXPECT_EQ(t->seq, 2u);
  EXPECT_FALSE(m.Get("k", 3)->tombstone);
  EXPECT_EQ(m.Get("k", 3)->value, "new");
}

TEST(Memtable, ScanReturnsNewestVisibleVersionPerKeyInKeyOrder) {
  Memtable m;
  m.Add("p/c", 1, false, "c1");
  m.Add("p/a", 2, false, "a2");
  m.Add("p/b", 3, false, "b3");
  m.Add("p/a", 4, false, "a4");
  m.Add("p/b", 5, true, "");
  m.Add("p/c", 6, false, "c6");
  m.Add("q/a", 1, false, "other");
  Seen all = ScanAll(m, "p/", UINT64_MAX);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].first, "p/a");
  EXPECT_EQ(all[0].second.value, "a4");
  EXPECT_EQ(all[1].first, "p/b");
  EXPECT_TRUE(all[1].second.tombstone);
  EXPECT_EQ(all[2].first, "p/c");
  EXPECT_EQ(all[2].second.value, "c6");

  Seen at3 = ScanAll(m, "p/", 3);
  ASSERT_EQ(at3.size(), 3u);
  EXPECT_EQ(at3[0].second.value, "a2");
  EXPECT_EQ(at3[1].second.value, "b3");
  EXPECT_FALSE(at3[1].second.tombstone);
  EXPECT_EQ(at3[2].second.value, "c1");

  Seen at1 = ScanAll(m, "p/", 1);  // p/a and p/b did not exist yet
  ASSERT_EQ(at1.size(), 1u);
  EXPECT_EQ(at1[0].first, "p/c");
  EXPECT_TRUE(ScanAll(m, "p/", 0).empty());
  EXPECT_TRUE(ScanAll(m, "r/", UINT64_MAX).empty());
}

// A key that is a prefix of another key must still sort before it, or
// Get/Scan/ForEach (and the layer written from ForEach) go out of order.
TEST(Memtable, KeyThatIsAPrefixOfAnotherKeySortsFirstAndIsFound) {
  Memtable m;
  m.Add("a", 1, false, "short");
  m.Add(std::string("a\x01", 2), 2, false, "long");
  auto v = m.Get("a", UINT64_MAX);
  ASSERT_TRUE(v.has_value()) << "Get of 'a' missed it because 'a\\x01' sorts in between";
  EXPECT_EQ(v->value, "short");
  Seen all = ScanAll(m, "a", UINT64_MAX);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, "a");
  EXPECT_EQ(all[1].first, std::string("a\x01", 2));
  std::vector<std::string> order;
  m.ForEach([&](std::string_view k, const Version&) { order.emplace_back(k); });
  EXPECT_EQ(order, (std::vector<std::string>{"a", std::string("a\x01", 2)}));
}

TEST(Memtable, ScanOfDirentPrefixStopsAtTheNextDirectory) {
  const uint64_t a = MakeIno(1, 41), b = MakeIno(1, 42);
  Memtable m;
  m.Add(AttrKey(a), 1, false, "attr-a");
  m.Add(DirentKey(a, "x"), 2, false, "ax");
  m.Add(DirentKey(a, "y"), 3, false, "ay");
  m.Add(DirentKey(b, "a"), 4, false, "ba");
  m.Add(PageKey(a, 0), 5, false, "page");
  Seen in_a = ScanAll(m, DirentPrefix(a), UINT64_MAX);
  ASSERT_EQ(in_a.size(), 2u);
  EXPECT_EQ(DirentName(in_a[0].first), "x");
  EXPECT_EQ(in_a[0].second.value, "ax");
  EXPECT_EQ(DirentName(in_a[1].first), "y");
  Seen in_b = ScanAll(m, DirentPrefix(b), UINT64_MAX);
  ASSERT_EQ(in_b.size(), 1u);
  EXPECT_EQ(DirentName(in_b[0].first), "a");
  EXPECT_EQ(in_b[0].second.value, "ba");
  // Names that are prefixes of each other are distinct entries.
  m.Add(DirentKey(a, "xy"), 6, false, "axy");
  Seen again = ScanAll(m, DirentPrefix(a), UINT64_MAX);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(DirentName(again[0].first), "x");
  EXPECT_EQ(DirentName(again[1].first), "xy");
  EXPECT_EQ(DirentName(again[2].first), "y");
}

TEST(Memtable, SeqAtTimeFindsLargestTimeAtOrBefore) {
  Memtable m;
  EXPECT_FALSE(m.SeqAtTime(100).has_value());
  EXPECT_TRUE(m.Empty());
  m.AddTime(1, 100);
  m.AddTime(2, 200);
  m.AddTime(3, 200);
  m.AddTime(4, 400);
  EXPECT_FALSE(m.Empty());
  EXPECT_FALSE(m.SeqAtTime(99).has_value());
  EXPECT_EQ(m.SeqAtTime(100)->seq, 1u);
  EXPECT_EQ(m.SeqAtTime(199)->seq, 1u);
  EXPECT_EQ(m.SeqAtTime(200)->seq, 3u);  // the highest seq at that instant
  EXPECT_EQ(m.SeqAtTime(399)->seq, 3u);
  EXPECT_EQ(m.SeqAtTime(400)->seq, 4u);
  EXPECT_EQ(m.SeqAtTime(UINT64_MAX)->seq, 4u);
  EXPECT_EQ(m.SeqAtTime(250)->time_ns, 200u);
}

TEST(Memtable, ForEachIsLayerOrderKeyAscSeqDesc) {
  Memtable m;
  m.Add("b", 1, false, "b1");
  m.Add("a", 2, false, "a2");
  m.Add("b", 3, true, "");
  m.Add("a", 4, false, "a4");
  std::vector<std::pair<std::string, uint64_t>> got;
  m.ForEach([&](std::string_view k, const Version& v) { got.emplace_back(k, v.seq); });
  EXPECT_EQ(
      got, (std::vector<std::pair<std::string, uint64_t>>{{"a", 4}, {"a", 2}, {"b", 3}, {"b", 1}}));
  EXPECT_GT(m.ApproximateBytes(), 0u);
}

}  // namespace
}  // namespace strata
