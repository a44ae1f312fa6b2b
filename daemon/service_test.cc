#include "daemon/service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "snapshot/branch_test_util.h"

namespace strata {
namespace {

using json = nlohmann::json;
using testing::BranchEnv;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(env.Open());
    ServiceContext ctx;
    ctx.store = env.store();
    ctx.sink = env.sink();
    ctx.versions = env.vs();
    ctx.catalog = env.catalog();
    ctx.branches = env.manager();
    ctx.mountpoint = "/mnt/strata";
    ctx.cache_dir = env.dir() + "/cache";
    service = std::make_unique<Service>(ctx);
  }
  json Call(const std::string& line) {
    std::string out = service->Handle(line);
    EXPECT_EQ(out.find('\n'), std::string::npos) << out;
    return json::parse(out);
  }
  json Ok(const json& req) {
    json r = Call(req.dump());
    EXPECT_EQ(r.value("ok", false), true) << req.dump() << " -> " << r.dump();
    return r.contains("result") ? r["result"] : json();
  }
  // An error answer: exactly ok=false, code, and one non-empty message line.
  void ExpectError(const std::string& line, const std::string& code) {
    json r = Call(line);
    EXPECT_EQ(r.size(), 3u) << line << " -> " << r.dump();
    EXPECT_EQ(r.value("ok", true), false) << line;
    EXPECT_EQ(r.value("code", ""), code) << line << " -> " << r.dump();
    ASSERT_TRUE(r.contains("error") && r["error"].is_string()) << line;
    EXPECT_FALSE(r["error"].get<std::string>().empty()) << line;
  }
  void ExpectBranchObject(const json& b, const std::string& name, const json& parent,
                          uint64_t fork_seq, uint64_t seq) {
    for (const char* f :
         {"name", "id", "parent", "fork_seq", "seq", "durable_seq", "durability", "acked_seq",
          "lag", "created", "memtable_bytes", "layers", "layer_bytes"}) {
      EXPECT_TRUE(b.contains(f)) << "branch object lacks " << f << ": " << b.dump();
    }
    EXPECT_EQ(b["name"], name);
    EXPECT_EQ(b["parent"], parent);
    EXPECT_EQ(b["fork_seq"], fork_seq);
    EXPECT_EQ(b["seq"], seq);
    EXPECT_TRUE(b["created"].is_string());
    EXPECT_TRUE(ParseRfc3339(b["created"].get<std::string>()).ok()) << b["created"];
  }

  BranchEnv env;
  std::unique_ptr<Service> service;
};

TEST_F(ServiceTest, BranchCreateAndListProduceDocumentedFields) {
  json main = Ok({{"op", "branch_create"}, {"name", "main"}, {"uid", 26}, {"gid", 26}});
  ExpectBranchObject(main, "main", nullptr, 0, 1);
  EXPECT_EQ(main["id"], 1);
  EXPECT_TRUE(main["elapsed_us"].is_number_integer());
  json kid = Ok({{"op", "branch_create"}, {"name", "kid"}, {"from", "main"}});
  ExpectBranchObject(kid, "kid", "main", 1, 0);
  json list = Ok({{"op", "branch_list"}});
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 2u);
  ExpectBranchObject(list[0], "main", nullptr, 0, 1);
  ExpectBranchObject(list[1], "kid", "main", 1, 0);
  ExpectError(json({{"op", "branch_create"}, {"name", "main"}}).dump(), "exists");
  ExpectError(json({{"op", "branch_create"}, {"name", "x"}, {"from", "nope"}}).dump(), "not_found");
  ExpectError(json({{"op", "branch_delete"}, {"name", "main"}}).dump(), "busy");
  json reset = Ok({{"op", "branch_reset"}, {"name", "kid"}});
  ExpectBranchObject(reset, "kid", "main", 1, 0);
  EXPECT_EQ(Ok({{"op", "branch_delete"}, {"name", "kid"}}), json::object());
  EXPECT_EQ(Ok({{"op", "branch_list"}}).size(), 1u);
}

TEST_F(ServiceTest, SnapshotOpsProduceDocumentedFields) {
  Ok({{"op", "branch_create"}, {"name", "main"}});
  json s = Ok({{"op", "snapshot_create"}, {"branch", "main"}, {"name", "s1"}});
  EXPECT_EQ(s["name"], "s1");
  EXPECT_EQ(s["branch"], "main");
  EXPECT_EQ(s["seq"], 1);
  EXPECT_TRUE(s["created"].is_string());
  EXPECT_TRUE(s["elapsed_us"].is_number_integer());
  json list = Ok({{"op", "snapshot_list"}});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "s1");
  EXPECT_EQ(list[0]["branch"], "main");
  EXPECT_EQ(list[0]["seq"], 1);
  EXPECT_EQ(list[0]["created"], s["created"]);
  ExpectError(json({{"op", "snapshot_create"}, {"branch", "main"}, {"name", "s1"}}).dump(),
              "exists");
  EXPECT_EQ(Ok({{"op", "snapshot_delete"}, {"name", "s1"}}), json::object());
  EXPECT_TRUE(Ok({{"op", "snapshot_list"}}).empty());
  ExpectError(json({{"op", "snapshot_delete"}, {"name", "s1"}}).dump(), "not_found");
}

TEST_F(ServiceTest, StatusReportsDocumentedFields) {
  Ok({{"op", "branch_create"}, {"name", "main"}});
  Ok({{"op", "snapshot_create"}, {"branch", "main"}, {"name", "s"}});
  json st = Ok({{"op", "status"}});
  for (const char* f :
       {"store", "mount", "cache_dir", "pid", "branches", "snapshots", "memtable_bytes",
        "layer_count", "layer_bytes", "store_bytes", "oplog_bytes", "oplog_segments"}) {
    EXPECT_TRUE(st.contains(f)) << "status lacks " << f;
  }
  EXPECT_EQ(st["store"], "file://" + env.store_root());
  EXPECT_EQ(st["mount"], "/mnt/strata");
  EXPECT_EQ(st["cache_dir"], env.dir() + "/cache");
  EXPECT_EQ(st["pid"], getpid());
  ASSERT_EQ(st["branches"].size(), 1u);
  ExpectBranchObject(st["branches"][0], "main", nullptr, 0, 1);
  EXPECT_EQ(st["snapshots"], 1);
  EXPECT_EQ(st["layer_count"], 0);
  EXPECT_GT(st["memtable_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(st["oplog_bytes"].get<uint64_t>(), 0u);
  ASSERT_OK(env.vs()->FlushAll());
  json after = Ok({{"op", "status"}});
  EXPECT_EQ(after["layer_count"], 1);
  EXPECT_EQ(after["memtable_bytes"], 0);
  EXPECT_GT(after["layer_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(after["branches"][0]["durable_seq"], 1);
}

TEST_F(ServiceTest, BadRequestsAnswerInvalidWithOneMessage) {
  for (const char* line : {"",
                           "{",
                           "not json",
                           "{\"op\": \"status\"",
                           "[1,2]",
                           "\"status\"",
                           "42",
                           "null",
                           "{}",
                           "{\"op\": 5}",
                           "{\"op\": null}",
                           "{\"op\": \"fly\"}",
                           "{\"op\": \"branch_create\"}",
                           "{\"op\": \"branch_create\", \"name\": 5}",
                           "{\"op\": \"branch_create\", \"name\": \"x\", \"from\": 5}",
                           "{\"op\": \"branch_create\", \"name\": \"x\", \"uid\": \"root\"}",
                           "{\"op\": \"branch_create\", \"name\": \"bad name\"}",
                           "{\"op\": \"branch_create\", \"name\": \"x\", \"from\": \"main@seq:x\"}",
                           "{\"op\": \"branch_delete\"}",
                           "{\"op\": \"branch_reset\", \"name\": []}",
                           "{\"op\": \"snapshot_create\", \"name\": \"s\"}",
                           "{\"op\": \"snapshot_create\", \"branch\": {}, \"name\": \"s\"}",
                           "{\"op\": \"snapshot_delete\", \"name\": true}"}) {
    ExpectError(line, "invalid");
  }
  EXPECT_TRUE(env.catalog()->Current()->branches.empty());
}

// A uid/gid must fit in 32 bits and be non-negative; silently truncating
// 4294967296 to 0 would give the new root directory to root.
TEST_F(ServiceTest, OutOfRangeUidGidAreInvalid) {
  ExpectError(R"({"op": "branch_create", "name": "a", "uid": -1})", "invalid");
  ExpectError(R"({"op": "branch_create", "name": "b", "uid": 4294967296})", "invalid");
  ExpectError(R"({"op": "branch_create", "name": "c", "gid": 1.5})", "invalid");
  EXPECT_TRUE(env.catalog()->Current()->branches.empty());
}

TEST_F(ServiceTest, DurabilityAtCreationAndBranchSet) {
  json b = Ok({{"op", "branch_create"}, {"name", "main"}, {"durability", "ephemeral"}});
  EXPECT_EQ(b["durability"], "ephemeral");
  b = Ok({{"op", "branch_create"}, {"name", "other"}});
  EXPECT_EQ(b["durability"], "local");  // no walsink here: the default is local
  b = Ok({{"op", "branch_set"}, {"name", "main"}, {"durability", "local"}});
  EXPECT_EQ(b["durability"], "local");
  ExpectError(R"({"op":"branch_set","name":"main","durability":"sometimes"})", "invalid");
  ExpectError(R"({"op":"branch_set","name":"main","durability":"remote"})", "invalid");
  ExpectError(R"({"op":"branch_set","name":"main"})", "invalid");
  ExpectError(R"({"op":"branch_set","name":"nope","durability":"local"})", "not_found");
  ExpectError(R"({"op":"branch_create","name":"x","durability":"remote"})", "invalid");
  ExpectError(R"({"op":"branch_create","name":"y","durability":7})", "invalid");
  // Nothing was made by the refused requests.
  json list = Ok({{"op", "branch_list"}});
  EXPECT_EQ(list.size(), 2u);
  json st = Ok({{"op", "status"}});
  EXPECT_TRUE(st.contains("walsink") && st["walsink"].is_null()) << st.dump();
}

}  // namespace
}  // namespace strata
