// Tests of the checks of `strata mount`'s endpoint, API, quota, history and
// GC flags.
#include "tools/mount_flags.h"

#include <gtest/gtest.h>

#include <functional>

namespace strata::cli {
namespace {

Result<int64_t> FakeSize(const std::string& text) {
  if (text == "10G") return int64_t{10} << 30;
  if (text == "4M") return int64_t{4} << 20;
  if (text == "1M") return int64_t{1} << 20;
  if (text == "512K") return int64_t{512} << 10;
  if (text == "0") return 0;
  return Status::Invalid("bad size \"" + text +
                         "\": want a number of bytes, or N with K, M, G or T");
}

TEST(ApplyServiceFlagsTest, UnsetFlagsKeepTheDefaults) {
  MountOptions opts;
  ASSERT_TRUE(ApplyServiceFlags({}, FakeSize, &opts).ok());
  MountOptions defaults;
  EXPECT_EQ(opts.proxy_addr, defaults.proxy_addr);
  EXPECT_EQ(opts.api_addr, defaults.api_addr);
  EXPECT_EQ(opts.api_token_file, "");
  EXPECT_EQ(opts.idle_timeout_s, 300);
  EXPECT_EQ(opts.credential_ttl_s, 86400);
  EXPECT_EQ(opts.pg_bin_dir, defaults.pg_bin_dir);
  EXPECT_EQ(opts.pg_user, "postgres");
  EXPECT_TRUE(opts.pg_settings.empty());
  EXPECT_EQ(opts.quota_branches, -1);
  EXPECT_EQ(opts.quota_bytes, -1);
  EXPECT_EQ(opts.history_s, 3600);
  EXPECT_TRUE(opts.gc);
  EXPECT_EQ(opts.gc_interval_ms, 60000);
  EXPECT_EQ(opts.gc_rate_bytes, int64_t{64} << 20);
  EXPECT_EQ(opts.memtable_bytes, int64_t{64} << 20);
}

TEST(ApplyServiceFlagsTest, HistoryAndGcFlags) {
  ServiceFlags f;
  f.history = "7d";
  f.no_gc = true;
  f.gc_interval = "5m";
  f.gc_rate = "10G";
  f.memtable_size = "4M";
  MountOptions opts;
  ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok());
  EXPECT_EQ(opts.history_s, 7 * 86400);
  EXPECT_FALSE(opts.gc);
  EXPECT_EQ(opts.gc_interval_ms, 300000);
  EXPECT_EQ(opts.gc_rate_bytes, int64_t{10} << 30);
  EXPECT_EQ(opts.memtable_bytes, int64_t{4} << 20);

  f = {};
  f.history = "0";
  f.gc_interval = "1";
  f.gc_rate = "1M";
  f.memtable_size = "1M";
  ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok());
  EXPECT_EQ(opts.history_s, 0);
  EXPECT_EQ(opts.gc_interval_ms, 1000);
  EXPECT_EQ(opts.gc_rate_bytes, int64_t{1} << 20);
  EXPECT_EQ(opts.memtable_bytes, int64_t{1} << 20);
  f.history = "0s";
  ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok());
  EXPECT_EQ(opts.history_s, 0);
}

TEST(ApplyServiceFlagsTest, EveryFlag) {
  ServiceFlags f;
  f.proxy = "0.0.0.0:6432";
  f.api = "off";
  f.api_token_file = "/etc/strata/token";
  f.idle_timeout = "90s";
  f.pg_bin = "/opt/pg16/bin";
  f.pg_user = "pg";
  f.pg_settings = {"shared_buffers=256MB", "log_statement=", "a.b=x=y"};
  f.quota_branches = "50";
  f.quota_bytes = "10G";
  f.credential_ttl = "7d";
  MountOptions opts;
  ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok());
  EXPECT_EQ(opts.proxy_addr, "0.0.0.0:6432");
  EXPECT_EQ(opts.api_addr, "");
  EXPECT_EQ(opts.api_token_file, "/etc/strata/token");
  EXPECT_EQ(opts.idle_timeout_s, 90);
  EXPECT_EQ(opts.pg_bin_dir, "/opt/pg16/bin");
  EXPECT_EQ(opts.pg_user, "pg");
  using Setting = std::pair<std::string, std::string>;
  EXPECT_EQ(
      opts.pg_settings,
      (std::vector<Setting>{{"shared_buffers", "256MB"}, {"log_statement", ""}, {"a.b", "x=y"}}));
  EXPECT_EQ(opts.quota_branches, 50);
  EXPECT_EQ(opts.quota_bytes, int64_t{10} << 30);
  EXPECT_EQ(opts.credential_ttl_s, 7 * 86400);

  f = {};
  f.proxy = "off";
  f.api = "[::1]:0";
  f.quota_branches = "unlimited";
  f.quota_bytes = "-1";
  ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok());
  EXPECT_EQ(opts.proxy_addr, "");
  EXPECT_EQ(opts.api_addr, "[::1]:0");
  EXPECT_EQ(opts.proxy_tls_cert, "");
  EXPECT_FALSE(opts.proxy_require_tls);
  EXPECT_EQ(opts.quota_branches, -1);
  EXPECT_EQ(opts.quota_bytes, -1);
}

std::string Refusal(const std::function<void(ServiceFlags&)>& edit) {
  ServiceFlags f;
  edit(f);
  MountOptions opts;
  Status s = ApplyServiceFlags(f, FakeSize, &opts);
  EXPECT_EQ(s.code(), Code::kInvalid);
  return s.message();
}

TEST(ApplyServiceFlagsTest, RefusesBadFlagsNamingThem) {
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.proxy = "localhost"; }).rfind("--proxy: ", 0), 0u);
  EXPECT_NE(
      Refusal([](ServiceFlags& f) { f.proxy = "localhost"; }).find("; or 'off' to turn it off"),
      std::string::npos);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.api = "1.2.3.4:99999"; }).rfind("--api: ", 0), 0u);
  EXPECT_EQ(Refusal([](ServiceFlags& f) {
              f.proxy = "127.0.0.1:7000";
              f.api = "127.0.0.1:7000";
            }),
            "--proxy and --api cannot both listen on 127.0.0.1:7000");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.api = "127.0.0.1:55432"; }),
            "--proxy and --api cannot both listen on 127.0.0.1:55432");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.proxy_tls_cert = "/etc/c.pem"; }),
            "--proxy-tls-cert and --proxy-tls-key go together");
  EXPECT_EQ(Refusal([](ServiceFlags& f) {
              f.proxy_tls_cert = "";
              f.proxy_tls_key = "/k";
            }),
            "--proxy-tls-cert/--proxy-tls-key: empty path");
  EXPECT_EQ(Refusal([](ServiceFlags& f) {
              f.proxy = "off";
              f.proxy_require_tls = true;
            }),
            "--proxy-require-tls: the proxy is off");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.idle_timeout = "5 min"; }).rfind("--idle-timeout: ", 0),
            0u);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.credential_ttl = "0"; }),
            "--credential-ttl: bad duration \"0\": must be at least 1s");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.pg_settings = {"=1"}; }).rfind("--pg-setting: ", 0),
            0u);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.pg_settings = {"work_mem"}; }),
            "--pg-setting: bad \"work_mem\": want NAME=VALUE with a postgres setting name, e.g. "
            "shared_buffers=256MB");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.pg_settings = {"a b=1"}; }).rfind("--pg-setting", 0),
            0u);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.quota_branches = "many"; }),
            "--quota-branches: bad number \"many\": want a whole number >= 0");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.quota_bytes = "lots"; }),
            "--quota-bytes: bad size \"lots\": want a number of bytes, or N with K, M, G or T");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.pg_user = ""; }), "--pg-user: empty user name");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.pg_bin = ""; }), "--pg-bin: empty path");
}

TEST(ApplyServiceFlagsTest, ClusterFlags) {
  ServiceFlags f;
  f.node_id = "node-2";
  f.lease_ttl = "30s";
  MountOptions opts;
  ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok());
  EXPECT_EQ(opts.node_id, "node-2");
  EXPECT_EQ(opts.lease_ttl_ms, 30000);
  EXPECT_EQ(MountOptions{}.lease_ttl_ms, 30000);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.node_id = "Node_2"; }),
            "--node-id: bad id \"Node_2\": want 1-64 of a-z, 0-9 and '-', not starting with '-'");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.lease_ttl = "2s"; }), "--lease-ttl: 2s is not 3s..1h");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.lease_ttl = "2h"; }), "--lease-ttl: 2h is not 3s..1h");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.lease_ttl = "soon"; }).rfind("--lease-ttl: ", 0), 0u);
}

TEST(ApplyServiceFlagsTest, AdvertiseHost) {
  for (const char* host : {"10.0.0.7", "db-3.example.net", "::1", "fd00::2"}) {
    ServiceFlags f;
    f.advertise_host = host;
    MountOptions opts;
    ASSERT_TRUE(ApplyServiceFlags(f, FakeSize, &opts).ok()) << host;
    EXPECT_EQ(opts.advertise_host, host);
  }
  EXPECT_EQ(MountOptions{}.advertise_host, "");
  for (const char* bad : {"", "10.0.0.7:5432x", "a b", "-x", "[::1]"}) {
    EXPECT_EQ(Refusal([&](ServiceFlags& f) { f.advertise_host = bad; }),
              std::string("--advertise-host: \"") + bad +
                  "\" is not a host name or an IP address (without a port)")
        << bad;
  }
}

TEST(ApplyServiceFlagsTest, RefusesBadHistoryAndGcFlags) {
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.history = "1h30m"; }),
            "--history: bad duration \"1h30m\": want a number of seconds, or N with s, m, h or d "
            "(e.g. 90s, 15m, 2h, 7d)");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.history = "3661d"; }),
            "--history: bad duration \"3661d\": at most 10 years (3660d)");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.history = "-1"; }).rfind("--history: ", 0), 0u);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.gc_interval = "0"; }),
            "--gc-interval: bad duration \"0\": must be at least 1s");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.gc_interval = "500ms"; }).rfind("--gc-interval: ", 0),
            0u);
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.gc_rate = "fast"; }),
            "--gc-rate: bad size \"fast\": want a number of bytes, or N with K, M, G or T");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.gc_rate = "512K"; }),
            "--gc-rate: 512K is too small: want at least 1M");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.memtable_size = "0"; }),
            "--memtable-size: 0 is too small: want at least 1M");
  EXPECT_EQ(Refusal([](ServiceFlags& f) { f.memtable_size = "-4M"; }),
            "--memtable-size: bad size \"-4M\": want a number of bytes, or N with K, M, G or T");
}

}  // namespace
}  // namespace strata::cli
