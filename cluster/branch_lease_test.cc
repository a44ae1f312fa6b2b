#include "cluster/branch_lease.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <latch>
#include <limits>
#include <set>
#include <thread>
#include <vector>

#include "cluster/test_store.h"
#include "common/clock.h"
#include "common/status_test_util.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

constexpr uint32_t kBranch = 5;

NodeLiveness AllDead() {
  return [](const std::string&, const std::string&) -> Result<bool> { return false; };
}
// For claims that must decide without asking.
NodeLiveness MustNotAsk() {
  return [](const std::string& node, const std::string&) -> Result<bool> {
    ADD_FAILURE() << "asked whether " << node << " is alive";
    return true;
  };
}

TEST(LeaseKeys, AreZeroPadded) {
  EXPECT_EQ(LeasePrefix(7), "branches/7/lease/");
  EXPECT_EQ(LeaseKey(7, 3), "branches/7/lease/00000000000000000003.json");
  EXPECT_EQ(LeaseKey(std::numeric_limits<uint32_t>::max(), std::numeric_limits<uint64_t>::max()),
            "branches/4294967295/lease/18446744073709551615.json");
}

TEST(LeaseGrantCodec, RoundTrips) {
  const LeaseGrant g{std::numeric_limits<uint32_t>::max(), std::numeric_limits<uint64_t>::max(),
                     "node-a", "00112233445566ff", 1'767'225'600'000'000'001};
  std::optional<LeaseGrant> back = DecodeLeaseGrant(EncodeLeaseGrant(g));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->branch, g.branch);
  EXPECT_EQ(back->epoch, g.epoch);
  EXPECT_EQ(back->node, g.node);
  EXPECT_EQ(back->incarnation, g.incarnation);
  EXPECT_EQ(back->taken_ns, g.taken_ns);
  std::optional<LeaseGrant> released = DecodeLeaseGrant(EncodeLeaseGrant({3, 9, "", "", 0}));
  ASSERT_TRUE(released.has_value());
  EXPECT_TRUE(released->node.empty());
}

TEST(LeaseGrantCodec, RejectsMissingAndWrongTypedFields) {
  const nlohmann::json good = nlohmann::json::parse(EncodeLeaseGrant({3, 9, "n", "i", 5}));
  for (const auto& [key, value] : good.items()) {
    nlohmann::json missing = good;
    missing.erase(key);
    EXPECT_FALSE(DecodeLeaseGrant(missing.dump())) << "without " << key;
    nlohmann::json wrong = good;
    wrong[key] = value.is_string() ? nlohmann::json(7) : nlohmann::json("7");
    EXPECT_FALSE(DecodeLeaseGrant(wrong.dump())) << key << " of the wrong type";
  }
  for (const auto& [key, value] : {std::pair<const char*, nlohmann::json>{"branch", -1},
                                   {"branch", 4294967296ull},
                                   {"epoch", -1},
                                   {"epoch", 1.5}}) {
    nlohmann::json bad = good;
    bad[key] = value;
    EXPECT_FALSE(DecodeLeaseGrant(bad.dump())) << key << " = " << value;
  }
  EXPECT_FALSE(DecodeLeaseGrant("garbage"));
  EXPECT_FALSE(DecodeLeaseGrant("{}"));
}

class BranchLeaseTest : public ::testing::Test {
 protected:
  static NodeRecord Node(const std::string& id, const std::string& incarnation = "") {
    NodeRecord r;
    r.id = id;
    r.incarnation = incarnation.empty() ? id + "-1" : incarnation;
    return r;
  }
  Result<LeaseGrant> Claim(const std::string& id, const NodeLiveness& live) {
    return ClaimLease(&store_, kBranch, Node(id), live, &clock_);
  }
  std::optional<LeaseGrant> Newest() {
    Result<std::optional<LeaseGrant>> g = ReadLease(&store_, kBranch, &clock_);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }
  bool Has(uint64_t epoch) { return store_.Get(LeaseKey(kBranch, epoch)).ok(); }
  size_t KeyCount() {
    Result<std::vector<std::string>> keys = store_.List(LeasePrefix(kBranch));
    return keys.ok() ? keys->size() : 0;
  }

  testing::TestStore store_;
  ManualClock clock_;
};

TEST_F(BranchLeaseTest, AFreshBranchIsClaimedAtEpoch1) {
  EXPECT_FALSE(Newest().has_value());
  ASSERT_OK_AND_ASSIGN(LeaseGrant g, Claim("node-a", MustNotAsk()));
  EXPECT_EQ(g.branch, kBranch);
  EXPECT_EQ(g.epoch, 1u);
  EXPECT_EQ(g.node, "node-a");
  EXPECT_EQ(g.incarnation, "node-a-1");
  EXPECT_EQ(g.taken_ns, clock_.NowNs());
  std::optional<LeaseGrant> newest = Newest();
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->epoch, 1u);
  EXPECT_EQ(newest->node, "node-a");
  EXPECT_TRUE(Has(1));
}

TEST_F(BranchLeaseTest, AClaimWhileTheHolderLivesIsBusyAndNamesIt) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  std::string asked_node, asked_incarnation;
  auto live = [&](const std::string& node, const std::string& incarnation) -> Result<bool> {
    asked_node = node;
    asked_incarnation = incarnation;
    return true;
  };
  auto busy = Claim("node-b", live);
  ASSERT_EQ(CodeOf(busy), Code::kBusy);
  EXPECT_EQ(busy.status().message(), "branch 5 is held by node node-a (epoch 1)");
  EXPECT_EQ(asked_node, "node-a");
  EXPECT_EQ(asked_incarnation, "node-a-1");
  EXPECT_EQ(KeyCount(), 1u);
}

TEST_F(BranchLeaseTest, ALivenessErrorFailsTheClaim) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  auto broken = [](const std::string&, const std::string&) -> Result<bool> {
    return Status::IO("registry unreadable");
  };
  EXPECT_EQ(CodeOf(Claim("node-b", broken)), Code::kIO);
  EXPECT_EQ(KeyCount(), 1u);
}

TEST_F(BranchLeaseTest, ADeadHoldersBranchIsTakenAtTheNextEpochAndOldEpochsGo) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  ASSERT_OK_AND_ASSIGN(LeaseGrant b, Claim("node-b", AllDead()));
  EXPECT_EQ(b.epoch, 2u);
  EXPECT_EQ(b.node, "node-b");
  EXPECT_TRUE(Has(1));  // the predecessor stays for readers between LIST and GET
  EXPECT_FALSE(Has(0));

  ASSERT_OK_AND_ASSIGN(LeaseGrant c, Claim("node-c", AllDead()));
  EXPECT_EQ(c.epoch, 3u);
  EXPECT_FALSE(Has(1));
  EXPECT_TRUE(Has(2));
  EXPECT_TRUE(Has(3));
  EXPECT_EQ(Newest()->node, "node-c");
}

TEST_F(BranchLeaseTest, RacingClaimersNeverShareAnEpoch) {
  constexpr int kClaimers = 8;
  std::vector<Result<LeaseGrant>> results(kClaimers, Status::IO("not run"));
  std::latch start(kClaimers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClaimers; i++) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = Claim("node-" + std::to_string(i), AllDead());
    });
  }
  for (std::thread& t : threads) t.join();

  std::set<uint64_t> epochs;
  std::set<std::string> winners;
  uint64_t max_epoch = 0;
  for (int i = 0; i < kClaimers; i++) {
    const Result<LeaseGrant>& r = results[i];
    // Everyone else being "dead", a claimer can keep losing to newer claims.
    ASSERT_TRUE(r.ok() || r.status().code() == Code::kBusy) << r.status().ToString();
    if (!r.ok()) continue;
    EXPECT_EQ(r->node, "node-" + std::to_string(i));
    EXPECT_TRUE(epochs.insert(r->epoch).second) << "epoch " << r->epoch << " won twice";
    winners.insert(r->node);
    max_epoch = std::max(max_epoch, r->epoch);
  }
  ASSERT_FALSE(winners.empty());
  std::optional<LeaseGrant> newest = Newest();
  ASSERT_TRUE(newest.has_value());
  EXPECT_TRUE(winners.count(newest->node)) << newest->node;
  EXPECT_EQ(newest->epoch, max_epoch);
}

TEST_F(BranchLeaseTest, AReleasedBranchIsClaimedWithoutAskingAndOldEpochsGo) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  ASSERT_OK_AND_ASSIGN(LeaseGrant b, Claim("node-b", AllDead()));
  ASSERT_OK(ReleaseLease(&store_, b));
  std::optional<LeaseGrant> released = Newest();
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->epoch, 3u);
  EXPECT_TRUE(released->node.empty());
  EXPECT_TRUE(released->incarnation.empty());
  EXPECT_FALSE(Has(1));
  EXPECT_TRUE(Has(2));

  ASSERT_OK_AND_ASSIGN(LeaseGrant c, Claim("node-c", MustNotAsk()));
  EXPECT_EQ(c.epoch, 4u);
  EXPECT_EQ(Newest()->node, "node-c");
}

TEST_F(BranchLeaseTest, AReleaseAfterATakeoverChangesNothing) {
  ASSERT_OK_AND_ASSIGN(LeaseGrant a, Claim("node-a", MustNotAsk()));
  ASSERT_OK(Claim("node-b", AllDead()));
  ASSERT_OK(ReleaseLease(&store_, a));
  EXPECT_EQ(Newest()->node, "node-b");
  EXPECT_EQ(Newest()->epoch, 2u);
  EXPECT_FALSE(Has(3));
  EXPECT_EQ(CodeOf(ReleaseLease(&store_, LeaseGrant{kBranch, 3, "", "", 0})), Code::kInvalid);
}

TEST_F(BranchLeaseTest, AHandOverNamesTheReceiverWhoseClaimReturnsItAndOldEpochsGo) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  ASSERT_OK_AND_ASSIGN(LeaseGrant b, Claim("node-b", AllDead()));
  ASSERT_OK_AND_ASSIGN(LeaseGrant c, HandOverLease(&store_, b, Node("node-c")));
  EXPECT_EQ(c.epoch, 3u);
  EXPECT_EQ(c.node, "node-c");
  EXPECT_EQ(c.incarnation, "node-c-1");
  EXPECT_EQ(Newest()->node, "node-c");
  EXPECT_FALSE(Has(1));
  EXPECT_TRUE(Has(2));
  const int puts = store_.put_attempts();
  ASSERT_OK_AND_ASSIGN(LeaseGrant claimed, Claim("node-c", MustNotAsk()));
  EXPECT_EQ(claimed.epoch, 3u);
  EXPECT_EQ(store_.put_attempts(), puts);
}

TEST_F(BranchLeaseTest, AHandOverAfterATakeoverIsBusyAndWritesNothing) {
  ASSERT_OK_AND_ASSIGN(LeaseGrant a, Claim("node-a", MustNotAsk()));
  ASSERT_OK(Claim("node-b", AllDead()));
  Result<LeaseGrant> late = HandOverLease(&store_, a, Node("node-c"));
  EXPECT_EQ(CodeOf(late), Code::kBusy);
  EXPECT_EQ(Newest()->node, "node-b");
  EXPECT_EQ(KeyCount(), 2u);
  EXPECT_EQ(CodeOf(HandOverLease(&store_, LeaseGrant{kBranch, 2, "", "", 0}, Node("node-c"))),
            Code::kInvalid);
  ASSERT_OK_AND_ASSIGN(LeaseGrant b, Claim("node-b", MustNotAsk()));
  EXPECT_EQ(CodeOf(HandOverLease(&store_, b, Node("Bad Id"))), Code::kInvalid);
  EXPECT_EQ(KeyCount(), 2u);
}

TEST_F(BranchLeaseTest, TheSameIncarnationGetsItsGrantBackAndANewOneTakesOver) {
  ASSERT_OK_AND_ASSIGN(LeaseGrant first, Claim("node-a", MustNotAsk()));
  clock_.Advance(milliseconds(5));
  const int puts = store_.put_attempts();
  ASSERT_OK_AND_ASSIGN(LeaseGrant again, Claim("node-a", MustNotAsk()));
  EXPECT_EQ(again.epoch, first.epoch);
  EXPECT_EQ(again.taken_ns, first.taken_ns);
  EXPECT_EQ(store_.put_attempts(), puts);
  EXPECT_EQ(KeyCount(), 1u);

  // A restarted node-a: its earlier incarnation is gone, whatever `live` says.
  ASSERT_OK_AND_ASSIGN(LeaseGrant restarted,
                       ClaimLease(&store_, kBranch, Node("node-a", "i2"), MustNotAsk(), &clock_));
  EXPECT_EQ(restarted.epoch, first.epoch + 1);
  EXPECT_EQ(restarted.incarnation, "i2");
}

TEST_F(BranchLeaseTest, AGarbledNewestGrantIsCorruptionNamingItsKey) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  ASSERT_OK(store_.PutIfAbsent(LeaseKey(kBranch, 2), "not a grant"));
  auto read = ReadLease(&store_, kBranch, &clock_);
  ASSERT_EQ(CodeOf(read), Code::kCorruption);
  EXPECT_NE(read.status().message().find(LeaseKey(kBranch, 2)), std::string::npos)
      << read.status().message();
  EXPECT_EQ(CodeOf(Claim("node-b", AllDead())), Code::kCorruption);
}

TEST_F(BranchLeaseTest, AGrantThatDisagreesWithItsKeyIsCorruption) {
  ASSERT_OK(store_.PutIfAbsent(LeaseKey(kBranch, 5), EncodeLeaseGrant({kBranch, 4, "n", "i", 0})));
  auto read = ReadLease(&store_, kBranch, &clock_);
  ASSERT_EQ(CodeOf(read), Code::kCorruption);
  EXPECT_NE(read.status().message().find(LeaseKey(kBranch, 5)), std::string::npos);
  ASSERT_OK(
      store_.PutIfAbsent(LeaseKey(kBranch, 6), EncodeLeaseGrant({kBranch + 1, 6, "n", "i", 0})));
  EXPECT_EQ(CodeOf(ReadLease(&store_, kBranch, &clock_)), Code::kCorruption);
}

TEST_F(BranchLeaseTest, ATornGrantIsReadAgain) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  store_.TearGets(3);
  std::optional<LeaseGrant> g = Newest();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->node, "node-a");
}

TEST_F(BranchLeaseTest, KeysThatAreNotEpochsAreIgnored) {
  for (const char* name : {"junk.json", "123.json", "00000000000000000009.json.bak",
                           "0000000000000000000x.json", "99999999999999999999.json"}) {
    ASSERT_OK(store_.Put(LeasePrefix(kBranch) + name, "x"));
  }
  EXPECT_FALSE(Newest().has_value());
  ASSERT_OK_AND_ASSIGN(LeaseGrant g, Claim("node-a", MustNotAsk()));
  EXPECT_EQ(g.epoch, 1u);
}

TEST_F(BranchLeaseTest, ANewestGrantDeletedAfterTheListingIsLookedUpAgain) {
  ASSERT_OK(Claim("node-a", MustNotAsk()));
  store_.VanishGets(2);
  EXPECT_EQ(Newest()->node, "node-a");
  store_.VanishGets(3);
  EXPECT_EQ(CodeOf(ReadLease(&store_, kBranch, &clock_)), Code::kBusy);
}

TEST_F(BranchLeaseTest, AClaimFromAStaleListingDoesNotReviveADeletedEpoch) {
  for (const char* node : {"node-a", "node-b", "node-c", "node-d"}) {
    ASSERT_OK(Claim(node, AllDead()));
  }
  ASSERT_FALSE(Has(1));  // pruned: a stale claimer could re-create it
  // node-e's first listing misses everything, as one made long ago would.
  store_.FilterNextList([](std::vector<std::string>) { return std::vector<std::string>(); });
  ASSERT_OK_AND_ASSIGN(LeaseGrant e, Claim("node-e", AllDead()));
  EXPECT_EQ(e.epoch, 5u);
  EXPECT_EQ(Newest()->node, "node-e");
  EXPECT_EQ(Newest()->epoch, 5u);
  EXPECT_FALSE(Has(1));  // the stray epoch 1 is pruned with the rest
  EXPECT_TRUE(Has(4));
}

TEST_F(BranchLeaseTest, StoreLivenessReadsTheNodeRegistry) {
  NodeRecord r;
  r.id = "n1";
  r.incarnation = "i1";
  r.expires_unix_ms = clock_.NowNs() / 1'000'000 + 1000;
  ASSERT_OK(store_.Put(NodeKey("n1"), EncodeNodeRecord(r)));
  NodeLiveness live = StoreLiveness(&store_, &clock_);
  EXPECT_TRUE(*live("n1", "i1"));
  EXPECT_FALSE(*live("n1", "i2"));
  EXPECT_FALSE(*live("n2", "i1"));
  EXPECT_FALSE(*live("Not/An/Id", "i1"));
  clock_.Advance(milliseconds(1000));
  EXPECT_FALSE(*live("n1", "i1"));
}

TEST_F(BranchLeaseTest, ARegisteredHoldersBranchIsTakenOnceItsRecordExpires) {
  NodeRegistryOptions options;
  options.ttl = milliseconds(9000);
  options.clock = &clock_;
  NodeRecord a_self = Node("node-a");
  a_self.incarnation.clear();
  ASSERT_OK_AND_ASSIGN(auto a, NodeRegistry::Register(&store_, a_self, options));
  const NodeRecord b_self = Node("node-b");
  const NodeLiveness live = StoreLiveness(&store_, &clock_);
  ASSERT_OK(ClaimLease(&store_, kBranch, a->self(), live, &clock_));
  EXPECT_EQ(CodeOf(ClaimLease(&store_, kBranch, b_self, live, &clock_)), Code::kBusy);

  // node-a stalls for a whole ttl: it fences itself and its record expires.
  clock_.Advance(options.ttl);
  EXPECT_FALSE(a->Alive());
  ASSERT_OK_AND_ASSIGN(LeaseGrant g, ClaimLease(&store_, kBranch, b_self, live, &clock_));
  EXPECT_EQ(g.epoch, 2u);
  EXPECT_EQ(g.node, "node-b");
}

TEST_F(BranchLeaseTest, AClaimerNeedsAValidIdAndAnIncarnation) {
  EXPECT_EQ(CodeOf(ClaimLease(&store_, kBranch, Node("Bad_Id"), AllDead(), &clock_)),
            Code::kInvalid);
  NodeRecord nameless = Node("node-a");
  nameless.incarnation.clear();
  EXPECT_EQ(CodeOf(ClaimLease(&store_, kBranch, nameless, AllDead(), &clock_)), Code::kInvalid);
  EXPECT_EQ(KeyCount(), 0u);
}

}  // namespace
}  // namespace strata
