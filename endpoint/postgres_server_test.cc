// Runs real PostgreSQL 15 (Debian's postgresql-15); skipped when it is not installed.
// As root the servers run as the postgres user; otherwise as ourselves.
#include "endpoint/postgres_server.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/status_test_util.h"
#include "common/temp_dir.h"
#include "endpoint/endpoint_manager.h"
#include "endpoint/fast_recovery.h"
#include "endpoint/local_sql.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

const std::string kBinDir = "/usr/lib/postgresql/15/bin";
constexpr int kPort = 5433;
constexpr const char* kHelperEnv = "STRATA_PG_TEST_HELPER_DIR";

bool IsRoot() { return geteuid() == 0; }

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `cmd` through the shell; its exit status and its stdout+stderr.
std::pair<int, std::string> Shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return {pclose(p), out};
}

long Ms(steady_clock::duration d) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(d).count());
}

// A process that exists and is not a zombie.
bool ProcessAlive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return false;
  const char state = text[paren + 2];
  return state != 'Z' && state != 'X';
}

// Live processes started with "-D data_dir" (postmasters of that cluster).
std::vector<pid_t> PostmastersOf(const std::string& data_dir) {
  std::vector<pid_t> out;
  const std::string needle = std::string("-D") + '\0' + data_dir + '\0';
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(entry.path() / "cmdline", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const pid_t pid = std::stoi(name);
    if (ss.str().find(needle) != std::string::npos && ProcessAlive(pid)) out.push_back(pid);
  }
  return out;
}

bool WaitFor(const std::function<bool()>& cond, int timeout_ms) {
  const auto deadline = steady_clock::now() + milliseconds(timeout_ms);
  while (!cond()) {
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// A directory tree for one cluster: root/{data,sock,postgres.log,initdb.log}.
struct Cluster {
  explicit Cluster(const std::string& root)
      : data(root + "/data"), sock(root + "/sock"), log(root + "/postgres.log") {}
  std::string data, sock, log;

  PostgresOptions Options() const {
    PostgresOptions o;
    o.bin_dir = kBinDir;
    o.data_dir = data;
    o.socket_dir = sock;
    o.port = kPort;
    o.log_file = log;
    o.settings = StrataServerSettings();
    o.settings.emplace_back("shared_buffers", "16MB");  // many test servers at once
    return o;
  }

  // psql -Atc `sql` through the socket, as the server's user.
  std::pair<int, std::string> Psql(const std::string& sql) const {
    std::string cmd = IsRoot() ? "runuser -u postgres -- " : "";
    cmd += "/usr/bin/psql -X -v ON_ERROR_STOP=1 -h " + ShellQuote(sock) + " -p " +
           std::to_string(kPort) + " -U postgres -d postgres -Atc " + ShellQuote(sql);
    return Shell(cmd);
  }
};

class PostgresServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access((kBinDir + "/postgres").c_str(), X_OK) != 0) {
      GTEST_SKIP() << kBinDir << "/postgres is not installed (Debian's postgresql-15)";
    }
    // The postgres user must be able to reach everything under the temp dir.
    if (IsRoot()) {
      ASSERT_EQ(chown(tmp_.path().c_str(), UserUid(), UserGid()), 0);
    }
    ASSERT_EQ(mkdir(cluster_.data.c_str(), 0700), 0);
    if (IsRoot()) {
      ASSERT_EQ(chown(cluster_.data.c_str(), UserUid(), UserGid()), 0);
    }
  }

  static uid_t UserUid() { return static_cast<uid_t>(std::stoi(Shell("id -u postgres").second)); }
  static gid_t UserGid() { return static_cast<gid_t>(std::stoi(Shell("id -g postgres").second)); }

  void InitCluster() {
    InitDbOptions o;
    o.bin_dir = kBinDir;
    o.data_dir = cluster_.data;
    o.log_file = tmp_.path() + "/initdb.log";
    o.settings = StrataServerSettings();
    const auto t0 = steady_clock::now();
    Status st = InitDb(o);
    ASSERT_TRUE(st.ok()) << st.ToString();
    std::printf("[timing] InitDb: %ld ms\n", Ms(steady_clock::now() - t0));
  }

  std::unique_ptr<PostgresServer> StartServer(PostgresOptions o, const char* label = "Start") {
    const auto t0 = steady_clock::now();
    auto r = PostgresServer::Start(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return nullptr;
    std::printf("[timing] %s: %ld ms\n", label, Ms(steady_clock::now() - t0));
    return std::move(r).value();
  }

  Status StopServer(PostgresServer& server, const char* label = "Stop") {
    const auto t0 = steady_clock::now();
    Status st = server.Stop();
    std::printf("[timing] %s: %ld ms\n", label, Ms(steady_clock::now() - t0));
    return st;
  }

  // Starts the cluster, runs `sql`, and kills the postmaster with -9; returns
  // once its children, which notice by themselves, are gone too.
  void Crash(const std::string& sql) {
    auto server = StartServer(cluster_.Options());
    ASSERT_NE(server, nullptr);
    ASSERT_EQ(cluster_.Psql(sql).first, 0);
    ASSERT_EQ(kill(server->pid(), SIGKILL), 0);
    for (int i = 0; i < 1000 && server->running(); i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(server->running());
    server.reset();
    for (int i = 0; i < 1000 && !PostmastersOf(cluster_.data).empty(); i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // An EndpointManager (default options, small servers) with one branch,
  // "main", on cluster_; nullptr if Init fails.
  std::unique_ptr<EndpointManager> Endpoints() {
    EndpointOptions eo;
    eo.run_dir = tmp_.path() + "/run";
    eo.bin_dir = kBinDir;
    eo.settings = {{"shared_buffers", "16MB"}};
    auto m = std::make_unique<EndpointManager>(
        eo,
        [this](const std::string& name) -> Result<EndpointTarget> {
          if (name != "main") return Status::NotFound("no branch " + name);
          return EndpointTarget{1, cluster_.data, 0, "", nullptr};
        },
        [](uint32_t) { return Status::OK(); }, nullptr);
    Status st = m->Init();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return st.ok() ? std::move(m) : nullptr;
  }

  std::unique_ptr<PostgresServer> StartWith(const RecoveryPlan& plan, const char* label) {
    PostgresOptions o = cluster_.Options();
    for (const auto& kv : plan.settings) o.settings.push_back(kv);
    return StartServer(o, label);
  }

  testing::TempDir tmp_;
  Cluster cluster_{tmp_.path()};
};

TEST_F(PostgresServerTest, InitDbStartQueryStop) {
  InitCluster();
  int exits = 0;
  PostgresOptions o = cluster_.Options();
  o.on_exit = [&exits](const Status&) { ++exits; };
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->running());
  EXPECT_TRUE(ProcessAlive(server->pid()));
  EXPECT_EQ(server->socket_path(), cluster_.sock + "/.s.PGSQL." + std::to_string(kPort));
  struct stat st {};
  ASSERT_EQ(stat(server->socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  ASSERT_EQ(stat(cluster_.sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  if (IsRoot()) {
    EXPECT_EQ(st.st_uid, UserUid());
  }

  EXPECT_EQ(cluster_.Psql("select 1"), std::make_pair(0, std::string("1\n")));
  EXPECT_EQ(cluster_.Psql("show wal_recycle").second, "off\n");
  EXPECT_EQ(cluster_.Psql("show wal_init_zero").second, "off\n");
  EXPECT_EQ(cluster_.Psql("show data_checksums").second, "on\n");
  EXPECT_EQ(cluster_.Psql("show server_encoding").second, "UTF8\n");
  EXPECT_EQ(cluster_.Psql("show listen_addresses").second, "\n");
  EXPECT_EQ(cluster_.Psql("select datcollate from pg_database where datname = 'postgres'").second,
            "C\n");
  if (IsRoot()) {
    EXPECT_EQ(Shell("stat -c %U /proc/" + std::to_string(server->pid())).second, "postgres\n");
  }
  // The notify socket is gone once Start returned.
  EXPECT_FALSE(fs::exists(cluster_.sock + "/.strata-notify." + std::to_string(kPort)));

  const pid_t pid = server->pid();
  Status stop = StopServer(*server);
  EXPECT_TRUE(stop.ok()) << stop.ToString();
  EXPECT_FALSE(server->running());
  EXPECT_FALSE(fs::exists(server->socket_path()));
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_TRUE(server->Stop().ok());  // idempotent
  server.reset();
  EXPECT_EQ(exits, 0);
}

TEST_F(PostgresServerTest, DataSurvivesRestart) {
  InitCluster();
  auto server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  auto r = cluster_.Psql("create table t(x int); insert into t values (1), (2), (3)");
  ASSERT_EQ(r.first, 0) << r.second;
  ASSERT_TRUE(StopServer(*server).ok());
  server.reset();

  server = StartServer(cluster_.Options(), "Start again");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(cluster_.Psql("select sum(x) from t").second, "6\n");
  EXPECT_TRUE(StopServer(*server, "Stop again").ok());
}

TEST_F(PostgresServerTest, LocalSqlRunsStatementsOnTheSocket) {
  InitCluster();
  auto server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  LocalSql sql;
  ASSERT_OK(sql.Connect(server->socket_path(), "postgres", std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(std::string two, sql.Query("select 1 + 1"));
  EXPECT_EQ(two, "2");
  ASSERT_OK_AND_ASSIGN(std::string null, sql.Query("select null::int"));
  EXPECT_EQ(null, "");
  Result<std::string> bad = sql.Query("select * from nosuch");
  EXPECT_EQ(bad.status().code(), Code::kIO);
  EXPECT_NE(bad.status().message().find("relation \"nosuch\" does not exist"), std::string::npos)
      << bad.status().ToString();
  EXPECT_OK(sql.Query("CHECKPOINT"));  // the session goes on after an error
  LocalSql none;
  EXPECT_EQ(none.Connect(cluster_.sock + "/.s.PGSQL.1", "postgres", std::chrono::seconds(5)).code(),
            Code::kUnavailable);
}

// Starts the cluster, runs `sql`, and kills the postmaster with -9 (its
// children notice by themselves): a crashed cluster.
// A crashed cluster with less than one WAL segment of redo starts with plain
// crash recovery (an end-of-recovery checkpoint, no new timeline); with more,
// as a standby promoted at once. A clean one is left alone. Both open with
// every committed row.
TEST_F(PostgresServerTest, FastRecoveryShortRedoIsPlainCrashRecovery) {
  InitCluster();
  auto server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(cluster_.Psql("create table t(x int); insert into t values (7)").first, 0);
  ASSERT_TRUE(StopServer(*server).ok());
  server.reset();
  ASSERT_OK_AND_ASSIGN(RecoveryPlan clean, PrepareFastRecovery(cluster_.data, true));
  EXPECT_EQ(clean.kind, RecoveryPlan::Kind::kNone);
  EXPECT_TRUE(clean.settings.empty());

  ASSERT_NO_FATAL_FAILURE(Crash("insert into t values (8)"));
  ASSERT_OK_AND_ASSIGN(RecoveryPlan plan, PrepareFastRecovery(cluster_.data, true));
  EXPECT_EQ(plan.kind, RecoveryPlan::Kind::kCrashRecovery) << plan.reason;
  ASSERT_EQ(plan.settings.size(), 1u);
  EXPECT_EQ(plan.settings[0],
            std::make_pair(std::string("recovery_init_sync_method"), std::string("syncfs")));
  EXPECT_FALSE(fs::exists(cluster_.data + "/standby.signal"));
  server = StartWith(plan, "Start after a short redo");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(cluster_.Psql("select sum(x), pg_is_in_recovery() from t").second, "15|f\n");
  EXPECT_EQ(cluster_.Psql("select left(pg_walfile_name(pg_current_wal_lsn()), 8)").second,
            "00000001\n");
  EXPECT_TRUE(StopServer(*server).ok());
}

// Kills the postmaster of a running server while one of its children is
// stopped (SIGSTOP), so that child still holds the old shared memory; returns
// the child's pid.
pid_t KillPostmasterKeepingAChild(std::unique_ptr<PostgresServer> server) {
  const auto children = Shell("pgrep -P " + std::to_string(server->pid()));
  EXPECT_EQ(children.first, 0);
  const pid_t child = static_cast<pid_t>(std::atol(children.second.c_str()));
  EXPECT_GT(child, 0);
  EXPECT_EQ(kill(child, SIGSTOP), 0);
  EXPECT_EQ(kill(server->pid(), SIGKILL), 0);
  EXPECT_TRUE(WaitFor([&] { return !server->running(); }, 10000));
  return child;
}

TEST_F(PostgresServerTest, StartWaitsForAKilledServersChildren) {
  InitCluster();
  const pid_t child = KillPostmasterKeepingAChild(StartServer(cluster_.Options()));
  ASSERT_GT(child, 0);
  // Without the wait, postgres says "pre-existing shared memory block ... is still in use".
  std::thread resume([child] {
    std::this_thread::sleep_for(milliseconds(500));
    kill(child, SIGCONT);
  });
  auto server = StartServer(cluster_.Options(), "Start after the child left");
  resume.join();
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(ProcessAlive(child));
  EXPECT_EQ(cluster_.Psql("select 1").second, "1\n");
  EXPECT_TRUE(StopServer(*server).ok());
}

TEST_F(PostgresServerTest, StartRefusesWhileAKilledServersChildLingers) {
  InitCluster();
  const pid_t child = KillPostmasterKeepingAChild(StartServer(cluster_.Options()));
  ASSERT_GT(child, 0);
  PostgresOptions o = cluster_.Options();
  o.start_timeout_ms = 300;
  auto r = PostgresServer::Start(o);
  kill(child, SIGCONT);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBusy) << r.status().ToString();
  EXPECT_NE(r.status().message().find("pid " + std::to_string(child)), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(WaitFor([child] { return !ProcessAlive(child); }, 10000));
}

TEST_F(PostgresServerTest, FastRecoveryLongRedoPromotes) {
  InitCluster();
  ASSERT_NO_FATAL_FAILURE(
      Crash("create table t(x int); insert into t values (7); select pg_switch_wal(); "
            "insert into t values (8)"));
  ASSERT_OK_AND_ASSIGN(RecoveryPlan plan, PrepareFastRecovery(cluster_.data, false));
  EXPECT_EQ(plan.kind, RecoveryPlan::Kind::kPromote) << plan.reason;
  ASSERT_EQ(plan.settings.size(), 2u);  // no syncfs: not this daemon's first start
  EXPECT_EQ(plan.settings[0], std::make_pair(std::string("hot_standby"), std::string("off")));
  EXPECT_EQ(plan.settings[1].first, "promote_trigger_file");
  EXPECT_TRUE(fs::exists(cluster_.data + "/standby.signal"));
  // A start cut short before the promotion: the next one promotes again.
  ASSERT_OK_AND_ASSIGN(RecoveryPlan again, PrepareFastRecovery(cluster_.data, false));
  EXPECT_EQ(again.kind, RecoveryPlan::Kind::kPromote) << again.reason;
  auto server = StartWith(plan, "Start promoted");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(cluster_.Psql("select sum(x), pg_is_in_recovery() from t").second, "15|f\n");
  EXPECT_EQ(cluster_.Psql("select left(pg_walfile_name(pg_current_wal_lsn()), 8)").second,
            "00000002\n");
  EXPECT_FALSE(fs::exists(cluster_.data + "/standby.signal"));
  EXPECT_FALSE(fs::exists(cluster_.data + "/" + std::string(kPromoteFile)));
  EXPECT_TRUE(StopServer(*server).ok());
}

// The user's own standby is never promoted by us.
TEST_F(PostgresServerTest, FastRecoveryLeavesTheUsersStandbyAlone) {
  InitCluster();
  ASSERT_NO_FATAL_FAILURE(Crash("select pg_switch_wal()"));
  {
    std::ofstream f(cluster_.data + "/standby.signal");
    f << "# mine\n";
  }
  ASSERT_OK_AND_ASSIGN(RecoveryPlan plan, PrepareFastRecovery(cluster_.data, true));
  EXPECT_EQ(plan.kind, RecoveryPlan::Kind::kNone);
  EXPECT_TRUE(plan.settings.empty());
  EXPECT_FALSE(fs::exists(cluster_.data + "/" + std::string(kPromoteFile)));
}

TEST_F(PostgresServerTest, DestructorStops) {
  InitCluster();
  auto server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  const pid_t pid = server->pid();
  server.reset();
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_FALSE(fs::exists(cluster_.sock + "/.s.PGSQL." + std::to_string(kPort)));
}

TEST_F(PostgresServerTest, StartOnNonClusterFails) {
  auto r = PostgresServer::Start(cluster_.Options());  // data dir exists but is empty
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  std::printf("message: %s\n", msg.c_str());
  EXPECT_NE(msg.find("postgres for " + cluster_.data + " exited during startup (status "),
            std::string::npos);
  EXPECT_NE(msg.find("postgresql.conf"), std::string::npos);  // postgres's own complaint
  EXPECT_TRUE(PostmastersOf(cluster_.data).empty());
}

TEST_F(PostgresServerTest, RejectedSettingFails) {
  InitCluster();
  int exits = 0;
  PostgresOptions o = cluster_.Options();
  o.settings.emplace_back("shared_buffers", "plenty");
  o.on_exit = [&exits](const Status&) { ++exits; };
  auto r = PostgresServer::Start(o);
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  std::printf("message: %s\n", msg.c_str());
  EXPECT_NE(msg.find("exited during startup"), std::string::npos);
  EXPECT_NE(msg.find("shared_buffers"), std::string::npos);
  EXPECT_NE(msg.find("plenty"), std::string::npos);
  EXPECT_TRUE(PostmastersOf(cluster_.data).empty());
  EXPECT_EQ(exits, 0);
}

TEST_F(PostgresServerTest, BadOptionsAreInvalid) {
  PostgresOptions o = cluster_.Options();
  o.data_dir = "relative/dir";
  EXPECT_EQ(PostgresServer::Start(o).status().code(), Code::kInvalid);
  o = cluster_.Options();
  o.log_file.clear();
  EXPECT_EQ(PostgresServer::Start(o).status().code(), Code::kInvalid);
  o = cluster_.Options();
  o.settings.emplace_back("bad name", "1");
  EXPECT_EQ(PostgresServer::Start(o).status().code(), Code::kInvalid);
  o = cluster_.Options();
  o.socket_dir = "/" + std::string(120, 'x');
  EXPECT_EQ(PostgresServer::Start(o).status().code(), Code::kInvalid);
  if (IsRoot()) {
    o = cluster_.Options();
    o.user = "no-such-user-strata";
    EXPECT_EQ(PostgresServer::Start(o).status().code(), Code::kNotFound);
  }
}

TEST_F(PostgresServerTest, StartTimeoutLeavesNoProcess) {
  InitCluster();
  PostgresOptions o = cluster_.Options();
  o.start_timeout_ms = 1;
  const auto t0 = steady_clock::now();
  auto r = PostgresServer::Start(o);
  std::printf("[timing] failed Start (1 ms timeout) incl. cleanup: %ld ms\n",
              Ms(steady_clock::now() - t0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("did not accept connections within 1 ms"), std::string::npos);
  EXPECT_TRUE(PostmastersOf(cluster_.data).empty());
  // Whatever it left behind (postmaster.pid, a socket) does not hinder the next start.
  auto server = StartServer(cluster_.Options(), "Start after a failed start");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(cluster_.Psql("select 1").second, "1\n");
}

TEST_F(PostgresServerTest, KillCallsOnExitOnce) {
  InitCluster();
  std::mutex mu;
  std::condition_variable cv;
  int exits = 0;
  std::string why;
  PostgresOptions o = cluster_.Options();
  o.on_exit = [&](const Status& st) {
    std::lock_guard<std::mutex> l(mu);
    ++exits;
    why = st.message();
    cv.notify_all();
  };
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(kill(server->pid(), SIGKILL), 0);
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return exits > 0; }));
  }
  EXPECT_FALSE(server->running());
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_NE(why.find("exited unexpectedly (killed by signal 9 (SIGKILL))"), std::string::npos)
        << why;
  }
  Status st = server->Stop();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("killed by signal 9"), std::string::npos) << st.ToString();
  // The destructor joins the thread that calls on_exit: no call can come later.
  server.reset();
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(exits, 1);
}

TEST_F(PostgresServerTest, OnExitMayDestroyTheServer) {
  InitCluster();
  std::mutex mu;
  std::condition_variable cv;
  std::unique_ptr<PostgresServer> server;
  bool destroyed = false;
  PostgresOptions o = cluster_.Options();
  o.on_exit = [&](const Status&) {
    std::lock_guard<std::mutex> l(mu);
    server.reset();
    destroyed = true;
    cv.notify_all();
  };
  pid_t pid;
  {
    std::lock_guard<std::mutex> l(mu);
    server = StartServer(o);
    ASSERT_NE(server, nullptr);
    pid = server->pid();
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return destroyed; }));
  EXPECT_EQ(server, nullptr);
}

TEST_F(PostgresServerTest, StopEscalatesWhenTheServerHangs) {
  InitCluster();
  PostgresOptions o = cluster_.Options();
  o.stop_timeout_ms = 300;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  // A stopped process takes no signal but SIGKILL.
  ASSERT_EQ(kill(server->pid(), SIGSTOP), 0);
  Status st = StopServer(*server, "Stop of a SIGSTOPped server (300 ms timeout)");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("did not stop within 300 ms; sent SIGQUIT and SIGKILL"),
            std::string::npos)
      << st.ToString();
  EXPECT_FALSE(server->running());
  EXPECT_EQ(server->Stop().message(), st.message());
}

// EndpointManager's idle suspension of a real server, at a ManualClock: a
// server nobody holds is suspended (and its branch flushed) once its idle
// timeout has passed, not a second before; a session holds it however long.
TEST_F(PostgresServerTest, EndpointManagerSuspendsIdleServersByItsClock) {
  InitCluster();
  ManualClock clock;
  EndpointOptions eo;
  eo.run_dir = tmp_.path() + "/run";
  eo.bin_dir = kBinDir;
  eo.idle_timeout_s = 300;
  eo.settings = {{"shared_buffers", "16MB"}};
  eo.clock = &clock;
  int flushes = 0;
  EndpointManager endpoints(
      eo,
      [this](const std::string& name) -> Result<EndpointTarget> {
        if (name != "main") return Status::NotFound("no branch " + name);
        return EndpointTarget{1, cluster_.data, 0, "", nullptr};
      },
      [&flushes](uint32_t) {
        ++flushes;
        return Status::OK();
      },
      nullptr);
  ASSERT_OK(endpoints.Init());
  const auto state = [&endpoints] {
    Result<EndpointInfo> e = endpoints.Get("main");
    return e.ok() ? e->state : EndpointState::kStopping;
  };

  ASSERT_OK(endpoints.Acquire("main").status());
  EXPECT_EQ(state(), EndpointState::kRunning);
  clock.Advance(std::chrono::hours(1));
  endpoints.SuspendIdle(clock.NowNs());
  EXPECT_EQ(state(), EndpointState::kRunning) << "a session holds it";

  endpoints.Release("main");
  EXPECT_EQ(endpoints.Get("main")->last_active_ns, clock.NowNs());
  clock.Advance(std::chrono::seconds(299));
  endpoints.SuspendIdle(clock.NowNs());
  EXPECT_EQ(state(), EndpointState::kRunning);
  EXPECT_EQ(flushes, 0);
  clock.Advance(std::chrono::seconds(1));
  endpoints.SuspendIdle(clock.NowNs());
  EXPECT_EQ(state(), EndpointState::kSuspended);
  EXPECT_EQ(flushes, 1);

  // The next session wakes it again.
  ASSERT_OK_AND_ASSIGN(const std::string socket, endpoints.Acquire("main"));
  struct stat st {};
  ASSERT_EQ(stat(socket.c_str(), &st), 0) << socket;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(endpoints.Get("main")->started_ns, clock.NowNs());
  EXPECT_EQ(endpoints.Get("main")->starts, 2u);
  endpoints.Release("main");
}

// StartInBackground returns at once and the server comes up with nobody
// holding it; a start of an unknown branch is dropped; Drain ends the
// starter thread and stops the server.
TEST_F(PostgresServerTest, EndpointManagerStartsInTheBackground) {
  InitCluster();
  std::unique_ptr<EndpointManager> manager = Endpoints();
  ASSERT_NE(manager, nullptr);
  EndpointManager& endpoints = *manager;
  endpoints.StartInBackground("nosuch");
  endpoints.StartInBackground("main");
  EndpointState state = EndpointState::kSuspended;
  for (int i = 0; i < 3000 && state != EndpointState::kRunning; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    state = endpoints.Get("main")->state;
  }
  ASSERT_EQ(state, EndpointState::kRunning);
  EXPECT_EQ(endpoints.Get("main")->connections, 0);
  EXPECT_EQ(endpoints.Get("main")->starts, 1u);
  {
    LocalSql sql;
    ASSERT_OK(
        sql.Connect(endpoints.Get("main")->socket_path, "postgres", std::chrono::seconds(30)));
    ASSERT_OK_AND_ASSIGN(const std::string one, sql.Query("select 1"));
    EXPECT_EQ(one, "1");
  }
  const int pid = endpoints.Get("main")->pid;
  endpoints.Drain();
  EXPECT_FALSE(ProcessAlive(pid));
  endpoints.StartInBackground("main");  // after Drain: ignored
  EXPECT_EQ(endpoints.Get("main")->state, EndpointState::kSuspended);
}

// RecoverIfCrashed leaves a clean cluster alone and brings a crashed one to
// "shut down" with what it committed last (once in its WAL only) on disk.
TEST_F(PostgresServerTest, EndpointManagerRecoversACrashedClusterOnce) {
  InitCluster();
  std::unique_ptr<EndpointManager> manager = Endpoints();
  ASSERT_NE(manager, nullptr);
  EndpointManager& endpoints = *manager;
  const auto shut_down = [this] {
    Result<std::string> control = ReadPgdataFile(cluster_.data + "/global/pg_control", 64);
    return control.ok() && PgControlSaysShutDown(*control);
  };
  ASSERT_TRUE(shut_down());
  ASSERT_OK(endpoints.RecoverIfCrashed("main"));
  EXPECT_EQ(endpoints.Get("main")->starts, 0u) << "a clean cluster is not started";

  ASSERT_NO_FATAL_FAILURE(Crash("create table t(x int); insert into t values (42)"));
  ASSERT_FALSE(shut_down());
  ASSERT_OK(endpoints.Block("main", "being checked"));
  ASSERT_OK(endpoints.RecoverIfCrashed("main"));
  EXPECT_TRUE(shut_down());
  EXPECT_EQ(endpoints.Get("main")->starts, 1u);
  EXPECT_EQ(endpoints.Get("main")->state, EndpointState::kSuspended);
  EXPECT_EQ(endpoints.Acquire("main").status().code(), Code::kBusy) << "still blocked";
  endpoints.Unblock("main");
  auto server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(cluster_.Psql("select x from t").second, "42\n");
  EXPECT_TRUE(StopServer(*server).ok());
  EXPECT_EQ(endpoints.RecoverIfCrashed("nosuch").code(), Code::kNotFound);
}

// PgControlNoTransactionBetween on a real cluster's pg_control files: the
// offsets it reads agree with pg_controldata; a read-only session is no
// transaction, DDL is, and so is one that held an xid across the earlier
// (online) checkpoint although it assigned none after it.
TEST_F(PostgresServerTest, PgControlTellsWhetherATransactionEnded) {
  InitCluster();
  const auto control = [this] {
    Result<std::string> c = ReadPgdataFile(cluster_.data + "/global/pg_control", 8192);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : std::string();
  };
  const std::string c0 = control();
  const auto [rc, out] = Shell((IsRoot() ? "runuser -u postgres -- " : "") + kBinDir +
                               "/pg_controldata " + ShellQuote(cluster_.data));
  ASSERT_EQ(rc, 0) << out;
  uint64_t next = 0;
  std::memcpy(&next, c0.data() + 64, sizeof next);  // the offsets fast_recovery.cc reads
  EXPECT_NE(out.find("Latest checkpoint's NextXID:          " + std::to_string(next >> 32) + ":" +
                     std::to_string(next & 0xffffffff) + "\n"),
            std::string::npos)
      << out;

  auto server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(cluster_.Psql("select count(*) from pg_class").first, 0);
  ASSERT_TRUE(StopServer(*server).ok());
  const std::string c1 = control();
  EXPECT_TRUE(PgControlNoTransactionBetween(c0, c1, 15));
  EXPECT_FALSE(PgControlNoTransactionBetween(c0, c1, 16)) << "layout not checked there";

  server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(cluster_.Psql("create table t(x int)").first, 0);
  ASSERT_TRUE(StopServer(*server).ok());
  const std::string c2 = control();
  EXPECT_FALSE(PgControlNoTransactionBetween(c1, c2, 15));

  server = StartServer(cluster_.Options());
  ASSERT_NE(server, nullptr);
  std::string c3;
  {
    LocalSql open_xact;
    ASSERT_OK(open_xact.Connect(server->socket_path(), "postgres", std::chrono::seconds(30)));
    ASSERT_OK(open_xact.Query("BEGIN").status());
    ASSERT_OK(open_xact.Query("INSERT INTO t VALUES (1)").status());
    ASSERT_EQ(cluster_.Psql("CHECKPOINT").first, 0);
    c3 = control();
    uint32_t oldest_active = 0;
    std::memcpy(&oldest_active, c3.data() + 120, sizeof oldest_active);
    std::memcpy(&next, c3.data() + 64, sizeof next);
    EXPECT_LT(oldest_active, static_cast<uint32_t>(next)) << "the open transaction's xid";
    ASSERT_OK(open_xact.Query("COMMIT").status());
  }
  ASSERT_TRUE(StopServer(*server).ok());
  EXPECT_FALSE(PgControlNoTransactionBetween(c3, control(), 15))
      << "a transaction running at the checkpoint ended after it";
  EXPECT_FALSE(PgControlNoTransactionBetween(c3, c3, 15)) << "`now` must say shut down";
}

TEST_F(PostgresServerTest, InitDbOnNonEmptyDirFails) {
  std::ofstream(cluster_.data + "/junk") << "x";
  InitDbOptions o;
  o.bin_dir = kBinDir;
  o.data_dir = cluster_.data;
  o.log_file = tmp_.path() + "/initdb.log";
  Status st = InitDb(o);
  ASSERT_FALSE(st.ok());
  std::printf("message: %s\n", st.message().c_str());
  EXPECT_NE(st.message().find("initdb of " + cluster_.data + " failed (status 1)"),
            std::string::npos);
  EXPECT_NE(st.message().find("not empty"), std::string::npos);
}

// Run in a child process by PostmasterDiesWithTheDaemon: starts a server,
// prints its pid, and dies by SIGKILL like a crashing daemon.
TEST(PostgresServerHelper, DISABLED_StartThenDie) {
  const char* root = getenv(kHelperEnv);
  if (root == nullptr) GTEST_SKIP() << "only run by PostmasterDiesWithTheDaemon";
  auto r = PostgresServer::Start(Cluster(root).Options());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::printf("POSTMASTER_PID=%d\n", static_cast<int>((*r)->pid()));
  std::fflush(stdout);
  raise(SIGKILL);
}

TEST_F(PostgresServerTest, PostmasterDiesWithTheDaemon) {
  InitCluster();
  const std::string exe = fs::read_symlink("/proc/self/exe");
  auto [status, out] =
      Shell(std::string(kHelperEnv) + "=" + ShellQuote(tmp_.path()) + " " + ShellQuote(exe) +
            " --gtest_also_run_disabled_tests --gtest_filter=PostgresServerHelper.*");
  const size_t at = out.find("POSTMASTER_PID=");
  ASSERT_NE(at, std::string::npos) << out;
  const pid_t pid = std::stoi(out.substr(at + 15));
  const bool killed = (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL);  // via sh
  EXPECT_TRUE(killed) << status << "\n" << out;
  const auto t0 = steady_clock::now();
  EXPECT_TRUE(WaitFor([pid] { return !ProcessAlive(pid); }, 10000))
      << "postmaster " << pid << " outlived its parent";
  std::printf("[timing] postmaster gone %ld ms after its parent died\n",
              Ms(steady_clock::now() - t0));

  // Its children leave too (postmaster death), so the cluster can be started
  // again; they may need a moment to notice.
  std::unique_ptr<PostgresServer> server;
  std::string last_error;
  const auto t1 = steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = PostgresServer::Start(cluster_.Options());
        if (!r.ok()) last_error = r.status().message();
        if (r.ok()) server = std::move(r).value();
        return server != nullptr;
      },
      10000))
      << last_error;
  std::printf("[timing] restarted %ld ms later%s%s\n", Ms(steady_clock::now() - t1),
              last_error.empty() ? "" : "; last refusal: ", last_error.c_str());
  EXPECT_EQ(cluster_.Psql("select 1").second, "1\n");
}

}  // namespace
}  // namespace strata
