// ShippingSink against a real SinkServer on loopback: ordering, resend after
// a dropped connection without duplicates, tiers, trims and drops, and
// recovery from the server after the local log is lost.
#include "walsink/shipping_sink.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/fd_util.h"
#include "common/net.h"
#include "common/temp_dir.h"
#include "common/tls.h"
#include "oplog/local_sink.h"
#include "walsink/sink_protocol.h"
#include "walsink/sink_server.h"

namespace strata {
namespace {

using strata::testing::TempDir;

constexpr char kStore[] = "0123456789abcdef0123456789abcdef";

OpRecord Rec(uint32_t branch, uint64_t seq, size_t value_bytes = 100) {
  OpRecord r;
  r.branch = branch;
  r.seq = seq;
  r.time_ns = 1000 + seq;
  r.puts.push_back({"k" + std::to_string(seq), false, std::string(value_bytes, 'a' + seq % 26)});
  return r;
}

constexpr char kToken[] = "a-token-for-the-tests-0123456789";

// A self-signed certificate for 127.0.0.1, made once for all tests.
struct TestCertificate {
  TestCertificate() {
    cert = dir.path() + "/walsink.crt";
    key = dir.path() + "/walsink.key";
    EXPECT_TRUE(EnsureSelfSignedCertificate(cert, key, {"127.0.0.1"}).ok());
  }
  TempDir dir;
  std::string cert, key;
};

const TestCertificate& Certificate() {
  static const TestCertificate* c = new TestCertificate;
  return *c;
}

std::shared_ptr<const TlsContext> ClientTls(const std::string& ca) {
  auto ctx = TlsContext::ForClient(ca);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return ctx.ok() ? *ctx : nullptr;
}

// Every test runs over plaintext without a token, and over TLS with one.
class ShippingSinkTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { StartServer(0); }
  bool tls() const { return GetParam(); }

  void StartServer(uint16_t port) {
    SinkServerOptions o;
    o.dir = server_dir_.path();
    o.listen = "127.0.0.1:" + std::to_string(port);
    if (tls()) {
      auto ctx = TlsContext::ForServer(Certificate().cert, Certificate().key);
      ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
      o.tls = *ctx;
      o.token = kToken;
    }
    auto s = SinkServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    port_ = server_->port();
  }

  ShippingSinkOptions Options(int timeout_ms, Clock* clock) {
    ShippingSinkOptions o;
    o.server = {"127.0.0.1", port_};
    o.store_id = kStore;
    o.barrier_timeout_ms = timeout_ms;
    o.connect_timeout_ms = 500;
    o.clock = clock;
    if (tls()) {
      o.tls = ClientTls(Certificate().cert);
      o.token = kToken;
    }
    return o;
  }

  std::unique_ptr<ShippingSink> Open(const std::string& local_dir, int timeout_ms = 10000,
                                     Clock* clock = Clock::Real(), bool shared = false) {
    auto local = OpenLocalSink(local_dir);
    EXPECT_TRUE(local.ok()) << local.status().ToString();
    ShippingSinkOptions o = Options(timeout_ms, clock);
    o.shared = shared;
    if (shared) o.void_file = local_dir + "/void";
    auto s = ShippingSink::Open(std::move(*local), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }

  // What the server holds for `branches` past `after`, read by a client with
  // an empty local log (a new machine).
  std::map<uint32_t, std::vector<uint64_t>> ServerRecords(const std::vector<uint32_t>& branches,
                                                          uint64_t after = 0) {
    TempDir fresh;
    auto sink = Open(fresh.path() + "/log");
    for (uint32_t b : branches) EXPECT_TRUE(sink->Trim(b, after).ok());
    std::map<uint32_t, std::vector<uint64_t>> out;
    EXPECT_TRUE(sink->Replay([&](const OpRecord& r) {
                      out[r.branch].push_back(r.seq);
                      return Status::OK();
                    })
                    .ok());
    return out;
  }

  // The branches the server's namespace knows (REPLAY_END), over a raw
  // connection.
  std::map<uint32_t, uint64_t> KnownBranches() {
    std::map<uint32_t, uint64_t> out;
    auto fd = ConnectTcp({"127.0.0.1", port_}, 1000);
    EXPECT_TRUE(fd.ok());
    if (!fd.ok()) return out;
    UniqueFd closer(*fd);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::unique_ptr<ByteStream> stream = std::make_unique<PlainStream>(*fd);
    if (tls()) {
      auto t = TlsStream::Connect(ClientTls(Certificate().cert), *fd, "127.0.0.1", deadline);
      EXPECT_TRUE(t.ok()) << t.status().ToString();
      if (!t.ok()) return out;
      stream = std::move(*t);
    }
    std::string req;
    EncodeHello(kStore, tls() ? kToken : "", &req);
    EncodeReplay({}, &req);
    EXPECT_TRUE(stream->WriteAll(req, deadline).ok());
    for (;;) {
      SinkFrame f;
      Status st = ReadSinkFrame(stream.get(), "server", deadline, &f);
      EXPECT_TRUE(st.ok()) << st.ToString();
      if (!st.ok()) return out;
      if (f.type != SinkMsg::kReplayEnd) continue;
      BranchSeqs list;
      EXPECT_TRUE(ParseBranchSeqs(f.body, &list).ok());
      for (const auto& [b, last] : list) out[b] = last;
      return out;
    }
  }

  static std::vector<uint64_t> Seqs(uint64_t from, uint64_t to) {
    std::vector<uint64_t> v;
    for (uint64_t s = from; s <= to; s++) v.push_back(s);
    return v;
  }

  // A sink of one of several daemons on the store (options.shared).
  std::unique_ptr<ShippingSink> OpenShared(const std::string& local_dir, int timeout_ms = 10000) {
    return Open(local_dir, timeout_ms, Clock::Real(), /*shared=*/true);
  }

  TempDir server_dir_;
  TempDir client_dir_;
  std::unique_ptr<SinkServer> server_;
  uint16_t port_ = 0;
};

TEST_P(ShippingSinkTest, RemoteBarrierMeansTheServerHasEverything) {
  auto sink = Open(client_dir_.path() + "/log");
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  uint64_t token = 0;
  for (uint64_t s = 1; s <= 50; s++) {
    for (uint32_t b : {1u, 2u}) {
      auto t = sink->Append(Rec(b, s));
      ASSERT_TRUE(t.ok());
      token = *t;
    }
  }
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_EQ(sink->AckedSeq(1), 50u);
  EXPECT_EQ(sink->AckedSeq(2), 50u);
  const ShippingStats st = sink->Shipping();
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(st.acked_offset, sink->Tail());

  auto got = ServerRecords({1, 2});
  EXPECT_EQ(got[1], Seqs(1, 50));
  EXPECT_EQ(got[2], Seqs(1, 50));
  // `after` filters on the server.
  EXPECT_EQ(ServerRecords({1}, 45)[1], Seqs(46, 50));
}

// Runs `barrier` on a thread of its own while the clock moves on in steps of
// 100 ms, until it returns (bounded: 1000 steps of the test's clock).
Status WhileTimePasses(ManualClock* clock, const std::function<Status()>& barrier) {
  auto done = std::async(std::launch::async, barrier);
  for (int i = 0; i < 1000; i++) {
    if (done.wait_for(std::chrono::milliseconds(1)) == std::future_status::ready) break;
    clock->Advance(std::chrono::milliseconds(100));
  }
  return done.get();
}

TEST_P(ShippingSinkTest, TiersWithTheServerDown) {
  ManualClock clock;
  auto sink = Open(client_dir_.path() + "/log", 300, &clock);
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  server_->Stop();
  auto t = sink->Append(Rec(1, 1));
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(sink->Barrier(*t, Durability::kEphemeral).ok());
  EXPECT_TRUE(sink->Barrier(*t, Durability::kLocal).ok());
  EXPECT_EQ(sink->local()->AckedSeq(1), 1u);  // the local log synced it
  Status st = WhileTimePasses(&clock, [&] { return sink->Barrier(*t, Durability::kRemote); });
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("has not acknowledged"), std::string::npos) << st.message();
  EXPECT_EQ(sink->AckedSeq(1), 0u);
  // Sync is a remote barrier.
  EXPECT_EQ(WhileTimePasses(&clock, [&] { return sink->Sync(*t); }).code(), Code::kUnavailable);
  EXPECT_EQ(sink->Shipping().barrier_timeouts, 2u);
}

TEST_P(ShippingSinkTest, ResendsAfterTheServerRestartsWithoutDuplicates) {
  auto sink = Open(client_dir_.path() + "/log", 20000);
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  uint64_t token = 0;
  for (uint64_t s = 1; s <= 20; s++) token = *sink->Append(Rec(1, s));
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  // Restart the server on the same port while records keep coming.
  server_->Stop();
  for (uint64_t s = 21; s <= 40; s++) token = *sink->Append(Rec(1, s, 5000));
  std::thread restart([&] {
    // Once the sink has seen the connection drop (bounded wait for its
    // threads), bring the server back.
    for (int i = 0; i < 10000 && sink->Shipping().connected; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    StartServer(port_);
  });
  for (uint64_t s = 41; s <= 60; s++) token = *sink->Append(Rec(1, s));
  restart.join();
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_GE(sink->Shipping().reconnects, 1u);
  EXPECT_EQ(sink->AckedSeq(1), 60u);
  EXPECT_EQ(ServerRecords({1})[1], Seqs(1, 60));  // each once, in order
}

TEST_P(ShippingSinkTest, ClientRestartResendsTheLocalLogOnce) {
  {
    auto sink = Open(client_dir_.path() + "/log");
    ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
    uint64_t token = 0;
    for (uint64_t s = 1; s <= 10; s++) token = *sink->Append(Rec(3, s));
    ASSERT_TRUE(sink->Barrier(token, Durability::kLocal).ok());
    server_->Stop();  // records 1..10 may or may not have reached the server
  }
  StartServer(port_);
  auto sink = Open(client_dir_.path() + "/log");
  ASSERT_TRUE(sink->Trim(3, 0).ok());
  std::vector<uint64_t> replayed;
  ASSERT_TRUE(sink->Replay([&](const OpRecord& r) {
                    replayed.push_back(r.seq);
                    return Status::OK();
                  })
                  .ok());
  // Server records first, then the local log: the caller skips repeats.
  ASSERT_GE(replayed.size(), 10u);
  uint64_t token = *sink->Append(Rec(3, 11));
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_EQ(ServerRecords({3})[3], Seqs(1, 11));
}

TEST_P(ShippingSinkTest, ANewMachineRecoversFromTheServer) {
  {
    auto sink = Open(client_dir_.path() + "/log");
    ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
    uint64_t token = 0;
    for (uint64_t s = 1; s <= 30; s++) token = *sink->Append(Rec(7, s));
    ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  }
  TempDir new_machine;
  auto sink = Open(new_machine.path() + "/log");
  ASSERT_TRUE(sink->Trim(7, 10).ok());  // the store holds 1..10
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(sink->Replay([&](const OpRecord& r) {
                    EXPECT_EQ(r.puts[0].value, Rec(7, r.seq).puts[0].value);
                    seqs.push_back(r.seq);
                    return Status::OK();
                  })
                  .ok());
  EXPECT_EQ(seqs, Seqs(11, 30));
  // The new machine goes on where the old one stopped.
  uint64_t token = *sink->Append(Rec(7, 31));
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_EQ(ServerRecords({7}, 28)[7], Seqs(29, 31));
}

TEST_P(ShippingSinkTest, TrimmedRecordsNeedNotBeShipped) {
  auto sink = Open(client_dir_.path() + "/log", 300);
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  server_->Stop();
  // While the server is away the store takes records 1..5 (a flush).
  uint64_t token = 0;
  for (uint64_t s = 1; s <= 5; s++) token = *sink->Append(Rec(4, s));
  ASSERT_TRUE(sink->Trim(4, 5).ok());
  for (uint64_t s = 6; s <= 8; s++) token = *sink->Append(Rec(4, s));
  StartServer(port_);
  Status st;
  for (int i = 0; i < 100 && !(st = sink->Barrier(token, Durability::kRemote)).ok(); i++) {
  }
  ASSERT_TRUE(st.ok()) << st.ToString();
  // No seq gap refused: BRANCH(4, 5) went before record 6.
  auto got = ServerRecords({4}, 5);
  EXPECT_EQ(got[4], Seqs(6, 8));
}

TEST_P(ShippingSinkTest, DroppedBranchIsForgottenAndNotShipped) {
  auto sink = Open(client_dir_.path() + "/log", 20000);
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  uint64_t token = 0;
  for (uint64_t s = 1; s <= 5; s++) {
    token = *sink->Append(Rec(5, s));
    token = *sink->Append(Rec(6, s));
  }
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_EQ(KnownBranches(), (std::map<uint32_t, uint64_t>{{5, 5}, {6, 5}}));
  ASSERT_TRUE(sink->Trim(5, UINT64_MAX).ok());
  token = *sink->Append(Rec(6, 6));
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_EQ(sink->AckedSeq(5), 0u);
  EXPECT_EQ(KnownBranches(), (std::map<uint32_t, uint64_t>{{6, 6}}));

  // Records of a branch dropped before they were shipped never go out.
  server_->Stop();
  for (uint64_t s = 1; s <= 3; s++) token = *sink->Append(Rec(8, s));
  token = *sink->Append(Rec(6, 7));
  ASSERT_TRUE(sink->Trim(8, UINT64_MAX).ok());
  StartServer(port_);
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  // (Branch 5 may be listed again: the restarted server rebuilt its branches
  // from its log, and DROP is not persisted. Ids are never reused, and the
  // next mount's recovery drops it again.)
  EXPECT_EQ(KnownBranches().count(8), 0u);
  EXPECT_EQ(KnownBranches()[6], 7u);
  EXPECT_EQ(ServerRecords({6})[6], Seqs(1, 7));
}

TEST_P(ShippingSinkTest, UnknownBranchesOnTheServerAreDroppedAtRecovery) {
  {
    auto sink = Open(client_dir_.path() + "/log");
    ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
    uint64_t token = *sink->Append(Rec(9, 1));
    ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
    ASSERT_EQ(KnownBranches().count(9), 1u);
    ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  }
  TempDir other;
  {
    // A mount that does not know branch 9 (its creation failed) forgets it.
    auto sink = Open(other.path() + "/log");
    ASSERT_TRUE(sink->Trim(1, 0).ok());
    ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  }
  EXPECT_EQ(KnownBranches().count(9), 0u);
}

// Several daemons on one walsink (docs/cluster.md, "Failover"): the daemon
// that takes a branch over fences the one that had it and gets every record
// that one made durable; the fenced one fails its barriers from then on.
TEST_P(ShippingSinkTest, TakeOverFencesTheEarlierHolderAndReplaysItsTail) {
  TempDir a_dir, b_dir;
  auto a = OpenShared(a_dir.path() + "/log", 5000);
  ASSERT_TRUE(a->Trim(2, 0).ok());
  ASSERT_TRUE(a->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  ASSERT_TRUE(a->TakeOver(2, 1, 0, [](const OpRecord&) { return Status::OK(); }).ok());
  uint64_t token = 0;
  for (uint64_t s = 1; s <= 10; s++) token = *a->Append(Rec(2, s));
  ASSERT_TRUE(a->Barrier(token, Durability::kRemote).ok());

  // B takes the branch over with 1..4 in the store.
  auto b = OpenShared(b_dir.path() + "/log", 5000);
  ASSERT_TRUE(b->Trim(2, 4).ok());
  ASSERT_TRUE(b->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  std::vector<uint64_t> tail;
  ASSERT_TRUE(b->TakeOver(2, 2, 4, [&](const OpRecord& r) {
                 tail.push_back(r.seq);
                 return Status::OK();
               }).ok());
  EXPECT_EQ(tail, Seqs(5, 10));

  // A's next record is refused, and A knows it for good.
  token = *a->Append(Rec(2, 11));
  Status st = a->Barrier(token, Durability::kRemote);
  EXPECT_EQ(st.code(), Code::kReadOnly) << st.ToString();
  EXPECT_NE(st.message().find("restart"), std::string::npos) << st.message();
  EXPECT_EQ(a->Barrier(token, Durability::kRemote).code(), Code::kReadOnly);
  EXPECT_EQ(a->TakeOver(2, 3, 0, [](const OpRecord&) { return Status::OK(); }).code(),
            Code::kReadOnly);

  // B goes on from 11; the server has B's 11, not A's.
  for (uint64_t s = 11; s <= 12; s++) token = *b->Append(Rec(2, s, 7));
  ASSERT_TRUE(b->Barrier(token, Durability::kRemote).ok());
  TempDir fresh;
  auto reader = OpenShared(fresh.path() + "/log");
  ASSERT_TRUE(reader->Trim(2, 4).ok());  // 1..4 are covered: the server may have let them go
  std::map<uint64_t, size_t> sizes;
  ASSERT_TRUE(reader
                  ->Replay([&](const OpRecord& r) {
                    sizes[r.seq] = r.puts[0].value.size();
                    return Status::OK();
                  })
                  .ok());
  ASSERT_EQ(sizes.size(), 8u);
  EXPECT_EQ(sizes.begin()->first, 5u);
  EXPECT_EQ(sizes[10], 100u);
  EXPECT_EQ(sizes[11], 7u);
}

// Records of a branch another daemon took over are voided on this machine,
// durably: never shipped, never replayed, also after a restart.
TEST_P(ShippingSinkTest, DisownedRecordsAreNeitherShippedNorReplayed) {
  const std::string dir = client_dir_.path() + "/log";
  {
    auto sink = OpenShared(dir, 20000);
    ASSERT_TRUE(sink->Trim(3, 0).ok());
    ASSERT_TRUE(sink->Trim(4, 0).ok());
    ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
    server_->Stop();
    for (uint64_t s = 1; s <= 5; s++) ASSERT_TRUE(sink->Append(Rec(3, s)).ok());
    ASSERT_TRUE(sink->Disown(3).ok());
    uint64_t token = *sink->Append(Rec(4, 1));
    StartServer(port_);
    sink->Start();
    ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
    EXPECT_EQ(KnownBranches().count(3), 0u);
    EXPECT_EQ(KnownBranches()[4], 1u);
  }
  auto sink = OpenShared(dir, 20000);
  ASSERT_TRUE(sink->Trim(3, 0).ok());
  ASSERT_TRUE(sink->Trim(4, 0).ok());
  std::map<uint32_t, std::vector<uint64_t>> got;
  ASSERT_TRUE(sink->Replay([&](const OpRecord& r) {
                    got[r.branch].push_back(r.seq);
                    return Status::OK();
                  })
                  .ok());
  EXPECT_EQ(got.count(3), 0u);
  EXPECT_EQ(got[4], (std::vector<uint64_t>{1, 1}));  // the server's, then the local log's
  // New records of the branch are this process's again.
  uint64_t token = *sink->Append(Rec(3, 1));
  ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  EXPECT_EQ(KnownBranches()[3], 1u);
  // A sink that is not shared keeps no void marks.
  auto plain = Open(client_dir_.path() + "/plain");
  EXPECT_EQ(plain->Disown(3).code(), Code::kNotSupported);
}

// With several daemons a branch the server knows and this one does not may
// be another daemon's newest: it is neither dropped at Replay nor by a Trim
// of an unknown branch, and registering it later ships its records again.
TEST_P(ShippingSinkTest, ASharedSinkDropsNoBranchItDoesNotKnow) {
  {
    auto sink = Open(client_dir_.path() + "/log");
    ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
    uint64_t token = *sink->Append(Rec(9, 1));
    ASSERT_TRUE(sink->Barrier(token, Durability::kRemote).ok());
  }
  TempDir other;
  auto sink = OpenShared(other.path() + "/log");
  ASSERT_TRUE(sink->Trim(1, 0).ok());
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  EXPECT_EQ(KnownBranches()[9], 1u);
  ASSERT_TRUE(sink->Trim(9, UINT64_MAX).ok());  // Recover's forget of an unknown branch
  ASSERT_TRUE(sink->Trim(1, 0).ok());
  ASSERT_TRUE(sink->Barrier(*sink->Append(Rec(1, 1)), Durability::kRemote).ok());
  EXPECT_EQ(KnownBranches()[9], 1u);
  // The catalog catches up: registered, taken over, written.
  ASSERT_TRUE(sink->Trim(9, 0).ok());
  ASSERT_TRUE(sink->TakeOver(9, 1, 0, [](const OpRecord&) { return Status::OK(); }).ok());
  ASSERT_TRUE(sink->Barrier(*sink->Append(Rec(9, 2)), Durability::kRemote).ok());
  EXPECT_EQ(KnownBranches()[9], 2u);
  EXPECT_EQ(sink->AckedSeq(9), 2u);
}

TEST_P(ShippingSinkTest, ReplayFailsClearlyWithoutAServer) {
  server_->Stop();
  ManualClock clock;  // the retries' pauses take no real time
  auto sink = Open(client_dir_.path() + "/log", 500, &clock);
  ASSERT_TRUE(sink->Trim(1, 0).ok());
  Status st = sink->Replay([](const OpRecord&) { return Status::OK(); });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot replay the op log from walsink 127.0.0.1:"),
            std::string::npos)
      << st.message();
}

TEST_P(ShippingSinkTest, ConcurrentWritersAllGetTheirBarriers) {
  auto sink = Open(client_dir_.path() + "/log");
  ASSERT_TRUE(sink->Replay([](const OpRecord&) { return Status::OK(); }).ok());
  std::vector<std::thread> threads;
  for (uint32_t b = 1; b <= 8; b++) {
    threads.emplace_back([&, b] {
      for (uint64_t s = 1; s <= 100; s++) {
        auto t = sink->Append(Rec(b, s, 300));
        ASSERT_TRUE(t.ok());
        ASSERT_TRUE(sink->Barrier(*t, Durability::kRemote).ok());
        ASSERT_GE(sink->AckedSeq(b), s);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto got = ServerRecords({1, 2, 3, 4, 5, 6, 7, 8});
  for (uint32_t b = 1; b <= 8; b++) EXPECT_EQ(got[b], Seqs(1, 100)) << "branch " << b;
  auto log = server_->LogStats(kStore);
  ASSERT_TRUE(log.ok());
  // Group commit: fewer fdatasyncs than barriers (printed, not asserted).
  printf("800 remote barriers, %llu server fdatasyncs\n",
         static_cast<unsigned long long>(log->syncs));
}

// Clients the server must not let in, and a server the client must not
// trust: each fails the replay (and so the mount) at once, with one error
// saying why, and the server opens nothing for them.
class ShippingSinkAccessTest : public ShippingSinkTest {
 protected:
  Status ReplayWith(const std::function<void(ShippingSinkOptions*)>& change) {
    ShippingSinkOptions o = Options(60000, Clock::Real());
    change(&o);
    auto local = OpenLocalSink(client_dir_.path() + "/log");
    EXPECT_TRUE(local.ok());
    auto sink = ShippingSink::Open(std::move(*local), o);
    EXPECT_TRUE(sink.ok());
    EXPECT_TRUE((*sink)->Trim(1, 0).ok());
    EXPECT_TRUE((*sink)->Append(Rec(1, 1)).ok());
    Status st = (*sink)->Replay([](const OpRecord&) { return Status::OK(); });
    printf("%s\n", st.ToString().c_str());
    return st;
  }

  void ExpectNothingReachedTheServer() {
    const SinkServerStats st = server_->Stats();
    EXPECT_GE(st.refused, 1u);
    EXPECT_EQ(st.namespaces, 0u);
    EXPECT_EQ(st.appended, 0u);
  }
};

TEST_P(ShippingSinkAccessTest, AWrongOrMissingTokenIsRefused) {
  for (const char* token : {"not-the-token", ""}) {
    const Status st = ReplayWith([&](ShippingSinkOptions* o) { o->token = token; });
    EXPECT_EQ(st.code(), Code::kPermission) << st.ToString();
    EXPECT_NE(st.message().find("cannot replay the op log from walsink 127.0.0.1:"),
              std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("unauthorized"), std::string::npos) << st.message();
  }
  ExpectNothingReachedTheServer();
}

TEST_P(ShippingSinkAccessTest, APlaintextClientGetsNoFurtherThanTheHandshake) {
  const Status st = ReplayWith([](ShippingSinkOptions* o) { o->tls = nullptr; });
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("uses TLS"), std::string::npos) << st.ToString();
  ExpectNothingReachedTheServer();
}

TEST_P(ShippingSinkAccessTest, AServerCertificateTheClientDoesNotTrustIsRefused) {
  TempDir other;
  ASSERT_TRUE(
      EnsureSelfSignedCertificate(other.path() + "/c", other.path() + "/k", {"127.0.0.1"}).ok());
  const Status st =
      ReplayWith([&](ShippingSinkOptions* o) { o->tls = ClientTls(other.path() + "/c"); });
  EXPECT_EQ(st.code(), Code::kInvalid) << st.ToString();
  EXPECT_NE(st.message().find("certificate verify failed"), std::string::npos) << st.message();
  ExpectNothingReachedTheServer();
}

INSTANTIATE_TEST_SUITE_P(Transport, ShippingSinkAccessTest, ::testing::Values(true),
                         [](const ::testing::TestParamInfo<bool>&) { return "TlsWithToken"; });

INSTANTIATE_TEST_SUITE_P(Transport, ShippingSinkTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "TlsWithToken" : "Plain";
                         });

}  // namespace
}  // namespace strata
