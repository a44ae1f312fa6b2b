#include "common/clock.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

using std::chrono::milliseconds;

TEST(ClockTest, RealClockMovesForward) {
  Clock* c = Clock::Real();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c, Clock::Real());
  const auto t0 = c->SteadyNow();
  const int64_t w0 = c->NowNs();
  c->SleepFor(milliseconds(2));
  EXPECT_GE(c->SteadyNow() - t0, milliseconds(2));
  EXPECT_GT(NowNs(), w0);
  EXPECT_GT(w0,
            ManualClock::kDefaultStartNs - 365ll * 86400 * 1'000'000'000);  // not zero or garbage
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock c(5'000);
  EXPECT_EQ(c.NowNs(), 5'000);
  const auto s0 = c.SteadyNow();
  EXPECT_EQ(c.NowNs(), 5'000);
  EXPECT_EQ(c.SteadyNow(), s0);

  c.Advance(milliseconds(3));
  EXPECT_EQ(c.NowNs(), 5'000 + 3'000'000);
  EXPECT_EQ(c.SteadyNow() - s0, milliseconds(3));

  c.SleepFor(milliseconds(7));  // returns at once, time moved
  EXPECT_EQ(c.SteadyNow() - s0, milliseconds(10));

  c.Advance(milliseconds(-5));  // never backwards
  EXPECT_EQ(c.SteadyNow() - s0, milliseconds(10));

  c.SetNowNs(42);  // a wall-clock step leaves the steady clock alone
  EXPECT_EQ(c.NowNs(), 42);
  EXPECT_EQ(c.SteadyNow() - s0, milliseconds(10));
}

}  // namespace
}  // namespace strata
