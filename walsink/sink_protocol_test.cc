#include "walsink/sink_protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "common/coding.h"
#include "common/net.h"

namespace strata {
namespace {

// A connected socket pair: the test writes on `tx`, ReadSinkFrame reads `rx`.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    rx_ = fds[0];
    tx_ = fds[1];
  }
  ~Pipe() {
    ::close(rx_);
    CloseTx();
  }
  void Write(std::string_view bytes) { ASSERT_TRUE(SendAll(tx_, bytes, "test").ok()); }
  void CloseTx() {
    if (tx_ >= 0) ::close(tx_);
    tx_ = -1;
  }
  Status Read(SinkFrame* f) { return ReadSinkFrame(rx_, "test peer", f); }

 private:
  int rx_ = -1;
  int tx_ = -1;
};

// Splits one encoded frame into type and body, checking header and checksum.
SinkFrame Split(const std::string& frame) {
  EXPECT_GE(frame.size(), kOpRecordHeaderBytes);
  SinkFrame f;
  f.type = static_cast<SinkMsg>(static_cast<uint8_t>(frame[0]));
  EXPECT_EQ(DecodeFixed32(frame.data() + 1), frame.size() - kOpRecordHeaderBytes);
  f.body = frame.substr(kOpRecordHeaderBytes);
  EXPECT_EQ(DecodeFixed32(frame.data() + 5), OpFrameChecksum(f.body.data(), f.body.size()));
  return f;
}

OpRecord Rec(uint32_t branch, uint64_t seq) {
  OpRecord r;
  r.branch = branch;
  r.seq = seq;
  r.time_ns = 42;
  r.puts.push_back({"k", false, "value"});
  r.puts.push_back({"gone", true, ""});
  return r;
}

TEST(SinkProtocol, HelloRoundTrip) {
  std::string out;
  EncodeHello("store-1_A", "s3cret token", &out);
  const SinkFrame f = Split(out);
  EXPECT_EQ(f.type, SinkMsg::kHello);
  uint16_t version = 0;
  std::string id, token;
  ASSERT_TRUE(ParseHello(f.body, &version, &id, &token).ok());
  EXPECT_EQ(version, kSinkProtocolVersion);
  EXPECT_EQ(id, "store-1_A");
  EXPECT_EQ(token, "s3cret token");

  out.clear();
  EncodeHelloOk(&out);
  const SinkFrame ok = Split(out);
  EXPECT_EQ(ok.type, SinkMsg::kHelloOk);
  ASSERT_TRUE(ParseHelloOk(ok.body, &version).ok());
  EXPECT_EQ(version, kSinkProtocolVersion);
}

TEST(SinkProtocol, ControlMessagesRoundTrip) {
  std::string out;
  EncodeBranch(7, 0x0102030405060708ull, 0x1112131415161718ull, &out);
  SinkFrame f = Split(out);
  EXPECT_EQ(f.type, SinkMsg::kBranch);
  uint32_t branch = 0;
  uint64_t seq = 0, epoch = 0;
  ASSERT_TRUE(ParseBranch(f.body, &branch, &seq, &epoch).ok());
  EXPECT_EQ(branch, 7u);
  EXPECT_EQ(seq, 0x0102030405060708ull);
  EXPECT_EQ(epoch, 0x1112131415161718ull);
  // A version 2 BRANCH (no epoch) is epoch 0.
  ASSERT_TRUE(ParseBranch(f.body.substr(0, 12), &branch, &seq, &epoch).ok());
  EXPECT_EQ(seq, 0x0102030405060708ull);
  EXPECT_EQ(epoch, 0u);

  out.clear();
  EncodeDrop(0xfffffffe, &out);
  f = Split(out);
  EXPECT_EQ(f.type, SinkMsg::kDrop);
  ASSERT_TRUE(ParseDrop(f.body, &branch).ok());
  EXPECT_EQ(branch, 0xfffffffeu);

  out.clear();
  EncodeAck(123456789012ull, &out);
  f = Split(out);
  EXPECT_EQ(f.type, SinkMsg::kAck);
  uint64_t count = 0;
  ASSERT_TRUE(ParseAck(f.body, &count).ok());
  EXPECT_EQ(count, 123456789012ull);

  const BranchSeqs list = {{1, 0}, {2, UINT64_MAX}, {9, 17}};
  for (SinkMsg type : {SinkMsg::kReplay, SinkMsg::kReplayEnd}) {
    out.clear();
    if (type == SinkMsg::kReplay) {
      EncodeReplay(list, &out);
    } else {
      EncodeReplayEnd(list, &out);
    }
    f = Split(out);
    EXPECT_EQ(f.type, type);
    BranchSeqs back;
    ASSERT_TRUE(ParseBranchSeqs(f.body, &back).ok());
    EXPECT_EQ(back, list);
  }
  out.clear();
  EncodeReplay({}, &out);
  BranchSeqs empty = {{5, 5}};
  ASSERT_TRUE(ParseBranchSeqs(Split(out).body, &empty).ok());
  EXPECT_TRUE(empty.empty());
}

TEST(SinkProtocol, ErrorRoundTripAndLimit) {
  std::string out;
  EncodeError(SinkError::kSeqGap, "branch 3: gap", &out);
  SinkFrame f = Split(out);
  EXPECT_EQ(f.type, SinkMsg::kError);
  SinkError code{};
  std::string message;
  ASSERT_TRUE(ParseError(f.body, &code, &message).ok());
  EXPECT_EQ(code, SinkError::kSeqGap);
  EXPECT_EQ(message, "branch 3: gap");

  // Over 4 KiB is cut, and never inside a UTF-8 character ("é" is 2 bytes).
  std::string long_message(4095, 'x');
  long_message += "\xc3\xa9 and more";
  out.clear();
  EncodeError(SinkError::kIO, long_message, &out);
  ASSERT_TRUE(ParseError(Split(out).body, &code, &message).ok());
  EXPECT_EQ(message, std::string(4095, 'x'));
}

TEST(SinkProtocol, ErrorNamesAndStatuses) {
  EXPECT_STREQ(SinkErrorName(SinkError::kNoSpace), "sink disk full");
  EXPECT_STREQ(SinkErrorName(SinkError::kIO), "sink I/O error");
  EXPECT_STREQ(SinkErrorName(SinkError::kSeqGap), "seq gap");
  const Status full = SinkErrorStatus(SinkError::kNoSpace, "disk");
  EXPECT_EQ(full.code(), Code::kNoSpace);
  EXPECT_TRUE(full.retryable());
  EXPECT_NE(full.message().find("sink disk full: disk"), std::string::npos);
  EXPECT_EQ(SinkErrorStatus(SinkError::kSeqGap, "x").code(), Code::kCorruption);
  EXPECT_EQ(SinkErrorFor(Status::NoSpace("full")), SinkError::kNoSpace);
  EXPECT_EQ(SinkErrorFor(Status::IO("eio")), SinkError::kIO);
  EXPECT_EQ(SinkErrorFor(Status::Corruption("bad segment")), SinkError::kIO);
}

// Version 1 (before tokens): version, store id, nothing after.
TEST(SinkProtocol, VersionOneHelloHasNoToken) {
  const std::string body = std::string("\x01\x00\x03\x00", 4) + "abc";
  uint16_t version = 0;
  std::string id, token = "left over";
  ASSERT_TRUE(ParseHello(body, &version, &id, &token).ok());
  EXPECT_EQ(version, 1);
  EXPECT_EQ(id, "abc");
  EXPECT_EQ(token, "");
  EXPECT_EQ(ParseHello(body + "x", &version, &id, &token).code(), Code::kCorruption);
  // A later version's extra fields are its own: the version is refused, not the body.
  const std::string v9 = std::string("\x09\x00\x03\x00", 4) + "abc" + "whatever";
  ASSERT_TRUE(ParseHello(v9, &version, &id, &token).ok());
  EXPECT_EQ(version, 9);
}

TEST(SinkProtocol, ParsersRefuseBadBodies) {
  uint16_t version = 0;
  std::string id, token;
  std::string hello;
  EncodeHello("abc", "tok", &hello);
  const std::string body = Split(hello).body;
  EXPECT_EQ(ParseHello("", &version, &id, &token).code(), Code::kCorruption);
  EXPECT_EQ(ParseHello(body.substr(0, 3), &version, &id, &token).code(), Code::kCorruption);
  for (size_t cut = 0; cut < body.size(); cut++) {
    EXPECT_EQ(ParseHello(body.substr(0, cut), &version, &id, &token).code(), Code::kCorruption)
        << cut;
  }
  EXPECT_EQ(ParseHello(body + "x", &version, &id, &token).code(), Code::kCorruption);
  EXPECT_EQ(ParseHelloOk("\x01", &version).code(), Code::kCorruption);
  EXPECT_EQ(ParseHelloOk("\x01\x00\x00", &version).code(), Code::kCorruption);

  uint32_t branch = 0;
  uint64_t seq = 0, epoch = 0;
  for (size_t n : {0, 11, 13, 19, 21, 28}) {
    EXPECT_EQ(ParseBranch(std::string(n, '\0'), &branch, &seq, &epoch).code(), Code::kCorruption)
        << n;
  }
  EXPECT_EQ(ParseDrop(std::string(3, '\0'), &branch).code(), Code::kCorruption);
  EXPECT_EQ(ParseDrop(std::string(5, '\0'), &branch).code(), Code::kCorruption);
  uint64_t count = 0;
  EXPECT_EQ(ParseAck(std::string(7, '\0'), &count).code(), Code::kCorruption);
  EXPECT_EQ(ParseAck(std::string(9, '\0'), &count).code(), Code::kCorruption);

  BranchSeqs list;
  EXPECT_EQ(ParseBranchSeqs("", &list).code(), Code::kCorruption);
  std::string two;
  PutFixed32(&two, 2);
  two += std::string(12, '\0');  // room for one entry only
  EXPECT_EQ(ParseBranchSeqs(two, &list).code(), Code::kCorruption);
  two += std::string(13, '\0');  // one byte too many
  EXPECT_EQ(ParseBranchSeqs(two, &list).code(), Code::kCorruption);
  std::string huge;
  PutFixed32(&huge, 0xffffffff);  // a count the body cannot hold
  EXPECT_EQ(ParseBranchSeqs(huge, &list).code(), Code::kCorruption);

  SinkError code{};
  std::string message;
  EXPECT_EQ(ParseError("", &code, &message).code(), Code::kCorruption);
}

TEST(SinkProtocol, StoreIds) {
  EXPECT_TRUE(CheckSinkStoreId("a").ok());
  EXPECT_TRUE(CheckSinkStoreId("0123abcdefABCDEF-_").ok());
  EXPECT_TRUE(CheckSinkStoreId(std::string(64, 'z')).ok());
  EXPECT_EQ(CheckSinkStoreId("").code(), Code::kInvalid);
  EXPECT_EQ(CheckSinkStoreId(std::string(65, 'z')).code(), Code::kInvalid);
  for (const char* bad : {"../x", "a/b", ".", "..", "a b", "a.b", "\xc3\xa9"}) {
    EXPECT_EQ(CheckSinkStoreId(bad).code(), Code::kInvalid) << bad;
  }
  EXPECT_EQ(CheckSinkStoreId(std::string("a\0b", 3)).code(), Code::kInvalid);
}

TEST(SinkProtocol, ReadFramesFromSocket) {
  Pipe p;
  std::string out;
  EncodeBranch(3, 9, 0, &out);
  std::string record;
  EncodeOpRecord(Rec(3, 10), &record);
  out += record;
  EncodeAck(5, &out);
  p.Write(out);
  p.CloseTx();

  SinkFrame f;
  ASSERT_TRUE(p.Read(&f).ok());
  EXPECT_EQ(f.type, SinkMsg::kBranch);
  EXPECT_TRUE(f.raw.empty());
  ASSERT_TRUE(p.Read(&f).ok());
  EXPECT_EQ(f.type, SinkMsg::kAppend);
  EXPECT_EQ(f.raw, record);  // an APPEND keeps the whole frame, byte for byte
  OpRecord rec;
  size_t used = 0;
  ASSERT_TRUE(DecodeOpRecord(f.raw, &rec, &used).ok());
  EXPECT_EQ(rec.seq, 10u);
  ASSERT_TRUE(p.Read(&f).ok());
  EXPECT_EQ(f.type, SinkMsg::kAck);
  // A close between frames is a clean end.
  EXPECT_EQ(p.Read(&f).code(), Code::kNotFound);
}

TEST(SinkProtocol, TruncatedFramesAreIOErrors) {
  std::string frame;
  EncodeBranch(1, 2, 0, &frame);
  for (size_t cut : {size_t{1}, size_t{8}, size_t{9}, frame.size() - 1}) {
    Pipe p;
    p.Write(frame.substr(0, cut));
    p.CloseTx();
    SinkFrame f;
    const Status st = p.Read(&f);
    EXPECT_EQ(st.code(), Code::kIO) << "cut at " << cut << ": " << st.ToString();
  }
}

TEST(SinkProtocol, BadFramesAreCorruption) {
  std::string good;
  EncodeBranch(1, 2, 0, &good);

  std::string bad_crc = good;
  bad_crc.back() ^= 1;
  std::string unknown_type = good;
  unknown_type[0] = 0x42;
  std::string server_range_end = good;
  server_range_end[0] = 0x18;  // just past ERROR
  std::string too_long;
  too_long.push_back(static_cast<char>(SinkMsg::kBranch));
  PutFixed32(&too_long, (16u << 20) + 1);  // control messages are at most 16 MiB
  PutFixed32(&too_long, 0);
  std::string append_too_long;
  append_too_long.push_back(static_cast<char>(SinkMsg::kAppend));
  PutFixed32(&append_too_long, kOpRecordMaxBodyBytes + 1);
  PutFixed32(&append_too_long, 0);

  for (const std::string* bytes :
       {&bad_crc, &unknown_type, &server_range_end, &too_long, &append_too_long}) {
    Pipe p;
    p.Write(*bytes);
    SinkFrame f;
    const Status st = p.Read(&f);
    EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  }
}

TEST(SinkProtocol, FrameLargerThanTheSocketBuffer) {
  // ReadSinkFrame must loop over short reads.
  Pipe p;
  std::string out;
  BranchSeqs many;
  for (uint32_t i = 0; i < 20000; i++) many.emplace_back(i, i);
  EncodeReplay(many, &out);
  std::thread writer([&] { p.Write(out); });
  SinkFrame f;
  ASSERT_TRUE(p.Read(&f).ok());
  writer.join();
  BranchSeqs back;
  ASSERT_TRUE(ParseBranchSeqs(f.body, &back).ok());
  EXPECT_EQ(back, many);
}

}  // namespace
}  // namespace strata
