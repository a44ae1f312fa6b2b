#include "mcp/tools.h"

#include <gtest/gtest.h>

#include "mcp/mcp_test_util.h"

namespace strata::mcp {
namespace {

using json = nlohmann::json;
using Calls = std::vector<std::string>;

class ToolsTest : public ::testing::Test {
 protected:
  Tools Make(const std::string& owner = "") {
    ToolOptions o;
    o.backend = fake.AsBackend();
    o.owner = owner;
    o.run_sql = [this](const SqlRequest& r) -> Result<SqlResult> {
      sql.push_back(r);
      SqlResult out;
      out.columns = {"n"};
      out.rows = {{"1"}};
      out.command = "SELECT 1";
      return out;
    };
    return Tools(o);
  }
  FakeBackend fake;
  std::vector<SqlRequest> sql;
};

TEST_F(ToolsTest, ListBranchesKeepsOnlyTheOwnersBranches) {
  fake.On("GET /v1/branches", 200,
          json::array({{{"name", "a"}, {"owner", "x"}},
                       {{"name", "b"}, {"owner", nullptr}},
                       {{"name", "c"}, {"owner", "y"}}}));
  Result<ToolOutput> all = Make().Call("list_branches", json::object());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->structured["branches"].size(), 3u);
  Result<ToolOutput> x = Make("x").Call("list_branches", json::object());
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->structured["branches"].size(), 1u);
  EXPECT_EQ(x->structured["branches"][0]["name"], "a");
}

TEST_F(ToolsTest, EachToolCallsItsRoute) {
  for (const char* b : {"a", "child"}) fake.Branch(b);
  fake.Branch("child", "", "a");
  fake.On("POST /v1/branches", 201, {{"name", "n"}});
  fake.On("DELETE /v1/branches/a", 200, json::object());
  fake.On("POST /v1/branches/a/reset", 200, {{"name", "a"}});
  fake.On("POST /v1/branches/a/restore", 200, {{"name", "a"}});
  fake.On("POST /v1/snapshots", 201, {{"name", "s"}});
  fake.On("GET /v1/snapshots", 200, json::array({{{"name", "s"}, {"branch", "a"}}}));
  fake.On("DELETE /v1/snapshots/s", 200, json::object());
  fake.On("GET /v1/branches/a/diff", 200, {{"relations", json::array()}});
  fake.On("POST /v1/branches/child/promote", 200, {{"name", "a"}});
  Tools t = Make();
  struct Case {
    const char* tool;
    json args;
    Calls calls;
  };
  const std::vector<Case> cases = {
      {"describe_branch", {{"branch", "a"}}, {"GET /v1/branches/a"}},
      {"create_branch", {{"name", "n"}, {"initdb", true}}, {"POST /v1/branches"}},
      {"create_branch",
       {{"name", "n"}, {"from", "a"}, {"at", "seq:5"}},
       {"GET /v1/branches/a", "POST /v1/branches"}},
      {"delete_branch", {{"branch", "a"}}, {"GET /v1/branches/a", "DELETE /v1/branches/a"}},
      {"reset_branch", {{"branch", "a"}}, {"GET /v1/branches/a", "POST /v1/branches/a/reset"}},
      {"restore_branch",
       {{"branch", "a"}, {"to", "seq:3"}, {"preserve_as", "old"}},
       {"GET /v1/branches/a", "POST /v1/branches/a/restore"}},
      {"create_snapshot",
       {{"branch", "a"}, {"name", "s"}},
       {"GET /v1/branches/a", "POST /v1/snapshots"}},
      {"delete_snapshot",
       {{"snapshot", "s"}},
       {"GET /v1/snapshots", "GET /v1/branches/a", "DELETE /v1/snapshots/s"}},
      {"diff_branch", {{"branch", "a"}}, {"GET /v1/branches/a", "GET /v1/branches/a/diff"}},
      {"promote_branch",
       {{"branch", "child"}},
       {"GET /v1/branches/child", "GET /v1/branches/a", "POST /v1/branches/child/promote"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.tool) + " " + c.args.dump());
    fake.requests.clear();
    Result<ToolOutput> r = t.Call(c.tool, c.args);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(fake.Calls(), c.calls);
    EXPECT_TRUE(r->structured.is_object());
  }
}

TEST_F(ToolsTest, RequestBodiesFollowTheApiContract) {
  fake.Branch("a");
  fake.On("POST /v1/branches", 201, {{"name", "n"}});
  fake.On("POST /v1/branches/a/restore", 200, {{"name", "a"}});
  fake.On("GET /v1/branches/a/diff", 200, json::object());
  Tools t = Make();
  ASSERT_TRUE(
      t.Call("create_branch", {{"name", "n"}, {"from", "a"}, {"at", "@snap"}, {"ttl_seconds", 60}})
          .ok());
  EXPECT_EQ(fake.requests.back().body,
            json({{"name", "n"}, {"from", "a@snap"}, {"ttl_seconds", 60}, {"start", true}}));
  // A database's server starts at once unless the agent says not to; an
  // empty root branch has no server.
  ASSERT_TRUE(t.Call("create_branch", {{"name", "n"}, {"initdb", true}}).ok());
  EXPECT_EQ(fake.requests.back().body, json({{"name", "n"}, {"initdb", true}, {"start", true}}));
  ASSERT_TRUE(t.Call("create_branch", {{"name", "n"}, {"from", "a"}, {"start", false}}).ok());
  EXPECT_EQ(fake.requests.back().body, json({{"name", "n"}, {"from", "a"}}));
  ASSERT_TRUE(t.Call("create_branch", {{"name", "n"}}).ok());
  EXPECT_EQ(fake.requests.back().body, json({{"name", "n"}}));
  ASSERT_TRUE(
      t.Call("create_branch", {{"name", "n"}, {"from", "a"}, {"at", "time:2026-01-01T00:00:00Z"}})
          .ok());
  EXPECT_EQ(fake.requests.back().body["from"], "a@time:2026-01-01T00:00:00Z");
  ASSERT_TRUE(t.Call("restore_branch", {{"branch", "a"}, {"to", "seq:3"}}).ok());
  EXPECT_EQ(fake.requests.back().body, json({{"to", "@seq:3"}}));
  ASSERT_TRUE(t.Call("diff_branch", {{"branch", "a"}, {"schema", false}}).ok());
  EXPECT_EQ(fake.requests.back().query, (std::map<std::string, std::string>{{"schema", "false"}}));
}

TEST_F(ToolsTest, AtWithoutFromIsRefusedBeforeAnyCall) {
  Result<ToolOutput> r = Make().Call("create_branch", {{"name", "n"}, {"at", "seq:3"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "'at' needs 'from': the branch whose history it points into");
  EXPECT_TRUE(fake.requests.empty());
}

TEST_F(ToolsTest, TheApisErrorLineIsTheToolsError) {
  Result<ToolOutput> r = Make().Call("describe_branch", {{"branch", "nope"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no API route /v1/branches/nope");
  fake.On("GET /v1/branches/a", 500, "not an error object");
  r = Make().Call("describe_branch", {{"branch", "a"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "the daemon answered HTTP 500 to GET /v1/branches/a");
}

TEST_F(ToolsTest, OwnerScopeRefusesOtherOwnersBranchesAndChangesNothing) {
  fake.Branch("mine", "x");
  fake.Branch("theirs", "y");
  fake.Branch("child", "x", "theirs");
  fake.On("GET /v1/snapshots", 200, json::array({{{"name", "ts"}, {"branch", "theirs"}}}));
  Tools t = Make("x");
  const std::vector<std::pair<const char*, json>> cases = {
      {"describe_branch", {{"branch", "theirs"}}},
      {"delete_branch", {{"branch", "theirs"}}},
      {"reset_branch", {{"branch", "theirs"}}},
      {"restore_branch", {{"branch", "theirs"}, {"to", "seq:1"}}},
      {"create_snapshot", {{"branch", "theirs"}, {"name", "s"}}},
      {"delete_snapshot", {{"snapshot", "ts"}}},
      {"get_connection_string", {{"branch", "theirs"}}},
      {"run_sql", {{"branch", "theirs"}, {"sql", "select 1"}}},
      {"diff_branch", {{"branch", "mine"}, {"against", "theirs"}}},
      {"create_branch", {{"name", "n"}, {"from", "theirs"}}},
      {"promote_branch", {{"branch", "child"}}},  // would change the parent, theirs
  };
  for (const auto& [tool, args] : cases) {
    SCOPED_TRACE(std::string(tool) + " " + args.dump());
    fake.requests.clear();
    Result<ToolOutput> r = t.Call(tool, args);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(),
              "branch 'theirs' is not a branch of owner 'x': this session acts on that owner's "
              "branches only");
    for (const BackendRequest& req : fake.requests) EXPECT_EQ(req.method, "GET");
  }
  EXPECT_TRUE(sql.empty());
}

TEST_F(ToolsTest, OwnerScopeGivesNewBranchesItsOwner) {
  fake.On("POST /v1/branches", 201, {{"name", "n"}});
  Tools t = Make("x");
  ASSERT_TRUE(t.Call("create_branch", {{"name", "n"}, {"initdb", true}}).ok());
  EXPECT_EQ(fake.requests.back().body["owner"], "x");
  fake.requests.clear();
  Result<ToolOutput> r = t.Call("create_branch", {{"name", "n"}, {"owner", "y"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "this session creates branches of owner 'x' only, not 'y'");
  EXPECT_TRUE(fake.requests.empty());
}

TEST_F(ToolsTest, RunSqlUsesAShortLivedCredentialAndRevokesIt) {
  fake.Branch("a");
  fake.On("POST /v1/branches/a/credentials", 201,
          {{"id", "u1"}, {"uri", "postgresql://u1:pw@127.0.0.1:5/a"}});
  fake.On("DELETE /v1/credentials/u1", 200, json::object());
  Result<ToolOutput> r =
      Make().Call("run_sql", {{"branch", "a"}, {"sql", "select 1"}, {"max_rows", 7}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fake.Calls(), (Calls{"GET /v1/branches/a", "POST /v1/branches/a/credentials",
                                 "DELETE /v1/credentials/u1"}));
  EXPECT_EQ(fake.requests[1].body, json({{"ttl_seconds", 600}}));
  ASSERT_EQ(sql.size(), 1u);
  EXPECT_EQ(sql[0].conninfo, "postgresql://u1:pw@127.0.0.1:5/a");
  EXPECT_TRUE(sql[0].read_only);
  EXPECT_EQ(sql[0].max_rows, 7);
  EXPECT_EQ(sql[0].statement_timeout_ms, kDefaultStatementTimeoutMs);
  EXPECT_EQ(r->structured["rows"], json::array({json::array({"1"})}));
  EXPECT_EQ(r->structured["read_only"], true);
  EXPECT_NE(r->text.find("(1 row)"), std::string::npos) << r->text;
}

TEST_F(ToolsTest, RunSqlWithoutAProxyIsOneErrorAndTheCredentialIsRevoked) {
  fake.Branch("a");
  fake.On("POST /v1/branches/a/credentials", 201, {{"id", "u1"}});
  fake.On("DELETE /v1/credentials/u1", 200, json::object());
  Result<ToolOutput> r = Make().Call("run_sql", {{"branch", "a"}, {"sql", "select 1"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "the daemon runs no PostgreSQL proxy (mounted with --proxy off): run_sql needs one");
  EXPECT_EQ(fake.Calls().back(), "DELETE /v1/credentials/u1");
  EXPECT_TRUE(sql.empty());
}

TEST_F(ToolsTest, GetConnectionStringReturnsTheUri) {
  fake.Branch("a");
  fake.On("POST /v1/branches/a/credentials", 201,
          {{"id", "u1"},
           {"user", "u1"},
           {"role", "reader"},
           {"uri", "postgresql://u1:pw@h:1/a"},
           {"expires_at", "2026-01-01T00:00:00Z"}});
  Result<ToolOutput> r = Make().Call("get_connection_string",
                                     {{"branch", "a"}, {"ttl_seconds", 60}, {"role", "reader"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fake.requests.back().body, json({{"ttl_seconds", 60}, {"role", "reader"}}));
  EXPECT_EQ(r->structured["uri"], "postgresql://u1:pw@h:1/a");
  EXPECT_EQ(r->text.rfind("postgresql://u1:pw@h:1/a\n", 0), 0u) << r->text;
}

}  // namespace
}  // namespace strata::mcp
