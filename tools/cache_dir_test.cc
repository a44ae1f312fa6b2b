#include "tools/cache_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/temp_dir.h"

namespace strata::cli {
namespace {

TEST(CacheDirTest, Fnv1aKnownVectors) {
  // Reference values of 64-bit FNV-1a.
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(CacheDirTest, HashIsSixteenLowerHexDigits) {
  EXPECT_EQ(StoreUrlHash(""), "cbf29ce484222325");
  std::string h = StoreUrlHash("file:///var/lib/strata/store");
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(h, StoreUrlHash("file:///var/lib/strata/store2"));
}

TEST(CacheDirTest, ExplicitEnvWins) {
  CacheDirEnv env;
  env.strata_cache_dir = "/srv/cache/";
  env.is_root = true;
  env.home = "/root";
  EXPECT_EQ(DefaultCacheDir("file:///s", env), "/srv/cache");
}

TEST(CacheDirTest, RootUsesVarCache) {
  CacheDirEnv env;
  env.is_root = true;
  env.home = "/root";
  env.xdg_cache_home = "/root/.xdg";
  EXPECT_EQ(DefaultCacheDir("", env), "/var/cache/strata/cbf29ce484222325");
}

TEST(CacheDirTest, UserUsesXdgThenHome) {
  CacheDirEnv env;
  env.home = "/home/ann/";
  EXPECT_EQ(DefaultCacheDir("", env), "/home/ann/.cache/strata/cbf29ce484222325");
  env.xdg_cache_home = "relative/ignored";
  EXPECT_EQ(DefaultCacheDir("", env), "/home/ann/.cache/strata/cbf29ce484222325");
  env.xdg_cache_home = "/xdg/cache";
  EXPECT_EQ(DefaultCacheDir("", env), "/xdg/cache/strata/cbf29ce484222325");
}

TEST(CacheDirTest, MakeDirsCreatesNestedAndIsIdempotent) {
  testing::TempDir tmp;
  const std::string base = tmp.path();
  std::string deep = base + "/a/b/c";
  ASSERT_TRUE(MakeDirs(deep, 0700).ok());
  ASSERT_TRUE(MakeDirs(deep + "/", 0700).ok());
  struct stat st;
  ASSERT_EQ(stat(deep.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0077, 0u);

  std::string file = base + "/file";
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  Status s = MakeDirs(file + "/sub", 0700);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a directory"), std::string::npos);
}

}  // namespace
}  // namespace strata::cli
