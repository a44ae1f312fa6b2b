#include "cluster/node_registry.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cluster/test_store.h"
#include "common/clock.h"
#include "common/process_test_util.h"
#include "common/status_test_util.h"

namespace strata {
namespace {

using std::chrono::milliseconds;
using testing::Eventually;

constexpr milliseconds kTtl{9000};

NodeRecord FullRecord() {
  NodeRecord r;
  r.id = "0123456789ab";
  r.incarnation = "00112233445566ff";
  r.host = "host-a";
  r.pid = 4242;
  r.mountpoint = "/mnt/strata";
  r.proxy_addr = "10.0.0.1:5432";
  r.proxy_tls = "AB:CD";
  r.api_addr = "10.0.0.1:8080";
  r.started_ns = 1'767'225'600'000'000'001;
  r.heartbeat_ns = 1'767'225'601'000'000'002;
  r.expires_unix_ms = 1'767'225'611'000;
  r.ttl_ms = 10000;
  r.load = {{"branches", 3}, {"cpu", 0.5}, {"names", {"a", "b"}}};
  return r;
}

void ExpectSameRecord(const NodeRecord& a, const NodeRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.incarnation, b.incarnation);
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.mountpoint, b.mountpoint);
  EXPECT_EQ(a.proxy_addr, b.proxy_addr);
  EXPECT_EQ(a.proxy_tls, b.proxy_tls);
  EXPECT_EQ(a.api_addr, b.api_addr);
  EXPECT_EQ(a.started_ns, b.started_ns);
  EXPECT_EQ(a.heartbeat_ns, b.heartbeat_ns);
  EXPECT_EQ(a.expires_unix_ms, b.expires_unix_ms);
  EXPECT_EQ(a.ttl_ms, b.ttl_ms);
  EXPECT_EQ(a.load, b.load);
}

TEST(NodeRecordCodec, RoundTrips) {
  const NodeRecord r = FullRecord();
  std::optional<NodeRecord> back = DecodeNodeRecord(EncodeNodeRecord(r));
  ASSERT_TRUE(back.has_value());
  ExpectSameRecord(*back, r);
  EXPECT_EQ(EncodeNodeRecord(r).find('\n'), std::string::npos);  // compact
}

TEST(NodeRecordCodec, RejectsMissingAndWrongTypedFields) {
  const nlohmann::json good = nlohmann::json::parse(EncodeNodeRecord(FullRecord()));
  for (const auto& [key, value] : good.items()) {
    nlohmann::json missing = good;
    missing.erase(key);
    // proxy_tls came later: a record without it is one of a proxy without TLS.
    const std::optional<NodeRecord> without = DecodeNodeRecord(missing.dump());
    if (key == "proxy_tls") {
      ASSERT_TRUE(without);
      EXPECT_EQ(without->proxy_tls, "");
    } else {
      EXPECT_FALSE(without) << "without " << key;
    }
    nlohmann::json wrong = good;
    wrong[key] = value.is_string() ? nlohmann::json(7) : nlohmann::json("7");
    EXPECT_FALSE(DecodeNodeRecord(wrong.dump())) << key << " of the wrong type";
  }
  for (const char* key : {"pid", "started_ns", "expires_unix_ms"}) {
    nlohmann::json fraction = good;
    fraction[key] = 1.5;
    EXPECT_FALSE(DecodeNodeRecord(fraction.dump())) << key;
  }
  nlohmann::json array_load = good;
  array_load["load"] = nlohmann::json::array();
  EXPECT_FALSE(DecodeNodeRecord(array_load.dump()));
  EXPECT_FALSE(DecodeNodeRecord(""));
  EXPECT_FALSE(DecodeNodeRecord("[]"));
  EXPECT_FALSE(DecodeNodeRecord(EncodeNodeRecord(FullRecord()).substr(0, 40)));
}

TEST(NodeRecordCodec, ValidNodeId) {
  for (const char* id : {"a", "0", "0123456789ab", "node-1", "a-"}) {
    EXPECT_TRUE(ValidNodeId(id)) << id;
  }
  EXPECT_TRUE(ValidNodeId(std::string(64, 'a')));
  for (const char* id : {"", "-a", "A", "a_b", "a.b", "a/b", "a b", "\xc3\xa9"}) {
    EXPECT_FALSE(ValidNodeId(id)) << id;
  }
  EXPECT_FALSE(ValidNodeId(std::string(65, 'a')));
}

TEST(NodeRecordCodec, KeyAndLiveness) {
  EXPECT_EQ(NodeKey("0123456789ab"), "nodes/0123456789ab.json");
  NodeRecord r;
  r.expires_unix_ms = 1000;
  EXPECT_TRUE(NodeAlive(r, 999));
  EXPECT_FALSE(NodeAlive(r, 1000));
}

class NodeRegistryTest : public ::testing::Test {
 protected:
  NodeRegistryOptions Options() {
    NodeRegistryOptions o;
    o.ttl = kTtl;
    o.clock = &clock_;
    return o;
  }
  static NodeRecord Self(const std::string& id) {
    NodeRecord r;
    r.id = id;
    r.mountpoint = "/mnt/" + id;
    r.proxy_addr = "127.0.0.1:5433";
    r.api_addr = "127.0.0.1:8080";
    return r;
  }
  std::optional<NodeRecord> Stored(const std::string& id) {
    Result<std::optional<NodeRecord>> r = NodeRegistry::Read(&store_, id, &clock_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }
  int64_t NowMs() { return clock_.NowNs() / 1'000'000; }

  testing::TestStore store_;
  ManualClock clock_;
};

TEST_F(NodeRegistryTest, RegisterWritesTheRecordThatReadAndListReturn) {
  const int64_t now_ns = clock_.NowNs();
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("0123456789ab"), Options()));
  const NodeRecord& self = reg->self();
  EXPECT_EQ(self.incarnation.size(), 16u);
  EXPECT_EQ(self.incarnation.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_FALSE(self.host.empty());
  EXPECT_EQ(self.pid, getpid());
  EXPECT_EQ(self.mountpoint, "/mnt/0123456789ab");
  EXPECT_EQ(self.started_ns, now_ns);
  EXPECT_EQ(self.heartbeat_ns, now_ns);
  EXPECT_EQ(self.ttl_ms, 9000);
  EXPECT_EQ(self.expires_unix_ms, NowMs() + 9000);
  EXPECT_TRUE(reg->Alive());

  std::optional<NodeRecord> stored = Stored("0123456789ab");
  ASSERT_TRUE(stored.has_value());
  ExpectSameRecord(*stored, self);
  ASSERT_OK_AND_ASSIGN(std::vector<NodeRecord> all, NodeRegistry::List(&store_, &clock_));
  ASSERT_EQ(all.size(), 1u);
  ExpectSameRecord(all[0], self);
}

TEST_F(NodeRegistryTest, RegisterKeepsTheIdentityItIsGiven) {
  NodeRecord self = Self("n1");
  self.incarnation = "feedfacefeedface";
  self.host = "host-x";
  self.pid = 42;
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, self, Options()));
  EXPECT_EQ(reg->self().incarnation, "feedfacefeedface");
  EXPECT_EQ(reg->self().host, "host-x");
  EXPECT_EQ(reg->self().pid, 42);
}

TEST_F(NodeRegistryTest, RegisterRejectsABadIdOrTtl) {
  EXPECT_EQ(CodeOf(NodeRegistry::Register(&store_, Self("Bad_Id"), Options())), Code::kInvalid);
  NodeRegistryOptions zero = Options();
  zero.ttl = milliseconds(0);
  EXPECT_EQ(CodeOf(NodeRegistry::Register(&store_, Self("n1"), zero)), Code::kInvalid);
  EXPECT_EQ(store_.put_attempts(), 0);
}

TEST_F(NodeRegistryTest, AnIdIsBusyWhileItsRecordIsAliveAndFreeOnceItExpires) {
  ASSERT_OK_AND_ASSIGN(auto first, NodeRegistry::Register(&store_, Self("n1"), Options()));
  auto second = NodeRegistry::Register(&store_, Self("n1"), Options());
  ASSERT_EQ(CodeOf(second), Code::kBusy);
  const std::string& msg = second.status().message();
  EXPECT_NE(msg.find("node id n1 is in use by pid " + std::to_string(getpid()) + " on " +
                     first->self().host),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("heartbeat until 2026-01-01T00:00:09"), std::string::npos) << msg;

  // One jump past the expiry: the first renewer wakes fenced and writes nothing.
  clock_.Advance(kTtl);
  EXPECT_FALSE(first->Alive());
  ASSERT_OK_AND_ASSIGN(auto again, NodeRegistry::Register(&store_, Self("n1"), Options()));
  EXPECT_NE(again->self().incarnation, first->self().incarnation);

  // The first one's deregistration leaves the new incarnation's record alone.
  first.reset();
  std::optional<NodeRecord> stored = Stored("n1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->incarnation, again->self().incarnation);
}

TEST_F(NodeRegistryTest, TheRecordOfADeadProcessOnThisHostIsTakenOver) {
  NodeRecord crashed = FullRecord();
  crashed.id = "n1";
  crashed.host = "host-a";
  crashed.expires_unix_ms = NowMs() + 60'000;
  crashed.pid = getpid();  // runs: busy
  ASSERT_OK(store_.Put(NodeKey("n1"), EncodeNodeRecord(crashed)));
  NodeRecord self = Self("n1");
  self.host = "host-a";
  EXPECT_EQ(CodeOf(NodeRegistry::Register(&store_, self, Options())), Code::kBusy);

  crashed.pid = testing::DeadPid();
  ASSERT_OK(store_.Put(NodeKey("n1"), EncodeNodeRecord(crashed)));
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, self, Options()));
  EXPECT_EQ(Stored("n1")->incarnation, reg->self().incarnation);

  // On another host the pid means nothing: busy again.
  NodeRecord other = crashed;
  other.id = "n2";
  ASSERT_OK(store_.Put(NodeKey("n2"), EncodeNodeRecord(other)));
  NodeRecord elsewhere = Self("n2");
  elsewhere.host = "host-b";
  EXPECT_EQ(CodeOf(NodeRegistry::Register(&store_, elsewhere, Options())), Code::kBusy);
}

TEST_F(NodeRegistryTest, AnUnreadableRecordOfTheIdIsOverwritten) {
  ASSERT_OK(store_.Put(NodeKey("n1"), "{\"id\": \"n1\", garbage"));
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
  EXPECT_EQ(Stored("n1")->incarnation, reg->self().incarnation);
}

TEST_F(NodeRegistryTest, RenewalRewritesHeartbeatExpiryAndLoad) {
  std::atomic<int> calls{0};
  NodeRegistryOptions options = Options();
  options.load = [&] { return nlohmann::json{{"n", ++calls}}; };
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), options));
  EXPECT_EQ(reg->self().load, (nlohmann::json{{"n", 1}}));
  int64_t last_heartbeat = reg->self().heartbeat_ns;
  for (int i = 2; i <= 4; i++) {
    clock_.Advance(kTtl / 3);
    std::optional<NodeRecord> r;
    ASSERT_TRUE(Eventually([&] {
      r = Stored("n1");
      return r && r->heartbeat_ns > last_heartbeat;
    }));
    EXPECT_EQ(r->heartbeat_ns, clock_.NowNs());
    EXPECT_EQ(r->expires_unix_ms, NowMs() + 9000);
    EXPECT_EQ(r->load, (nlohmann::json{{"n", i}}));
    EXPECT_EQ(r->incarnation, reg->self().incarnation);
    EXPECT_EQ(r->started_ns, reg->self().started_ns);
    EXPECT_TRUE(reg->Alive());
    last_heartbeat = r->heartbeat_ns;
  }
}

TEST_F(NodeRegistryTest, SetAddressesRewritesTheRecordAndRenewalsKeepThem) {
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
  ASSERT_OK(reg->SetAddresses("127.0.0.1:41000", "127.0.0.1:41001", "01:02"));
  std::optional<NodeRecord> r = Stored("n1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->proxy_tls, "01:02");
  EXPECT_EQ(r->proxy_addr, "127.0.0.1:41000");
  EXPECT_EQ(r->api_addr, "127.0.0.1:41001");
  const int64_t written = r->heartbeat_ns;
  clock_.Advance(kTtl / 3);
  ASSERT_TRUE(Eventually([&] {
    r = Stored("n1");
    return r && r->heartbeat_ns > written;
  }));
  EXPECT_EQ(r->proxy_addr, "127.0.0.1:41000");
  EXPECT_EQ(r->api_addr, "127.0.0.1:41001");
  EXPECT_EQ(r->proxy_tls, "01:02");
}

TEST_F(NodeRegistryTest, ALoadThatIsNotAnObjectIsReportedAsEmpty) {
  NodeRegistryOptions options = Options();
  options.load = [] { return nlohmann::json::array({1, 2}); };
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), options));
  EXPECT_EQ(Stored("n1")->load, nlohmann::json::object());
}

TEST_F(NodeRegistryTest, AliveTurnsFalseWhenRenewalsFailAndStaysFalse) {
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
  const int64_t registered_heartbeat = reg->self().heartbeat_ns;
  store_.FailPuts(true);
  int attempts = store_.put_attempts();
  clock_.Advance(kTtl / 3);
  ASSERT_TRUE(Eventually([&] { return store_.put_attempts() > attempts; }));
  EXPECT_TRUE(reg->Alive());  // one missed renewal is survived

  // Just short of 2/3 ttl since the last successful renewal started.
  attempts = store_.put_attempts();
  clock_.Advance(kTtl / 3 - milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return store_.put_attempts() > attempts; }));
  EXPECT_TRUE(reg->Alive());
  clock_.Advance(milliseconds(1));
  EXPECT_FALSE(reg->Alive());

  // Working writes again do not bring it back, and the renewer has stopped.
  store_.FailPuts(false);
  attempts = store_.put_attempts();
  for (int i = 0; i < 3; i++) {
    clock_.Advance(kTtl / 3);
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_FALSE(reg->Alive());
  EXPECT_EQ(store_.put_attempts(), attempts);
  EXPECT_EQ(Stored("n1")->heartbeat_ns, registered_heartbeat);
}

TEST_F(NodeRegistryTest, AStalledRenewerFencesItself) {
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
  const int attempts = store_.put_attempts();
  // The renewer sees 2/3 ttl pass at once (as after a long pause): it must
  // not renew a record that others may already judge dead soon.
  clock_.Advance(kTtl * 2 / 3);
  EXPECT_FALSE(reg->Alive());
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(store_.put_attempts(), attempts);
}

TEST_F(NodeRegistryTest, DeregisterDeletesTheRecordOnce) {
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
  reg->Deregister();
  EXPECT_FALSE(Stored("n1").has_value());
  EXPECT_FALSE(reg->Alive());
  // A later record of the id (another process) survives a second call and
  // the destructor.
  NodeRecord other = FullRecord();
  other.id = "n1";
  ASSERT_OK(store_.Put(NodeKey("n1"), EncodeNodeRecord(other)));
  reg->Deregister();
  reg.reset();
  EXPECT_TRUE(store_.Get(NodeKey("n1")).ok());
}

TEST_F(NodeRegistryTest, TheDestructorDeletesTheRecord) {
  {
    ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
    EXPECT_TRUE(Stored("n1").has_value());
  }
  EXPECT_FALSE(Stored("n1").has_value());
}

TEST_F(NodeRegistryTest, ListSkipsWhatIsNotARecordAndSortsById) {
  ASSERT_OK_AND_ASSIGN(auto b, NodeRegistry::Register(&store_, Self("b2"), Options()));
  ASSERT_OK_AND_ASSIGN(auto a, NodeRegistry::Register(&store_, Self("a1"), Options()));
  ASSERT_OK(store_.Put("nodes/zz.json", "not json"));
  ASSERT_OK(store_.Put("nodes/c3.json", EncodeNodeRecord(FullRecord())));  // names another id
  ASSERT_OK(store_.Put("nodes/notes.txt", "hello"));
  ASSERT_OK_AND_ASSIGN(std::vector<NodeRecord> all, NodeRegistry::List(&store_, &clock_));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "a1");
  EXPECT_EQ(all[1].id, "b2");
}

TEST_F(NodeRegistryTest, ListSkipsARecordDeletedAfterTheListing) {
  ASSERT_OK_AND_ASSIGN(auto a, NodeRegistry::Register(&store_, Self("a1"), Options()));
  ASSERT_OK_AND_ASSIGN(auto b, NodeRegistry::Register(&store_, Self("b2"), Options()));
  store_.VanishGets(1);
  ASSERT_OK_AND_ASSIGN(std::vector<NodeRecord> all, NodeRegistry::List(&store_, &clock_));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, "b2");
}

TEST_F(NodeRegistryTest, ReadWaitsOutATornRecordButNotAGarbledOne) {
  ASSERT_OK_AND_ASSIGN(auto reg, NodeRegistry::Register(&store_, Self("n1"), Options()));
  store_.TearGets(3);
  std::optional<NodeRecord> r = Stored("n1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->incarnation, reg->self().incarnation);

  store_.TearGets(4);
  auto torn = NodeRegistry::Read(&store_, "n1", &clock_);
  EXPECT_EQ(CodeOf(torn), Code::kCorruption);
  EXPECT_NE(torn.status().message().find("nodes/n1.json"), std::string::npos);
}

TEST_F(NodeRegistryTest, ReadOfAnAbsentOrInvalidId) {
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> none, NodeRegistry::Read(&store_, "n9", &clock_));
  EXPECT_FALSE(none.has_value());
  EXPECT_EQ(CodeOf(NodeRegistry::Read(&store_, "../x", &clock_)), Code::kInvalid);
  ASSERT_OK(store_.Put(NodeKey("n2"), EncodeNodeRecord(FullRecord())));
  EXPECT_EQ(CodeOf(NodeRegistry::Read(&store_, "n2", &clock_)), Code::kCorruption);
}

}  // namespace
}  // namespace strata
