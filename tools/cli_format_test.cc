#include "tools/cli_format.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace strata::cli {
namespace {

TEST(HumanSizeTest, Bytes) {
  EXPECT_EQ(HumanSize(0), "0 B");
  EXPECT_EQ(HumanSize(1), "1 B");
  EXPECT_EQ(HumanSize(1023), "1023 B");
}

TEST(HumanSizeTest, BinaryUnitsWithOneDecimal) {
  EXPECT_EQ(HumanSize(1024), "1.0 KiB");
  EXPECT_EQ(HumanSize(1536), "1.5 KiB");
  EXPECT_EQ(HumanSize(8192), "8.0 KiB");
  EXPECT_EQ(HumanSize(12897485), "12.3 MiB");
  EXPECT_EQ(HumanSize(uint64_t{1} << 30), "1.0 GiB");
  EXPECT_EQ(HumanSize(uint64_t{5} << 40), "5.0 TiB");
  EXPECT_EQ(HumanSize(UINT64_MAX), "16.0 EiB");
}

TEST(HumanSizeTest, NeverPrints1024OfAUnit) {
  EXPECT_EQ(HumanSize(1024 * 1024 - 1), "1.0 MiB");
  EXPECT_EQ(HumanSize(1048524), "1023.9 KiB");
}

TEST(FormatMillisTest, ThreeDecimals) {
  EXPECT_EQ(FormatMillis(0), "0.000");
  EXPECT_EQ(FormatMillis(7), "0.007");
  EXPECT_EQ(FormatMillis(1234), "1.234");
  EXPECT_EQ(FormatMillis(1234567), "1234.567");
  EXPECT_EQ(FormatMillis(-1500), "-1.500");
}

TEST(TableTest, AlignsColumnsAndTrimsTrailingSpace) {
  Table t({{"NAME"}, {"PARENT"}, {"SEQ", true}});
  t.AddRow({"main", "-", "12345"});
  t.AddRow({"agent-1", "main", "7"});
  EXPECT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.Render(),
            "NAME     PARENT    SEQ\n"
            "main     -       12345\n"
            "agent-1  main        7\n");
}

TEST(TableTest, HeaderOnlyAndShortRows) {
  Table t({{"A"}, {"LONGER"}});
  EXPECT_EQ(t.Render(), "A  LONGER\n");
  t.AddRow({"xyz"});
  EXPECT_EQ(t.Render(),
            "A    LONGER\n"
            "xyz\n");
}

}  // namespace
}  // namespace strata::cli
