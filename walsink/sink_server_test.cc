#include "walsink/sink_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/net.h"
#include "common/temp_dir.h"
#include "oplog/local_sink.h"
#include "oplog/sink_wrapper.h"
#include "walsink/sink_protocol.h"

namespace strata {
namespace {

constexpr char kStore[] = "store-1";

OpRecord Rec(uint32_t branch, uint64_t seq) {
  OpRecord r;
  r.branch = branch;
  r.seq = seq;
  r.time_ns = seq * 1000;
  r.puts.push_back({"key/" + std::to_string(seq), false, std::string(200, 'a' + seq % 26)});
  if (seq % 4 == 0) r.puts.push_back({"gone/" + std::to_string(seq), true, ""});
  return r;
}

std::string Append(uint32_t branch, uint64_t seq) {
  std::string out;
  EncodeOpRecord(Rec(branch, seq), &out);
  return out;
}

std::string Branch(uint32_t branch, uint64_t covered, uint64_t epoch = 0) {
  std::string out;
  EncodeBranch(branch, covered, epoch, &out);
  return out;
}

std::string Hello(std::string_view store_id, std::string_view token = "") {
  std::string out;
  EncodeHello(store_id, token, &out);
  return out;
}

using Ids = std::vector<std::pair<uint32_t, uint64_t>>;  // (branch, seq) in log order

// A raw protocol client. Reads time out after 30 s, so a server that fails
// to answer fails the test instead of hanging it.
class Client {
 public:
  explicit Client(uint16_t port) {
    Result<int> fd = ConnectTcp({"127.0.0.1", port}, 5000);
    EXPECT_TRUE(fd.ok()) << fd.status().ToString();
    fd_ = fd.ok() ? *fd : -1;
    const timeval timeout{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~Client() { ::close(fd_); }

  void Send(std::string_view bytes) { EXPECT_TRUE(SendAll(fd_, bytes, "server").ok()); }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  Status Read(SinkFrame* f) { return ReadSinkFrame(fd_, "server", f); }

  // Sends HELLO and expects HELLO_OK.
  bool Hello(std::string_view store_id = kStore) {
    Send(strata::Hello(store_id));
    SinkFrame f;
    const Status st = Read(&f);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(f.type, SinkMsg::kHelloOk);
    return st.ok() && f.type == SinkMsg::kHelloOk;
  }

  // Reads ACKs until one reaches `count`; anything else fails the test.
  void WaitAck(uint64_t count) {
    while (acked_ < count) {
      SinkFrame f;
      const Status st = Read(&f);
      if (!st.ok() || f.type != SinkMsg::kAck) {
        ADD_FAILURE() << "waiting for ACK " << count << " (have " << acked_
                      << "): " << (st.ok() ? Describe(f) : st.ToString());
        return;
      }
      NoteAck(f);
    }
  }

  // Reads the ACKs that have arrived, without waiting for more.
  void ReadAvailableAcks() {
    pollfd p{fd_, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
      SinkFrame f;
      if (!Read(&f).ok() || f.type != SinkMsg::kAck) {
        ADD_FAILURE() << "expected only ACKs";
        return;
      }
      NoteAck(f);
    }
  }

  // Reads (skipping ACKs) until an ERROR, then expects the server to close.
  SinkError ExpectError() {
    for (;;) {
      SinkFrame f;
      const Status st = Read(&f);
      if (!st.ok()) {
        ADD_FAILURE() << "waiting for ERROR: " << st.ToString();
        return SinkError{};
      }
      if (f.type == SinkMsg::kAck) {
        NoteAck(f);
        continue;
      }
      SinkError code{};
      std::string message;
      EXPECT_EQ(f.type, SinkMsg::kError) << Describe(f);
      EXPECT_TRUE(ParseError(f.body, &code, &message).ok());
      EXPECT_FALSE(message.empty());
      error_message_ = message;
      const Status end = Read(&f);
      EXPECT_EQ(end.code(), Code::kNotFound) << "after ERROR: " << end.ToString();
      return code;
    }
  }

  // REPLAY(after): the records received (checked against Rec) and REPLAY_END.
  Ids Replay(const BranchSeqs& after, BranchSeqs* end = nullptr) {
    std::string out;
    EncodeReplay(after, &out);
    Send(out);
    Ids ids;
    for (;;) {
      SinkFrame f;
      const Status st = Read(&f);
      if (!st.ok()) {
        ADD_FAILURE() << "during REPLAY: " << st.ToString();
        return ids;
      }
      if (f.type == SinkMsg::kAck) {
        NoteAck(f);
      } else if (f.type == SinkMsg::kAppend) {
        OpRecord rec;
        size_t used = 0;
        EXPECT_TRUE(DecodeOpRecord(f.raw, &rec, &used).ok());
        std::string want;
        EncodeOpRecord(Rec(rec.branch, rec.seq), &want);
        EXPECT_EQ(f.raw, want) << "record " << rec.branch << "/" << rec.seq << " changed";
        ids.emplace_back(rec.branch, rec.seq);
      } else {
        EXPECT_EQ(f.type, SinkMsg::kReplayEnd) << Describe(f);
        BranchSeqs last;
        EXPECT_TRUE(ParseBranchSeqs(f.body, &last).ok());
        if (end) *end = last;
        return ids;
      }
    }
  }

  uint64_t acked() const { return acked_; }
  const std::string& error_message() const { return error_message_; }

 private:
  void NoteAck(const SinkFrame& f) {
    uint64_t n = 0;
    EXPECT_TRUE(ParseAck(f.body, &n).ok());
    EXPECT_GE(n, acked_) << "ACK counts only grow";
    acked_ = n;
  }
  static std::string Describe(const SinkFrame& f) {
    std::string s = "frame type " + std::to_string(static_cast<int>(f.type));
    SinkError code{};
    std::string message;
    if (f.type == SinkMsg::kError && ParseError(f.body, &code, &message).ok()) {
      s += " (ERROR " + std::to_string(static_cast<int>(code)) + ": " + message + ")";
    }
    return s;
  }

  int fd_ = -1;
  uint64_t acked_ = 0;
  std::string error_message_;
};

Ids Seqs(uint32_t branch, uint64_t from, uint64_t to) {
  Ids ids;
  for (uint64_t s = from; s <= to; s++) ids.emplace_back(branch, s);
  return ids;
}

// Most tests skip the 64 MiB zero-filled spare segment; SurvivesRestart uses
// the default log.
Result<std::unique_ptr<Sink>> OpenSmallLog(const std::string& dir) {
  LocalSinkOptions o;
  o.preallocate = false;
  return OpenLocalSink(dir, o);
}

class SinkServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(OpenSmallLog); }

  void Start(std::function<Result<std::unique_ptr<Sink>>(const std::string&)> open_log,
             const std::function<void(SinkServerOptions*)>& more = {}) {
    SinkServerOptions o;
    o.dir = dir_.path() + "/sink";
    o.listen = "127.0.0.1:0";
    o.open_log = std::move(open_log);
    if (more) more(&o);
    server_.reset();
    Result<std::unique_ptr<SinkServer>> s = SinkServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    ASSERT_NE(server_->port(), 0);
  }
  uint16_t port() const { return server_->port(); }

  // What a fresh connection replays of `branches` (from seq 0).
  Ids ReplayAll(const std::vector<uint32_t>& branches, BranchSeqs* end = nullptr) {
    Client c(port());
    if (!c.Hello()) return {};
    BranchSeqs after;
    for (uint32_t b : branches) after.emplace_back(b, 0);
    return c.Replay(after, end);
  }

  strata::testing::TempDir dir_;
  std::unique_ptr<SinkServer> server_;
};

TEST_F(SinkServerTest, HelloBranchAppendAck) {
  Client c(port());
  ASSERT_TRUE(c.Hello());
  std::string batch = Branch(1, 0);
  for (uint64_t s = 1; s <= 50; s++) batch += Append(1, s);
  c.Send(batch);
  c.WaitAck(51);  // BRANCH + 50 APPENDs
  const SinkServerStats st = server_->Stats();
  EXPECT_EQ(st.appended, 50u);
  EXPECT_EQ(st.duplicates, 0u);
  EXPECT_GE(st.acks, 1u);
  EXPECT_EQ(st.namespaces, 1u);
  EXPECT_EQ(st.errors, 0u);
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/sink/" + kStore));
  BranchSeqs end;
  EXPECT_EQ(ReplayAll({1}, &end), Seqs(1, 1, 50));
  EXPECT_EQ(end, (BranchSeqs{{1, 50}}));
}

TEST_F(SinkServerTest, GroupCommitAcrossConnectionsAndBranches) {
  constexpr int kConns = 4;
  constexpr uint64_t kRecords = 300;
  std::vector<std::thread> threads;
  for (int i = 0; i < kConns; i++) {
    threads.emplace_back([this, i] {
      const uint32_t branch = 10 + i;
      Client c(port());
      if (!c.Hello()) return;
      c.Send(Branch(branch, 0));
      // Small batches with a wait in between, so syncs overlap appends.
      for (uint64_t s = 1; s <= kRecords; s += 10) {
        std::string batch;
        for (uint64_t k = s; k < s + 10; k++) batch += Append(branch, k);
        c.Send(batch);
        if (s % 50 == 1) c.WaitAck(s);
      }
      c.WaitAck(kRecords + 1);
    });
  }
  for (auto& t : threads) t.join();
  Result<SinkStats> log = server_->LogStats(kStore);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  // Printed, not asserted: how many syncs depends on timing.
  printf("%llu records from %d connections: %llu fdatasyncs for %llu Sync calls\n",
         static_cast<unsigned long long>(kRecords * kConns), kConns,
         static_cast<unsigned long long>(log->syncs),
         static_cast<unsigned long long>(log->sync_waits));
  EXPECT_EQ(server_->Stats().appended, kRecords * kConns);

  // Every branch comes back whole and in order, interleaved with the others.
  const Ids all = ReplayAll({10, 11, 12, 13});
  EXPECT_EQ(all.size(), kRecords * kConns);
  std::map<uint32_t, uint64_t> next;
  for (const auto& [b, s] : all) {
    EXPECT_EQ(s, ++next[b]) << "branch " << b;
  }
}

TEST_F(SinkServerTest, DuplicatesAfterReconnectAreNotAppended) {
  {
    Client c(port());
    ASSERT_TRUE(c.Hello());
    std::string batch = Branch(1, 0);
    for (uint64_t s = 1; s <= 5; s++) batch += Append(1, s);
    c.Send(batch);
    c.WaitAck(6);
  }
  // A reconnect resends from an older acknowledged position.
  Client c(port());
  ASSERT_TRUE(c.Hello());
  std::string batch = Branch(1, 0);
  for (uint64_t s = 3; s <= 8; s++) batch += Append(1, s);
  c.Send(batch);
  c.WaitAck(7);  // duplicates are acknowledged too
  EXPECT_EQ(server_->Stats().duplicates, 3u);
  EXPECT_EQ(server_->Stats().appended, 8u);
  EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, 8));
}

TEST_F(SinkServerTest, SeqGapIsRefusedAfterAcknowledgingWhatCameBefore) {
  Client c(port());
  ASSERT_TRUE(c.Hello());
  c.Send(Branch(1, 0) + Append(1, 1) + Append(1, 2) + Append(1, 4) + Append(1, 5));
  EXPECT_EQ(c.ExpectError(), SinkError::kSeqGap);
  EXPECT_NE(c.error_message().find("branch 1 seq 4"), std::string::npos) << c.error_message();
  EXPECT_EQ(c.acked(), 3u);  // BRANCH, 1, 2: applied and acknowledged before the ERROR
  EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, 2));
  EXPECT_EQ(server_->Stats().errors, 1u);
}

TEST_F(SinkServerTest, AppendOfUnknownBranchIsRefused) {
  Client c(port());
  ASSERT_TRUE(c.Hello());
  c.Send(Branch(1, 0) + Append(1, 1) + Append(2, 1));
  EXPECT_EQ(c.ExpectError(), SinkError::kUnknownBranch);
  EXPECT_NE(c.error_message().find("branch 2"), std::string::npos) << c.error_message();
  BranchSeqs end;
  EXPECT_EQ(ReplayAll({1, 2}, &end), Seqs(1, 1, 1));
  EXPECT_EQ(end, (BranchSeqs{{1, 1}}));
}

// With a token and a list of stores, a HELLO without the token (none, a
// wrong one, a version 1 HELLO that cannot carry one) is refused before
// anything else it sent is looked at: no namespace is opened, no directory
// made, nothing appended, even when BRANCH and APPEND follow in the same
// write. The right token for a store not on the list is refused too.
TEST_F(SinkServerTest, TokenAndStoreListAreCheckedBeforeAnyFrame) {
  Start(OpenSmallLog, [](SinkServerOptions* o) {
    o->token = "0123456789abcdef-the-token";
    o->store_ids = {kStore};
  });
  const std::string v1_hello = std::string("\x01\x00\x07\x00", 4) + kStore;
  std::string v1;
  EncodeSinkFrame(SinkMsg::kHello, v1_hello, &v1);
  const struct {
    std::string hello;
    SinkError want;
  } cases[] = {
      {Hello(kStore), SinkError::kUnauthorized},
      {Hello(kStore, "0123456789abcdef-the-tokeN"), SinkError::kUnauthorized},
      {Hello(kStore, "0123456789abcdef-the-token "), SinkError::kUnauthorized},
      {v1, SinkError::kUnauthorized},
      {Hello("store-2", "0123456789abcdef-the-token"), SinkError::kStoreNotServed},
  };
  for (const auto& tc : cases) {
    Client c(port());
    c.Send(tc.hello + Branch(1, 0) + Append(1, 1));
    EXPECT_EQ(c.ExpectError(), tc.want) << c.error_message();
    EXPECT_EQ(c.acked(), 0u);
  }
  SinkServerStats st = server_->Stats();
  EXPECT_EQ(st.refused, 5u);
  EXPECT_EQ(st.appended, 0u);
  EXPECT_EQ(st.namespaces, 0u);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/sink/" + kStore));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/sink/store-2"));

  Client c(port());
  c.Send(Hello(kStore, "0123456789abcdef-the-token") + Branch(1, 0) + Append(1, 1));
  SinkFrame ok;
  ASSERT_TRUE(c.Read(&ok).ok());
  EXPECT_EQ(ok.type, SinkMsg::kHelloOk);
  c.WaitAck(2);
  st = server_->Stats();
  EXPECT_EQ(st.appended, 1u);
  EXPECT_EQ(st.refused, 5u);
}

TEST_F(SinkServerTest, HelloIsChecked) {
  {
    Client c(port());
    c.Send(Branch(1, 0));  // not HELLO
    EXPECT_EQ(c.ExpectError(), SinkError::kBadMessage);
  }
  {
    Client c(port());
    std::string body;
    body.push_back(4);  // version 4
    body.push_back(0);
    body.push_back(1);
    body.push_back(0);
    body.push_back('a');
    std::string out;
    EncodeSinkFrame(SinkMsg::kHello, body, &out);
    c.Send(out);
    EXPECT_EQ(c.ExpectError(), SinkError::kVersion);
  }
  {
    Client c(port());
    std::string out;
    EncodeSinkFrame(SinkMsg::kHello,
                    "\x01\x00\x05\x00"
                    "ab",
                    &out);  // id shorter than said
    c.Send(out);
    EXPECT_EQ(c.ExpectError(), SinkError::kBadMessage);
  }
  for (const std::string& bad : {std::string("../x"), std::string(), std::string(65, 'a'),
                                 std::string("a/b"), std::string("x\0y", 3)}) {
    Client c(port());
    c.Send(Hello(bad));
    EXPECT_EQ(c.ExpectError(), SinkError::kBadStoreId) << "'" << bad << "'";
  }
  {
    Client c(port());
    ASSERT_TRUE(c.Hello());
    c.Send(Hello(kStore));
    EXPECT_EQ(c.ExpectError(), SinkError::kBadMessage);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/x"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/sink/a"));
  EXPECT_EQ(server_->Stats().errors, 9u);
  // A store id of exactly 64 characters is fine.
  Client c(port());
  EXPECT_TRUE(c.Hello(std::string(64, 'z')));
}

// Each malformed frame ends its connection with ERROR; what the connection
// sent before it stays applied, and nothing of the bad frame gets in.
TEST_F(SinkServerTest, MalformedFramesAreRefusedAndEarlierDataKept) {
  std::string bad_crc = Append(1, 99);
  bad_crc[bad_crc.size() - 3] ^= 0x40;
  std::string unknown_type = Branch(1, 0);
  unknown_type[0] = 0x33;
  std::string too_long;
  too_long.push_back(static_cast<char>(SinkMsg::kReplay));
  PutFixed32(&too_long, (16u << 20) + 1);
  PutFixed32(&too_long, 0);
  std::string undecodable_record;  // a good frame whose record body is bad
  {
    std::string body;
    PutFixed32(&body, 1);   // branch
    PutFixed64(&body, 99);  // seq
    PutFixed64(&body, 0);   // time
    PutFixed32(&body, 1);   // one put, which is missing
    EncodeSinkFrame(SinkMsg::kAppend, body, &undecodable_record);
  }
  std::string short_branch;
  EncodeSinkFrame(SinkMsg::kBranch, "12345", &short_branch);
  std::string server_message;
  EncodeAck(1, &server_message);
  const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string truncated = Append(1, 99).substr(0, 40);

  struct Case {
    const char* name;
    std::string bytes;
    SinkError want;
  };
  const std::vector<Case> cases = {
      {"checksum mismatch", bad_crc, SinkError::kBadFrame},
      {"unknown type", unknown_type, SinkError::kBadFrame},
      {"length over the limit", too_long, SinkError::kBadFrame},
      {"undecodable record", undecodable_record, SinkError::kBadFrame},
      {"garbage", garbage, SinkError::kBadFrame},
      {"truncated frame", truncated, SinkError::kBadFrame},
      {"body does not parse", short_branch, SinkError::kBadMessage},
      {"server message from a client", server_message, SinkError::kBadMessage},
  };
  uint64_t seq = 0;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Client c(port());
    ASSERT_TRUE(c.Hello());
    ++seq;
    c.Send(Branch(1, 0) + Append(1, seq) + k.bytes);
    if (k.bytes == truncated) c.ShutdownWrite();  // the frame ends early
    EXPECT_EQ(c.ExpectError(), k.want);
    EXPECT_EQ(c.acked(), 2u);
    EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, seq));
  }
  {
    SCOPED_TRACE("garbage instead of HELLO");
    Client c(port());
    c.Send(garbage);
    EXPECT_EQ(c.ExpectError(), SinkError::kBadFrame);
  }
  {
    SCOPED_TRACE("closed inside HELLO");
    Client c(port());
    c.Send(Hello(kStore).substr(0, 6));
    c.ShutdownWrite();
    EXPECT_EQ(c.ExpectError(), SinkError::kBadFrame);
  }
  EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, cases.size()));
  EXPECT_EQ(server_->Stats().errors, cases.size() + 2);
}

TEST_F(SinkServerTest, ReplayFiltersAndListsBranches) {
  Client c(port());
  ASSERT_TRUE(c.Hello());
  std::string batch = Branch(1, 0) + Branch(2, 0) + Branch(3, 7);
  for (uint64_t s = 1; s <= 10; s++) {
    batch += Append(1, s);
    if (s <= 5) batch += Append(2, s);
  }
  c.Send(batch);
  c.WaitAck(18);
  BranchSeqs end;
  Ids want;
  for (uint64_t s = 1; s <= 10; s++) {
    if (s > 4) want.emplace_back(1, s);
    if (s <= 5) want.emplace_back(2, s);
  }
  EXPECT_EQ(c.Replay({{1, 4}, {2, 0}, {9, 0}}, &end), want);
  EXPECT_EQ(end, (BranchSeqs{{1, 10}, {2, 5}, {3, 7}}));
  EXPECT_EQ(c.Replay({{1, 10}, {2, 5}}, &end), Ids{});
  EXPECT_EQ(c.Replay({}, &end), Ids{});
  EXPECT_EQ(end.size(), 3u);
  // REPLAY is not counted: the next ACK counts on from 18.
  c.Send(Append(3, 8));
  c.WaitAck(19);
  EXPECT_EQ(ReplayAll({3}), Seqs(3, 8, 8));
}

TEST_F(SinkServerTest, DropForgetsTheBranch) {
  Client c(port());
  ASSERT_TRUE(c.Hello());
  std::string drop;
  EncodeDrop(2, &drop);
  c.Send(Branch(1, 0) + Branch(2, 0) + Append(2, 1) + Append(1, 1) + drop);
  c.WaitAck(5);
  BranchSeqs end;
  EXPECT_EQ(c.Replay({{1, 0}}, &end), Seqs(1, 1, 1));
  EXPECT_EQ(end, (BranchSeqs{{1, 1}}));
  c.Send(Append(2, 2));
  EXPECT_EQ(c.ExpectError(), SinkError::kUnknownBranch);
}

TEST_F(SinkServerTest, BranchCoveredAdvancesLast) {
  Client c(port());
  ASSERT_TRUE(c.Hello());
  // Records up to 100 are in layers: 101 is next, anything older is a duplicate.
  c.Send(Branch(4, 100) + Append(4, 101) + Append(4, 50) + Append(4, 102));
  c.WaitAck(4);
  EXPECT_EQ(server_->Stats().duplicates, 1u);
  BranchSeqs end;
  EXPECT_EQ(c.Replay({{4, 0}}, &end), Seqs(4, 101, 102));
  EXPECT_EQ(end, (BranchSeqs{{4, 102}}));
  // A later BRANCH never moves last backwards.
  c.Send(Branch(4, 10) + Append(4, 103));
  c.WaitAck(6);
  c.Send(Append(4, 105));
  EXPECT_EQ(c.ExpectError(), SinkError::kSeqGap);
}

TEST_F(SinkServerTest, SurvivesRestart) {
  Start(nullptr);  // the default log: OpenLocalSink(DIR/<store id>)
  {
    Client c(port());
    ASSERT_TRUE(c.Hello());
    std::string batch = Branch(1, 0) + Branch(2, 0);
    for (uint64_t s = 1; s <= 20; s++) batch += Append(s % 2 ? 1 : 2, (s + 1) / 2);
    c.Send(batch);
    c.WaitAck(22);
  }
  server_->Stop();
  server_->Stop();  // idempotent
  Start(nullptr);
  Client c(port());
  ASSERT_TRUE(c.Hello());
  BranchSeqs end;
  Ids want;
  for (uint64_t s = 1; s <= 10; s++) {
    want.emplace_back(1, s);
    want.emplace_back(2, s);
  }
  EXPECT_EQ(c.Replay({{1, 0}, {2, 0}}, &end), want);
  EXPECT_EQ(end, (BranchSeqs{{1, 10}, {2, 10}}));  // last[] rebuilt from the log
  c.Send(Branch(1, 0) + Append(1, 10) + Append(1, 11));
  c.WaitAck(3);
  EXPECT_EQ(server_->Stats().duplicates, 1u);
}

// Fencing (docs/sink-protocol.md): once a BRANCH of a higher epoch came in,
// APPENDs of new records from a connection that registered the branch with a
// lower epoch are refused; resent duplicates are still acknowledged; the
// fence survives a restart of the server.
TEST_F(SinkServerTest, ANewerEpochFencesTheEarlierWriter) {
  Client old_writer(port());
  ASSERT_TRUE(old_writer.Hello());
  std::string batch = Branch(1, 0, 4);
  for (uint64_t s = 1; s <= 5; s++) batch += Append(1, s);
  old_writer.Send(batch);
  old_writer.WaitAck(6);

  // The new holder raises the fence and replays what the old one wrote.
  Client taker(port());
  ASSERT_TRUE(taker.Hello());
  taker.Send(Branch(1, 0, 5));
  EXPECT_EQ(taker.Replay({{1, 0}}), Seqs(1, 1, 5));
  taker.WaitAck(1);

  // The old writer's resend of a record the server has is harmless; a new
  // record is refused and ends its connection.
  old_writer.Send(Append(1, 5) + Append(1, 6));
  EXPECT_EQ(old_writer.ExpectError(), SinkError::kFenced);
  EXPECT_EQ(old_writer.acked(), 7u);
  EXPECT_NE(old_writer.error_message().find("epoch 5"), std::string::npos)
      << old_writer.error_message();

  // The new holder goes on from seq 6. A BRANCH of a lower epoch (a late
  // registration of the fenced writer) does not lower the fence.
  taker.Send(Append(1, 6) + Append(1, 7));
  taker.WaitAck(3);
  {
    Client late(port());
    ASSERT_TRUE(late.Hello());
    late.Send(Branch(1, 0, 4) + Append(1, 8));
    EXPECT_EQ(late.ExpectError(), SinkError::kFenced);
  }
  {
    Client unregistered(port());  // never sent BRANCH: epoch 0
    ASSERT_TRUE(unregistered.Hello());
    unregistered.Send(Append(1, 8));
    EXPECT_EQ(unregistered.ExpectError(), SinkError::kFenced);
  }
  EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, 7));

  // After a restart the fence is still there.
  Start(OpenSmallLog);
  {
    Client late(port());
    ASSERT_TRUE(late.Hello());
    late.Send(Branch(1, 0, 4) + Append(1, 8));
    EXPECT_EQ(late.ExpectError(), SinkError::kFenced);
  }
  Client again(port());
  ASSERT_TRUE(again.Hello());
  again.Send(Branch(1, 0, 5) + Append(1, 8));
  again.WaitAck(2);
  EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, 8));
  // Branches registered with epoch 0 (version 2 clients) are not fenced.
  again.Send(Branch(2, 0) + Append(2, 1));
  again.WaitAck(4);
}

TEST_F(SinkServerTest, StopClosesOpenConnections) {
  Client idle(port());
  ASSERT_TRUE(idle.Hello());
  Client fresh(port());  // connected, no HELLO yet
  server_->Stop();
  SinkFrame f;
  EXPECT_EQ(idle.Read(&f).code(), Code::kNotFound);
  EXPECT_EQ(fresh.Read(&f).code(), Code::kNotFound);
  EXPECT_FALSE(ConnectTcp({"127.0.0.1", port()}, 1000).ok());
}

// A Sink whose Append fails with "no space" while `full` is set.
class FullDiskSink : public SinkWrapper {
 public:
  FullDiskSink(std::unique_ptr<Sink> base, std::shared_ptr<std::atomic<bool>> full)
      : SinkWrapper(std::move(base)), full_(std::move(full)) {}
  Result<uint64_t> Append(const OpRecord& rec) override {
    if (*full_) return Status::NoSpace("write op log: No space left on device");
    return SinkWrapper::Append(rec);
  }

 private:
  std::shared_ptr<std::atomic<bool>> full_;
};

TEST_F(SinkServerTest, FullDiskRefusesTheRecordAndRecovers) {
  auto full = std::make_shared<std::atomic<bool>>(false);
  Start([full](const std::string& dir) -> Result<std::unique_ptr<Sink>> {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Sink> log, OpenSmallLog(dir));
    return std::unique_ptr<Sink>(std::make_unique<FullDiskSink>(std::move(log), full));
  });
  {
    Client c(port());
    ASSERT_TRUE(c.Hello());
    c.Send(Branch(1, 0) + Append(1, 1));
    c.WaitAck(2);
    *full = true;
    c.Send(Append(1, 2));
    EXPECT_EQ(c.ExpectError(), SinkError::kNoSpace);
    EXPECT_EQ(c.acked(), 2u);  // never the count of the refused record
  }
  EXPECT_EQ(ReplayAll({1}), Seqs(1, 1, 1));
  *full = false;
  // Space is back: the same namespace takes the record (it was never failed).
  Client c(port());
  ASSERT_TRUE(c.Hello());
  c.Send(Branch(1, 0) + Append(1, 2));
  c.WaitAck(2);
  EXPECT_EQ(c.Replay({{1, 0}}), Seqs(1, 1, 2));
}

TEST_F(SinkServerTest, FailedFdatasyncFailsTheNamespaceUntilReopened) {
  auto fail_syncs = std::make_shared<std::atomic<int>>(0);
  Start([fail_syncs](const std::string& dir) {
    LocalSinkOptions o;
    o.preallocate = false;
    o.fdatasync_for_test = [fail_syncs](int fd) {
      if (fail_syncs->fetch_sub(1) > 0) {
        errno = EIO;
        return -1;
      }
      fail_syncs->store(0);
      return ::fdatasync(fd);
    };
    return OpenLocalSink(dir, o);
  });
  {
    Client writer(port());
    Client other(port());  // an idle connection of the same store
    ASSERT_TRUE(writer.Hello());
    ASSERT_TRUE(other.Hello());
    writer.Send(Branch(1, 0) + Append(1, 1));
    writer.WaitAck(2);
    *fail_syncs = 1;
    writer.Send(Append(1, 2));
    EXPECT_EQ(writer.ExpectError(), SinkError::kIO);
    EXPECT_EQ(writer.acked(), 2u);  // the unsynced record is never acknowledged
    EXPECT_NE(writer.error_message().find("fdatasync"), std::string::npos)
        << writer.error_message();
    EXPECT_EQ(other.ExpectError(), SinkError::kIO);
  }
  // Both connections are gone: the next HELLO reopens the log from disk.
  Client c(port());
  ASSERT_TRUE(c.Hello());
  BranchSeqs end;
  const Ids replayed = c.Replay({{1, 0}}, &end);
  // Record 2 was written but its sync failed; recovery synced what the file
  // holds, so it may come back. Record 1 must.
  ASSERT_FALSE(replayed.empty());
  EXPECT_EQ(replayed, Seqs(1, 1, replayed.size()));
  c.Send(Branch(1, 0) + Append(1, 2) + Append(1, 3));
  c.WaitAck(3);
  EXPECT_EQ(c.Replay({{1, 0}}), Seqs(1, 1, 3));
}

// A Sink whose Syncs wait at a gate until it opens, except those asking for
// nothing new (token at or below what an earlier Sync covered).
class GatedSyncSink : public SinkWrapper {
 public:
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    int waiting = 0;      // Syncs that reached the gate
    uint64_t synced = 0;  // highest token synced
  };
  GatedSyncSink(std::unique_ptr<Sink> base, std::shared_ptr<Gate> gate)
      : SinkWrapper(std::move(base)), gate_(std::move(gate)) {}
  Status Sync(uint64_t token) override {
    {
      std::unique_lock<std::mutex> l(gate_->mu);
      if (token > gate_->synced) {
        gate_->waiting++;
        gate_->cv.notify_all();
        gate_->cv.wait(l, [&] { return gate_->open; });
      }
    }
    Status st = SinkWrapper::Sync(token);
    std::lock_guard<std::mutex> l(gate_->mu);
    if (st.ok()) gate_->synced = std::max(gate_->synced, token);
    return st;
  }

 private:
  std::shared_ptr<Gate> gate_;
};

// Polls `done` until it holds or 20 s pass.
template <class F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST_F(SinkServerTest, ReaderGoesOnWhileASyncIsInFlight) {
  auto gate = std::make_shared<GatedSyncSink::Gate>();
  Start([gate](const std::string& dir) -> Result<std::unique_ptr<Sink>> {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Sink> log, OpenSmallLog(dir));
    return std::unique_ptr<Sink>(std::make_unique<GatedSyncSink>(std::move(log), gate));
  });
  auto open_gate = [&] {
    {
      std::lock_guard<std::mutex> l(gate->mu);
      gate->open = true;
    }
    gate->cv.notify_all();
  };
  // Whatever fails below, the server must not stay blocked in Sync at Stop.
  struct Opener {
    std::function<void()> fn;
    ~Opener() { fn(); }
  } opener{open_gate};
  auto waiting = [&] {
    std::lock_guard<std::mutex> l(gate->mu);
    return gate->waiting;
  };
  Client a(port());
  ASSERT_TRUE(a.Hello());
  a.Send(Branch(1, 0) + Append(1, 1));
  ASSERT_TRUE(Eventually([&] { return waiting() >= 1; }));  // a's acker is in Sync
  a.Send(Append(1, 2) + Append(1, 3));
  EXPECT_TRUE(Eventually([&] { return server_->Stats().appended == 3; }));

  // A duplicate of a record that is not synced yet waits for a sync too.
  Client b(port());
  ASSERT_TRUE(b.Hello());
  b.Send(Branch(1, 0) + Append(1, 2));
  EXPECT_TRUE(Eventually([&] { return server_->Stats().duplicates == 1; }));
  EXPECT_TRUE(Eventually([&] { return waiting() >= 2; }));  // b's acker is in Sync
  // Only the BRANCHes, which carry no record, may be acknowledged so far.
  a.ReadAvailableAcks();
  b.ReadAvailableAcks();
  EXPECT_LE(a.acked(), 1u) << "an ACK went out before its sync";
  EXPECT_LE(b.acked(), 1u) << "an ACK went out before its sync";
  open_gate();
  a.WaitAck(4);
  b.WaitAck(2);
}

TEST_F(SinkServerTest, StoresAreSeparateNamespaces) {
  Client a(port());
  Client b(port());
  ASSERT_TRUE(a.Hello("store-a"));
  ASSERT_TRUE(b.Hello("store-b"));
  a.Send(Branch(1, 0) + Append(1, 1) + Append(1, 2));
  b.Send(Branch(1, 40) + Append(1, 41));  // the same branch id, another store
  a.WaitAck(3);
  b.WaitAck(2);
  BranchSeqs end;
  EXPECT_EQ(a.Replay({{1, 0}}, &end), Seqs(1, 1, 2));
  EXPECT_EQ(end, (BranchSeqs{{1, 2}}));
  EXPECT_EQ(b.Replay({{1, 0}}, &end), Seqs(1, 41, 41));
  EXPECT_EQ(end, (BranchSeqs{{1, 41}}));
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/sink/store-a"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/sink/store-b"));
  EXPECT_EQ(server_->Stats().namespaces, 2u);
}

TEST_F(SinkServerTest, LockedDirectoryOrBusyPortIsAClearError) {
  SinkServerOptions same_dir;
  same_dir.dir = dir_.path() + "/sink";
  same_dir.listen = "127.0.0.1:0";
  Result<std::unique_ptr<SinkServer>> s = SinkServer::Start(same_dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kBusy);
  EXPECT_NE(s.status().message().find("in use by another walsink server"), std::string::npos)
      << s.status().message();

  SinkServerOptions same_port;
  same_port.dir = dir_.path() + "/other";
  same_port.listen = "127.0.0.1:" + std::to_string(port());
  s = SinkServer::Start(same_port);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("127.0.0.1:" + std::to_string(port())), std::string::npos)
      << s.status().message();
  EXPECT_NE(s.status().message().find("in use"), std::string::npos) << s.status().message();

  same_port.listen = "nonsense";
  s = SinkServer::Start(same_port);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInvalid);

  // The failed attempts left the running server alone.
  Client c(port());
  EXPECT_TRUE(c.Hello());
}

}  // namespace
}  // namespace strata
