#include "common/audit_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/status_test_util.h"
#include "common/temp_dir.h"

namespace strata {
namespace {

std::vector<nlohmann::json> Lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

AuditEvent Event(const std::string& action) {
  return {"api", "10.0.0.1:5000", "tok_1", "team-a", action, "main", "ok"};
}

TEST(AuditLog, OneJsonObjectPerLineWithTheTimeFirst) {
  testing::TempDir dir;
  ManualClock clock;
  AuditLogOptions o;
  o.clock = &clock;
  const std::string path = dir.path() + "/audit.log";
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(path, o));
  log->Record(Event("POST /v1/branches"));
  log->Record({"proxy", "[::1]:6000", "cred\"\n\xff", "", "authenticate", "", "28P01 no"});
  const auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u);
  std::string first;
  std::getline(std::ifstream(path) >> std::ws, first);
  EXPECT_EQ(first,
            R"({"time":"2026-01-01T00:00:00.000Z","source":"api","peer":"10.0.0.1:5000",)"
            R"("actor":"tok_1","owner":"team-a","action":"POST /v1/branches","branch":"main",)"
            R"("result":"ok"})");
  EXPECT_EQ(lines[1]["actor"], "cred\"\n\xef\xbf\xbd");  // a bad byte replaced, the line kept
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(log->lines(), 2u);
}

TEST(AuditLog, RotatesBySizeKeepingTheNewestFiles) {
  testing::TempDir dir;
  AuditLogOptions o;
  o.max_bytes = 1000;
  o.keep = 2;
  const std::string path = dir.path() + "/audit.log";
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(path, o));
  for (int i = 0; i < 40; i++) log->Record(Event("call " + std::to_string(i)));
  const auto now = Lines(path), one = Lines(path + ".1"), two = Lines(path + ".2");
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  for (const auto* f : {&now, &one, &two}) {
    ASSERT_FALSE(f->empty());
    EXPECT_LE(std::filesystem::file_size(f == &now   ? path
                                         : f == &one ? path + ".1"
                                                     : path + ".2"),
              1000u);
  }
  EXPECT_EQ(now.back()["action"], "call 39");
  // Consecutive: .2 ends where .1 begins, .1 where the live file begins.
  auto number = [](const nlohmann::json& j) {
    return std::stoi(j["action"].get<std::string>().substr(5));
  };
  EXPECT_EQ(number(two.back()) + 1, number(one.front()));
  EXPECT_EQ(number(one.back()) + 1, number(now.front()));
}

TEST(AuditLog, ConcurrentRecordsNeverInterleave) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/audit.log";
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(path));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; i++) log->Record(Event(std::string(100 + t, 'a' + t)));
    });
  }
  for (auto& t : threads) t.join();
  const auto lines = Lines(path);  // parse fails on a torn line
  EXPECT_EQ(lines.size(), 2000u);
}

TEST(AuditLog, ReopeningAppends) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/audit.log";
  {
    ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(path));
    log->Record(Event("first"));
  }
  ASSERT_OK_AND_ASSIGN(auto log, AuditLog::Open(path));
  log->Record(Event("second"));
  EXPECT_EQ(Lines(path).size(), 2u);
  EXPECT_FALSE(AuditLog::Open(dir.path() + "/no/such/dir/audit.log").ok());
}

}  // namespace
}  // namespace strata
