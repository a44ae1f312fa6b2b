// Tests of the rendering of endpoints, credentials and owners.
#include "tools/render_fleet.h"

#include <gtest/gtest.h>

namespace strata::cli {
namespace {

using nlohmann::json;

json Endpoint(const char* branch, const char* state, json pid, int conns) {
  return {{"branch", branch},
          {"state", state},
          {"pid", pid},
          {"connections", conns},
          {"idle_timeout_seconds", 300},
          {"last_active", "2024-05-01T12:00:00.000Z"},
          {"started", nullptr},
          {"starts", 2},
          {"last_start_ms", 412},
          {"last_error", nullptr}};
}

TEST(RenderFleetTest, DescribeEndpoint) {
  EXPECT_EQ(DescribeEndpoint(Endpoint("main", "running", 4242, 3)),
            "endpoint main: running, pid 4242, 3 connections, idle timeout 5m");
  EXPECT_EQ(DescribeEndpoint(Endpoint("agent-1", "suspended", nullptr, 0)),
            "endpoint agent-1: suspended, idle timeout 5m");
  json failed = Endpoint("x", "suspended", nullptr, 0);
  failed["last_error"] = "postgres exited with status 1";
  failed["idle_timeout_seconds"] = 90;
  EXPECT_EQ(DescribeEndpoint(failed),
            "endpoint x: suspended, idle timeout 90s; last error: postgres exited with status 1");
  EXPECT_EQ(DescribeEndpoint(json::object()), "endpoint -: -, - connections, idle timeout -");
}

TEST(RenderFleetTest, EndpointDetail) {
  EXPECT_EQ(RenderEndpointDetail(Endpoint("main", "running", 4242, 3)),
            "branch:           main\n"
            "state:            running\n"
            "pid:              4242\n"
            "connections:      3\n"
            "idle timeout:     5m\n"
            "started:          -\n"
            "last active:      2024-05-01T12:00:00.000Z\n"
            "starts:           2\n"
            "last start took:  412 ms\n"
            "last error:       -\n");
}

TEST(RenderFleetTest, EndpointTable) {
  json list = json::array(
      {Endpoint("main", "running", 4242, 3), Endpoint("agent-1", "suspended", nullptr, 0)});
  EXPECT_EQ(
      RenderEndpointTable(list),
      "BRANCH   STATE       PID  CONNECTIONS  IDLE_TIMEOUT  STARTS  LAST_ACTIVE               "
      "LAST_ERROR\n"
      "main     running    4242            3            5m       2  2024-05-01T12:00:00.000Z "
      " -\n"
      "agent-1  suspended     -            0            5m       2  2024-05-01T12:00:00.000Z "
      " -\n");
  EXPECT_EQ(RenderEndpointTable(json::object()),
            "BRANCH  STATE  PID  CONNECTIONS  IDLE_TIMEOUT  STARTS  LAST_ACTIVE  LAST_ERROR\n");
}

TEST(RenderFleetTest, NodeTable) {
  json here = {{"id", "n1"},
               {"here", true},
               {"alive", true},
               {"host", "vm"},
               {"pid", 4242},
               {"proxy", "127.0.0.1:55432"},
               {"api", "127.0.0.1:55433"},
               {"heartbeat", "2026-12-07T09:00:00Z"},
               {"load", {{"branches_held", 3}, {"endpoints_running", 1}}}};
  json dead = {{"id", "n2"},
               {"here", false},
               {"alive", false},
               {"host", "vm2"},
               {"pid", 7},
               {"proxy", nullptr},
               {"api", nullptr},
               {"heartbeat", "2026-12-07T08:00:00Z"},
               {"load", json::object()}};
  EXPECT_EQ(RenderNodeTable(json::array({here, dead})),
            "NODE  STATE         HOST   PID  PROXY            API              BRANCHES  SERVERS  "
            "HEARTBEAT\n"
            "n1    alive (here)  vm    4242  127.0.0.1:55432  127.0.0.1:55433         3        1  "
            "2026-12-07T09:00:00Z\n"
            "n2    dead          vm2      7  -                -                       -        -  "
            "2026-12-07T08:00:00Z\n");
}

TEST(RenderFleetTest, CredentialIssuedShowsThePasswordOnce) {
  json c = {{"id", "u0123456789abcdef"},
            {"user", "u0123456789abcdef"},
            {"password", "s3cret"},
            {"branch", "main"},
            {"role", "postgres"},
            {"created", "2024-05-01T12:00:00.000Z"},
            {"expires_at", "2024-05-02T12:00:00.000Z"},
            {"uri", "postgresql://u0123456789abcdef:s3cret@127.0.0.1:55432/main?sslmode=disable"}};
  EXPECT_EQ(
      RenderCredentialIssued(c),
      "user:      u0123456789abcdef\n"
      "password:  s3cret\n"
      "branch:    main\n"
      "role:      postgres\n"
      "expires:   2024-05-02T12:00:00.000Z\n"
      "uri:       postgresql://u0123456789abcdef:s3cret@127.0.0.1:55432/main?sslmode=disable\n"
      "\n"
      "The password is shown only this once: the daemon keeps only a verifier of it.\n"
      "Revoke it with 'strata credential revoke u0123456789abcdef'.\n");
  c.erase("uri");
  c["expires_at"] = nullptr;
  std::string out = RenderCredentialIssued(c);
  EXPECT_NE(out.find("expires:   never\n"), std::string::npos) << out;
  EXPECT_NE(out.find("uri:       none: the mount has no proxy (strata mount --proxy)\n"),
            std::string::npos)
      << out;
}

TEST(RenderFleetTest, CredentialTable) {
  json list = json::array({{{"id", "uaa"},
                            {"user", "uaa"},
                            {"branch", "main"},
                            {"role", "app"},
                            {"created", "2024-05-01T12:00:00.000Z"},
                            {"expires_at", nullptr}}});
  EXPECT_EQ(RenderCredentialTable(list),
            "ID   ROLE  CREATED                   EXPIRES\n"
            "uaa  app   2024-05-01T12:00:00.000Z  never\n");
}

TEST(RenderFleetTest, TokenIssuedAndTable) {
  json t = {{"id", "3f9a0c71d2e4"},
            {"owner", "team-a"},
            {"token", "strata_3f9a0c71d2e4_00ff"},
            {"created", "2024-05-01T12:00:00.000Z"},
            {"expires_at", "2024-05-31T12:00:00.000Z"},
            {"revoked_at", nullptr},
            {"state", "active"}};
  EXPECT_EQ(RenderTokenIssued(t),
            "token:    strata_3f9a0c71d2e4_00ff\n"
            "id:       3f9a0c71d2e4\n"
            "owner:    team-a\n"
            "expires:  2024-05-31T12:00:00.000Z\n"
            "\n"
            "The token is shown only this once: the daemon keeps only its SHA-256.\n"
            "Use it as 'Authorization: Bearer <token>'; revoke it with 'strata token revoke "
            "3f9a0c71d2e4'.\n");
  t.erase("token");
  t["state"] = "revoked";
  EXPECT_EQ(RenderTokenTable(json::array({t})),
            "ID            OWNER   STATE    CREATED                   EXPIRES\n"
            "3f9a0c71d2e4  team-a  revoked  2024-05-01T12:00:00.000Z  2024-05-31T12:00:00.000Z\n");
}

TEST(RenderFleetTest, Owner) {
  json o = {{"owner", "team-a"},
            {"branches", 3},
            {"bytes", 1536},
            {"quota", {{"max_branches", 10}, {"max_bytes", -1}}}};
  EXPECT_EQ(RenderOwner(o),
            "owner:     team-a\n"
            "branches:  3 of 10\n"
            "bytes:     1.5 KiB (no limit)\n");
  o["quota"] = {{"max_branches", -1}, {"max_bytes", int64_t{10} << 30}};
  EXPECT_EQ(RenderOwner(o),
            "owner:     team-a\n"
            "branches:  3 (no limit)\n"
            "bytes:     1.5 KiB of 10.0 GiB\n");
  EXPECT_EQ(RenderOwner(json::object()),
            "owner:     -\n"
            "branches:  -\n"
            "bytes:     -\n");
}

}  // namespace
}  // namespace strata::cli
