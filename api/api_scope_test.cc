// What an owner token may do on every route of the API (api/api_scope.h;
// docs/api.md, "Owner tokens"): a table of every route naming another
// owner's object, each a 404 exactly like a missing name and changing
// nothing; the admin-only routes; filtered lists; forced creation.
#include "api/api_scope.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/api_test_fixture.h"

namespace strata {
namespace {

using json = nlohmann::json;

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
      {"GET /v1/nodes", "GET", "/v1/nodes", none, {}, "", ""},
      {"POST /v1/branches/{name}/endpoint/move",
       "POST",
       "/v1/branches/main/endpoint/move",
       {{"to", "n2"}},
       {},
       "",
       ""},
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

TEST_F(OwnerTokenTest, PagesOfBranchesAreTheOwnersOnlyAndFull) {
  for (const auto& [me, them] : {std::pair<std::string, std::string>{"a", "b"}, {"b", "a"}}) {
    SCOPED_TRACE(me);
    std::set<std::string> seen;
    std::map<std::string, std::string> query = {{"limit", "1"}};
    for (int pages = 0;; pages++) {
      ASSERT_LT(pages, 10);
      HttpResponse r = Send(token[me], "GET", "/v1/branches", nullptr, query);
      ASSERT_EQ(r.status, 200) << r.body;
      const json page = json::parse(r.body);
      ASSERT_EQ(page["branches"].size(), 1u) << "a page is full of the owner's branches";
      seen.insert(page["branches"][0]["name"].get<std::string>());
      if (page["next_cursor"].is_null()) break;
      query["cursor"] = page["next_cursor"];
    }
    EXPECT_EQ(seen, (std::set<std::string>{me + "-main", me + "-kid"}));
    HttpResponse other = Send(token[me], "GET", "/v1/branches", nullptr, {{"owner", them}});
    EXPECT_EQ(other.status, 403) << other.body;
    EXPECT_EQ(ErrorCode(other), "permission") << other.body;
    HttpResponse own = Send(token[me], "GET", "/v1/branches", nullptr, {{"owner", me}});
    EXPECT_EQ(own.status, 200) << own.body;
    EXPECT_EQ(json::parse(own.body).size(), 2u);
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

}  // namespace
}  // namespace strata
