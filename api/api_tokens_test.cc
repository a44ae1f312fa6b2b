// Owner tokens: issue, check, revoke and expiry (ApiTokens), and what an
// owner token may do on every route of the API (api/api_scope.h; docs/api.md,
// "Owner tokens").
#include "api/api_tokens.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

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

// Owners "a" and "b", each with a root branch X-main, its child X-kid, a
// snapshot X-snap of X-main, a credential of X-main and an owner token.
class OwnerTokenTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    for (const std::string o : {"a", "b"}) {
      Ok("POST", "/v1/branches", {{"name", o + "-main"}, {"owner", o}}, 201);
      Ok("POST", "/v1/branches", {{"name", o + "-kid"}, {"from", o + "-main"}, {"owner", o}}, 201);
      Ok("POST", "/v1/snapshots", {{"branch", o + "-main"}, {"name", o + "-snap"}}, 201);
      cred[o] = Ok("POST", "/v1/branches/" + o + "-main/credentials", json::object(), 201)["id"];
      json t = Ok("POST", "/v1/tokens", {{"owner", o}}, 201);
      token[o] = t["token"];
      token_id[o] = t["id"];
    }
  }

  // A request over TCP with `bearer`.
  HttpResponse Send(const std::string& bearer, const std::string& method, const std::string& path,
                    const json& body = nullptr, std::map<std::string, std::string> query = {}) {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.query = std::move(query);
    if (!body.is_null()) req.body = body.dump();
    req.headers["authorization"] = "Bearer " + bearer;
    return api->Handle(req);
  }
  // Everything a request could change: the catalog (branches, snapshots,
  // credentials, quotas, tokens) and the endpoints.
  std::string State() {
    return EncodeCatalog(*env.catalog()->Current()) + Ok("GET", "/v1/endpoints").dump();
  }

  std::map<std::string, std::string> cred, token, token_id;
};

// The "code" of an error answer; "" for anything else.
std::string ErrorCode(const HttpResponse& r) {
  const json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j.value("code", "") : "";
}

// A request naming an object of another owner (`foreign`), and the same
// request with `foreign` replaced by a name that names nothing.
struct ForeignRow {
  std::string route;  // "METHOD /pattern"
  std::string method;
  std::string path;
  json body;
  std::map<std::string, std::string> query;
  std::string foreign;
  std::string ghost;
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) {
    s.replace(i, from.size(), to);
  }
  return s;
}

ForeignRow Ghost(ForeignRow r) {
  r.path = Replace(r.path, r.foreign, r.ghost);
  if (!r.body.is_null()) r.body = json::parse(Replace(r.body.dump(), r.foreign, r.ghost));
  for (auto& [k, v] : r.query) v = Replace(v, r.foreign, r.ghost);
  return r;
}

// Every route that names a branch, snapshot or credential, with `them`'s
// objects, for a token of `me`.
std::vector<ForeignRow> ForeignRows(const std::string& me, const std::string& them,
                                    const std::string& their_cred) {
  const std::string main = them + "-main", kid = them + "-kid", snap = them + "-snap";
  const std::string mine = me + "-main", b = "/v1/branches/";
  const std::string ghost = "zz-main", ghost_snap = "zz-snap", ghost_cred = "u0000000000000000";
  const json none = nullptr;
  return {
      {"GET /v1/branches/{name}", "GET", b + main, none, {}, main, ghost},
      {"PATCH /v1/branches/{name}",
       "PATCH",
       b + main,
       {{"idle_timeout_seconds", 9}},
       {},
       main,
       ghost},
      {"POST /v1/branches/{name}/reset", "POST", b + kid + "/reset", none, {}, kid, ghost},
      {"POST /v1/branches/{name}/detach", "POST", b + kid + "/detach", none, {}, kid, ghost},
      {"GET /v1/branches/{name}/endpoint", "GET", b + main + "/endpoint", none, {}, main, ghost},
      {"POST /v1/branches/{name}/endpoint/start",
       "POST",
       b + main + "/endpoint/start",
       none,
       {},
       main,
       ghost},
      {"POST /v1/branches/{name}/endpoint/suspend",
       "POST",
       b + main + "/endpoint/suspend",
       none,
       {},
       main,
       ghost},
      {"GET /v1/branches/{name}/credentials",
       "GET",
       b + main + "/credentials",
       none,
       {},
       main,
       ghost},
      {"POST /v1/branches/{name}/credentials",
       "POST",
       b + main + "/credentials",
       json::object(),
       {},
       main,
       ghost},
      {"POST /v1/snapshots",
       "POST",
       "/v1/snapshots",
       {{"branch", main}, {"name", "new-snap"}},
       {},
       main,
       ghost},
      {"POST /v1/branches",
       "POST",
       "/v1/branches",
       {{"name", "new-x"}, {"from", main}},
       {},
       main,
       ghost},
      {"POST /v1/branches",
       "POST",
       "/v1/branches",
       {{"name", "new-x"}, {"from", main + "@seq:1"}},
       {},
       main,
       ghost},
      {"POST /v1/branches",
       "POST",
       "/v1/branches",
       {{"name", "new-x"}, {"from", mine + "@" + snap}},
       {},
       snap,
       ghost_snap},
      {"POST /v1/branches/{name}/restore",
       "POST",
       b + main + "/restore",
       {{"to", "@seq:1"}},
       {},
       main,
       ghost},
      {"POST /v1/branches/{name}/restore",
       "POST",
       b + mine + "/restore",
       {{"to", "@" + snap}},
       {},
       snap,
       ghost_snap},
      {"POST /v1/branches/{name}/promote", "POST", b + kid + "/promote", none, {}, kid, ghost},
      {"GET /v1/branches/{name}/diff", "GET", b + main + "/diff", none, {}, main, ghost},
      {"GET /v1/branches/{name}/diff",
       "GET",
       b + mine + "/diff",
       none,
       {{"against", main}},
       main,
       ghost},
      // Last, so that a broken check deletes nothing the rows above name.
      {"DELETE /v1/branches/{name}", "DELETE", b + kid, none, {}, kid, ghost},
      {"DELETE /v1/credentials/{id}",
       "DELETE",
       "/v1/credentials/" + their_cred,
       none,
       {},
       their_cred,
       ghost_cred},
      {"DELETE /v1/snapshots/{name}",
       "DELETE",
       "/v1/snapshots/" + snap,
       none,
       {},
       snap,
       ghost_snap},
  };
}

// Routes an owner token may not call at all, for a token of `me`.
std::vector<ForeignRow> AdminRows(const std::string& me, const std::string& them,
                                  const std::string& my_token_id) {
  const json none = nullptr;
  return {
      {"GET /metrics", "GET", "/metrics", none, {}, "", ""},
      {"GET /v1/status", "GET", "/v1/status", none, {}, "", ""},
      {"POST /v1/endpoints/suspend", "POST", "/v1/endpoints/suspend", none, {}, "", ""},
      {"PUT /v1/owners/{owner}/quota",
       "PUT",
       "/v1/owners/" + me + "/quota",
       {{"max_branches", 100}},
       {},
       "",
       ""},
      {"PUT /v1/owners/{owner}/quota",
       "PUT",
       "/v1/owners/" + them + "/quota",
       {{"max_branches", 0}},
       {},
       "",
       ""},
      {"GET /v1/owners/{owner}", "GET", "/v1/owners/" + them, none, {}, "", ""},
      {"POST /v1/gc", "POST", "/v1/gc", none, {}, "", ""},
      {"GET /v1/gc", "GET", "/v1/gc", none, {}, "", ""},
      {"POST /v1/tokens", "POST", "/v1/tokens", {{"owner", me}}, {}, "", ""},
      {"GET /v1/tokens", "GET", "/v1/tokens", none, {}, "", ""},
      {"DELETE /v1/tokens/{id}", "DELETE", "/v1/tokens/" + my_token_id, none, {}, "", ""},
  };
}

// Routes whose answer an owner token sees filtered.
const std::vector<std::string> kListRoutes = {"GET /v1/branches", "GET /v1/endpoints",
                                              "GET /v1/snapshots"};

TEST_F(OwnerTokenTest, AnotherOwnersObjectIsA404LikeAMissingOneAndChangesNothing) {
  for (const auto& [me, them] : {std::pair<std::string, std::string>{"a", "b"}, {"b", "a"}}) {
    for (const ForeignRow& row : ForeignRows(me, them, cred[them])) {
      SCOPED_TRACE(me + " on " + them + ": " + row.route + " " + row.path + " " + row.body.dump());
      const std::string before = State();
      HttpResponse foreign = Send(token[me], row.method, row.path, row.body, row.query);
      EXPECT_EQ(State(), before);
      const ForeignRow g = Ghost(row);
      HttpResponse missing = Send(token[me], g.method, g.path, g.body, g.query);
      EXPECT_EQ(foreign.status, 404) << foreign.body;
      EXPECT_EQ(ErrorCode(foreign), "not_found") << foreign.body;
      EXPECT_EQ(missing.status, foreign.status);
      EXPECT_EQ(Replace(missing.body, row.ghost, "NAME"),
                Replace(foreign.body, row.foreign, "NAME"));
      EXPECT_EQ(missing.headers, foreign.headers);
    }
  }
}

TEST_F(OwnerTokenTest, AdminRoutesAreRefusedToOwnerTokensAndChangeNothing) {
  for (const std::string me : {"a", "b"}) {
    for (const ForeignRow& row : AdminRows(me, me == "a" ? "b" : "a", token_id[me])) {
      SCOPED_TRACE(me + ": " + row.route + " " + row.path);
      const std::string before = State();
      HttpResponse r = Send(token[me], row.method, row.path, row.body, row.query);
      EXPECT_EQ(State(), before);
      EXPECT_EQ(r.status, 403) << r.body;
      EXPECT_EQ(ErrorCode(r), "permission") << r.body;
      EXPECT_NE(r.body.find("owner '" + me + "'"), std::string::npos) << r.body;
    }
    // Its own owner's usage it may read.
    HttpResponse own = Send(token[me], "GET", "/v1/owners/" + me);
    EXPECT_EQ(own.status, 200) << own.body;
    EXPECT_EQ(json::parse(own.body)["branches"], 2);
  }
}

TEST_F(OwnerTokenTest, TheTablesCoverEveryRoute) {
  std::set<std::string> covered(kListRoutes.begin(), kListRoutes.end());
  for (const ForeignRow& r : ForeignRows("a", "b", "c")) covered.insert(r.route);
  for (const ForeignRow& r : AdminRows("a", "b", "t")) covered.insert(r.route);
  for (const std::string& route : Api::RouteNames()) {
    EXPECT_TRUE(covered.count(route)) << route << " is in no table of this test";
  }
}

TEST_F(OwnerTokenTest, ListsShowTheOwnersObjectsOnly) {
  // An endpoint is listed once something asked for it (a failed start).
  for (const char* b : {"a-main", "b-main", "a-kid", "b-kid"}) {
    Raw("POST", std::string("/v1/branches/") + b + "/endpoint/start", "");
  }
  const std::map<std::string, std::string> field = {
      {"GET /v1/branches", "name"}, {"GET /v1/endpoints", "branch"}, {"GET /v1/snapshots", "name"}};
  for (const std::string& route : kListRoutes) {
    const std::string path = route.substr(4);
    std::set<std::string> all;
    for (const json& item : Ok("GET", path)) all.insert(item[field.at(route)].get<std::string>());
    for (const std::string me : {"a", "b"}) {
      SCOPED_TRACE(me + ": " + route);
      HttpResponse r = Send(token[me], "GET", path);
      ASSERT_EQ(r.status, 200) << r.body;
      std::set<std::string> seen, expected;
      for (const json& item : json::parse(r.body)) seen.insert(item[field.at(route)]);
      for (const std::string& name : all) {
        if (name.rfind(me + "-", 0) == 0) expected.insert(name);
      }
      EXPECT_FALSE(expected.empty());
      EXPECT_LT(expected.size(), all.size());
      EXPECT_EQ(seen, expected);
    }
  }
}

TEST_F(OwnerTokenTest, CreationIsForcedToTheOwnerAndCountsAgainstItsQuota) {
  HttpResponse r = Send(token["a"], "POST", "/v1/branches", {{"name", "a-new"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["owner"], "a");
  EXPECT_EQ(env.Find("a-new")->owner, "a");
  r = Send(token["a"], "POST", "/v1/branches", {{"name", "a-fork"}, {"from", "a-main@a-snap"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(env.Find("a-fork")->owner, "a");
  for (const json& owner : {json("b"), json(""), json(5)}) {
    const std::string before = State();
    r = Send(token["a"], "POST", "/v1/branches", {{"name", "a-other"}, {"owner", owner}});
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(ErrorCode(r), "permission") << r.body;
    EXPECT_EQ(State(), before);
  }
  // a owns a-main, a-kid, a-new, a-fork: one more fits.
  Ok("PUT", "/v1/owners/a/quota", {{"max_branches", 5}});
  r = Send(token["a"], "POST", "/v1/branches", {{"name", "a-5"}, {"from", "a-main"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string before = State();
  r = Send(token["a"], "POST", "/v1/branches", {{"name", "a-6"}, {"from", "a-main"}});
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(ErrorCode(r), "quota") << r.body;
  EXPECT_EQ(State(), before);
  // b's quota is b's: a's full quota does not stop it.
  r = Send(token["b"], "POST", "/v1/branches", {{"name", "b-new"}});
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(Send(token["a"], "GET", "/v1/owners/a").body)["branches"], 5);
}

TEST_F(OwnerTokenTest, AnOwnerTokenActsOnItsOwnBranches) {
  const std::string t = token["a"];
  EXPECT_EQ(Send(t, "GET", "/v1/branches/a-main").status, 200);
  EXPECT_EQ(Send(t, "PATCH", "/v1/branches/a-main", {{"idle_timeout_seconds", 9}}).status, 200);
  EXPECT_EQ(env.Find("a-main")->idle_timeout_s, 9);
  EXPECT_EQ(Send(t, "POST", "/v1/snapshots", {{"branch", "a-main"}, {"name", "a-s2"}}).status, 201);
  EXPECT_EQ(Send(t, "DELETE", "/v1/snapshots/a-s2").status, 200);
  EXPECT_EQ(env.catalog()->Current()->FindSnapshot("a-s2"), nullptr);
  HttpResponse c = Send(t, "POST", "/v1/branches/a-main/credentials", json::object());
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(json::parse(Send(t, "GET", "/v1/branches/a-main/credentials").body).size(), 2u);
  EXPECT_EQ(Send(t, "DELETE", "/v1/credentials/" + cred["a"]).status, 200);
  EXPECT_EQ(env.catalog()->Current()->FindCredential(cred["a"]), nullptr);
  EXPECT_EQ(Send(t, "POST", "/v1/branches/a-main/restore", {{"to", "@a-snap"}}).status, 200);
  EXPECT_EQ(Send(t, "DELETE", "/v1/branches/a-kid").status, 200);
  EXPECT_EQ(env.Find("a-kid"), nullptr);
  // The diff route ran (and has no diff engine here): the scope let it through.
  EXPECT_EQ(Send(t, "GET", "/v1/branches/a-main/diff").status, 501);
}

TEST_F(OwnerTokenTest, AForkOfAnotherOwnersBranchCannotReadOrTakeItsParent) {
  // Only the admin makes such forks.
  Ok("POST", "/v1/branches", {{"name", "a-cross"}, {"from", "b-main"}, {"owner", "a"}}, 201);
  const std::string t = token["a"];
  EXPECT_EQ(Send(t, "GET", "/v1/branches/a-cross").status, 200);
  const std::string before = State();
  for (const std::string action : {"promote", "diff"}) {
    HttpResponse r = Send(t, action == "diff" ? "GET" : "POST", "/v1/branches/a-cross/" + action);
    EXPECT_EQ(r.status, 403) << action << ": " << r.body;
    EXPECT_NE(r.body.find("was forked from a branch of another owner"), std::string::npos)
        << r.body;
  }
  EXPECT_EQ(Send(t, "GET", "/v1/branches/a-cross/diff", nullptr, {{"against", "b-main"}}).status,
            404);
  EXPECT_EQ(State(), before);
  // Against its own branch the diff runs (no diff engine here: 501).
  EXPECT_EQ(Send(t, "GET", "/v1/branches/a-cross/diff", nullptr, {{"against", "a-main"}}).status,
            501);
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

}  // namespace
}  // namespace strata
