#include "oplog/op_record.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <chrono>
#include <random>

#include "common/coding.h"

namespace strata {
namespace {

OpRecord SampleRecord() {
  OpRecord r;
  r.branch = 7;
  r.seq = 0x0123456789abcdefULL;
  r.time_ns = 1'700'000'000'123'456'789ULL;
  r.puts.push_back({"inode/42/block/0", false, std::string(8192, 'x')});
  r.puts.push_back({"dirent/1/name", true, ""});
  r.puts.push_back({"attr/42", false, ""});  // empty value, not a tombstone
  r.puts.push_back({std::string("\0\xff\x01\x80", 4), false, std::string("\0\0\x7f", 3)});
  r.puts.push_back({"", false, "empty key"});
  return r;
}

void ExpectEqual(const OpRecord& a, const OpRecord& b) {
  EXPECT_EQ(a.branch, b.branch);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.time_ns, b.time_ns);
  ASSERT_EQ(a.puts.size(), b.puts.size());
  for (size_t i = 0; i < a.puts.size(); i++) {
    EXPECT_EQ(a.puts[i].key, b.puts[i].key) << i;
    EXPECT_EQ(a.puts[i].tombstone, b.puts[i].tombstone) << i;
    EXPECT_EQ(a.puts[i].value, b.puts[i].value) << i;
  }
}

bool SameRecord(const OpRecord& a, const OpRecord& b) {
  if (a.branch != b.branch || a.seq != b.seq || a.time_ns != b.time_ns ||
      a.puts.size() != b.puts.size()) {
    return false;
  }
  for (size_t i = 0; i < a.puts.size(); i++) {
    if (a.puts[i].key != b.puts[i].key || a.puts[i].tombstone != b.puts[i].tombstone ||
        a.puts[i].value != b.puts[i].value) {
      return false;
    }
  }
  return true;
}

// A frame around an arbitrary (possibly invalid) body, with a valid checksum.
std::string Frame(const std::string& body) {
  std::string f;
  f.push_back(static_cast<char>(kOpRecordMagic));
  PutFixed32(&f, static_cast<uint32_t>(body.size()));
  PutFixed32(&f, static_cast<uint32_t>(XXH64(body.data(), body.size(), 0)));
  return f + body;
}

std::string BodyHeader(uint32_t puts) {
  std::string b;
  PutFixed32(&b, 1);
  PutFixed64(&b, 2);
  PutFixed64(&b, 3);
  PutFixed32(&b, puts);
  return b;
}

TEST(OpRecordTest, RoundTrip) {
  const OpRecord r = SampleRecord();
  std::string buf = "prefix";
  EncodeOpRecord(r, &buf);
  OpRecord out;
  size_t used = 0;
  ASSERT_TRUE(DecodeOpRecord(std::string_view(buf).substr(6), &out, &used).ok());
  EXPECT_EQ(used, buf.size() - 6);
  ExpectEqual(r, out);
}

TEST(OpRecordTest, EmptyRecordRoundTrips) {
  OpRecord r;
  std::string buf;
  EncodeOpRecord(r, &buf);
  EXPECT_EQ(buf.size(), kOpRecordHeaderBytes + 24);
  OpRecord out;
  size_t used = 0;
  ASSERT_TRUE(DecodeOpRecord(buf, &out, &used).ok());
  ExpectEqual(r, out);
}

TEST(OpRecordTest, ByteLayoutIsAsDocumented) {
  OpRecord r;
  r.branch = 0x01020304;
  r.seq = 5;
  r.time_ns = 6;
  r.puts.push_back({"k", true, ""});
  std::string buf;
  EncodeOpRecord(r, &buf);
  std::string body = BodyHeader(1);
  body.replace(0, 4, std::string("\x04\x03\x02\x01", 4));
  body.replace(4, 8, std::string("\x05\0\0\0\0\0\0\0", 8));
  body.replace(12, 8, std::string("\x06\0\0\0\0\0\0\0", 8));
  body += std::string("\x01\0\0\0k\x01\0\0\0\0", 10);
  EXPECT_EQ(buf, Frame(body));
}

TEST(OpRecordTest, ConsecutiveFramesDecodeInOrder) {
  std::string buf;
  for (uint64_t s = 1; s <= 10; s++) {
    OpRecord r = SampleRecord();
    r.seq = s;
    EncodeOpRecord(r, &buf);
  }
  std::string_view in = buf;
  for (uint64_t s = 1; s <= 10; s++) {
    OpRecord out;
    size_t used = 0;
    ASSERT_TRUE(DecodeOpRecord(in, &out, &used).ok());
    EXPECT_EQ(out.seq, s);
    in.remove_prefix(used);
  }
  OpRecord out;
  size_t used = 0;
  EXPECT_TRUE(DecodeOpRecord(in, &out, &used).IsNotFound());
}

TEST(OpRecordTest, EveryTruncationIsNotFound) {
  std::string buf;
  EncodeOpRecord(SampleRecord(), &buf);
  for (size_t n = 0; n < buf.size(); n++) {
    OpRecord out;
    size_t used = 0;
    const Status s = DecodeOpRecord(std::string_view(buf).substr(0, n), &out, &used);
    EXPECT_EQ(s.code(), Code::kNotFound) << "length " << n << ": " << s.ToString();
  }
}

TEST(OpRecordTest, EverySingleByteFlipIsDetected) {
  std::string buf;
  const OpRecord r = SampleRecord();
  EncodeOpRecord(r, &buf);
  std::mt19937 rng(42);
  for (size_t i = 0; i < buf.size(); i++) {
    for (int trial = 0; trial < 3; trial++) {
      std::string bad = buf;
      const uint8_t mask = trial == 0 ? 0x01 : trial == 1 ? 0x80 : static_cast<uint8_t>(rng() | 1);
      bad[i] = static_cast<char>(bad[i] ^ mask);
      OpRecord out;
      size_t used = 0;
      const Status s = DecodeOpRecord(bad, &out, &used);
      if (s.ok()) {
        EXPECT_TRUE(SameRecord(out, r)) << "flip at " << i << " decoded OK with other content";
      } else {
        EXPECT_TRUE(s.code() == Code::kCorruption || s.code() == Code::kNotFound)
            << i << ": " << s.ToString();
      }
    }
  }
}

TEST(OpRecordTest, BadHeadersAreCorruption) {
  std::string buf;
  EncodeOpRecord(SampleRecord(), &buf);
  OpRecord out;
  size_t used = 0;

  std::string bad = buf;
  bad[0] = 0;
  EXPECT_EQ(DecodeOpRecord(bad, &out, &used).code(), Code::kCorruption);
  EXPECT_EQ(DecodeOpRecord(std::string(1, '\0'), &out, &used).code(), Code::kCorruption);

  bad = buf;  // length beyond the 64 MiB cap: impossible, even though incomplete
  bad.replace(1, 4, std::string("\x01\0\0\x04", 4));
  EXPECT_EQ(DecodeOpRecord(bad, &out, &used).code(), Code::kCorruption);
  bad.replace(1, 4, std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(DecodeOpRecord(bad, &out, &used).code(), Code::kCorruption);

  bad = buf;  // length smaller than the fixed body header
  bad.replace(1, 4, std::string("\x17\0\0\0", 4));
  EXPECT_EQ(DecodeOpRecord(bad, &out, &used).code(), Code::kCorruption);

  bad = buf;
  bad[7] ^= 0x10;  // checksum byte
  const Status s = DecodeOpRecord(bad, &out, &used);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();
}

TEST(OpRecordTest, BadBodiesWithValidChecksumAreCorruption) {
  OpRecord out;
  size_t used = 0;
  auto code = [&](const std::string& body) {
    return DecodeOpRecord(Frame(body), &out, &used).code();
  };

  EXPECT_EQ(code(BodyHeader(0)), Code::kOk);
  EXPECT_EQ(code(BodyHeader(0) + "x"), Code::kCorruption);     // trailing garbage
  EXPECT_EQ(code(BodyHeader(0xffffffff)), Code::kCorruption);  // absurd put count
  EXPECT_EQ(code(BodyHeader(1)), Code::kCorruption);           // count > puts present
  std::string put;
  PutFixed32(&put, 100);  // key length past the body
  put += "key";
  put += std::string(6, '\0');
  EXPECT_EQ(code(BodyHeader(1) + put), Code::kCorruption);

  std::string good;
  PutFixed32(&good, 1);
  good += "k";
  good.push_back(0);
  PutFixed32(&good, 1);
  good += "v";
  EXPECT_EQ(code(BodyHeader(1) + good), Code::kOk);
  EXPECT_EQ(code(BodyHeader(1) + good + "zz"), Code::kCorruption);  // trailing garbage

  std::string flags = good;
  flags[5] = 0x02;  // unknown flag bit
  EXPECT_EQ(code(BodyHeader(1) + flags), Code::kCorruption);
  std::string tomb = good;
  tomb[5] = 0x01;  // tombstone carrying a value
  EXPECT_EQ(code(BodyHeader(1) + tomb), Code::kCorruption);
}

TEST(OpRecordTest, RandomGarbageNeverCrashes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; i++) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    if (!s.empty() && (i & 1)) s[0] = static_cast<char>(kOpRecordMagic);
    OpRecord out;
    size_t used = 0;
    const Status st = DecodeOpRecord(s, &out, &used);
    if (st.ok()) {
      EXPECT_LE(used, s.size());
    }
  }
}

// The hot case: a 1 MiB write of 128 pages. Prints throughput, asserts nothing
// about speed (benchmarks are never timed assertions).
TEST(OpRecordTest, LargeWriteRecordRoundTrips) {
  OpRecord r;
  r.branch = 3;
  r.seq = 99;
  for (int i = 0; i < 128; i++) {
    r.puts.push_back({"page/" + std::to_string(i), false, std::string(8192, static_cast<char>(i))});
  }
  std::string buf;
  const int kIters = 200;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters; i++) {
    buf.clear();
    EncodeOpRecord(r, &buf);
  }
  const auto t1 = std::chrono::steady_clock::now();
  OpRecord out;
  size_t used = 0;
  for (int i = 0; i < kIters; i++) ASSERT_TRUE(DecodeOpRecord(buf, &out, &used).ok());
  const auto t2 = std::chrono::steady_clock::now();
  ExpectEqual(r, out);
  const double mib = kIters * buf.size() / 1048576.0;
  const double enc = std::chrono::duration<double>(t1 - t0).count();
  const double dec = std::chrono::duration<double>(t2 - t1).count();
  std::printf("1 MiB record: encode %.0f MiB/s, decode %.0f MiB/s\n", mib / enc, mib / dec);
}

TEST(OpRecord, PeekOpRecordId) {
  std::string frame;
  OpRecord rec = SampleRecord();
  rec.branch = 0xabcdef01;
  rec.seq = 0x1122334455667788ull;
  EncodeOpRecord(rec, &frame);
  uint32_t branch = 0;
  uint64_t seq = 0;
  ASSERT_TRUE(PeekOpRecordId(frame, &branch, &seq));
  EXPECT_EQ(branch, 0xabcdef01u);
  EXPECT_EQ(seq, 0x1122334455667788ull);
  EXPECT_FALSE(PeekOpRecordId(frame.substr(0, kOpRecordHeaderBytes + 11), &branch, &seq));
  EXPECT_FALSE(PeekOpRecordId("", &branch, &seq));
}

}  // namespace
}  // namespace strata
