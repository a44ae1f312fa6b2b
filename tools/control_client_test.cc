#include "tools/control_client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace strata::cli {
namespace {

TEST(ParseAnswerTest, Success) {
  auto r = ParseAnswer(R"({"ok": true, "result": {"name": "main", "seq": 7}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["name"], "main");
  EXPECT_EQ((*r)["seq"], 7);
}

TEST(ParseAnswerTest, SuccessWithoutResultIsNull) {
  auto r = ParseAnswer(R"({"ok": true})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_null());
}

TEST(ParseAnswerTest, ErrorCarriesCodeAndMessage) {
  auto r = ParseAnswer(R"({"ok": false, "code": "not_found", "error": "no branch 'x'"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "no branch 'x'");
}

TEST(ParseAnswerTest, ErrorWithoutMessage) {
  auto r = ParseAnswer(R"({"ok": false, "code": "weird_new_code"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIO);
  EXPECT_FALSE(r.status().message().empty());
}

TEST(ParseAnswerTest, Malformed) {
  EXPECT_FALSE(ParseAnswer("").ok());
  EXPECT_FALSE(ParseAnswer("not json").ok());
  EXPECT_FALSE(ParseAnswer("[1,2]").ok());
  EXPECT_FALSE(ParseAnswer(R"({"result": 1})").ok());
  EXPECT_FALSE(ParseAnswer(R"({"ok": "yes"})").ok());
}

TEST(CodeFromWireTest, AllProtocolCodes) {
  EXPECT_EQ(CodeFromWire("not_found"), Code::kNotFound);
  EXPECT_EQ(CodeFromWire("exists"), Code::kExists);
  EXPECT_EQ(CodeFromWire("invalid"), Code::kInvalid);
  EXPECT_EQ(CodeFromWire("busy"), Code::kBusy);
  EXPECT_EQ(CodeFromWire("io"), Code::kIO);
  EXPECT_EQ(CodeFromWire("corruption"), Code::kCorruption);
  EXPECT_EQ(CodeFromWire("unavailable"), Code::kUnavailable);
  EXPECT_EQ(CodeFromWire("permission"), Code::kPermission);
  EXPECT_EQ(CodeFromWire("not_empty"), Code::kNotEmpty);
}

TEST(ResolveMountArgTest, FlagThenEnvThenError) {
  unsetenv("STRATA_MOUNT");
  auto none = ResolveMountArg("");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "no mount given: pass --mount MOUNTPOINT or set STRATA_MOUNT");
  setenv("STRATA_MOUNT", "/mnt/env", 1);
  EXPECT_EQ(*ResolveMountArg(""), "/mnt/env");
  EXPECT_EQ(*ResolveMountArg("/mnt/flag"), "/mnt/flag");
  unsetenv("STRATA_MOUNT");
}

TEST(FindControlSocketTest, ReadsSymlinkAndReportsMissingDaemon) {
  char tmpl[] = "/tmp/strata_cc_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string mount = tmpl;
  auto missing = FindControlSocket(mount);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "no strata daemon serves " + mount);

  ASSERT_EQ(symlink("/var/cache/strata/x/control.sock", (mount + "/.strata.sock").c_str()), 0);
  EXPECT_EQ(*FindControlSocket(mount + "/"), "/var/cache/strata/x/control.sock");

  // Nothing listens there: the call says so in one sentence.
  auto r = ControlClient(mount).Call({{"op", "status"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "no strata daemon serves " + mount);

  ASSERT_EQ(unlink((mount + "/.strata.sock").c_str()), 0);
  ASSERT_EQ(symlink("rel.sock", (mount + "/.strata.sock").c_str()), 0);
  EXPECT_EQ(*FindControlSocket(mount), mount + "/rel.sock");
  ASSERT_EQ(unlink((mount + "/.strata.sock").c_str()), 0);
  ASSERT_EQ(rmdir(mount.c_str()), 0);
}

}  // namespace
}  // namespace strata::cli
