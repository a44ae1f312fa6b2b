#include "common/fd_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "common/temp_dir.h"

namespace strata {
namespace {

TEST(WriteFileAtomically, ReplacesTheFileWholeWithItsModeAndLeavesNoTemp) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "first\n", 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second\n", 0600).ok());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "second\n");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) entries += e.exists();
  EXPECT_EQ(entries, 1u);
  const Status missing = WriteFileAtomically(dir.path() + "/no/such/dir/f", "x", 0600);
  EXPECT_EQ(missing.code(), Code::kNotFound) << missing.ToString();
}

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

// Whether fd is an open descriptor of this process.
bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnceAndMovesOwnership) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const int r = p[0], w = p[1];
  {
    UniqueFd a(r);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), r);
    std::vector<UniqueFd> v;
    v.push_back(std::move(b));
    EXPECT_TRUE(IsOpen(r));
    UniqueFd c(w);
    c = std::move(v[0]);  // closes w, takes r
    EXPECT_FALSE(IsOpen(w));
    EXPECT_EQ(c.get(), r);
    c.reset(c.get());  // the fd held: kept, not closed
    EXPECT_TRUE(IsOpen(r));
  }
  EXPECT_FALSE(IsOpen(r));
  UniqueFd d(::dup(0));
  const int kept = d.release();
  EXPECT_FALSE(d.valid());
  EXPECT_TRUE(IsOpen(kept));
  ::close(kept);
}

}  // namespace
}  // namespace strata
