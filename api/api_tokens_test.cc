// Owner tokens: issue, check, revoke and expiry (ApiTokens), the token
// routes, and /mcp with an owner token.
#include "api/api_tokens.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "api/api_test_fixture.h"
#include "api/mcp_http.h"
#include "common/crypto.h"

namespace strata {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

class ApiTokensTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(env.Open()); }
  ManualClock clock;
  testing::BranchEnv env;
  ApiTokens Tokens() { return ApiTokens(env.catalog(), &clock); }
};

TEST_F(ApiTokensTest, TheSecretIsStoredOnlyAsItsHash) {
  ApiTokens tokens = Tokens();
  ASSERT_OK_AND_ASSIGN(IssuedToken t, tokens.Issue("agent-1", 0));
  EXPECT_TRUE(ApiTokens::IsOwnerToken(t.token)) << t.token;
  const std::string head = "strata_" + t.info.id + "_";
  ASSERT_EQ(t.token.rfind(head, 0), 0u) << t.token;
  const std::string secret = t.token.substr(head.size());
  EXPECT_EQ(secret.size(), 64u);
  const std::string stored = EncodeCatalog(*env.catalog()->Current());
  EXPECT_EQ(stored.find(secret), std::string::npos);
  EXPECT_NE(stored.find(crypto::Sha256Hex(secret)), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Caller c, tokens.Authenticate(t.token));
  EXPECT_EQ(c.owner, "agent-1");
  EXPECT_EQ(c.token_id, t.info.id);
  EXPECT_FALSE(c.admin());
  ASSERT_OK_AND_ASSIGN(IssuedToken t2, tokens.Issue("agent-1", 0));
  EXPECT_NE(t2.info.id, t.info.id);
  EXPECT_NE(t2.info.secret_sha256, t.info.secret_sha256);
  EXPECT_EQ(tokens.Issue("bad name", 0).status().code(), Code::kInvalid);
}

TEST_F(ApiTokensTest, AWrongSecretAnUnknownIdAndGarbageGetOneMessage) {
  ApiTokens tokens = Tokens();
  ASSERT_OK_AND_ASSIGN(IssuedToken t, tokens.Issue("agent-1", 0));
  std::string wrong_secret = t.token;
  wrong_secret.back() = wrong_secret.back() == '0' ? '1' : '0';
  std::string unknown_id = t.token;
  unknown_id[7] = unknown_id[7] == '0' ? '1' : '0';
  const Status reference = tokens.Authenticate(wrong_secret).status();
  EXPECT_EQ(reference.code(), Code::kPermission);
  for (const std::string& bad : {unknown_id, std::string("strata_x"), t.token + "0",
                                 t.token.substr(0, t.token.size() - 1), std::string("")}) {
    EXPECT_EQ(tokens.Authenticate(bad).status().ToString(), reference.ToString()) << bad;
  }
  EXPECT_FALSE(ApiTokens::IsOwnerToken("strata_ABCDEF012345_" + std::string(64, 'a')));
}

TEST_F(ApiTokensTest, RevokedAndExpiredTokensAreRefusedSayingWhy) {
  ApiTokens tokens = Tokens();
  ASSERT_OK_AND_ASSIGN(IssuedToken brief, tokens.Issue("a", clock.NowNs() + 60'000'000'000));
  ASSERT_OK(tokens.Authenticate(brief.token).status());
  clock.Advance(seconds(60));
  Status st = tokens.Authenticate(brief.token).status();
  EXPECT_EQ(st.code(), Code::kPermission);
  EXPECT_NE(st.message().find("API token " + brief.info.id + " expired at"), std::string::npos)
      << st.message();
  ASSERT_OK_AND_ASSIGN(IssuedToken t, tokens.Issue("a", 0));
  ASSERT_OK(tokens.Revoke(t.info.id));
  const int64_t revoked = env.catalog()->Current()->FindToken(t.info.id)->revoked_ns;
  EXPECT_EQ(revoked, clock.NowNs());
  st = tokens.Authenticate(t.token).status();
  EXPECT_EQ(st.code(), Code::kPermission);
  EXPECT_NE(st.message().find("API token " + t.info.id + " was revoked at"), std::string::npos)
      << st.message();
  clock.Advance(seconds(5));
  ASSERT_OK(tokens.Revoke(t.info.id));  // the first revocation is kept
  EXPECT_EQ(env.catalog()->Current()->FindToken(t.info.id)->revoked_ns, revoked);
  EXPECT_EQ(tokens.Revoke("000000000000").code(), Code::kNotFound);
}

TEST_F(OwnerTokenTest, ExpiredAndRevokedTokensAreRefusedWith401) {
  json brief = Ok("POST", "/v1/tokens", {{"owner", "a"}, {"ttl_seconds", 60}}, 201);
  EXPECT_EQ(Send(brief["token"], "GET", "/v1/branches").status, 200);
  clock.Advance(seconds(61));
  std::string before = State();
  HttpResponse r = Send(brief["token"], "DELETE", "/v1/branches/a-kid");
  EXPECT_EQ(State(), before);
  EXPECT_EQ(r.status, 401);
  json j = json::parse(r.body);
  EXPECT_EQ(j["code"], "unauthorized");
  EXPECT_NE(j["error"].get<std::string>().find("expired at"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.size(), 1u);

  EXPECT_EQ(Ok("DELETE", "/v1/tokens/" + token_id["a"]), json::object());
  before = State();
  r = Send(token["a"], "DELETE", "/v1/branches/a-kid");
  EXPECT_EQ(State(), before);
  EXPECT_EQ(r.status, 401);
  j = json::parse(r.body);
  EXPECT_EQ(j["code"], "unauthorized");
  EXPECT_NE(j["error"].get<std::string>().find("was revoked at"), std::string::npos) << r.body;
  // b's token is not a's: it still works.
  EXPECT_EQ(Send(token["b"], "GET", "/v1/branches/b-main").status, 200);
  ExpectError("DELETE", "/v1/tokens/000000000000", "", 404, "not_found");
}

TEST_F(OwnerTokenTest, TheTokenListShowsStatesNeverSecrets) {
  Ok("DELETE", "/v1/tokens/" + token_id["b"]);
  json list = Ok("GET", "/v1/tokens");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], token_id["a"]);
  EXPECT_EQ(list[0]["owner"], "a");
  EXPECT_EQ(list[0]["state"], "active");
  EXPECT_TRUE(list[0]["revoked_at"].is_null());
  EXPECT_EQ(list[1]["state"], "revoked");
  EXPECT_FALSE(list[1]["revoked_at"].is_null());
  // The default lifetime: 30 days.
  EXPECT_EQ(*ParseRfc3339(list[0]["expires_at"]) - *ParseRfc3339(list[0]["created"]),
            int64_t{30} * 86400 * 1'000'000'000);
  for (const std::string o : {"a", "b"}) {
    EXPECT_EQ(list.dump().find(token[o].substr(20)), std::string::npos);
  }
  ExpectError("POST", "/v1/tokens", R"({"owner":"bad name"})", 400, "invalid");
  ExpectError("POST", "/v1/tokens", R"({})", 400, "invalid");
  ExpectError("POST", "/v1/tokens", R"({"owner":"a","ttl_seconds":0})", 400, "invalid");
  ExpectError("POST", "/v1/tokens", R"({"owner":"a","scope":"all"})", 400, "invalid");
}

TEST_F(OwnerTokenTest, TheAdminTokenStillDoesEverything) {
  const std::string t = kToken;
  EXPECT_EQ(Send(t, "GET", "/v1/status").status, 200);
  EXPECT_EQ(Send(t, "GET", "/metrics").status, 200);
  EXPECT_EQ(Send(t, "PUT", "/v1/owners/b/quota", {{"max_branches", 9}}).status, 200);
  EXPECT_EQ(Send(t, "GET", "/v1/tokens").status, 200);
  EXPECT_EQ(Send(t, "POST", "/v1/tokens", {{"owner", "c"}}).status, 201);
  EXPECT_EQ(json::parse(Send(t, "GET", "/v1/branches").body).size(), 4u);
  EXPECT_EQ(
      Send(t, "POST", "/v1/branches", {{"name", "x"}, {"from", "a-main"}, {"owner", "b"}}).status,
      201);
  EXPECT_EQ(Send(t, "DELETE", "/v1/branches/b-kid").status, 200);
  EXPECT_EQ(Send(t, "DELETE", "/v1/tokens/" + token_id["a"]).status, 200);
}

class OwnerTokenMcpTest : public OwnerTokenTest {
 protected:
  HttpResponse Post(const json& args, const std::string& tool, const std::string& bearer,
                    std::map<std::string, std::string> headers = {}) {
    HttpRequest req;
    req.method = "POST";
    req.path = "/mcp";
    req.body = json{{"jsonrpc", "2.0"},
                    {"id", 1},
                    {"method", "tools/call"},
                    {"params", {{"name", tool}, {"arguments", args}}}}
                   .dump();
    req.headers = std::move(headers);
    req.headers["authorization"] = "Bearer " + bearer;
    return McpHttp(api.get()).Handle(req);
  }
  json ResultOf(const HttpResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["result"];
  }
};

TEST_F(OwnerTokenMcpTest, ToolsActAsTheTokensOwner) {
  json res = ResultOf(Post(json::object(), "list_branches", token["a"]));
  std::set<std::string> names;
  for (const json& b : res["structuredContent"]["branches"]) names.insert(b["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"a-main", "a-kid"}));
  const std::string before = State();
  res = ResultOf(Post({{"branch", "b-kid"}}, "delete_branch", token["a"]));
  EXPECT_EQ(res["isError"], true);
  EXPECT_EQ(res["content"][0]["text"], "no branch named 'b-kid'");
  EXPECT_EQ(State(), before);
  res = ResultOf(Post({{"name", "a-mcp"}}, "create_branch", token["a"]));
  ASSERT_EQ(res["isError"], false) << res.dump();
  EXPECT_EQ(env.Find("a-mcp")->owner, "a");
  // The session's owner is the token's: naming another is refused.
  HttpResponse r = Post(json::object(), "list_branches", token["a"], {{"x-strata-owner", "b"}});
  EXPECT_EQ(r.status, 403) << r.body;
  r = Post(json::object(), "list_branches", token["a"], {{"x-strata-owner", "a"}});
  EXPECT_EQ(r.status, 200) << r.body;
  Ok("DELETE", "/v1/tokens/" + token_id["a"]);
  r = Post(json::object(), "list_branches", token["a"]);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("was revoked at"), std::string::npos) << r.body;
}

// Failed token checks are limited per client address: after the burst, that
// address gets 429 with Retry-After, even with the right token, and before
// its token is looked at; another address is not held back. Every request
// leaves one audit line naming who, what and the answer.
class ApiAuthLimitTest : public ApiTest {
 protected:
  void Configure(ApiContext* ctx) override {
    auto log = AuditLog::Open(env.dir() + "/audit.log");
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit = std::move(*log);
    ctx->audit = audit.get();
    ctx->auth_limits.burst = 3;
    ctx->auth_limits.refill = std::chrono::seconds(20);
    ctx->auth_limits.clock = &clock;
  }
  std::vector<json> AuditLines() {
    std::vector<json> out;
    std::ifstream in(env.dir() + "/audit.log");
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }
  std::unique_ptr<AuditLog> audit;
};

TEST_F(ApiAuthLimitTest, FailedTokensAreLimitedPerAddressAndEveryCallIsAudited) {
  const std::string good = std::string("Bearer ") + kToken;
  EXPECT_EQ(Raw("GET", "/v1/branches", "", false, good).status, 200);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(Raw("GET", "/v1/branches", "", false, "Bearer wrong-token-0123456789").status, 401);
  }
  HttpResponse r = Raw("GET", "/v1/branches", "", false, good);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(ErrorCode(r), "too_many_requests");
  EXPECT_NE(r.body.find("too many failed authentications from 127.0.0.1; try again in 20 s"),
            std::string::npos)
      << r.body;
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>("Retry-After", "20")));
  EXPECT_EQ(Raw("POST", "/v1/branches", R"({"name":"x"})", false, good).status, 429);
  EXPECT_EQ(BranchCount(), 0u);
  EXPECT_EQ(Raw("GET", "/v1/branches", "", true).status, 200);  // the socket is not limited
  peer = "10.0.0.9:5000";
  EXPECT_EQ(Raw("POST", "/v1/branches", R"({"name":"x"})", false, good).status, 201);
  clock.Advance(std::chrono::seconds(20));
  peer = "127.0.0.1:40001";
  EXPECT_EQ(Raw("GET", "/v1/branches", "", false, good).status, 200);

  const std::vector<json> lines = AuditLines();
  ASSERT_EQ(lines.size(), 9u);
  std::vector<std::string> seen;
  for (const json& l : lines) {
    EXPECT_EQ(l["source"], "api");
    seen.push_back(l["peer"].get<std::string>() + " " + l["actor"].get<std::string>() + " " +
                   l["action"].get<std::string>() + " " + l["branch"].get<std::string>() + " " +
                   l["result"].get<std::string>().substr(0, 3));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "127.0.0.1:40000 admin GET /v1/branches  ok",
                      "127.0.0.1:40000  GET /v1/branches  401",
                      "127.0.0.1:40000  GET /v1/branches  401",
                      "127.0.0.1:40000  GET /v1/branches  401",
                      "127.0.0.1:40000  GET /v1/branches  429",
                      "127.0.0.1:40000  POST /v1/branches  429",
                      "local admin GET /v1/branches  ok",
                      "10.0.0.9:5000 admin POST /v1/branches x ok",
                      "127.0.0.1:40001 admin GET /v1/branches  ok",
                  }));
  EXPECT_EQ(metrics.Render().find("strata_api_auth_throttled_total 2") != std::string::npos, true)
      << metrics.Render();
}

}  // namespace
}  // namespace strata
