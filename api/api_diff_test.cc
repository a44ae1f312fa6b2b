#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "api/api.h"
#include "catalog/branch_test_util.h"
#include "endpoint/branch_diff.h"
#include "layers/inode.h"
#include "layers/key.h"

namespace strata {
namespace {

using json = nlohmann::json;
using testing::BranchEnv;

// The diff route over a real version store and catalog. The files changed
// here are not relations, so no postgres is asked (BranchDiff starts one
// only to name relations, or for the schema diff).
class ApiDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(env.Open());
    diff = std::make_unique<BranchDiff>(env.catalog(), env.vs(), nullptr);
    ApiContext ctx;
    ctx.versions = env.vs();
    ctx.catalog = env.catalog();
    ctx.branches = env.manager();
    ctx.diff = diff.get();
    api = std::make_unique<Api>(ctx);
  }
  // A file `name` in the branch's top directory with one page.
  uint64_t MakeFile(const std::string& branch, const std::string& name) {
    const BranchInfo* b = env.Find(branch);
    InodeAttr a;
    a.ino = a.data_id = MakeIno(b->id, env.vs()->AllocCounter(b->id));
    a.mode = S_IFREG | 0600;
    a.nlink = 1;
    a.size = kPageSize;
    EXPECT_TRUE(
        env.vs()
            ->Commit(b->id, {{AttrKey(a.ino), false, EncodeInodeAttr(a)},
                             {DirentKey(b->root_ino, name), false, EncodeDirent(a.ino, a.mode)},
                             {PageKey(a.data_id, 0), false, testing::Page('a')}})
            .ok());
    return a.ino;
  }
  HttpResponse Get(const std::string& path, const std::map<std::string, std::string>& query) {
    HttpRequest req;
    req.method = "GET";
    req.path = path;
    req.query = query;
    req.from_unix_socket = true;
    return api->Handle(req);
  }
  void ExpectError(const std::string& path, const std::map<std::string, std::string>& query,
                   int status, const std::string& code, const std::string& message = "") {
    HttpResponse r = Get(path, query);
    EXPECT_EQ(r.status, status) << r.body;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_EQ(j.value("code", ""), code) << r.body;
    EXPECT_EQ(j.size(), 2u) << r.body;
    if (!message.empty()) {
      EXPECT_EQ(j.value("error", ""), message);
    }
  }

  BranchEnv env;
  std::unique_ptr<BranchDiff> diff;
  std::unique_ptr<Api> api;
};

TEST_F(ApiDiffTest, ReportsTheFilesEachSideChangedSinceTheForkPoint) {
  ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
  const uint64_t control = MakeFile("main", "pg_control");
  ASSERT_OK(env.manager()->CreateBranch("kid", "main", 0, 0));
  MakeFile("kid", "newfile");
  ASSERT_OK(env.vs()->Commit(env.Find("kid")->id, {{PageKey(control, 0), false, "x"}}));
  MakeFile("main", "moved_on");

  HttpResponse r = Get("/v1/branches/kid/diff", {{"schema", "false"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["branch"], "kid");
  EXPECT_EQ(j["against"], "main");
  EXPECT_EQ(j["base"], json({{"branch", "main"}, {"seq", env.Find("kid")->fork_seq}}));
  EXPECT_EQ(j["relations"], json::array());
  EXPECT_FALSE(j.contains("schema_diff"));
  EXPECT_TRUE(j["elapsed_ms"].is_number_integer());
  EXPECT_TRUE(j["keyspace_ms"].is_number_integer());
  // kid: newfile's attributes, entry and page, and pg_control's page; main: three.
  EXPECT_EQ(j["keys_changed"], 7);
  ASSERT_EQ(j["files"].size(), 3u) << j.dump();
  EXPECT_EQ(j["files"][0], json({{"path", "moved_on"},
                                 {"side", "against"},
                                 {"pages_changed", 1},
                                 {"bytes", 8192},
                                 {"created", true},
                                 {"deleted", false},
                                 {"truncated", false}}));
  EXPECT_EQ(j["files"][1]["path"], "newfile");
  EXPECT_EQ(j["files"][1]["side"], "branch");
  EXPECT_EQ(j["files"][2]["path"], "pg_control");
  EXPECT_EQ(j["files"][2]["pages_changed"], 1);
  EXPECT_EQ(j["files"][2]["created"], false);

  // Against itself: nothing.
  r = Get("/v1/branches/kid/diff", {{"schema", "0"}, {"against", "kid"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["files"], json::array());
}

TEST_F(ApiDiffTest, BadRequestsAreOneLineErrors) {
  ASSERT_OK(env.manager()->CreateBranch("main", "", 0, 0));
  ASSERT_OK(env.manager()->CreateBranch("other", "", 0, 0));
  ExpectError("/v1/branches/nope/diff", {}, 404, "not_found", "no branch named 'nope'");
  ExpectError("/v1/branches/main/diff", {{"against", "nope"}}, 404, "not_found");
  ExpectError("/v1/branches/main/diff", {{"schema", "false"}}, 400, "invalid",
              "branch 'main' has no parent: name a branch to diff against");
  ExpectError("/v1/branches/main/diff", {{"against", "other"}, {"schema", "false"}}, 400, "invalid",
              "branches 'main' and 'other' have no common ancestor: nothing to diff against");
  ExpectError("/v1/branches/main/diff", {{"against", "main"}, {"schema", "maybe"}}, 400, "invalid",
              "schema must be true or false");
  ExpectError("/v1/branches/main/diff", {{"against", "main"}, {"color", "red"}}, 400, "invalid");
  ExpectError("/v1/branches/main/diff", {{"against", ""}}, 400, "invalid");
}

}  // namespace
}  // namespace strata
