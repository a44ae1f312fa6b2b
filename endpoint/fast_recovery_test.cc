// FastRecovery's reading of pg_control and pg_wal, on files made here (the
// starts themselves, on real servers, are in postgres_server_test.cc).
#include "endpoint/fast_recovery.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/status_test_util.h"
#include "common/temp_dir.h"

namespace strata {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class WalDirTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(mkdir((tmp_.path() + "/pg_wal").c_str(), 0700), 0); }

  // A sparse segment file of `size` bytes, as wal_init_zero=off makes them.
  void Segment(const std::string& name, uint64_t size) {
    const std::string path = tmp_.path() + "/pg_wal/" + name;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    close(fd);
  }

  Result<bool> Short(uint64_t redo) { return RedoWithinNewestSegment(tmp_.path(), redo); }

  testing::TempDir tmp_;
};

TEST_F(WalDirTest, RedoInTheNewestSegmentIsShort) {
  Segment("000000010000000000000002", 16 * kMiB);
  Segment("000000010000000000000003", 16 * kMiB);
  ASSERT_OK_AND_ASSIGN(bool in_newest, Short(3 * 16 * kMiB + 4096));
  EXPECT_TRUE(in_newest);
  ASSERT_OK_AND_ASSIGN(bool in_older, Short(2 * 16 * kMiB + 4096));
  EXPECT_FALSE(in_older);
}

TEST_F(WalDirTest, TimelinesDoNotMatterOnlySegmentNumbers) {
  // A promoted child: timeline 2 continues segment 3 of timeline 1.
  Segment("000000010000000000000003", 16 * kMiB);
  Segment("000000020000000000000003", 16 * kMiB);
  Segment("00000002.history", 42);
  ASSERT_OK_AND_ASSIGN(bool s, Short(3 * 16 * kMiB + 8));
  EXPECT_TRUE(s);
  Segment("000000020000000000000004", 16 * kMiB);
  ASSERT_OK_AND_ASSIGN(s, Short(3 * 16 * kMiB + 8));
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, TheHighHalfOfTheNameCountsFourGiB) {
  // 1 MiB segments: 4096 per 4 GiB, so 0x1:0x005 is segment 4096 + 5.
  Segment("000000010000000100000005", kMiB);
  ASSERT_OK_AND_ASSIGN(bool s, Short((4096 + 5) * kMiB + 100));
  EXPECT_TRUE(s);
  ASSERT_OK_AND_ASSIGN(s, Short(5 * kMiB + 100));
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, UnsureMeansLong) {
  ASSERT_OK_AND_ASSIGN(bool s, Short(0));  // no segments at all
  EXPECT_FALSE(s);
  Segment("000000010000000000000001", 16 * kMiB - 8192);  // not a power of two
  ASSERT_OK_AND_ASSIGN(s, Short(16 * kMiB + 1));
  EXPECT_FALSE(s);
  Segment("000000010000000000000001", 512 * 1024);  // below initdb's minimum
  ASSERT_OK_AND_ASSIGN(s, Short(512 * 1024 + 1));
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, NamesThatAreNotSegmentsAreIgnored) {
  Segment("000000010000000000000001", 16 * kMiB);
  Segment("0000000100000000000000XY", 16 * kMiB);
  Segment("000000010000000000000009.partial", 16 * kMiB);
  Segment("00000001000000000000000A.00000028.backup", 16 * kMiB);
  ASSERT_OK_AND_ASSIGN(bool s, Short(16 * kMiB + 1));
  EXPECT_TRUE(s);
}

TEST(FastRecoveryTest, MissingWalDirIsAnError) {
  testing::TempDir tmp;
  Result<bool> r = RedoWithinNewestSegment(tmp.path(), 0);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
}

TEST(FastRecoveryTest, PgControlFields) {
  std::string control(64, '\0');
  const uint32_t state = 6;  // DB_IN_PRODUCTION
  const uint64_t redo = 0x0000000AEE81640;
  std::memcpy(control.data() + 16, &state, sizeof state);
  std::memcpy(control.data() + 40, &redo, sizeof redo);
  EXPECT_EQ(PgControlState(control), state);
  EXPECT_EQ(PgControlRedo(control), redo);
  EXPECT_EQ(PgControlRedo(control.substr(0, 47)), std::nullopt);
  EXPECT_EQ(PgControlState(control.substr(0, 19)), std::nullopt);
}

}  // namespace
}  // namespace strata
