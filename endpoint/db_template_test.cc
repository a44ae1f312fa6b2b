// DbTemplate: the template new databases fork from, with a fake host (no
// postgres, no mount) and a real BranchManager.
#include "endpoint/db_template.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "catalog/branch_test_util.h"
#include "common/mutex.h"

namespace strata {
namespace {

using testing::BranchEnv;

// A cluster's files as the fake initdb leaves them: pg_control says "shut
// down" (state 1 at offset 16) unless told otherwise.
std::string PgControl(uint32_t state) {
  std::string c(64, '\0');
  std::memcpy(c.data() + 16, &state, sizeof state);
  return c;
}

class FakeHost : public TemplateHost {
 public:
  Result<std::string> MajorVersion() override { return major; }
  Result<BranchOptions> RootOptions() override { return BranchOptions{}; }
  Status InitDb(const std::string& branch) override {
    initdbs++;
    if (!initdb_error.ok()) return initdb_error;
    MutexLock l(&mu);
    files[branch] = {{"PG_VERSION", pg_version}, {"global/pg_control", PgControl(1)}};
    return Status::OK();
  }
  Result<std::string> ReadFile(const std::string& branch, const std::string& path) override {
    MutexLock l(&mu);
    auto it = files[branch].find(path);
    if (it == files[branch].end()) return Status::NotFound("no " + path);
    return it->second;
  }
  Status WriteFile(const std::string& branch, const std::string& path,
                   const std::string& data) override {
    MutexLock l(&mu);
    files[branch][path] = data;
    return Status::OK();
  }
  Status Flush(uint32_t) override {
    flushes++;
    return Status::OK();
  }
  void Set(const std::string& branch, const std::string& path, const std::string& data) {
    MutexLock l(&mu);
    files[branch][path] = data;
  }
  void Erase(const std::string& branch, const std::string& path) {
    MutexLock l(&mu);
    files[branch].erase(path);
  }

  std::string major = "15";
  std::string pg_version = "15\n";
  Status initdb_error = Status::OK();
  std::atomic<int> initdbs{0};
  std::atomic<int> flushes{0};
  Mutex mu;
  std::map<std::string, std::map<std::string, std::string>> files GUARDED_BY(mu);
};

TEST(DbTemplate, Names) {
  EXPECT_EQ(TemplateName("15"), "_initdb_pg15");
  EXPECT_TRUE(IsTemplateName("_initdb_pg15"));
  EXPECT_FALSE(IsTemplateName("initdb_pg15"));
  EXPECT_FALSE(IsTemplateName("main"));
}

TEST(DbTemplate, MadeOnceThenEveryNewDatabaseIsAFork) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  FakeHost host;
  DbTemplate t(env.manager(), env.catalog(), &host);
  BranchOptions o;
  o.owner = "agent-1";
  o.expires_ns = 1'900'000'000'000'000'000;
  ASSERT_OK_AND_ASSIGN(BranchInfo a, t.Fork("a", o));
  ASSERT_OK_AND_ASSIGN(BranchInfo b, t.Fork("b", BranchOptions{}));
  EXPECT_EQ(host.initdbs, 1);
  EXPECT_EQ(host.flushes, 1);  // the template is made durable in the store
  EXPECT_EQ(t.made(), 1);
  const BranchInfo* tmpl = env.Find("_initdb_pg15");
  ASSERT_NE(tmpl, nullptr);
  EXPECT_EQ(tmpl->parent, 0u);
  EXPECT_EQ(a.parent, tmpl->id);
  EXPECT_EQ(b.parent, tmpl->id);
  EXPECT_EQ(a.owner, "agent-1");
  EXPECT_EQ(a.expires_ns, o.expires_ns);
  EXPECT_EQ(b.owner, "");
}

TEST(DbTemplate, ConcurrentFirstCreationsMakeOneTemplate) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  FakeHost host;
  DbTemplate t(env.manager(), env.catalog(), &host);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&, i] {
      if (t.Fork("db" + std::to_string(i), BranchOptions{}).ok()) ok++;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(host.initdbs, 1);
  EXPECT_EQ(t.made(), 1);
  EXPECT_EQ(env.catalog()->Current()->branches.size(), 5u);
}

TEST(DbTemplate, AFailedCreationLeavesNothing) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  FakeHost host;
  host.initdb_error = Status::IO("initdb exited (status 1): disk full");
  DbTemplate t(env.manager(), env.catalog(), &host);
  Result<BranchInfo> r = t.Fork("a", BranchOptions{});
  EXPECT_EQ(r.status().code(), Code::kIO);
  EXPECT_NE(r.status().message().find("making the template of new databases '_initdb_pg15' "
                                      "failed: initdb exited"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_TRUE(env.catalog()->Current()->branches.empty());
  // The next try makes it.
  host.initdb_error = Status::OK();
  ASSERT_OK(t.Fork("a", BranchOptions{}));
  EXPECT_EQ(host.initdbs, 2);
}

TEST(DbTemplate, TheMajorVersionIsChecked) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  FakeHost host;
  host.pg_version = "14\n";  // binaries say 15, the cluster says 14
  DbTemplate t(env.manager(), env.catalog(), &host);
  Result<BranchInfo> r = t.Fork("a", BranchOptions{});
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("not a PostgreSQL 15 cluster (PG_VERSION 14)"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_TRUE(env.catalog()->Current()->branches.empty());
  // Other binaries, another template: each major version has its own.
  host.pg_version = "16\n";
  host.major = "16";
  DbTemplate t16(env.manager(), env.catalog(), &host);
  ASSERT_OK_AND_ASSIGN(BranchInfo b, t16.Fork("b", BranchOptions{}));
  EXPECT_EQ(env.catalog()->Current()->FindBranchById(b.parent)->name, "_initdb_pg16");
}

TEST(DbTemplate, AHalfMadeTemplateIsMadeAgain) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  FakeHost host;
  {
    DbTemplate t(env.manager(), env.catalog(), &host);
    ASSERT_OK(t.Ensure());
  }
  const uint32_t first = env.Find("_initdb_pg15")->id;
  // A crash before the marker was written: a new daemon checks it.
  host.Erase("_initdb_pg15", std::string(kTemplateMarker));
  DbTemplate t(env.manager(), env.catalog(), &host);
  ASSERT_OK_AND_ASSIGN(BranchInfo a, t.Fork("a", BranchOptions{}));
  EXPECT_EQ(host.initdbs, 2);
  EXPECT_NE(a.parent, first);
  EXPECT_EQ(env.Find("_initdb_pg15")->id, a.parent);
}

TEST(DbTemplate, ABrokenTemplateWithForksIsRefused) {
  BranchEnv env;
  ASSERT_OK(env.Open());
  FakeHost host;
  {
    DbTemplate t(env.manager(), env.catalog(), &host);
    ASSERT_OK(t.Fork("a", BranchOptions{}));
  }
  // A server ran on it and was not shut down cleanly (state 5: in production).
  host.Set("_initdb_pg15", "global/pg_control", PgControl(5));
  DbTemplate t(env.manager(), env.catalog(), &host);
  Result<BranchInfo> r = t.Fork("b", BranchOptions{});
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("is broken (its pg_control does not say 'shut down' "
                                      "(state 5): a server ran on it) and 1 branches"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(env.Find("b"), nullptr);
  EXPECT_NE(env.Find("a"), nullptr);
  EXPECT_EQ(host.initdbs, 1);
}

}  // namespace
}  // namespace strata
