#include "api/api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "api/api_test_fixture.h"
#include "api/mcp_http.h"
#include "api/status_metrics.h"
#include "catalog/branch_test_util.h"
#include "catalog/fork_spec.h"
#include "common/clock.h"
#include "endpoint/branch_access.h"

namespace strata {
namespace {

using json = nlohmann::json;
using testing::BranchEnv;

TEST_F(ApiTest, BranchRoutesProduceDocumentedFields) {
  json main = Ok("POST", "/v1/branches", {{"name", "main"}, {"uid", 26}, {"gid", 26}}, 201);
  ExpectBranchObject(main, "main", nullptr, 0, 1);
  EXPECT_EQ(main["id"], 1);
  EXPECT_TRUE(main["elapsed_us"].is_number_integer());
  EXPECT_TRUE(main["owner"].is_null());
  EXPECT_TRUE(main["expires_at"].is_null());
  json kid = Ok("POST", "/v1/branches", {{"name", "kid"}, {"from", "main"}, {"owner", "a1"}}, 201);
  ExpectBranchObject(kid, "kid", "main", 1, 0);
  EXPECT_EQ(kid["owner"], "a1");
  json list = Ok("GET", "/v1/branches");
  ASSERT_EQ(list.size(), 2u);
  ExpectBranchObject(list[1], "kid", "main", 1, 0);
  ExpectBranchObject(Ok("GET", "/v1/branches/kid"), "kid", "main", 1, 0);
  ExpectError("POST", "/v1/branches", R"({"name":"main"})", 409, "exists");
  ExpectError("POST", "/v1/branches", R"({"name":"x","from":"nope"})", 404, "not_found");
  ExpectError("DELETE", "/v1/branches/main", "", 409, "busy");
  ExpectError("GET", "/v1/branches/nope", "", 404, "not_found");
  ExpectBranchObject(Ok("POST", "/v1/branches/kid/reset"), "kid", "main", 1, 0);
  EXPECT_EQ(Ok("DELETE", "/v1/branches/kid"), json::object());
  EXPECT_EQ(Ok("GET", "/v1/branches").size(), 1u);
}

TEST_F(ApiTest, BranchListPagesInIdOrderAndFiltersByOwner) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  for (int i = 0; i < 7; i++) {
    Ok("POST", "/v1/branches",
       {{"name", "k" + std::to_string(i)}, {"from", "main"}, {"owner", i % 2 ? "odd" : "even"}},
       201);
  }
  const json all = Ok("GET", "/v1/branches");
  ASSERT_EQ(all.size(), 8u);
  std::vector<std::string> names, paged;
  for (const json& b : all) names.push_back(b["name"]);
  // Pages of 3, cursor to cursor, give the whole list in order.
  json cursor = nullptr;
  int pages = 0;
  do {
    std::string path = "/v1/branches?limit=3";
    if (cursor.is_string()) path += "&cursor=" + cursor.get<std::string>();
    const json page = Ok("GET", path);
    ASSERT_TRUE(page.is_object() && page["branches"].is_array()) << page.dump();
    EXPECT_LE(page["branches"].size(), 3u);
    for (const json& b : page["branches"]) paged.push_back(b["name"]);
    cursor = page["next_cursor"];
    ASSERT_LT(++pages, 10) << "the cursor does not move";
  } while (!cursor.is_null());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(paged, names);
  // Owners.
  const json odd = Ok("GET", "/v1/branches?owner=odd");
  ASSERT_EQ(odd.size(), 3u);
  for (const json& b : odd) EXPECT_EQ(b["owner"], "odd");
  const json even = Ok("GET", "/v1/branches?owner=even&limit=4");
  EXPECT_EQ(even["branches"].size(), 4u);
  EXPECT_TRUE(even["next_cursor"].is_null()) << "a page that ends the list says so";
  EXPECT_EQ(Ok("GET", "/v1/branches?owner=nobody").size(), 0u);
  // A branch deleted between two pages is simply not in the second.
  const json first = Ok("GET", "/v1/branches?limit=2");
  Ok("DELETE", "/v1/branches/k3");
  const json rest =
      Ok("GET", "/v1/branches?limit=1000&cursor=" + first["next_cursor"].get<std::string>());
  EXPECT_EQ(rest["branches"].size(), 5u);
  for (const char* q :
       {"limit=0", "limit=1001", "limit=x", "limit=", "cursor=-1", "cursor=1x", "sort=name"}) {
    ExpectError("GET", std::string("/v1/branches?") + q, "", 400, "invalid");
  }
}

TEST_F(ApiTest, SnapshotRoutesProduceDocumentedFields) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json s = Ok("POST", "/v1/snapshots", {{"branch", "main"}, {"name", "s1"}}, 201);
  EXPECT_EQ(s["name"], "s1");
  EXPECT_EQ(s["branch"], "main");
  EXPECT_EQ(s["seq"], 1);
  EXPECT_TRUE(s["elapsed_us"].is_number_integer());
  json list = Ok("GET", "/v1/snapshots");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["created"], s["created"]);
  ExpectError("POST", "/v1/snapshots", R"({"branch":"main","name":"s1"})", 409, "exists");
  EXPECT_EQ(Ok("DELETE", "/v1/snapshots/s1"), json::object());
  ExpectError("DELETE", "/v1/snapshots/s1", "", 404, "not_found");
}

TEST_F(ApiTest, StatusReportsDocumentedFields) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json st = Ok("GET", "/v1/status");
  for (const char* f :
       {"store", "mount", "cache_dir", "pid", "proxy", "api", "branches", "snapshots",
        "credentials", "endpoints_running", "memtable_bytes", "layer_count", "layer_bytes",
        "store_bytes", "oplog_bytes", "oplog_segments", "cache", "walsink"}) {
    EXPECT_TRUE(st.contains(f)) << "status lacks " << f;
  }
  EXPECT_EQ(st["pid"], getpid());
  EXPECT_EQ(st["proxy"], "127.0.0.1:55432");
  EXPECT_EQ(st["endpoints_running"], 0);
  EXPECT_TRUE(st["walsink"].is_null());
}

TEST_F(ApiTest, BadRequestsAnswerOneMessageAndChangeNothing) {
  for (const char* body :
       {"{",
        "not json",
        "[1,2]",
        "\"x\"",
        "42",
        "null",
        "{}",
        R"({"name": 5})",
        R"({"name": "x", "from": 5})",
        R"({"name": "x", "uid": "root"})",
        R"({"name": "bad name"})",
        R"({"name": "x", "from": "main@seq:x"})",
        R"({"name": "x", "color": 1})",
        R"({"name": "x", "ttl_seconds": 0})",
        R"({"name": "x", "ttl_seconds": "1h"})",
        R"({"name": "x", "expires_at": "2001-01-01T00:00:00Z"})",
        R"({"name": "x", "expires_at": "tomorrow"})",
        R"({"name": "x", "ttl_seconds": 60, "expires_at": "2999-01-01T00:00:00Z"})",
        R"({"name": "x", "owner": "a b"})",
        R"({"name": "x", "initdb": "yes"})",
        R"({"name": "x", "start": 1})",
        R"({"name": "x", "start": true})",
        R"({"name": "x", "idle_timeout_seconds": -1})",
        R"({"name": "x", "uid": -1})",
        R"({"name": "x", "uid": 4294967296})",
        R"({"name": "x", "gid": 1.5})"}) {
    ExpectError("POST", "/v1/branches", body, 400, "invalid");
  }
  EXPECT_EQ(BranchCount(), 0u);
  ExpectError("POST", "/v1/snapshots", R"({"name": "s"})", 400, "invalid");
  ExpectError("POST", "/v1/snapshots", R"({"branch": {}, "name": "s"})", 400, "invalid");
  ExpectError("GET", "/v1/nothing", "", 404, "not_found");
  ExpectError("PUT", "/v1/branches", "", 405, "invalid");
  EXPECT_TRUE(env.catalog()->Current()->snapshots.empty());
}

TEST_F(ApiTest, TcpRequestsNeedTheToken) {
  EXPECT_EQ(Raw("GET", "/v1/status", "", /*unix_socket=*/false).status, 401);
  EXPECT_EQ(Raw("GET", "/v1/status", "", false, "Bearer wrong").status, 401);
  EXPECT_EQ(Raw("GET", "/v1/status", "", false, std::string("Bearer ") + kToken + "x").status, 401);
  EXPECT_EQ(Raw("GET", "/v1/status", "", false, std::string("Basic ") + kToken).status, 401);
  HttpResponse denied = Raw("POST", "/v1/branches", R"({"name":"x"})", false, "Bearer nope");
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(json::parse(denied.body)["code"], "unauthorized");
  EXPECT_EQ(BranchCount(), 0u);
  EXPECT_EQ(Raw("GET", "/metrics", "", false).status, 401);
  EXPECT_EQ(Raw("GET", "/v1/status", "", false, std::string("Bearer ") + kToken).status, 200);
}

TEST_F(ApiTest, DurabilityAtCreationAndPatch) {
  EXPECT_EQ(Ok("POST", "/v1/branches", {{"name", "main"}, {"durability", "ephemeral"}},
               201)["durability"],
            "ephemeral");
  EXPECT_EQ(Ok("PATCH", "/v1/branches/main", {{"durability", "local"}})["durability"], "local");
  ExpectError("PATCH", "/v1/branches/main", R"({"durability":"sometimes"})", 400, "invalid");
  ExpectError("PATCH", "/v1/branches/main", R"({"durability":"remote"})", 400, "invalid");
  ExpectError("PATCH", "/v1/branches/nope", R"({"durability":"local"})", 404, "not_found");
  ExpectError("POST", "/v1/branches", R"({"name":"x","durability":"remote"})", 400, "invalid");
  EXPECT_EQ(BranchCount(), 1u);
}

TEST_F(ApiTest, OwnerQuotaRefusesBeforeAnythingIsCreated) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json o = Ok("PUT", "/v1/owners/agent/quota", {{"max_branches", 2}});
  EXPECT_EQ(o["quota"]["max_branches"], 2);
  EXPECT_EQ(o["quota"]["max_bytes"], -1);
  Ok("POST", "/v1/branches", {{"name", "a"}, {"from", "main"}, {"owner", "agent"}}, 201);
  Ok("POST", "/v1/branches", {{"name", "b"}, {"from", "main"}, {"owner", "agent"}}, 201);
  const uint64_t version = env.catalog()->Current()->version;
  ExpectError("POST", "/v1/branches", R"({"name":"c","from":"main","owner":"agent"})", 403,
              "quota");
  EXPECT_EQ(env.catalog()->Current()->version, version);
  EXPECT_EQ(BranchCount(), 3u);
  // Another owner and unowned branches are not limited by it.
  Ok("POST", "/v1/branches", {{"name", "c"}, {"from", "main"}, {"owner", "other"}}, 201);
  json usage = Ok("GET", "/v1/owners/agent");
  EXPECT_EQ(usage["branches"], 2);
  // A byte quota already exceeded refuses creation and new sessions.
  Ok("PUT", "/v1/owners/agent/quota", {{"max_branches", -1}, {"max_bytes", 0}});
  ExpectError("POST", "/v1/branches", R"({"name":"d","from":"main","owner":"agent"})", 403,
              "quota");
  EXPECT_EQ(fleet->CheckSessionQuota("agent").code(), Code::kQuota);
  EXPECT_TRUE(fleet->CheckSessionQuota("other").ok());
  ExpectError("PUT", "/v1/owners/agent/quota", R"({"max_branches":-2})", 400, "invalid");
  ExpectError("PUT", "/v1/owners/agent/quota", R"({"max_bytes":"lots"})", 400, "invalid");
  ExpectError("PUT", "/v1/owners/bad%20name/quota", R"({"max_bytes":1})", 400, "invalid");
}

TEST_F(ApiTest, ReaperDeletesExpiredBranchesLeavesFirst) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json p = Ok("POST", "/v1/branches", {{"name", "p"}, {"from", "main"}, {"ttl_seconds", 60}}, 201);
  ASSERT_TRUE(p["expires_at"].is_string());
  EXPECT_EQ(*ParseRfc3339(p["expires_at"].get<std::string>()), clock.NowNs() + 60'000'000'000);
  Ok("POST", "/v1/branches", {{"name", "kid"}, {"from", "p"}, {"ttl_seconds", 120}}, 201);
  Ok("POST", "/v1/branches", {{"name", "keep"}, {"from", "main"}}, 201);
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(BranchCount(), 4u);
  clock.Advance(std::chrono::seconds(59));
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(BranchCount(), 4u);
  // p expired, but its child did not: p stays until the child goes.
  clock.Advance(std::chrono::seconds(2));
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(BranchCount(), 4u);
  clock.Advance(std::chrono::seconds(60));
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(BranchCount(), 2u);
  EXPECT_EQ(env.catalog()->Current()->FindBranch("p"), nullptr);
  EXPECT_EQ(env.catalog()->Current()->FindBranch("kid"), nullptr);
  // PATCH with expires_at null: never expires.
  Ok("PATCH", "/v1/branches/keep", {{"ttl_seconds", 1}});
  json kept = Ok("PATCH", "/v1/branches/keep", {{"expires_at", nullptr}});
  EXPECT_TRUE(kept["expires_at"].is_null());
  clock.Advance(std::chrono::hours(1000));
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(BranchCount(), 2u);
}

TEST_F(ApiTest, ExpiresAtIsCheckedAgainstTheClock) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  // 2026-01-01T00:00:00Z is the ManualClock's start: not in the future.
  ExpectError("POST", "/v1/branches",
              R"({"name":"x","from":"main","expires_at":"2026-01-01T00:00:00Z"})", 400, "invalid");
  json x = Ok("POST", "/v1/branches",
              {{"name", "x"}, {"from", "main"}, {"expires_at", "2026-01-01T00:00:01Z"}}, 201);
  EXPECT_EQ(x["expires_at"], "2026-01-01T00:00:01.000Z");
  clock.Advance(std::chrono::seconds(1));
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(env.catalog()->Current()->FindBranch("x"), nullptr);
}

TEST_F(ApiTest, CredentialsAreIssuedListedAndRevoked) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json c = Ok("POST", "/v1/branches/main/credentials", {{"ttl_seconds", 3600}}, 201);
  EXPECT_EQ(c["role"], "postgres");
  EXPECT_EQ(c["branch"], "main");
  EXPECT_EQ(c["user"], c["id"]);
  EXPECT_EQ(c["password"].get<std::string>().size(), 32u);
  EXPECT_EQ(c["uri"], "postgresql://" + c["user"].get<std::string>() + ":" +
                          c["password"].get<std::string>() + "@127.0.0.1:55432/main");
  json list = Ok("GET", "/v1/branches/main/credentials");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_FALSE(list[0].contains("password"));
  // Only the verifier is stored.
  const CredentialInfo* stored = env.catalog()->Current()->FindCredential(c["id"]);
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->verifier.find(c["password"].get<std::string>()), std::string::npos);
  EXPECT_EQ(stored->verifier.rfind("SCRAM-SHA-256$4096:", 0), 0u);
  ExpectError("POST", "/v1/branches/nope/credentials", "", 404, "not_found");
  ExpectError("POST", "/v1/branches/main/credentials", R"({"role":"bad role"})", 400, "invalid");
  ExpectError("POST", "/v1/branches/main/credentials", R"({"ttl_seconds":-5})", 400, "invalid");
  EXPECT_EQ(Ok("DELETE", "/v1/credentials/" + c["id"].get<std::string>()), json::object());
  ExpectError("DELETE", "/v1/credentials/" + c["id"].get<std::string>(), "", 404, "not_found");
  EXPECT_TRUE(Ok("GET", "/v1/branches/main/credentials").empty());
}

TEST_F(ApiTest, CredentialsExpire) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json c = Ok("POST", "/v1/branches/main/credentials", {{"ttl_seconds", 10}}, 201);
  const std::string id = c["id"];
  EXPECT_EQ(c["created"], FormatRfc3339(clock.NowNs()));
  EXPECT_EQ(c["expires_at"], FormatRfc3339(clock.NowNs() + 10'000'000'000));
  BranchAccess access(env.catalog(), credentials.get(), endpoints.get(), nullptr);
  clock.Advance(std::chrono::seconds(9));
  EXPECT_OK(access.FindCredential(id).status());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(access.FindCredential(id).status().code(), Code::kNotFound);
  // The reaper prunes expired credentials (at most once a minute).
  fleet->Reap(clock.NowNs());
  EXPECT_EQ(env.catalog()->Current()->FindCredential(id), nullptr);
}

TEST_F(ApiTest, CredentialsLastTheDefaultTtl) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  json c = Ok("POST", "/v1/branches/main/credentials", nullptr, 201);
  EXPECT_EQ(c["expires_at"], FormatRfc3339(clock.NowNs() + 86400'000'000'000));
  json d =
      Ok("POST", "/v1/branches/main/credentials", {{"expires_at", "2026-01-02T00:00:00Z"}}, 201);
  EXPECT_EQ(d["expires_at"], "2026-01-02T00:00:00.000Z");
  ExpectError("POST", "/v1/branches/main/credentials", R"({"expires_at":"2025-12-31T23:59:59Z"})",
              400, "invalid");
}

// Names from a percent-decoded path can hold any byte: the answer is still
// one JSON error, never an exception out of Handle.
TEST_F(ApiTest, NamesThatAreNotUtf8GetAJsonError) {
  for (const char* path : {"/v1/branches/\xff", "/v1/owners/\xff", "/v1/owners/\xff/quota"}) {
    const std::string method = std::string(path).ends_with("quota") ? "PUT" : "GET";
    HttpResponse r = Raw(method, path, "");
    EXPECT_EQ(r.status, 400) << path << " -> " << r.body;
    EXPECT_EQ(json::parse(r.body, nullptr, false)["code"], "invalid") << r.body;
    EXPECT_NE(r.body.find("invalid UTF-8 byte"), std::string::npos) << r.body;
  }
}

// The proxy's checks: a credential opens only its own branch, an unknown
// branch and an owner over quota are refused, all before any server starts.
TEST_F(ApiTest, BranchAccessScopesCredentialsToOneBranch) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  Ok("POST", "/v1/branches", {{"name", "other"}, {"from", "main"}, {"owner", "agent"}}, 201);
  json c = Ok("POST", "/v1/branches/main/credentials", nullptr, 201);
  json d = Ok("POST", "/v1/branches/other/credentials", nullptr, 201);
  BranchAccess access(env.catalog(), credentials.get(), endpoints.get(),
                      [this](const std::string& owner) { return fleet->CheckSessionQuota(owner); });
  ASSERT_OK_AND_ASSIGN(ProxyCredential cred, access.FindCredential(c["user"]));
  EXPECT_EQ(cred.role, "postgres");
  EXPECT_EQ(access.FindCredential("u0000000000000000").status().code(), Code::kNotFound);
  EXPECT_EQ(access.Open(cred, "other", /*relayed=*/false).status().code(), Code::kPermission);
  EXPECT_EQ(access.Open(cred, "nope", /*relayed=*/false).status().code(), Code::kNotFound);
  // The right branch gets as far as starting its server: this one holds no cluster.
  Result<ProxySession> s = access.Open(cred, "main", /*relayed=*/false);
  EXPECT_EQ(s.status().code(), Code::kInvalid) << s.status().ToString();
  EXPECT_NE(s.status().message().find("holds no PostgreSQL cluster"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(ProxyCredential cred2, access.FindCredential(d["user"]));
  Ok("PUT", "/v1/owners/agent/quota", {{"max_bytes", 0}});
  EXPECT_EQ(access.Open(cred2, "other", /*relayed=*/false).status().code(), Code::kQuota);
  // Deleting the branch deletes its credentials.
  Ok("DELETE", "/v1/branches/other");
  EXPECT_EQ(access.FindCredential(d["user"]).status().code(), Code::kNotFound);
}

TEST_F(ApiTest, EndpointRoutesAndMetrics) {
  Ok("POST", "/v1/branches", {{"name", "main"}, {"idle_timeout_seconds", 42}}, 201);
  json e = Ok("GET", "/v1/branches/main/endpoint");
  EXPECT_EQ(e["state"], "suspended");
  EXPECT_EQ(e["idle_timeout_seconds"], 42);
  EXPECT_TRUE(e["pid"].is_null());
  ExpectError("POST", "/v1/branches/main/endpoint/start", "", 400, "invalid");  // no cluster
  ExpectError("GET", "/v1/branches/nope/endpoint", "", 404, "not_found");
  EXPECT_EQ(Ok("POST", "/v1/endpoints/suspend")["suspended"], 0);
  HttpResponse m = Raw("GET", "/metrics", "");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type.rfind("text/plain", 0), 0u);
  EXPECT_NE(m.body.find("strata_api_requests_total{route=\"POST /v1/branches\",status=\"201\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("strata_endpoint_start_failures_total 1"), std::string::npos) << m.body;
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST_F(ApiTest, HistoryWindowsAreSetPatchedAndRefuseOldForks) {
  json main = Ok("POST", "/v1/branches", {{"name", "main"}, {"history_seconds", 0}}, 201);
  EXPECT_EQ(main["history_seconds"], 0);
  EXPECT_EQ(main["history_default"], false);
  EXPECT_EQ(main["oldest_point"]["seq"], 1);
  EXPECT_TRUE(main["logical_bytes"].is_null());
  EXPECT_TRUE(main["space_as_of"].is_null());
  EXPECT_TRUE(main["detached_from"].is_null());
  ASSERT_OK(env.vs()->Commit(main["id"].get<uint32_t>(), {{"k", false, "v"}}));
  HttpResponse r = Raw("POST", "/v1/branches", R"({"name":"old","from":"main@seq:1"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("older than its history window (0s); the oldest point still available "
                        "is seq 2"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(BranchCount(), 1u);
  json patched = Ok("PATCH", "/v1/branches/main", {{"history_seconds", 7200}});
  EXPECT_EQ(patched["history_seconds"], 7200);
  json back = Ok("PATCH", "/v1/branches/main", json{{"history_seconds", nullptr}});
  EXPECT_EQ(back["history_seconds"], 3600);
  EXPECT_EQ(back["history_default"], true);
  ExpectError("PATCH", "/v1/branches/main", R"({"history_seconds":-1})", 400, "invalid");
  ExpectError("POST", "/v1/branches", R"({"name":"x","history_seconds":"1h"})", 400, "invalid");
  EXPECT_EQ(Ok("GET", "/v1/status")["history_default_seconds"], 3600);
}

TEST_F(ApiTest, GcRunsOnDemandAndReportsItsState) {
  json main = Ok("POST", "/v1/branches", {{"name", "main"}, {"history_seconds", 0}}, 201);
  const uint32_t id = main["id"].get<uint32_t>();
  for (int i = 0; i < 4; i++) {
    ASSERT_OK(env.vs()->Commit(id, {{"k", false, std::string(8192, static_cast<char>('a' + i))}}));
    ASSERT_OK(env.vs()->Flush(id));
  }
  json before = Ok("GET", "/v1/gc");
  EXPECT_EQ(before["enabled"], false);
  EXPECT_EQ(before["passes"], 0);
  EXPECT_TRUE(before["running"].is_null());
  EXPECT_TRUE(before["last_pass"].is_null());
  json report = Ok("POST", "/v1/gc", json::object());
  for (const char* f : {"branches", "layers_before", "layers_after", "bytes_before", "bytes_after",
                        "freed_bytes", "rewritten_bytes", "deleted_layers", "written_layers",
                        "leaked_objects_deleted", "elapsed_ms"}) {
    EXPECT_TRUE(report.contains(f)) << f << ": " << report.dump();
  }
  EXPECT_EQ(report["branches"], 1);
  EXPECT_GT(report["freed_bytes"].get<uint64_t>(), 0u);
  EXPECT_LT(report["layers_after"].get<uint64_t>(), report["layers_before"].get<uint64_t>());
  json after = Ok("GET", "/v1/gc");
  EXPECT_EQ(after["passes"], 1);
  EXPECT_EQ(after["last_pass"]["freed_bytes"], report["freed_bytes"]);
  EXPECT_TRUE(ParseRfc3339(after["last_pass"]["finished"].get<std::string>()).ok());
  json b = Ok("GET", "/v1/branches/main");
  EXPECT_TRUE(b["exclusive_bytes"].is_number_integer()) << b.dump();
  EXPECT_TRUE(b["logical_bytes"].is_number_integer()) << b.dump();
  EXPECT_TRUE(ParseRfc3339(b["space_as_of"].get<std::string>()).ok());
  ExpectError("POST", "/v1/gc", R"({"branch":"nope"})", 404, "not_found");
  ExpectError("POST", "/v1/gc", R"({"branches":"main"})", 400, "invalid");
  const std::string text = metrics.Render();
  for (const char* m : {"\nstrata_gc_passes_total 1\n", "\nstrata_store_bytes ",
                        "\nstrata_branch_exclusive_bytes{branch=\"main\"} ",
                        "\nstrata_read_sources_bucket{le=\"1\"} "}) {
    EXPECT_NE(text.find(m), std::string::npos) << m;
  }
}

TEST_F(ApiTest, DetachMakesARootAndRefusesRoots) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  Ok("POST", "/v1/branches", {{"name", "kid"}, {"from", "main"}}, 201);
  json d = Ok("POST", "/v1/branches/kid/detach");
  EXPECT_TRUE(d["parent"].is_null());
  EXPECT_EQ(d["detached_from"], "main");
  EXPECT_TRUE(d["elapsed_us"].is_number_integer());
  ExpectError("POST", "/v1/branches/main/detach", "", 400, "invalid");
  ExpectError("POST", "/v1/branches/nope/detach", "", 404, "not_found");
  EXPECT_EQ(Ok("DELETE", "/v1/branches/main"), json::object());
  EXPECT_EQ(Ok("GET", "/v1/branches/kid")["detached_from"], "main");
}

// /mcp (api/mcp_http.h): MCP over streamable HTTP, calling the same routes.
class McpHttpTest : public ApiTest {
 protected:
  HttpResponse Post(const json& msg, std::map<std::string, std::string> headers = {},
                    bool unix_socket = true, const std::string& method = "POST") {
    HttpRequest req;
    req.method = method;
    req.path = "/mcp";
    req.body = msg.is_string() ? msg.get<std::string>() : msg.dump();
    req.from_unix_socket = unix_socket;
    req.headers = std::move(headers);
    return McpHttp(api.get()).Handle(req);
  }
  json Call(const std::string& tool, const json& args,
            std::map<std::string, std::string> headers = {}) {
    HttpResponse r = Post({{"jsonrpc", "2.0"},
                           {"id", 7},
                           {"method", "tools/call"},
                           {"params", {{"name", tool}, {"arguments", args}}}},
                          std::move(headers));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false)["result"];
  }
};

TEST_F(McpHttpTest, ToolsCallTheApiRoutes) {
  HttpResponse r = Post({{"jsonrpc", "2.0"},
                         {"id", 1},
                         {"method", "initialize"},
                         {"params", {{"protocolVersion", "2025-06-18"}}}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(json::parse(r.body)["result"]["protocolVersion"], "2025-06-18");
  r = Post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "");
  json res = Call("create_branch", {{"name", "m"}});
  EXPECT_EQ(res["isError"], false) << res.dump();
  EXPECT_EQ(res["structuredContent"]["name"], "m");
  EXPECT_EQ(Ok("GET", "/v1/branches/m")["name"], "m");
  res = Call("create_branch", {{"name", "m"}});
  EXPECT_EQ(res["isError"], true);
  EXPECT_EQ(res["content"][0]["text"], "branch 'm' already exists");
  EXPECT_EQ(BranchCount(), 1u);
}

TEST_F(McpHttpTest, OwnerScopeFromTheHeaderOrTheQuery) {
  ASSERT_EQ(Call("create_branch", {{"name", "free"}})["isError"], false);
  json res = Call("create_branch", {{"name", "mine"}}, {{"x-strata-owner", "o1"}});
  ASSERT_EQ(res["isError"], false) << res.dump();
  EXPECT_EQ(Ok("GET", "/v1/branches/mine")["owner"], "o1");
  res = Call("delete_branch", {{"branch", "free"}}, {{"x-strata-owner", "o1"}});
  EXPECT_EQ(res["isError"], true);
  EXPECT_EQ(res["content"][0]["text"],
            "branch 'free' is not a branch of owner 'o1': this session acts on that owner's "
            "branches only");
  EXPECT_EQ(BranchCount(), 2u);
  res = Call("list_branches", json::object(), {{"x-strata-owner", "o1"}});
  ASSERT_EQ(res["structuredContent"]["branches"].size(), 1u);
  HttpRequest req;
  req.method = "POST";
  req.path = "/mcp";
  req.query["owner"] = "o2";
  req.headers["x-strata-owner"] = "o1";
  req.from_unix_socket = true;
  req.body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  EXPECT_EQ(McpHttp(api.get()).Handle(req).status, 400);
  req.headers.clear();
  EXPECT_EQ(McpHttp(api.get()).Handle(req).status, 200);
}

TEST_F(McpHttpTest, TransportRules) {
  const json ping = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}};
  EXPECT_EQ(Post(ping, {}, /*unix_socket=*/false).status, 401);
  const std::string bearer = std::string("Bearer ") + kToken;
  EXPECT_EQ(Post(ping, {{"authorization", bearer}}, false).status, 200);
  EXPECT_EQ(
      Post(ping, {{"authorization", bearer}, {"origin", "http://evil.example"}}, false).status,
      403);
  EXPECT_EQ(Post(ping, {{"origin", "http://localhost:3000"}}).status, 200);
  EXPECT_EQ(Post(ping, {{"origin", "http://api.test:1"}, {"host", "api.test:55433"}}).status, 200);
  HttpResponse get = Post(ping, {}, true, "GET");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(Post(ping, {}, true, "DELETE").status, 405);
  EXPECT_EQ(Post(ping, {{"mcp-protocol-version", "2025-11-25"}}).status, 200);
  EXPECT_EQ(Post(ping, {{"mcp-protocol-version", "1999-01-01"}}).status, 400);
  EXPECT_EQ(Post(json("{not json")).status, 400);
  EXPECT_EQ(Post(json::array({ping})).status, 400);
  EXPECT_EQ(json::parse(Post(json::array({ping})).body)["error"]["code"], -32600);
  EXPECT_FALSE(McpHttp::OriginAllowed("null", "localhost"));
  EXPECT_TRUE(McpHttp::OriginAllowed("https://[::1]:8", ""));
  EXPECT_FALSE(McpHttp::OriginAllowed("http://localhost.evil.example", "x"));
}

TEST_F(ApiTest, RestoreKeepsTheNameAndItsCredentials) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  testing::Put(env, "main", "k", "v2");
  testing::Put(env, "main", "k", "v3");
  json c = Ok("POST", "/v1/branches/main/credentials", nullptr, 201);
  json r = Ok("POST", "/v1/branches/main/restore", {{"to", "@seq:2"}, {"preserve_as", "old"}});
  ExpectBranchObject(r, "main", "old", 2, 0);
  EXPECT_TRUE(r["elapsed_us"].is_number_integer());
  EXPECT_EQ(testing::Val(env, "main", "k"), "v2");
  EXPECT_EQ(testing::Val(env, "old", "k"), "v3");
  BranchAccess access(env.catalog(), credentials.get(), endpoints.get(), nullptr);
  ASSERT_OK_AND_ASSIGN(ProxyCredential cred, access.FindCredential(c["user"]));
  // The credential opens the name (as far as starting a server: no cluster here).
  EXPECT_EQ(access.Open(cred, "main", /*relayed=*/false).status().code(), Code::kInvalid);
  EXPECT_EQ(access.Open(cred, "old", /*relayed=*/false).status().code(), Code::kPermission);
  // Seqs are per branch: the restored main counts from its restore point, 0.
  // Without preserve_as the old state is retired: no parent shown, not listed.
  testing::Put(env, "main", "k", "later");
  ExpectBranchObject(Ok("POST", "/v1/branches/main/restore", {{"to", "@seq:0"}}), "main", nullptr,
                     0, 0);
  json list = Ok("GET", "/v1/branches");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "old");
  EXPECT_EQ(list[1]["name"], "main");
  EXPECT_EQ(Ok("GET", "/v1/status")["branches"].size(), 2u);
  for (const char* body :
       {"{}", R"({"to": 5})", R"({"to": "seq:2"})", R"({"to": "@seq:0", "color": 1})",
        R"({"to": "@seq:0", "preserve_as": "bad name"})", R"({"to": "@seq:0", "preserve_as": 3})",
        R"({"to": "@seq:99"})", R"({"to": "@time:yesterday"})"}) {
    ExpectError("POST", "/v1/branches/main/restore", body, 400, "invalid");
  }
  ExpectError("POST", "/v1/branches/main/restore", R"({"to": "@seq:1", "preserve_as": "old"})", 409,
              "exists");
  ExpectError("POST", "/v1/branches/nope/restore", R"({"to": "@seq:1"})", 404, "not_found");
  EXPECT_EQ(testing::Val(env, "main", "k"), "v2");
  EXPECT_EQ(Ok("GET", "/v1/branches").size(), 2u);
}

TEST_F(ApiTest, PromoteGivesTheParentsNameToTheChildOrRefusesInOneLine) {
  Ok("POST", "/v1/branches", {{"name", "main"}}, 201);
  Ok("POST", "/v1/branches", {{"name", "kid"}, {"from", "main"}}, 201);
  testing::Put(env, "kid", "k", "migrated");
  json p = Ok("POST", "/v1/branches/kid/promote", {{"preserve_as", "main-before"}});
  ExpectBranchObject(p, "main", "main-before", 1, 1);
  EXPECT_EQ(testing::Val(env, "main", "k"), "migrated");
  ExpectError("GET", "/v1/branches/kid", "", 404, "not_found");
  // A fork whose parent moved on is refused, and nothing changes.
  Ok("POST", "/v1/branches", {{"name", "kid2"}, {"from", "main"}}, 201);
  testing::Put(env, "main", "k", "moved");
  HttpResponse r = Raw("POST", "/v1/branches/kid2/promote", "");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"],
            "branch 'main' changed since 'kid2' was forked from it (seqs 2..2): a promote would "
            "drop those changes; nothing was changed");
  EXPECT_EQ(Ok("GET", "/v1/branches/kid2")["parent"], "main");
  EXPECT_EQ(testing::Val(env, "main", "k"), "moved");
  ExpectError("POST", "/v1/branches/main-before/promote", "", 400, "invalid");  // a root
  ExpectError("POST", "/v1/branches/kid2/promote", R"({"force": true})", 400, "invalid");
  ExpectError("POST", "/v1/branches/nope/promote", "", 404, "not_found");
}

TEST_F(ApiTest, RestoreCountsAPreservedStateAgainstTheOwnersQuota) {
  Ok("POST", "/v1/branches", {{"name", "main"}, {"owner", "agent"}}, 201);
  testing::Put(env, "main", "k", "v2");
  Ok("PUT", "/v1/owners/agent/quota", {{"max_branches", 1}});
  const uint64_t version = env.catalog()->Current()->version;
  ExpectError("POST", "/v1/branches/main/restore", R"({"to":"@seq:1","preserve_as":"old"})", 403,
              "quota");
  EXPECT_EQ(env.catalog()->Current()->version, version);
  // A retired state is not one more branch of the owner.
  Ok("POST", "/v1/branches/main/restore", {{"to", "@seq:1"}});
  EXPECT_EQ(Ok("GET", "/v1/owners/agent")["branches"], 1);
  EXPECT_EQ(testing::Val(env, "main", "k"), "<absent>");
}

}  // namespace
}  // namespace strata
