#include "catalog/fork_spec.h"

#include <gtest/gtest.h>

#include <string>

namespace strata {
namespace {

constexpr int64_t kS = 1000000000;
constexpr int64_t kT = 1795255200;  // 2026-11-21T10:00:00Z in seconds

int64_t Parse(const std::string& s) {
  Result<int64_t> r = ParseRfc3339(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : INT64_MIN;
}

void ExpectInvalidTime(const std::string& s) {
  Result<int64_t> r = ParseRfc3339(s);
  EXPECT_EQ(r.status().code(), Code::kInvalid) << "'" << s << "' parsed as " << (r.ok() ? *r : 0);
  if (!r.ok()) {
    EXPECT_NE(r.status().message().find("RFC 3339"), std::string::npos) << r.status().message();
  }
}

TEST(Rfc3339, ZuluOffsetsAndFractions) {
  EXPECT_EQ(Parse("2026-11-21T10:00:00Z"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21t10:00:00z"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21 10:00:00Z"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21T11:00:00+01:00"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21T04:30:00-05:30"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21T10:00:00+00:00"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21T10:00:00-00:00"), kT * kS);
  EXPECT_EQ(Parse("2026-11-21T10:00:00.5Z"), kT * kS + 500000000);
  EXPECT_EQ(Parse("2026-11-21T10:00:00.250+01:00"), (kT - 3600) * kS + 250000000);
  EXPECT_EQ(Parse("2026-11-21T10:00:00.123456789Z"), kT * kS + 123456789);
  EXPECT_EQ(Parse("2026-11-21T10:00:00.1234567891234Z"), kT * kS + 123456789);  // ns precision
  EXPECT_EQ(Parse("2024-02-29T23:59:59Z"), int64_t{1709251199} * kS);           // leap day
  EXPECT_EQ(Parse("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Parse("1969-12-31T23:59:59.5Z"), -kS / 2);
}

TEST(Rfc3339, MalformedTimesAreInvalid) {
  for (const char* s : {"",
                        "2026",
                        "2026-11-21",
                        "2026-11-21T10:00:00",
                        "2026-11-21T10:00Z",
                        "2026-11-21X10:00:00Z",
                        "2026/11/21T10:00:00Z",
                        "2026-13-21T10:00:00Z",
                        "2026-00-21T10:00:00Z",
                        "2026-11-00T10:00:00Z",
                        "2026-11-32T10:00:00Z",
                        "2026-11-21T24:00:00Z",
                        "2026-11-21T10:60:00Z",
                        "2026-11-21T10:00:61Z",
                        "2026-11-21T10:00:00.Z",
                        "2026-11-21T10:00:00+1:00",
                        "2026-11-21T10:00:00+01",
                        "2026-11-21T10:00:00+0100",
                        "2026-11-21T10:00:00+24:00",
                        "2026-11-21T10:00:00+01:60",
                        "2026-11-21T10:00:00ZZ",
                        "2026-11-21T10:00:00Z ",
                        " 2026-11-21T10:00:00Z",
                        "2026-1a-21T10:00:00Z",
                        "2026-11-21T10:00:00UTC"}) {
    ExpectInvalidTime(s);
  }
}

// Dates that do not exist must not be normalized into other dates.
TEST(Rfc3339, NonexistentCalendarDatesAreInvalid) {
  ExpectInvalidTime("2026-02-30T00:00:00Z");
  ExpectInvalidTime("2026-02-29T00:00:00Z");  // 2026 is not a leap year
  ExpectInvalidTime("2026-04-31T00:00:00Z");
}

// A time whose nanoseconds do not fit in int64 (after 2262-04-11) must be
// rejected, not wrap around to some other instant.
TEST(Rfc3339, TimesBeyondTheInt64NanosecondRangeAreInvalid) {
  ExpectInvalidTime("2300-01-01T00:00:00Z");
  ExpectInvalidTime("9999-12-31T23:59:59Z");
}

TEST(Rfc3339, FormatRoundTripsMilliseconds) {
  EXPECT_EQ(FormatRfc3339(kT * kS + 250000000), "2026-11-21T10:00:00.250Z");
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Parse(FormatRfc3339(kT * kS + 999000000)), kT * kS + 999000000);
}

TEST(Rfc3339, FormatOfATimeBeforeTheEpoch) {
  EXPECT_EQ(FormatRfc3339(-kS / 2), "1969-12-31T23:59:59.500Z");
}

TEST(ForkSpec, ValidSpecs) {
  Result<ForkSpec> head = ParseForkSpec("main");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->parent, "main");
  EXPECT_EQ(head->kind, ForkSpec::Kind::kHead);

  Result<ForkSpec> snap = ParseForkSpec("main@before-migration_2");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->parent, "main");
  EXPECT_EQ(snap->kind, ForkSpec::Kind::kSnapshot);
  EXPECT_EQ(snap->snapshot, "before-migration_2");

  Result<ForkSpec> seq = ParseForkSpec("dev_1@seq:42");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(seq->parent, "dev_1");
  EXPECT_EQ(seq->kind, ForkSpec::Kind::kSeq);
  EXPECT_EQ(seq->seq, 42u);
  EXPECT_EQ(ParseForkSpec("a@seq:0")->seq, 0u);
  EXPECT_EQ(ParseForkSpec("a@seq:18446744073709551615")->seq, UINT64_MAX);

  Result<ForkSpec> time = ParseForkSpec("main@time:2026-11-21T11:00:00+01:00");
  ASSERT_TRUE(time.ok());
  EXPECT_EQ(time->kind, ForkSpec::Kind::kTime);
  EXPECT_EQ(time->time_ns, kT * kS);
}

TEST(ForkSpec, InvalidSpecs) {
  for (const char* s : {"", "@snap", "main@", "main@seq:", "main@seq:-1", "main@seq:+1",
                        "main@seq:1x", "main@seq: 1", "main@seq:18446744073709551616",
                        "main@time:", "main@time:yesterday", "main@time:2026-11-21", "main@a@b",
                        "main@bad name", "-main", "ma in", "main@-snap", "main/x", "main@snap/x"}) {
    Result<ForkSpec> r = ParseForkSpec(s);
    EXPECT_EQ(r.status().code(), Code::kInvalid) << "'" << s << "' was accepted";
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

}  // namespace
}  // namespace strata
