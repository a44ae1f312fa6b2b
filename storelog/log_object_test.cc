#include "storelog/log_object.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/status_test_util.h"

namespace strata {
namespace {

OpRecord Rec(uint32_t branch, uint64_t seq) {
  OpRecord r;
  r.branch = branch;
  r.seq = seq;
  r.time_ns = 5000 + seq;
  r.puts.push_back({"inode/1/block/" + std::to_string(seq), false, std::string(300, 'p')});
  r.puts.push_back({"gone", true, ""});
  return r;
}

LogObject Records(uint32_t branch, uint64_t first, uint64_t last) {
  LogObject obj;
  obj.branch = branch;
  obj.epoch = 4;
  obj.first_seq = first;
  obj.last_seq = last;
  for (uint64_t s = first; s <= last; s++) {
    EncodeOpRecord(Rec(branch, s), &obj.frames);
    obj.count++;
  }
  return obj;
}

TEST(LogObject, KeysAreNumberedInOrderAndParseBack) {
  EXPECT_EQ(LogObjectKey(7, 12), "oplog/7/00000000000000000012.log");
  EXPECT_EQ(LogObjectPrefix(7), "oplog/7/");
  EXPECT_LT(LogObjectKey(7, 9), LogObjectKey(7, 10));  // a listing is in number order
  uint32_t b = 0;
  uint64_t n = 0;
  ASSERT_TRUE(ParseLogObjectKey(LogObjectKey(4294967295u, 18446744073709551615ull), &b, &n));
  EXPECT_EQ(b, 4294967295u);
  EXPECT_EQ(n, 18446744073709551615ull);
  for (const char* bad :
       {"oplog/7/12.log", "oplog/7/00000000000000000012", "oplog/0/00000000000000000001.log",
        "oplog/7/00000000000000000000.log", "oplog/7/00000000000000000001.logx",
        "branches/7/00000000000000000001.log", "oplog/x/00000000000000000001.log",
        "oplog/07/00000000000000000001.log", "oplog/7/"}) {
    EXPECT_FALSE(ParseLogObjectKey(bad, &b, &n)) << bad;
  }
}

TEST(LogObject, RecordsAndFencesRoundTrip) {
  const LogObject obj = Records(3, 10, 14);
  const std::string data = EncodeLogObject(obj);
  EXPECT_EQ(data.size(), kLogObjectHeaderBytes + obj.frames.size() + kLogObjectTrailerBytes);
  ASSERT_OK_AND_ASSIGN(LogObject back, DecodeLogObject(data, "k"));
  EXPECT_EQ(back.kind, LogObjectKind::kRecords);
  EXPECT_EQ(back.branch, 3u);
  EXPECT_EQ(back.epoch, 4u);
  EXPECT_EQ(back.first_seq, 10u);
  EXPECT_EQ(back.last_seq, 14u);
  EXPECT_EQ(back.count, 5u);
  std::vector<uint64_t> seqs;
  ASSERT_OK(ForEachLogRecord(back, [&](const OpRecord& r) {
    EXPECT_EQ(r.puts.size(), 2u);
    seqs.push_back(r.seq);
    return Status::OK();
  }));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{10, 11, 12, 13, 14}));

  LogObject fence;
  fence.kind = LogObjectKind::kFence;
  fence.branch = 3;
  fence.epoch = 9;
  ASSERT_OK_AND_ASSIGN(LogObject f, DecodeLogObject(EncodeLogObject(fence), "k"));
  EXPECT_EQ(f.kind, LogObjectKind::kFence);
  EXPECT_EQ(f.epoch, 9u);
  EXPECT_EQ(f.count, 0u);
}

TEST(LogObject, EveryDamageIsCorruptionNamingTheKey) {
  const std::string good = EncodeLogObject(Records(3, 10, 12));
  // Any flipped byte fails the checksum; a cut object is short or fails it.
  for (size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] ^= 0x20;
    Result<LogObject> r = DecodeLogObject(bad, "oplog/3/x.log");
    EXPECT_EQ(r.status().code(), Code::kCorruption) << i;
    EXPECT_NE(r.status().message().find("oplog/3/x.log"), std::string::npos);
  }
  for (size_t n : {size_t{0}, size_t{10}, good.size() - 1}) {
    EXPECT_EQ(DecodeLogObject(good.substr(0, n), "k").status().code(), Code::kCorruption) << n;
  }
}

TEST(LogObject, AHeaderThatDisagreesWithItsFramesIsCorruption) {
  // Checksummed correctly, but the header lies: each is refused.
  LogObject other_branch = Records(3, 10, 11);
  other_branch.branch = 4;
  LogObject wrong_count = Records(3, 10, 11);
  wrong_count.count = 3;
  LogObject wrong_first = Records(3, 10, 11);
  wrong_first.first_seq = 9;
  LogObject wrong_last = Records(3, 10, 11);
  wrong_last.last_seq = 12;
  LogObject fence_with_records = Records(3, 10, 11);
  fence_with_records.kind = LogObjectKind::kFence;
  LogObject torn = Records(3, 10, 11);
  torn.frames.resize(torn.frames.size() - 5);
  LogObject backwards;
  backwards.branch = 3;
  backwards.first_seq = 11;
  backwards.last_seq = 10;
  backwards.count = 2;
  EncodeOpRecord(Rec(3, 11), &backwards.frames);
  EncodeOpRecord(Rec(3, 10), &backwards.frames);
  for (const LogObject& o :
       {other_branch, wrong_count, wrong_first, wrong_last, fence_with_records, torn, backwards}) {
    Result<LogObject> r = DecodeLogObject(EncodeLogObject(o), "k");
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
}

}  // namespace
}  // namespace strata
