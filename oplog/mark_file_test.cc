#include "oplog/mark_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "common/temp_dir.h"

namespace strata {
namespace {

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<uint64_t>(st.st_size);
}

TEST(MarkFile, RaisesOnlyUpwardAndSurvivesReopen) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/epochs";
  {
    auto f = MarkFile::Open(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->Get(7), 0u);
    ASSERT_TRUE((*f)->Raise(7, 3).ok());
    ASSERT_TRUE((*f)->Raise(7, 2).ok());  // lower: nothing written
    ASSERT_TRUE((*f)->Raise(9, 1).ok());
    EXPECT_EQ((*f)->Get(7), 3u);
    EXPECT_EQ(FileSize(path), 2 * MarkFile::kRecordBytes);
  }
  auto f = MarkFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Get(7), 3u);
  EXPECT_EQ((*f)->Get(9), 1u);
  EXPECT_EQ((*f)->branches(), 2u);
}

TEST(MarkFile, CutsATornTailAndKeepsWhatCameBefore) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/epochs";
  {
    auto f = MarkFile::Open(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Raise(1, 5).ok());
  }
  {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out.write("\x01\x00\x00\x00\x09", 5);  // a raise to 9 that crashed mid-write
  }
  auto f = MarkFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Get(1), 5u);
  EXPECT_EQ(FileSize(path), MarkFile::kRecordBytes);
  ASSERT_TRUE((*f)->Raise(1, 6).ok());
  f = MarkFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Get(1), 6u);
}

TEST(MarkFile, ADamagedRecordIsCorruptionNamingItsOffset) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/epochs";
  {
    auto f = MarkFile::Open(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Raise(1, 5).ok());
    ASSERT_TRUE((*f)->Raise(2, 5).ok());
  }
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(MarkFile::kRecordBytes + 6);
    io.put('\x7f');
  }
  auto f = MarkFile::Open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kCorruption);
  EXPECT_NE(f.status().message().find("offset 16"), std::string::npos) << f.status().message();
}

TEST(MarkFile, AFailedRaiseIsFinalUntilTheFileIsReopened) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/epochs";
  int syncs = 0;
  bool fail = false;
  auto sync = [&](int fd) {
    syncs++;
    if (!fail) return ::fdatasync(fd);
    errno = EIO;
    return -1;
  };
  {
    auto f = MarkFile::Open(path, sync);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Raise(1, 5).ok());
    fail = true;
    Status st = (*f)->Raise(1, 6);
    EXPECT_EQ(st.code(), Code::kIO) << st.ToString();
    EXPECT_EQ((*f)->Get(1), 5u);  // not raised in memory
    fail = false;
    const int before = syncs;
    EXPECT_EQ((*f)->Raise(2, 1).code(), Code::kIO);  // nothing written after it
    EXPECT_EQ(syncs, before);
    EXPECT_EQ((*f)->Get(2), 0u);
  }
  // Reopened, the file reads whole records only; raises work again.
  auto f = MarkFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_GE((*f)->Get(1), 5u);
  EXPECT_EQ((*f)->Get(2), 0u);
  ASSERT_TRUE((*f)->Raise(2, 1).ok());
  EXPECT_EQ((*f)->Get(2), 1u);
}

TEST(MarkFile, CompactsWhenStaleRecordsPileUp) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/epochs";
  {
    auto f = MarkFile::Open(path);
    ASSERT_TRUE(f.ok());
    for (uint64_t e = 1; e <= 1100; e++) ASSERT_TRUE((*f)->Raise(4, e).ok());
    ASSERT_TRUE((*f)->Raise(5, 2).ok());
  }
  EXPECT_EQ(FileSize(path), 1101 * MarkFile::kRecordBytes);
  auto f = MarkFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(FileSize(path), 2 * MarkFile::kRecordBytes);
  EXPECT_EQ((*f)->Get(4), 1100u);
  ASSERT_TRUE((*f)->Raise(4, 1101).ok());  // appends to the compacted file
  f = MarkFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Get(4), 1101u);
  EXPECT_EQ((*f)->Get(5), 2u);
}

}  // namespace
}  // namespace strata
