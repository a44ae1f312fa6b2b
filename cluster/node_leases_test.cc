#include "cluster/node_leases.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/test_store.h"
#include "common/clock.h"
#include "common/status_test_util.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kTtl{9000};

class NodeLeasesTest : public ::testing::Test {
 protected:
  std::unique_ptr<NodeRegistry> Join(const std::string& id) {
    NodeRecord self;
    self.id = id;
    self.proxy_addr = "10.0.0.1:5432";
    NodeRegistryOptions o;
    o.ttl = kTtl;
    o.clock = &clock_;
    Result<std::unique_ptr<NodeRegistry>> reg = NodeRegistry::Register(&store_, self, o);
    EXPECT_OK(reg.status());
    return reg.ok() ? std::move(*reg) : nullptr;
  }
  testing::TestStore store_;
  ManualClock clock_;
};

TEST_F(NodeLeasesTest, AClaimIsHeldUntilReleasedAndTheStoreSaysWho) {
  auto n1 = Join("n1");
  NodeLeases leases(&store_, n1.get(), &clock_);
  ASSERT_OK_AND_ASSIGN(uint64_t epoch, leases.Claim(4));
  EXPECT_EQ(epoch, 1u);
  ASSERT_OK_AND_ASSIGN(uint64_t again, leases.Claim(4));
  EXPECT_EQ(again, 1u);  // held: the same grant, nothing written
  EXPECT_EQ(leases.Held(), (std::vector<uint32_t>{4}));
  ASSERT_OK_AND_ASSIGN(BranchHolder h, leases.HolderOf(4));
  ASSERT_TRUE(h.grant);
  EXPECT_EQ(h.grant->node, "n1");
  EXPECT_TRUE(h.alive);

  ASSERT_OK(leases.ReleaseAll());
  EXPECT_TRUE(leases.Held().empty());
  ASSERT_OK_AND_ASSIGN(h, leases.HolderOf(4));
  ASSERT_TRUE(h.grant);
  EXPECT_EQ(h.grant->epoch, 2u);
  EXPECT_TRUE(h.grant->node.empty());
  EXPECT_FALSE(h.alive);
  ASSERT_OK_AND_ASSIGN(h, leases.HolderOf(5));
  EXPECT_FALSE(h.grant);  // never claimed
}

TEST_F(NodeLeasesTest, AnotherNodeWaitsForTheHolderToLeaveOrDie) {
  auto n1 = Join("n1");
  auto n2 = Join("n2");
  NodeLeases first(&store_, n1.get(), &clock_);
  NodeLeases second(&store_, n2.get(), &clock_);
  ASSERT_OK(first.Claim(4).status());
  Result<uint64_t> busy = second.Claim(4);
  EXPECT_EQ(busy.status().code(), Code::kBusy);
  EXPECT_NE(busy.status().message().find("n1"), std::string::npos) << busy.status().ToString();
  EXPECT_NE(busy.status().message().find("its proxy is 10.0.0.1:5432"), std::string::npos)
      << busy.status().ToString();
  n1->Deregister();  // a clean stop deletes the record: the holder is dead at once
  ASSERT_OK_AND_ASSIGN(uint64_t epoch, second.Claim(4));
  EXPECT_EQ(epoch, 2u);
  ASSERT_OK_AND_ASSIGN(bool first_at_1, first.HeldAt(4, 1));
  ASSERT_OK_AND_ASSIGN(bool first_at_2, first.HeldAt(4, 2));
  ASSERT_OK_AND_ASSIGN(bool second_at_2, second.HeldAt(4, 2));
  ASSERT_OK_AND_ASSIGN(bool second_at_9, second.HeldAt(4, 9));
  EXPECT_TRUE(first_at_1);
  EXPECT_FALSE(first_at_2);
  EXPECT_TRUE(second_at_2);
  EXPECT_FALSE(second_at_9);  // no such grant
}

TEST_F(NodeLeasesTest, ANodeWhoseHeartbeatLapsedClaimsNothing) {
  auto n1 = Join("n1");
  NodeLeases leases(&store_, n1.get(), &clock_);
  store_.FailPuts(true);
  clock_.Advance(kTtl);  // past 2/3 ttl without a successful renewal
  Result<uint64_t> r = leases.Claim(4);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  store_.FailPuts(false);
  ASSERT_OK_AND_ASSIGN(BranchHolder h, leases.HolderOf(4));
  EXPECT_FALSE(h.grant);
}

TEST_F(NodeLeasesTest, AHandOverMakesTheReceiverTheHolderWithoutAClaimOfItsOwn) {
  auto n1 = Join("n1");
  auto n2 = Join("n2");
  NodeLeases first(&store_, n1.get(), &clock_);
  NodeLeases second(&store_, n2.get(), &clock_);
  ASSERT_OK_AND_ASSIGN(uint64_t epoch, first.Claim(4));
  ASSERT_OK(first.BeginMove(4, "n2"));
  EXPECT_EQ(first.BeginMove(4, "n2").code(), Code::kBusy);  // one move at a time
  Result<uint64_t> refused = first.Claim(4);
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_NE(refused.status().message().find("being moved to node n2"), std::string::npos)
      << refused.status().ToString();

  ASSERT_OK_AND_ASSIGN(LeaseGrant next, first.HandOver(4, n2->self()));
  EXPECT_EQ(next.epoch, epoch + 1);
  EXPECT_EQ(next.node, "n2");
  EXPECT_TRUE(first.Held().empty());
  // The receiver holds it: its claim returns the handed grant, writing nothing.
  const int puts = store_.put_attempts();
  ASSERT_OK_AND_ASSIGN(uint64_t taken, second.Claim(4));
  EXPECT_EQ(taken, epoch + 1);
  EXPECT_EQ(store_.put_attempts(), puts);
  // And the giver is refused from now on, naming the receiver.
  Result<uint64_t> busy = first.Claim(4);
  EXPECT_EQ(busy.status().code(), Code::kBusy);
  EXPECT_NE(busy.status().message().find("node n2"), std::string::npos) << busy.status().ToString();
}

TEST_F(NodeLeasesTest, AHandOverOfABranchNobodyHoldsClaimsItFirst) {
  auto n1 = Join("n1");
  auto n2 = Join("n2");
  NodeLeases first(&store_, n1.get(), &clock_);
  ASSERT_OK(first.BeginMove(7, "n2"));
  ASSERT_OK_AND_ASSIGN(LeaseGrant next, first.HandOver(7, n2->self()));
  EXPECT_EQ(next.epoch, 2u);  // 1 was the claim
  ASSERT_OK_AND_ASSIGN(BranchHolder h, first.HolderOf(7));
  EXPECT_EQ(h.grant->node, "n2");
  EXPECT_TRUE(h.alive);
}

TEST_F(NodeLeasesTest, AHandOverOfABranchAnotherLiveNodeHoldsIsRefusedAndEndsTheMove) {
  auto n1 = Join("n1");
  auto n2 = Join("n2");
  auto n3 = Join("n3");
  NodeLeases first(&store_, n1.get(), &clock_);
  NodeLeases third(&store_, n3.get(), &clock_);
  ASSERT_OK(third.Claim(4).status());
  ASSERT_OK(first.BeginMove(4, "n2"));
  Result<LeaseGrant> refused = first.HandOver(4, n2->self());
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_NE(refused.status().message().find("n3"), std::string::npos)
      << refused.status().ToString();
  ASSERT_OK(first.BeginMove(4, "n2"));  // the failed move ended
  first.EndMove(4);
}

TEST_F(NodeLeasesTest, EndMoveAllowsClaimsAgain) {
  auto n1 = Join("n1");
  NodeLeases first(&store_, n1.get(), &clock_);
  ASSERT_OK(first.BeginMove(4, "n2"));
  EXPECT_EQ(first.Claim(4).status().code(), Code::kBusy);
  first.EndMove(4);
  ASSERT_OK(first.Claim(4).status());
}

TEST_F(NodeLeasesTest, HolderElsewhereNamesOnlyALiveOtherNode) {
  auto n1 = Join("n1");
  auto n2 = Join("n2");
  NodeLeases first(&store_, n1.get(), &clock_);
  NodeLeases second(&store_, n2.get(), &clock_);
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> none, first.HolderElsewhere(4));
  EXPECT_FALSE(none);  // never claimed: a session may claim it here
  ASSERT_OK(second.Claim(4).status());
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> there, first.HolderElsewhere(4));
  ASSERT_TRUE(there);
  EXPECT_EQ(there->id, "n2");
  EXPECT_EQ(there->proxy_addr, "10.0.0.1:5432");
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> here, second.HolderElsewhere(4));
  EXPECT_FALSE(here);  // held here: no store call needed
  n2->Deregister();
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> dead, first.HolderElsewhere(4));
  EXPECT_FALSE(dead);  // its holder is gone: claimable here
}

TEST_F(NodeLeasesTest, HolderElsewhereIsTheReceiverOfAHandOverOnlyForOthers) {
  auto n1 = Join("n1");
  auto n2 = Join("n2");
  NodeLeases first(&store_, n1.get(), &clock_);
  NodeLeases second(&store_, n2.get(), &clock_);
  ASSERT_OK(first.BeginMove(4, "n2"));
  ASSERT_OK(first.HandOver(4, n2->self()).status());
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> there, first.HolderElsewhere(4));
  ASSERT_TRUE(there);
  EXPECT_EQ(there->id, "n2");
  // The receiver has not claimed yet, but the grant names it: here.
  ASSERT_OK_AND_ASSIGN(std::optional<NodeRecord> mine, second.HolderElsewhere(4));
  EXPECT_FALSE(mine);
  ASSERT_OK_AND_ASSIGN(Placement at, second.Locate(4));
  EXPECT_EQ(at.kind, Placement::Kind::kHere);
  ASSERT_OK_AND_ASSIGN(at, first.Locate(4));
  EXPECT_EQ(at.kind, Placement::Kind::kElsewhere);
  EXPECT_EQ(at.node->id, "n2");
  ASSERT_OK_AND_ASSIGN(at, first.Locate(5));
  EXPECT_EQ(at.kind, Placement::Kind::kNobody);  // never claimed
  n2->Deregister();
  ASSERT_OK_AND_ASSIGN(at, first.Locate(4));
  EXPECT_EQ(at.kind, Placement::Kind::kNobody);  // its holder is gone
}

}  // namespace
}  // namespace strata
