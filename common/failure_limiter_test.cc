#include "common/failure_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace strata {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class FailureLimiterTest : public ::testing::Test {
 protected:
  FailureLimiter Make(size_t max_keys = 100) {
    FailureLimiterOptions o;
    o.burst = 3;
    o.refill = seconds(10);
    o.max_keys = max_keys;
    o.clock = &clock_;
    return FailureLimiter(o);
  }
  ManualClock clock_;
};

TEST_F(FailureLimiterTest, ABurstOfFailuresThenOneAttemptPerRefill) {
  FailureLimiter l = Make();
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(l.Allow("10.0.0.1")) << i;
    l.Failed("10.0.0.1");
  }
  milliseconds wait{0};
  EXPECT_FALSE(l.Allow("10.0.0.1", &wait));
  EXPECT_EQ(wait, seconds(10));
  EXPECT_TRUE(l.Allow("10.0.0.2"));  // another peer is not held back
  clock_.Advance(seconds(4));
  EXPECT_FALSE(l.Allow("10.0.0.1", &wait));
  EXPECT_EQ(wait, seconds(6));
  clock_.Advance(seconds(6));
  EXPECT_TRUE(l.Allow("10.0.0.1"));
  l.Failed("10.0.0.1");  // the one attempt the refill bought
  EXPECT_FALSE(l.Allow("10.0.0.1"));
  EXPECT_EQ(l.refusals(), 3u);
  clock_.Advance(seconds(30));  // the whole bucket back
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(l.Allow("10.0.0.1")) << i;
    l.Failed("10.0.0.1");
  }
  EXPECT_FALSE(l.Allow("10.0.0.1"));
}

TEST_F(FailureLimiterTest, MemoryStaysBoundedAndKeepsTheGuessers) {
  FailureLimiter l = Make(10);
  for (int i = 0; i < 3; i++) l.Failed("guesser");
  for (int i = 0; i < 1000; i++) l.Failed("peer-" + std::to_string(i));
  EXPECT_FALSE(l.Allow("guesser"));  // it has the most failures: never the one dropped
}

}  // namespace
}  // namespace strata
