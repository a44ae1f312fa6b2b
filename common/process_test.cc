#include "common/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace strata {
namespace {

TEST(ProcessTest, ThisProcessRunsAReapedOneDoesNot) {
  EXPECT_TRUE(ProcessRuns(getpid()));
  EXPECT_TRUE(ProcessRuns(1));  // init: another user's in a container, still running
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_FALSE(ProcessRuns(child));
  EXPECT_FALSE(ProcessRuns(0));
  EXPECT_FALSE(ProcessRuns(-1));
  EXPECT_FALSE(ProcessRuns(int64_t{1} << 40));
}

TEST(ProcessTest, HostnameIsThisMachines) {
  char buf[256] = "";
  ASSERT_EQ(gethostname(buf, sizeof(buf) - 1), 0);
  EXPECT_EQ(Hostname(), buf);
}

}  // namespace
}  // namespace strata
