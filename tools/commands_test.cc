// Tests of the request bodies the daemon commands send, and of the flag
// checks that refuse a request before anything is sent.
#include "tools/commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tools/owner.h"

namespace strata::cli {
namespace {

using nlohmann::json;

TEST(BranchCreateBodyTest, RootBranchGetsTheCallersIds) {
  BranchCreateArgs a;
  a.name = "main";
  json body = *BranchCreateBody(a);
  Owner me = CallerOwner();
  EXPECT_EQ(body, json({{"name", "main"}, {"uid", me.uid}, {"gid", me.gid}}));

  a.chown = "0:0";
  EXPECT_EQ(*BranchCreateBody(a), json({{"name", "main"}, {"uid", 0}, {"gid", 0}}));
  a.chown = "no-such-user-xyz";
  EXPECT_EQ(BranchCreateBody(a).status().message(), "unknown user 'no-such-user-xyz'");
}

TEST(BranchCreateBodyTest, EveryFleetField) {
  BranchCreateArgs a;
  a.name = "agent-7";
  a.from = "main@seq:12";
  a.owner = "team-a";
  a.ttl = "2h";
  a.idle_timeout = "90s";
  a.durability = "ephemeral";
  EXPECT_EQ(*BranchCreateBody(a), json({{"name", "agent-7"},
                                        {"from", "main@seq:12"},
                                        {"owner", "team-a"},
                                        {"ttl_seconds", 7200},
                                        {"idle_timeout_seconds", 90},
                                        {"durability", "ephemeral"}}));
  a.ttl.reset();
  a.expires_at = "2030-01-01T00:00:00Z";
  EXPECT_EQ((*BranchCreateBody(a))["expires_at"], "2030-01-01T00:00:00Z");
}

TEST(BranchCreateBodyTest, InitdbSendsNoIds) {
  BranchCreateArgs a;
  a.name = "pg";
  a.initdb = true;
  EXPECT_EQ(*BranchCreateBody(a), json({{"name", "pg"}, {"initdb", true}}));
  a.start = true;
  EXPECT_EQ(*BranchCreateBody(a), json({{"name", "pg"}, {"initdb", true}, {"start", true}}));
}

TEST(BranchCreateBodyTest, StartNeedsADatabase) {
  BranchCreateArgs a;
  a.name = "x";
  a.start = true;
  EXPECT_EQ(BranchCreateBody(a).status().message(), "--start needs --initdb or --from");
  a.from = "main";
  EXPECT_EQ(*BranchCreateBody(a), json({{"name", "x"}, {"from", "main"}, {"start", true}}));
}

TEST(BranchCreateBodyTest, RefusesConflictsAndBadValues) {
  auto message = [](auto edit) {
    BranchCreateArgs a;
    a.name = "x";
    edit(a);
    Result<json> r = BranchCreateBody(a);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalid);
    return r.status().message();
  };
  EXPECT_EQ(
      message([](auto& a) { a.name = "a/b"; }),
      "invalid branch name 'a/b': use 1-63 letters, digits, '-' or '_', not starting with '-'");
  EXPECT_EQ(message([](auto& a) {
              a.from = "main";
              a.initdb = true;
            }),
            "--initdb makes a new root branch: it cannot be combined with --from");
  EXPECT_EQ(message([](auto& a) {
              a.from = "main";
              a.chown = "postgres";
            }).rfind("--chown applies to a new root branch without --initdb", 0),
            0u);
  EXPECT_EQ(message([](auto& a) {
              a.initdb = true;
              a.chown = "postgres";
            }).rfind("--chown applies", 0),
            0u);
  EXPECT_EQ(message([](auto& a) { a.checkpoint = "host=/tmp"; }), "--checkpoint needs --from");
  EXPECT_EQ(message([](auto& a) { a.owner = "bad owner"; }),
            "invalid owner name 'bad owner': use 1-63 letters, digits, '-' or '_', not starting "
            "with '-'");
  EXPECT_EQ(message([](auto& a) {
              a.ttl = "1h";
              a.expires_at = "2030-01-01T00:00:00Z";
            }),
            "give --ttl or --expires-at, not both");
  EXPECT_EQ(message([](auto& a) { a.ttl = "soon"; }).rfind("--ttl: bad duration \"soon\"", 0), 0u);
  EXPECT_EQ(message([](auto& a) { a.idle_timeout = "0"; }),
            "--idle-timeout: bad duration \"0\": must be at least 1s");
  EXPECT_EQ(message([](auto& a) { a.history = "1 h"; }),
            "--history: bad duration \"1 h\": want a number of seconds, or N with s, m, h or d "
            "(e.g. 90s, 15m, 2h, 7d)");
  EXPECT_EQ(message([](auto& a) { a.history = "3661d"; }),
            "--history: bad duration \"3661d\": at most 10 years (3660d)");
}

TEST(BranchCreateBodyTest, HistoryWindow) {
  BranchCreateArgs a;
  a.name = "agent-7";
  a.from = "main";
  a.history = "2h";
  EXPECT_EQ(*BranchCreateBody(a),
            json({{"name", "agent-7"}, {"from", "main"}, {"history_seconds", 7200}}));
  a.history = "0";
  EXPECT_EQ((*BranchCreateBody(a))["history_seconds"], 0);
}

TEST(BranchPatchBodyTest, SetsAndClears) {
  BranchSetArgs a;
  a.name = "main";
  a.durability = "local";
  EXPECT_EQ(*BranchPatchBody(a), json({{"durability", "local"}}));
  a.durability.reset();
  a.ttl = "7d";
  a.idle_timeout = "15m";
  EXPECT_EQ(*BranchPatchBody(a), json({{"ttl_seconds", 604800}, {"idle_timeout_seconds", 900}}));
  a.ttl.reset();
  a.idle_timeout.reset();
  a.no_expiry = true;
  a.default_idle_timeout = true;
  EXPECT_EQ(*BranchPatchBody(a),
            json({{"expires_at", nullptr}, {"idle_timeout_seconds", nullptr}}));
  EXPECT_EQ(BranchPatchBody(a)->dump(), R"({"expires_at":null,"idle_timeout_seconds":null})");
}

TEST(BranchPatchBodyTest, HistoryWindowAndDefault) {
  BranchSetArgs a;
  a.name = "main";
  a.history = "7d";
  EXPECT_EQ(*BranchPatchBody(a), json({{"history_seconds", 604800}}));
  a.history = "0s";
  EXPECT_EQ(*BranchPatchBody(a), json({{"history_seconds", 0}}));
  a.history.reset();
  a.default_history = true;
  EXPECT_EQ(BranchPatchBody(a)->dump(), R"({"history_seconds":null})");
  a.history = "1h";
  EXPECT_EQ(BranchPatchBody(a).status().message(), "give --history or --default-history, not both");
  a.default_history = false;
  a.history = "forever";
  EXPECT_EQ(BranchPatchBody(a).status().message().rfind("--history: bad duration \"forever\"", 0),
            0u);
}

TEST(BranchPatchBodyTest, NeedsOneChangeAndNoConflicts) {
  BranchSetArgs a;
  a.name = "main";
  EXPECT_EQ(BranchPatchBody(a).status().message(),
            "nothing to change: give --durability, --ttl, --expires-at, --no-expiry, "
            "--idle-timeout, --default-idle-timeout, --history or --default-history");
  a.no_expiry = true;
  a.expires_at = "2030-01-01T00:00:00Z";
  EXPECT_EQ(BranchPatchBody(a).status().message(),
            "give one of --ttl, --expires-at and --no-expiry");
  a.no_expiry = false;
  a.expires_at.reset();
  a.idle_timeout = "5m";
  a.default_idle_timeout = true;
  EXPECT_EQ(BranchPatchBody(a).status().message(),
            "give --idle-timeout or --default-idle-timeout, not both");
  a.name = "-x";
  EXPECT_FALSE(BranchPatchBody(a).ok());
}

TEST(CredentialIssueBodyTest, RoleAndExpiry) {
  CredentialIssueArgs a;
  a.branch = "main";
  EXPECT_EQ(*CredentialIssueBody(a), json::object());
  a.role = "app";
  a.ttl = "1h";
  EXPECT_EQ(*CredentialIssueBody(a), json({{"role", "app"}, {"ttl_seconds", 3600}}));
  a.expires_at = "2030-01-01T00:00:00Z";
  EXPECT_EQ(CredentialIssueBody(a).status().message(), "give --ttl or --expires-at, not both");
  a.ttl.reset();
  EXPECT_EQ(*CredentialIssueBody(a),
            json({{"role", "app"}, {"expires_at", "2030-01-01T00:00:00Z"}}));
  a.branch = "";
  EXPECT_FALSE(CredentialIssueBody(a).ok());
}

TEST(GcBodyTest, OneBranchOrEvery) {
  EXPECT_EQ(*GcBody(""), json::object());
  EXPECT_EQ(*GcBody("main"), json({{"branch", "main"}}));
  EXPECT_EQ(
      GcBody("a/b").status().message(),
      "invalid branch name 'a/b': use 1-63 letters, digits, '-' or '_', not starting with '-'");
}

TEST(QuotaBodyTest, LimitsAndUnlimited) {
  OwnerQuotaArgs a;
  a.owner = "team-a";
  EXPECT_EQ(QuotaBody(a).status().message(),
            "nothing to change: give --max-branches or --max-bytes");
  a.max_branches = 10;
  EXPECT_EQ(*QuotaBody(a), json({{"max_branches", 10}}));
  a.max_bytes = -1;
  EXPECT_EQ(*QuotaBody(a), json({{"max_branches", 10}, {"max_bytes", -1}}));
  a.max_bytes = -2;
  EXPECT_EQ(QuotaBody(a).status().message(), "--max-bytes must be >= 0, or unlimited (-1)");
  a.owner = "a:b";
  EXPECT_FALSE(QuotaBody(a).ok());
}

TEST(TokenIssueBodyTest, OwnerAndLifetime) {
  TokenIssueArgs a;
  a.owner = "team-a";
  EXPECT_EQ(*TokenIssueBody(a), json({{"owner", "team-a"}}));
  a.ttl = "2h";
  EXPECT_EQ(*TokenIssueBody(a), json({{"owner", "team-a"}, {"ttl_seconds", 7200}}));
  a.expires_at = "2030-01-01T00:00:00Z";
  EXPECT_EQ(TokenIssueBody(a).status().message(), "give --ttl or --expires-at, not both");
  a.ttl.reset();
  EXPECT_EQ(*TokenIssueBody(a),
            json({{"owner", "team-a"}, {"expires_at", "2030-01-01T00:00:00Z"}}));
  a.ttl = "soon";
  a.expires_at.reset();
  EXPECT_EQ(TokenIssueBody(a).status().message().rfind("--ttl: ", 0), 0u);
  a.ttl.reset();
  a.owner = "a b";
  EXPECT_EQ(TokenIssueBody(a).status().code(), Code::kInvalid);
}

TEST(BranchSwapBodyTest, RestoreAndPromoteBodies) {
  BranchSwapArgs a;
  a.name = "main";
  a.to = "@seq:42";
  EXPECT_EQ(*BranchRestoreBody(a), json({{"to", "@seq:42"}}));
  a.preserve_as = "before";
  EXPECT_EQ(*BranchRestoreBody(a), json({{"to", "@seq:42"}, {"preserve_as", "before"}}));
  EXPECT_EQ(*BranchPromoteBody(a), json({{"preserve_as", "before"}}));
  a.preserve_as.clear();
  EXPECT_EQ(*BranchPromoteBody(a), json::object());
}

TEST(BranchSwapBodyTest, RefusesBadNamesAndPointsBeforeSending) {
  BranchSwapArgs a;
  a.name = "main";
  for (const char* to : {"", "seq:4", "main@seq:4"}) {
    a.to = to;
    Result<json> r = BranchRestoreBody(a);
    EXPECT_EQ(r.status().code(), Code::kInvalid) << to;
    EXPECT_NE(r.status().message().find("--to takes @seq:N"), std::string::npos);
  }
  a.to = "@s";
  a.preserve_as = "bad name";
  EXPECT_EQ(BranchRestoreBody(a).status().code(), Code::kInvalid);
  EXPECT_EQ(BranchPromoteBody(a).status().code(), Code::kInvalid);
  a.preserve_as.clear();
  a.name = "-x";
  EXPECT_EQ(BranchPromoteBody(a).status().code(), Code::kInvalid);
}

}  // namespace
}  // namespace strata::cli
