#include "common/text.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(Text, AsciiLowerTouchesOnlyAsciiLetters) {
  EXPECT_EQ(AsciiLower("Content-Length: 12"), "content-length: 12");
  EXPECT_EQ(AsciiLower("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // UTF-8 bytes unchanged
  EXPECT_EQ(AsciiLower(""), "");
}

TEST(Text, TrimAsciiSpaceBothEnds) {
  EXPECT_EQ(TrimAsciiSpace("  \tkey = v \r\n"), "key = v");
  EXPECT_EQ(TrimAsciiSpace(" \r\n\t"), "");
  EXPECT_EQ(TrimAsciiSpace("x"), "x");
}

TEST(Text, StartsWithNoCase) {
  EXPECT_TRUE(StartsWithNoCase("S3://bucket", "s3://"));
  EXPECT_TRUE(StartsWithNoCase("HTTPS://h", "https://"));
  EXPECT_FALSE(StartsWithNoCase("s3:/", "s3://"));
  EXPECT_FALSE(StartsWithNoCase("file:///x", "s3://"));
}

}  // namespace
}  // namespace strata
