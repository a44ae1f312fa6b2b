// FastRecovery's reading of pg_control and pg_wal, on files made here (the
// starts themselves, on real servers, are in postgres_server_test.cc).
#include "endpoint/fast_recovery.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
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

  // A sparse segment file of `size` bytes, as wal_init_zero=off makes them;
  // `pageaddr`, if not 0, is written where the first page header keeps it.
  void Segment(const std::string& name, uint64_t size, uint64_t pageaddr) {
    const std::string path = tmp_.path() + "/pg_wal/" + name;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    if (pageaddr != 0) {
      ASSERT_EQ(pwrite(fd, &pageaddr, sizeof pageaddr, 8), 8);
    }
    close(fd);
  }
  // A 16 MiB segment of timeline 1 holding WAL.
  void Used(uint64_t segno) { Segment(Name(1, segno), kSeg, segno * kSeg); }
  static std::string Name(int tli, uint64_t segno) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%08X%08X%08X", tli, static_cast<unsigned>(segno / 256),
                  static_cast<unsigned>(segno % 256));
    return buf;
  }

  Result<bool> Short(uint64_t redo) { return RedoWithinLastSegment(tmp_.path(), redo); }

  static constexpr uint64_t kSeg = 16 * kMiB;
  testing::TempDir tmp_;
};

TEST_F(WalDirTest, RedoInTheLastSegmentIsShort) {
  Used(2);
  Used(3);
  ASSERT_OK_AND_ASSIGN(bool in_last, Short(3 * kSeg + 4096));
  EXPECT_TRUE(in_last);
  ASSERT_OK_AND_ASSIGN(bool in_older, Short(2 * kSeg + 4096));
  EXPECT_FALSE(in_older);
}

TEST_F(WalDirTest, SegmentsWithoutTheirOwnWalDoNotCount) {
  Used(3);
  Segment(Name(1, 4), kSeg, 0);         // made ahead of need: zeros
  Segment(Name(1, 5), kSeg, 1 * kSeg);  // recycled from segment 1
  ASSERT_OK_AND_ASSIGN(bool s, Short(3 * kSeg + 8));
  EXPECT_TRUE(s);
  Used(4);
  ASSERT_OK_AND_ASSIGN(s, Short(3 * kSeg + 8));
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, TimelinesDoNotMatterOnlySegmentNumbers) {
  // A promoted child: timeline 2 continues segment 3 of timeline 1.
  Used(3);
  Segment(Name(2, 3), kSeg, 3 * kSeg);
  Segment("00000002.history", 42, 0);
  ASSERT_OK_AND_ASSIGN(bool s, Short(3 * kSeg + 8));
  EXPECT_TRUE(s);
  Segment(Name(2, 4), kSeg, 4 * kSeg);
  ASSERT_OK_AND_ASSIGN(s, Short(3 * kSeg + 8));
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, TheHighHalfOfTheNameCountsFourGiB) {
  // 1 MiB segments: 4096 per 4 GiB, so 0x1:0x005 is segment 4096 + 5.
  Segment("000000010000000100000005", kMiB, (4096 + 5) * kMiB);
  ASSERT_OK_AND_ASSIGN(bool s, Short((4096 + 5) * kMiB + 100));
  EXPECT_TRUE(s);
  ASSERT_OK_AND_ASSIGN(s, Short(5 * kMiB + 100));  // segment 5 is not there
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, UnsureMeansLong) {
  ASSERT_OK_AND_ASSIGN(bool s, Short(0));  // no segments at all
  EXPECT_FALSE(s);
  Used(3);
  ASSERT_OK_AND_ASSIGN(s, Short(5 * kSeg));  // the redo's segment is missing
  EXPECT_FALSE(s);
  Segment(Name(1, 3), kSeg - 8192, 3 * kSeg);  // not a power of two
  ASSERT_OK_AND_ASSIGN(s, Short(3 * kSeg + 1));
  EXPECT_FALSE(s);
  Segment(Name(1, 3), 512 * 1024, 0);  // below initdb's minimum
  ASSERT_OK_AND_ASSIGN(s, Short(512 * 1024 + 1));
  EXPECT_FALSE(s);
}

TEST_F(WalDirTest, NamesThatAreNotSegmentsAreIgnored) {
  Used(1);
  Segment("0000000100000000000000XY", kSeg, 0);
  Segment("000000010000000000000009.partial", kSeg, 9 * kSeg);
  Segment("00000001000000000000000A.00000028.backup", kSeg, 10 * kSeg);
  ASSERT_OK_AND_ASSIGN(bool s, Short(kSeg + 1));
  EXPECT_TRUE(s);
}

// A crashed cluster's files as PrepareFastRecovery reads them: PG_VERSION,
// pg_control "in production" with the redo in segment 3, and segment 4
// holding WAL (a long redo).
class PlanTest : public WalDirTest {
 protected:
  void Cluster(const std::string& version) {
    ASSERT_EQ(mkdir((tmp_.path() + "/global").c_str(), 0700), 0);
    std::string control(64, '\0');
    const uint32_t in_production = 6;
    const uint64_t redo = 3 * kSeg + 40;
    std::memcpy(control.data() + 16, &in_production, sizeof in_production);
    std::memcpy(control.data() + 40, &redo, sizeof redo);
    ASSERT_OK(WritePgdataFile(tmp_.path() + "/global/pg_control", control, tmp_.path()));
    ASSERT_OK(WritePgdataFile(tmp_.path() + "/PG_VERSION", version + "\n", tmp_.path()));
    Used(3);
    Used(4);
  }
};

TEST_F(PlanTest, OnlyPostgres12To15ArePromotedAndOnly14AndLaterGetSyncfs) {
  Cluster("16");
  ASSERT_OK_AND_ASSIGN(RecoveryPlan p16, PrepareFastRecovery(tmp_.path(), true));
  EXPECT_EQ(p16.kind, RecoveryPlan::Kind::kCrashRecovery) << p16.reason;
  EXPECT_EQ(p16.reason, "plain crash recovery (no promote_trigger_file in PostgreSQL 16)");
  ASSERT_EQ(p16.settings.size(), 1u);
  EXPECT_EQ(p16.settings[0].first, "recovery_init_sync_method");

  ASSERT_OK(WritePgdataFile(tmp_.path() + "/PG_VERSION", "11\n", tmp_.path()));
  ASSERT_OK_AND_ASSIGN(RecoveryPlan p11, PrepareFastRecovery(tmp_.path(), true));
  EXPECT_EQ(p11.kind, RecoveryPlan::Kind::kCrashRecovery) << p11.reason;
  EXPECT_TRUE(p11.settings.empty()) << "PostgreSQL 11 has no recovery_init_sync_method";

  ASSERT_OK(WritePgdataFile(tmp_.path() + "/PG_VERSION", "13\n", tmp_.path()));
  ASSERT_OK_AND_ASSIGN(RecoveryPlan p13, PrepareFastRecovery(tmp_.path(), true));
  EXPECT_EQ(p13.kind, RecoveryPlan::Kind::kPromote) << p13.reason;
  EXPECT_EQ(p13.settings.size(), 2u) << "no syncfs before 14";
  ASSERT_OK_AND_ASSIGN(std::string mark, ReadPgdataFile(tmp_.path() + "/standby.signal", 100));
  EXPECT_EQ(mark, kFastRecoveryMark);
}

TEST(FastRecoveryTest, MissingWalDirIsAnError) {
  testing::TempDir tmp;
  Result<bool> r = RedoWithinLastSegment(tmp.path(), 0);
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
