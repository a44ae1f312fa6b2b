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

TEST(OneLineTest, JoinsLinesAndTrimsTheEnd) {
  EXPECT_EQ(OneLine("plain"), "plain");
  EXPECT_EQ(OneLine("FATAL:  x\nLOG:  shut down\n"), "FATAL:  x; LOG:  shut down");
  EXPECT_EQ(OneLine("a\r\n\r\nb \n"), "a; b");
  EXPECT_EQ(OneLine("\n\n"), "");
  EXPECT_EQ(OneLine(""), "");
}

TEST(ParseDurationTest, UnitsAndPlainSeconds) {
  EXPECT_EQ(*ParseDuration("90s"), 90);
  EXPECT_EQ(*ParseDuration("15m"), 900);
  EXPECT_EQ(*ParseDuration("2h"), 7200);
  EXPECT_EQ(*ParseDuration("7d"), 604800);
  EXPECT_EQ(*ParseDuration("600"), 600);
  EXPECT_EQ(*ParseDuration("1"), 1);
  EXPECT_EQ(*ParseDuration("3660d"), kMaxDurationSeconds);
}

TEST(ParseDurationTest, RefusesWithOneSentence) {
  for (const char* bad : {"", "s", "1.5h", "-5m", "+5m", "5 m", " 5m", "5M", "5w", "5ms", "1h30m",
                          "abc", "99999999999999999999"}) {
    Result<int64_t> r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalid);
    EXPECT_EQ(r.status().message(), std::string("bad duration \"") + bad +
                                        "\": want a number of seconds, or N with s, m, h or d "
                                        "(e.g. 90s, 15m, 2h, 7d)")
        << bad;
  }
  EXPECT_EQ(ParseDuration("0").status().message(), "bad duration \"0\": must be at least 1s");
  EXPECT_EQ(ParseDuration("0m").status().message(), "bad duration \"0m\": must be at least 1s");
  EXPECT_EQ(ParseDuration("3661d").status().message(),
            "bad duration \"3661d\": at most 10 years (3660d)");
  EXPECT_FALSE(ParseDuration("9223372036854775807d").ok());
  EXPECT_FALSE(ParseDuration("316224001").ok());
}

TEST(ParseWindowTest, ZeroOrADuration) {
  EXPECT_EQ(*ParseWindow("0"), 0);
  EXPECT_EQ(*ParseWindow("0s"), 0);
  EXPECT_EQ(*ParseWindow("0h"), 0);
  EXPECT_EQ(*ParseWindow("1h"), 3600);
  EXPECT_EQ(*ParseWindow("3660d"), kMaxDurationSeconds);
  EXPECT_EQ(ParseWindow("1h30m").status().message(),
            "bad duration \"1h30m\": want a number of seconds, or N with s, m, h or d "
            "(e.g. 90s, 15m, 2h, 7d)");
  EXPECT_EQ(ParseWindow("3661d").status().message(),
            "bad duration \"3661d\": at most 10 years (3660d)");
  EXPECT_FALSE(ParseWindow("-1").ok());
}

TEST(FormatElapsedMsTest, MillisecondsThenSeconds) {
  EXPECT_EQ(FormatElapsedMs(0), "0 ms");
  EXPECT_EQ(FormatElapsedMs(999), "999 ms");
  EXPECT_EQ(FormatElapsedMs(1000), "1.0 s");
  EXPECT_EQ(FormatElapsedMs(2349), "2.3 s");
  EXPECT_EQ(FormatElapsedMs(125000), "125.0 s");
}

TEST(FormatDurationTest, LargestExactUnitAndRoundTrip) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(90), "90s");
  EXPECT_EQ(FormatDuration(300), "5m");
  EXPECT_EQ(FormatDuration(5400), "90m");
  EXPECT_EQ(FormatDuration(7200), "2h");
  EXPECT_EQ(FormatDuration(86400), "1d");
  EXPECT_EQ(FormatDuration(90000), "25h");
  for (int64_t s : {1, 59, 61, 3600, 86399, 604800}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(s)), s) << s;
  }
}

TEST(ParseCountTest, NonNegativeDecimalsOnly) {
  EXPECT_EQ(*ParseCount("0"), 0);
  EXPECT_EQ(*ParseCount("42"), 42);
  for (const char* bad : {"", "-1", "+1", "1.0", "1k", " 1", "x"}) {
    EXPECT_FALSE(ParseCount(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseCount("x").status().message(), "bad number \"x\": want a whole number >= 0");
}

Result<int64_t> FakeSize(const std::string& text) {
  if (text == "10G") return int64_t{10} << 30;
  if (text == "neg") return int64_t{-5};
  return Status::Invalid("bad size \"" + text + "\"");
}

TEST(ParseLimitTest, UnlimitedOrTheParsersValue) {
  EXPECT_EQ(*ParseLimit("unlimited", FakeSize), -1);
  EXPECT_EQ(*ParseLimit("-1", FakeSize), -1);
  EXPECT_EQ(*ParseLimit("10G", FakeSize), int64_t{10} << 30);
  EXPECT_EQ(ParseLimit("10X", FakeSize).status().message(), "bad size \"10X\"");
  EXPECT_EQ(ParseLimit("neg", FakeSize).status().message(),
            "bad limit \"neg\": want >= 0, or unlimited");
  EXPECT_FALSE(ParseLimit("-2", FakeSize).ok());
  EXPECT_FALSE(ParseLimit("Unlimited", FakeSize).ok());
}

}  // namespace
}  // namespace strata::cli
