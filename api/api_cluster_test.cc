// GET /v1/nodes, the holder of GET /v1/branches/{name} and
// POST /v1/branches/{name}/endpoint/move (docs/cluster.md), over a real node
// registry and lease chain in the test's store.
#include <gtest/gtest.h>

#include <memory>

#include "api/api_test_fixture.h"
#include "cluster/node_leases.h"
#include "cluster/node_registry.h"
#include "endpoint/branch_access.h"
#include "endpoint/branch_move.h"

namespace strata {
namespace {

class ApiClusterTest : public ApiTest {
 protected:
  void Configure(ApiContext* ctx) override {
    node = Join("n1");
    leases = std::make_unique<NodeLeases>(env.store(), node.get(), &clock);
    ctx->leases = leases.get();
    mover = std::make_unique<BranchMover>(env.store(), env.catalog(), env.vs(), endpoints.get(),
                                          leases.get(), &clock);
    ctx->mover = mover.get();
  }
  std::unique_ptr<NodeRegistry> Join(const std::string& id) {
    NodeRecord self;
    self.id = id;
    self.proxy_addr = "127.0.0.1:55432";
    NodeRegistryOptions o;
    o.clock = &clock;
    o.load = [] { return nlohmann::json{{"branches_held", 0}}; };
    Result<std::unique_ptr<NodeRegistry>> r = NodeRegistry::Register(env.store(), self, o);
    EXPECT_OK(r.status());
    return r.ok() ? std::move(*r) : nullptr;
  }
  std::unique_ptr<NodeRegistry> node;
  std::unique_ptr<NodeLeases> leases;
  std::unique_ptr<BranchMover> mover;
};

TEST_F(ApiClusterTest, NodesListsEveryDaemonAndWhichIsHere) {
  auto other = Join("n2");
  json nodes = Ok("GET", "/v1/nodes");
  ASSERT_EQ(nodes.size(), 2u) << nodes.dump();
  EXPECT_EQ(nodes[0]["id"], "n1");
  EXPECT_EQ(nodes[0]["here"], true);
  EXPECT_EQ(nodes[0]["alive"], true);
  EXPECT_EQ(nodes[0]["proxy"], "127.0.0.1:55432");
  EXPECT_EQ(nodes[0]["api"], nullptr);
  EXPECT_EQ(nodes[0]["load"], (json{{"branches_held", 0}}));
  EXPECT_EQ(nodes[1]["id"], "n2");
  EXPECT_EQ(nodes[1]["here"], false);
  clock.Advance(std::chrono::seconds(60));  // no renewal can have been seen: both expired
  nodes = Ok("GET", "/v1/nodes");
  EXPECT_EQ(nodes[1]["alive"], false);
  other->Deregister();
  EXPECT_EQ(Ok("GET", "/v1/nodes").size(), 1u);
}

TEST_F(ApiClusterTest, ABranchSaysWhoHoldsIt) {
  json b = Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  EXPECT_FALSE(b.contains("holder"));  // only a single branch's GET reads the lease
  EXPECT_EQ(Ok("GET", "/v1/branches/main")["holder"], (json{{"node", nullptr}, {"epoch", 0}}));
  ASSERT_OK(leases->Claim(b["id"].get<uint32_t>()).status());
  json holder = Ok("GET", "/v1/branches/main")["holder"];
  EXPECT_EQ(holder["node"], "n1");
  EXPECT_EQ(holder["epoch"], 1);
  EXPECT_EQ(holder["here"], true);
  EXPECT_EQ(holder["alive"], true);
  ASSERT_OK(leases->ReleaseAll());
  EXPECT_EQ(Ok("GET", "/v1/branches/main")["holder"], (json{{"node", nullptr}, {"epoch", 2}}));
  EXPECT_FALSE(Ok("GET", "/v1/branches")[0].contains("holder"));
}

TEST_F(ApiClusterTest, AMoveHandsTheBranchToTheOtherNode) {
  auto n2 = Join("n2");
  NodeLeases second(env.store(), n2.get(), &clock);
  json b = Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  const uint32_t id = b["id"].get<uint32_t>();
  ASSERT_OK(leases->Claim(id).status());
  json m = Ok("POST", "/v1/branches/main/endpoint/move", {{"to", "n2"}});
  EXPECT_EQ(m, (json{{"branch", "main"},
                     {"from", "n1"},
                     {"to", "n2"},
                     {"moved", true},
                     {"epoch", 2},
                     {"was_running", false}}));
  json holder = Ok("GET", "/v1/branches/main")["holder"];
  EXPECT_EQ(holder["node"], "n2");
  EXPECT_EQ(holder["here"], false);
  ASSERT_OK_AND_ASSIGN(uint64_t epoch, second.Claim(id));  // n2 holds it without a claim
  EXPECT_EQ(epoch, 2u);
  EXPECT_EQ(leases->Claim(id).status().code(), Code::kBusy);  // and n1 no longer does
  // To the holder itself: nothing moves.
  EXPECT_EQ(Ok("POST", "/v1/branches/main/endpoint/move", {{"to", "n2"}})["moved"], false);
}

TEST_F(ApiClusterTest, AMoveIsRefusedClearly) {
  auto n2 = Join("n2");
  auto n3 = Join("n3");
  NodeLeases third(env.store(), n3.get(), &clock);
  json b = Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  ExpectError("POST", "/v1/branches/main/endpoint/move", "{}", 400, "invalid");
  ExpectError("POST", "/v1/branches/main/endpoint/move", R"({"to": "N 2"})", 400, "invalid");
  ExpectError("POST", "/v1/branches/main/endpoint/move", R"({"to": "n9"})", 404, "not_found");
  ExpectError("POST", "/v1/branches/nope/endpoint/move", R"({"to": "n2"})", 404, "not_found");
  ASSERT_OK(third.Claim(b["id"].get<uint32_t>()).status());
  ExpectError("POST", "/v1/branches/main/endpoint/move", R"({"to": "n2"})", 409, "busy");
  EXPECT_EQ(Ok("GET", "/v1/branches/main")["holder"]["node"], "n3");  // nothing changed
  n2->Deregister();
  ExpectError("POST", "/v1/branches/main/endpoint/move", R"({"to": "n2"})", 404, "not_found");
}

// The proxy's routing (docs/cluster.md, "Any proxy, any branch"), with n1
// as this daemon: a branch another live node holds is relayed to its proxy,
// and so is a fork nobody holds yet of a branch it holds.
TEST_F(ApiClusterTest, SessionsGoWhereTheBranchIsWritten) {
  auto n2 = Join("n2");  // its proxy: 127.0.0.1:55432
  NodeLeases second(env.store(), n2.get(), &clock);
  json main = Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  Ok("POST", "/v1/branches", {{"name", "kid"}, {"from", "main"}}, 201);
  json c = Ok("POST", "/v1/branches/main/credentials", nullptr, 201);
  json k = Ok("POST", "/v1/branches/kid/credentials", nullptr, 201);
  BranchAccess access(env.catalog(), credentials.get(), endpoints.get(), nullptr, leases.get());
  ASSERT_OK_AND_ASSIGN(ProxyCredential cred, access.FindCredential(c["user"]));
  ASSERT_OK_AND_ASSIGN(ProxyCredential kid, access.FindCredential(k["user"]));
  // Nobody holds either: served here (as far as starting a server: no cluster here).
  EXPECT_EQ(access.Open(cred, "main", false).status().code(), Code::kInvalid);
  EXPECT_EQ(access.Open(kid, "kid", false).status().code(), Code::kInvalid);

  ASSERT_OK(second.Claim(main["id"].get<uint32_t>()).status());
  for (const auto& [who, name] : {std::pair{cred, "main"}, std::pair{kid, "kid"}}) {
    ASSERT_OK_AND_ASSIGN(ProxySession s, access.Open(who, name, false));
    ASSERT_TRUE(s.relay) << name;
    EXPECT_EQ(s.relay->node, "n2");
    EXPECT_EQ(FormatHostPort(s.relay->proxy), "127.0.0.1:55432");
    EXPECT_TRUE(s.socket_path.empty());
    // Arrived relayed: never relayed again.
    EXPECT_EQ(access.Open(who, name, true).status().code(), Code::kBusy) << name;
  }
  // Once kid is held here, its own holder decides: here.
  ASSERT_OK(leases->Claim(Ok("GET", "/v1/branches/kid")["id"].get<uint32_t>()).status());
  EXPECT_EQ(access.Open(kid, "kid", false).status().code(), Code::kInvalid);
}

}  // namespace
}  // namespace strata
