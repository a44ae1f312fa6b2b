#include "common/fd_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/temp_dir.h"

namespace strata {
namespace {

TEST(LockDirectory, OneHolderAtATime) {
  testing::TempDir dir;
  Result<int> first = LockDirectory(dir.path(), "in use");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // flock locks belong to an open file description: a second open conflicts
  // even in this process, as another daemon's would.
  Result<int> second = LockDirectory(dir.path(), "dir is in use by someone else");
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_EQ(second.status().message(), "dir is in use by someone else");
  ::close(*first);
  Result<int> third = LockDirectory(dir.path(), "in use");
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  ::close(*third);
  EXPECT_EQ(LockDirectory("/nonexistent/strata-dir", "x").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace strata
