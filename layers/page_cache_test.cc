#include "layers/page_cache.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

std::shared_ptr<const std::string> Val(size_t n, char c) {
  return std::make_shared<const std::string>(n, c);
}

TEST(PageCache, HitsMissesAndLeastRecentlyUsedEviction) {
  PageCache cache(3 * 8192);
  PageCache::Key a{1, 1, 0}, b{1, 1, 8192}, c{1, 2, 0}, d{2, 1, 0};
  EXPECT_EQ(cache.Lookup(a), nullptr);
  cache.Insert(a, Val(8192, 'a'));
  cache.Insert(b, Val(8192, 'b'));
  cache.Insert(c, Val(8192, 'c'));
  ASSERT_NE(cache.Lookup(a), nullptr);  // a is now the most recently used
  cache.Insert(d, Val(8192, 'd'));      // evicts b, the least recently used
  EXPECT_EQ(cache.Lookup(b), nullptr);
  ASSERT_NE(cache.Lookup(a), nullptr);
  EXPECT_EQ(*cache.Lookup(c), std::string(8192, 'c'));
  EXPECT_EQ(*cache.Lookup(d), std::string(8192, 'd'));
  CacheStats s = cache.Stats();
  EXPECT_EQ(s.bytes, 3u * 8192);
  EXPECT_EQ(s.capacity, 3u * 8192);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 4u);
}

TEST(PageCache, ReplacingAKeyKeepsTheByteCountRight) {
  PageCache cache(10000);
  cache.Insert({1, 1, 0}, Val(4000, 'x'));
  cache.Insert({1, 1, 0}, Val(3000, 'y'));
  EXPECT_EQ(cache.Stats().bytes, 3000u);
  EXPECT_EQ(*cache.Lookup({1, 1, 0}), std::string(3000, 'y'));
}

TEST(PageCache, ZeroCapacityAndOversizedValuesAreNotKept) {
  PageCache off(0);
  off.Insert({1, 1, 0}, Val(1, 'x'));
  EXPECT_EQ(off.Lookup({1, 1, 0}), nullptr);
  PageCache small(100);
  small.Insert({1, 1, 0}, Val(101, 'x'));
  EXPECT_EQ(small.Lookup({1, 1, 0}), nullptr);
  EXPECT_EQ(small.Stats().bytes, 0u);
}

TEST(PageCache, EraseBranchDropsOnlyThatBranch) {
  PageCache cache(1 << 20);
  cache.Insert({1, 1, 0}, Val(10, 'a'));
  cache.Insert({2, 1, 0}, Val(20, 'b'));
  cache.EraseBranch(1);
  EXPECT_EQ(cache.Lookup({1, 1, 0}), nullptr);
  EXPECT_NE(cache.Lookup({2, 1, 0}), nullptr);
  EXPECT_EQ(cache.Stats().bytes, 20u);
}

}  // namespace
}  // namespace strata
