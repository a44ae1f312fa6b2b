#include "cluster/node_leases.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

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

}  // namespace
}  // namespace strata
