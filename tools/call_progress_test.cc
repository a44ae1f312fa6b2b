// Tests of a long call shown with a progress line.
#include "tools/call_progress.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

namespace strata::cli {
namespace {

using nlohmann::json;

// Waits (up to 10 s) until `n` reaches `want`.
void WaitFor(const std::atomic<int>& n, int want) {
  for (int i = 0; i < 10000 && n.load() < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string Line(const json& state) {
  return state.contains("step") ? "step " + state["step"].dump() : "";
}

TEST(CallWithProgressTest, WithoutATerminalJustCalls) {
  int polls = 0;
  ProgressPoll p{[&polls]() -> Result<json> {
                   ++polls;
                   return json::object();
                 },
                 Line};
  Result<json> r = CallWithProgress(
      []() -> Result<json> {
        return json{{"freed", 1}};
      },
      p, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, json({{"freed", 1}}));
  EXPECT_EQ(polls, 0);
}

TEST(CallWithProgressTest, ShowsEachNewLineAndErasesIt) {
  std::atomic<int> polls{0};
  const json states[] = {json::object(), {{"step", 0}}, {{"step", 0}}, {{"step", 1}}};
  ProgressPoll p{[&]() -> Result<json> { return states[std::min(polls++, 3)]; }, Line,
                 std::chrono::milliseconds(1)};
  std::ostringstream out;
  Result<json> r = CallWithProgress(
      [&]() -> Result<json> {
        WaitFor(polls, 4);
        return json{{"freed", 2}};
      },
      p, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["freed"], 2);
  EXPECT_GE(polls.load(), 4);
  EXPECT_EQ(out.str(), "\r\033[Kstep 0\r\033[Kstep 1\r\033[K");
}

TEST(CallWithProgressTest, AFailedPollEndsThePollingAndTheCallsErrorIsReturned) {
  std::atomic<int> polls{0};
  ProgressPoll p{[&]() -> Result<json> {
                   ++polls;
                   return Status::NotFound("no route GET /v1/gc");
                 },
                 Line, std::chrono::milliseconds(1)};
  std::ostringstream out;
  Result<json> r = CallWithProgress(
      [&]() -> Result<json> {
        WaitFor(polls, 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return Status::NotFound("no branch named 'x'");
      },
      p, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no branch named 'x'");
  EXPECT_EQ(polls.load(), 1);
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace strata::cli
