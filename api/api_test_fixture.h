// The API over a real catalog, version store, fleet and endpoint manager
// (no postgres): the fixture of the API's route tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api.h"
#include "api/status_metrics.h"
#include "catalog/branch_test_util.h"
#include "catalog/catalog_codec.h"
#include "catalog/fork_spec.h"
#include "common/clock.h"

namespace strata {

// The daemon's admin token in these tests.
inline constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

class ApiTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  void SetUp() override {
    ASSERT_OK(env.Open());
    EndpointOptions eo;
    eo.run_dir = env.dir() + "/pg";
    eo.idle_timeout_s = 300;
    eo.clock = &clock;
    Catalog* cat = env.catalog();
    const std::string mnt = env.dir() + "/mnt";
    endpoints = std::make_unique<EndpointManager>(
        eo,
        [cat, mnt](const std::string& name) -> Result<EndpointTarget> {
          const BranchInfo* b = cat->Current()->FindBranch(name);
          if (!b) return Status::NotFound("branch \"" + name + "\" does not exist");
          return EndpointTarget{b->id, mnt + "/" + name, b->idle_timeout_s, "", nullptr};
        },
        nullptr, &metrics);
    credentials = std::make_unique<Credentials>(cat, &clock);
    FleetOptions fo;
    fo.mountpoint = mnt;
    fo.run_dir = eo.run_dir;
    fo.clock = &clock;
    fleet = std::make_unique<Fleet>(fo, cat, env.vs(), env.manager(), endpoints.get(),
                                    credentials.get(), &metrics);
    ApiContext ctx;
    ctx.store = env.store();
    ctx.sink = env.sink();
    ctx.versions = env.vs();
    ctx.catalog = cat;
    ctx.branches = env.manager();
    ctx.fleet = fleet.get();
    ctx.endpoints = endpoints.get();
    ctx.credentials = credentials.get();
    ctx.metrics = &metrics;
    CollectorOptions co;
    co.background = false;
    collector = std::make_unique<Collector>(cat, env.vs(), env.manager(), co);
    ctx.collector = collector.get();
    ctx.mountpoint = "/mnt/strata";
    ctx.cache_dir = env.dir() + "/cache";
    ctx.api_token = kToken;
    ctx.proxy_address = "127.0.0.1:55432";
    ctx.clock = &clock;
    AddStatusMetrics(&metrics, ctx);
    Configure(&ctx);
    api = std::make_unique<Api>(ctx);
  }
  // A subclass's changes to the context before the Api is made.
  virtual void Configure(ApiContext*) {}

  HttpResponse Raw(const std::string& method, const std::string& path, const std::string& body,
                   bool unix_socket = true, const std::string& auth = "") {
    HttpRequest req;
    req.method = method;
    req.path = path.substr(0, path.find('?'));
    // "?a=1&b=2" (no percent-decoding: tests write plain arguments).
    for (size_t at = path.find('?'); at != std::string::npos;) {
      const size_t end = path.find('&', at + 1);
      const std::string arg = path.substr(at + 1, end == std::string::npos ? end : end - at - 1);
      const size_t eq = arg.find('=');
      req.query.emplace(arg.substr(0, eq), eq == std::string::npos ? "" : arg.substr(eq + 1));
      at = end;
    }
    req.body = body;
    req.from_unix_socket = unix_socket;
    req.peer = unix_socket ? "local" : peer;
    if (!auth.empty()) req.headers["authorization"] = auth;
    return api->Handle(req);
  }
  // The JSON answer of a request expected to succeed with `status`.
  json Ok(const std::string& method, const std::string& path, const json& body = nullptr,
          int status = 200) {
    HttpResponse r = Raw(method, path, body.is_null() ? "" : body.dump());
    EXPECT_EQ(r.status, status) << method << " " << path << " -> " << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    return json::parse(r.body, nullptr, false);
  }
  // An error answer: exactly {code, error} with one non-empty message line.
  void ExpectError(const std::string& method, const std::string& path, const std::string& body,
                   int status, const std::string& code) {
    HttpResponse r = Raw(method, path, body);
    EXPECT_EQ(r.status, status) << method << " " << path << " " << body << " -> " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j.size(), 2u) << r.body;
    EXPECT_EQ(j.value("code", ""), code) << body << " -> " << r.body;
    ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
    const std::string msg = j["error"].get<std::string>();
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  void ExpectBranchObject(const json& b, const std::string& name, const json& parent,
                          uint64_t fork_seq, uint64_t seq) {
    for (const char* f : {"name", "id", "parent", "fork_seq", "seq", "durable_seq", "durability",
                          "acked_seq", "lag", "created", "memtable_bytes", "layers", "layer_bytes",
                          "owner", "expires_at", "endpoint"}) {
      EXPECT_TRUE(b.contains(f)) << "branch object lacks " << f << ": " << b.dump();
    }
    EXPECT_EQ(b["name"], name);
    EXPECT_EQ(b["parent"], parent);
    EXPECT_EQ(b["fork_seq"], fork_seq);
    EXPECT_EQ(b["seq"], seq);
    EXPECT_TRUE(ParseRfc3339(b["created"].get<std::string>()).ok()) << b["created"];
    EXPECT_EQ(b["endpoint"]["state"], "suspended");
  }
  size_t BranchCount() { return env.catalog()->Current()->branches.size(); }

  std::string peer = "127.0.0.1:40000";  // where Raw's TCP requests come from

  ManualClock clock;  // the API's, the reaper's, the credentials' and the endpoints' time
  testing::BranchEnv env;
  Metrics metrics;
  std::unique_ptr<EndpointManager> endpoints;
  std::unique_ptr<Credentials> credentials;
  std::unique_ptr<Fleet> fleet;
  std::unique_ptr<Collector> collector;
  std::unique_ptr<Api> api;
};

// Owners "a" and "b", each with a root branch X-main, its child X-kid, a
// snapshot X-snap of X-main, a credential of X-main and an owner token.
class OwnerTokenTest : public ApiTest {
 protected:
  using json = nlohmann::json;

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
inline std::string ErrorCode(const HttpResponse& r) {
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j.value("code", "") : "";
}

}  // namespace strata
