#include "endpoint/endpoint_manager.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/clock.h"
#include "common/filename.h"
#include "common/thread_cpu.h"
#include "endpoint/fast_recovery.h"
#include "endpoint/local_sql.h"

namespace strata {

namespace {

constexpr int kServerPort = 5432;  // only names the socket file: each server has its own dir

double SecondsSince(Clock* clock, std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(clock->SteadyNow() - t).count();
}

// The pid in a data directory's postmaster.pid if that process is alive and
// is a postgres server working in `data_dir` (its cwd); 0 otherwise.
pid_t LivePostmaster(const std::string& data_dir) {
  std::ifstream f(data_dir + "/postmaster.pid");
  long pid = 0;
  if (!(f >> pid) || pid <= 0 || pid > INT_MAX) return 0;
  char cwd[PATH_MAX];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof(cwd) - 1);
  if (n <= 0) return 0;
  cwd[n] = '\0';
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(data_dir, ec);
  return (!ec && canonical == std::filesystem::path(cwd)) ? static_cast<pid_t>(pid) : 0;
}

}  // namespace

const char* EndpointStateName(EndpointState s) {
  switch (s) {
    case EndpointState::kSuspended:
      return "suspended";
    case EndpointState::kStarting:
      return "starting";
    case EndpointState::kRunning:
      return "running";
    case EndpointState::kStopping:
      return "stopping";
  }
  return "?";
}

EndpointManager::EndpointManager(EndpointOptions opts, EndpointResolver resolve,
                                 std::function<Status(uint32_t)> flush, Metrics* metrics)
    : opts_(std::move(opts)),
      resolve_(std::move(resolve)),
      flush_(std::move(flush)),
      metrics_(metrics) {
  if (metrics_) {
    metrics_->AddCounter("strata_endpoint_starts_total",
                         "Servers started, by what asked for them (connect: a proxy session)");
    metrics_->AddCounter("strata_endpoint_start_failures_total", "Server starts that failed");
    metrics_->AddHistogram("strata_endpoint_start_seconds",
                           "Time from a start request to a server accepting connections",
                           {0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30});
    metrics_->AddCounter("strata_endpoint_suspends_total", "Servers stopped, by reason");
    metrics_->AddGauge("strata_endpoints", "Endpoints by state");
    metrics_->AddCollector([this](Metrics& m) {
      int running = 0, known = 0;
      for (const EndpointInfo& e : List()) {
        known++;
        if (e.state == EndpointState::kRunning) running++;
      }
      m.Set("strata_endpoints", {{"state", "running"}}, running);
      m.Set("strata_endpoints", {{"state", "suspended"}}, known - running);
    });
  }
}

EndpointManager::~EndpointManager() { Drain(); }

Status EndpointManager::Init() {
  std::error_code ec;
  std::filesystem::create_directories(opts_.run_dir, ec);
  if (ec) return Status::IO("cannot create " + opts_.run_dir + ": " + ec.message());
  // The postgres user must reach its socket directories below, nothing more.
  if (::chmod(opts_.run_dir.c_str(), 0711) != 0) {
    return Status::FromErrno(errno, "chmod " + opts_.run_dir);
  }
  const std::string hba = filename::PgHba(opts_.run_dir);
  {
    std::ofstream f(hba, std::ios::trunc);
    f << "# Written by strata: only the proxy reaches these servers, through unix\n"
         "# sockets in directories private to the postgres user; it has authenticated\n"
         "# the client already.\n"
         "local all all trust\n";
    if (!f) return Status::IO("cannot write " + hba);
  }
  ::chmod(hba.c_str(), 0644);
  if (::access((opts_.bin_dir + "/postgres").c_str(), X_OK) != 0) {
    return Status::NotFound("no postgres server at " + opts_.bin_dir +
                            "/postgres (install postgresql-15 or pass --pg-bin DIR)");
  }
  return Status::OK();
}

std::shared_ptr<EndpointManager::Endpoint> EndpointManager::Find(const std::string& branch,
                                                                 bool create) {
  MutexLock lock(&mu_);
  auto it = endpoints_.find(branch);
  if (it != endpoints_.end()) return it->second;
  if (!create) return nullptr;
  auto ep = std::make_shared<Endpoint>(branch);
  endpoints_[branch] = ep;
  return ep;
}

std::vector<std::shared_ptr<EndpointManager::Endpoint>> EndpointManager::All() {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Endpoint>> all;
  for (auto& [name, ep] : endpoints_) all.push_back(ep);
  return all;
}

void EndpointManager::Settle(Endpoint* ep) {
  ep->cv.Wait(&ep->mu, [ep]() REQUIRES(ep->mu) {
    return ep->state == EndpointState::kRunning || ep->state == EndpointState::kSuspended;
  });
}

void EndpointManager::ReapIfDead(Endpoint* ep) {
  if (ep->state != EndpointState::kRunning || ep->server->running()) return;
  std::unique_ptr<PostgresServer> dead = std::move(ep->server);
  ep->state = EndpointState::kStopping;
  ep->mu.Unlock();
  Status st = dead->Stop();  // reports how it ended
  dead.reset();
  ep->mu.Lock();
  ep->last_error = "the server exited on its own: " + st.ToString();
  spdlog::warn("endpoint {}: {}", ep->branch, ep->last_error);
  if (metrics_) metrics_->Inc("strata_endpoint_suspends_total", {{"reason", "exited"}});
  ep->state = EndpointState::kSuspended;
  ep->cv.SignalAll();
}

Result<PostgresOptions> EndpointManager::ServerOptions(const std::string& branch,
                                                       const EndpointTarget& t, bool first_start) {
  struct stat st;
  if (::stat((t.data_dir + "/PG_VERSION").c_str(), &st) != 0) {
    return Status::Invalid("branch '" + branch +
                           "' holds no PostgreSQL cluster (no PG_VERSION): create it with "
                           "initdb (API: \"initdb\": true) or fork it from one that has");
  }
  // A crashed server's postmaster.pid would make the new one refuse to start;
  // a live server there was not started by us and must not get a twin.
  if (pid_t other = LivePostmaster(t.data_dir)) {
    return Status::Busy("branch '" + branch + "' is already served by a postgres server that " +
                        "strata did not start (pid " + std::to_string(other) + "): stop it first");
  }
  ::unlink((t.data_dir + "/postmaster.pid").c_str());
  PostgresOptions o;
  o.bin_dir = opts_.bin_dir;
  o.user = opts_.user;
  o.data_dir = t.data_dir;
  o.socket_dir = filename::PgSocketDir(opts_.run_dir, t.id);
  o.port = kServerPort;
  o.log_file = filename::PgServerLog(opts_.run_dir, t.id);
  o.start_timeout_ms = opts_.start_timeout_ms;
  o.settings = StrataServerSettings();
  o.settings.emplace_back("hba_file", filename::PgHba(opts_.run_dir));
  o.settings.emplace_back("cluster_name", "strata/" + branch);
  for (const auto& kv : opts_.settings) o.settings.push_back(kv);
  // Last: how a crash recovery runs (endpoint/fast_recovery.h).
  STRATA_ASSIGN_OR_RETURN(RecoveryPlan recovery, PrepareFastRecovery(t.data_dir, first_start));
  if (recovery.kind != RecoveryPlan::Kind::kNone) {
    spdlog::info("endpoint {}: the cluster needs crash recovery: {}", branch, recovery.reason);
  }
  for (auto& kv : recovery.settings) o.settings.push_back(std::move(kv));
  return o;
}

Status EndpointManager::StartLocked(Endpoint* ep, const char* reason) {
  Result<EndpointTarget> target = resolve_(ep->branch);
  if (!target.ok()) return target.status();
  if (!target->no_start.empty()) return Status::Invalid(target->no_start);
  if (target->before_start) STRATA_RETURN_IF_ERROR(target->before_start());
  ep->state = EndpointState::kStarting;
  ep->branch_id = target->id;
  const bool first_start = !ep->start_tried;
  ep->start_tried = true;
  ep->mu.Unlock();
  const auto t0 = opts_.clock->SteadyNow();
  Result<std::unique_ptr<PostgresServer>> server =
      [&]() -> Result<std::unique_ptr<PostgresServer>> {
    STRATA_ASSIGN_OR_RETURN(PostgresOptions o, ServerOptions(ep->branch, *target, first_start));
    return PostgresServer::Start(o);
  }();
  const double took = SecondsSince(opts_.clock, t0);
  ep->mu.Lock();
  if (!server.ok()) {
    ep->state = EndpointState::kSuspended;
    // The server log's lines become one line: API errors are one sentence.
    ep->last_error = server.status().message();
    std::replace(ep->last_error.begin(), ep->last_error.end(), '\n', ' ');
    ep->cv.SignalAll();
    if (metrics_) metrics_->Inc("strata_endpoint_start_failures_total");
    spdlog::warn("endpoint {}: start failed after {:.0f} ms: {}", ep->branch, took * 1000,
                 ep->last_error);
    const std::string message =
        "cannot start the server of branch '" + ep->branch + "': " + ep->last_error;
    return server.status().code() == Code::kInvalid ? Status::Invalid(message)
                                                    : Status::Unavailable(message);
  }
  ep->server = std::move(*server);
  ep->state = EndpointState::kRunning;
  ep->started_ns = ep->last_active_ns = opts_.clock->NowNs();
  ep->starts++;
  ep->last_start_seconds = took;
  ep->last_error.clear();
  ep->cv.SignalAll();
  if (metrics_) {
    metrics_->Inc("strata_endpoint_starts_total", {{"reason", reason}});
    metrics_->Observe("strata_endpoint_start_seconds", {}, took);
  }
  spdlog::info("endpoint {}: woke up ({}): postgres pid {} ready in {:.1f} ms", ep->branch, reason,
               ep->server->pid(), took * 1000);
  return Status::OK();
}

void EndpointManager::StopLocked(Endpoint* ep, const char* reason) {
  if (ep->state != EndpointState::kRunning) return;
  std::unique_ptr<PostgresServer> server = std::move(ep->server);
  const uint32_t id = ep->branch_id;
  const int pid = server->pid();
  ep->state = EndpointState::kStopping;
  ep->mu.Unlock();
  const auto t0 = opts_.clock->SteadyNow();
  Status stopped = server->Stop();
  server.reset();
  // The branch's memory goes too: a suspended branch lives in the store.
  Status flushed = flush_ ? flush_(id) : Status::OK();
  const double took = SecondsSince(opts_.clock, t0);
  ep->mu.Lock();
  ep->state = EndpointState::kSuspended;
  ep->connections = 0;
  if (!stopped.ok()) ep->last_error = stopped.message();
  ep->cv.SignalAll();
  if (metrics_) metrics_->Inc("strata_endpoint_suspends_total", {{"reason", reason}});
  if (!stopped.ok()) {
    spdlog::warn("endpoint {}: suspended ({}): postgres pid {} did not stop cleanly: {}",
                 ep->branch, reason, pid, stopped.ToString());
  } else {
    spdlog::info("endpoint {}: suspended ({}): postgres pid {} stopped in {:.1f} ms", ep->branch,
                 reason, pid, took * 1000);
  }
  if (!flushed.ok()) {
    spdlog::warn("endpoint {}: flushing the branch failed (the op log keeps it): {}", ep->branch,
                 flushed.ToString());
  }
}

Status EndpointManager::EnsureRunning(Endpoint* ep, const char* reason) {
  Settle(ep);
  ReapIfDead(ep);
  if (!ep->blocked.empty()) return Status::Busy("branch '" + ep->branch + "' is " + ep->blocked);
  if (draining_) return Status::Unavailable("the strata daemon is shutting down");
  if (ep->state == EndpointState::kSuspended) {
    STRATA_RETURN_IF_ERROR(StartLocked(ep, reason));
  }
  return Status::OK();
}

Result<std::string> EndpointManager::Acquire(const std::string& branch) {
  STRATA_RETURN_IF_ERROR(resolve_(branch).status());
  std::shared_ptr<Endpoint> ep = Find(branch, true);
  MutexLock lock(&ep->mu);
  STRATA_RETURN_IF_ERROR(EnsureRunning(ep.get(), "connect"));
  ep->connections++;
  return ep->server->socket_path();
}

void EndpointManager::Release(const std::string& branch) {
  std::shared_ptr<Endpoint> ep = Find(branch, false);
  if (!ep) return;
  MutexLock lock(&ep->mu);
  if (ep->connections > 0) ep->connections--;
  ep->last_active_ns = opts_.clock->NowNs();
}

Result<EndpointInfo> EndpointManager::Start(const std::string& branch) {
  return StartFor(branch, "api");
}

Result<EndpointInfo> EndpointManager::StartFor(const std::string& branch, const char* reason) {
  STRATA_RETURN_IF_ERROR(resolve_(branch).status());
  std::shared_ptr<Endpoint> ep = Find(branch, true);
  MutexLock lock(&ep->mu);
  STRATA_RETURN_IF_ERROR(EnsureRunning(ep.get(), reason));
  return InfoLocked(*ep);
}

void EndpointManager::StartInBackground(const std::string& branch) {
  MutexLock lock(&starter_mu_);
  if (starter_stop_) return;
  starter_queue_.push_back(branch);
  if (!starter_.joinable()) starter_ = NamedThread("strata-starter", [this] { StarterLoop(); });
  starter_cv_.Signal();
}

void EndpointManager::StarterLoop() {
  for (;;) {
    std::string branch;
    {
      MutexLock lock(&starter_mu_);
      starter_cv_.Wait(&starter_mu_, [this]() REQUIRES(starter_mu_) {
        return starter_stop_ || !starter_queue_.empty();
      });
      if (starter_stop_) return;
      branch = std::move(starter_queue_.front());
      starter_queue_.pop_front();
    }
    // StartLocked logs and records a failed start itself.
    Result<EndpointInfo> started = StartFor(branch, "create");
    if (!started.ok() && !started.status().IsNotFound()) {
      spdlog::debug("endpoint {}: no start at creation: {}", branch, started.status().ToString());
    }
  }
}

Status EndpointManager::RecoverIfCrashed(const std::string& branch) {
  STRATA_ASSIGN_OR_RETURN(EndpointTarget t, resolve_(branch));
  const std::string control_file = t.data_dir + "/global/pg_control";
  Result<std::string> control = ReadPgdataFile(control_file, 64);
  if (control.status().IsNotFound()) return Status::OK();  // no cluster
  STRATA_RETURN_IF_ERROR(control.status());
  if (PgControlSaysShutDown(*control)) return Status::OK();
  std::shared_ptr<Endpoint> ep = Find(branch, true);
  MutexLock lock(&ep->mu);
  Settle(ep.get());
  ReapIfDead(ep.get());
  if (draining_) return Status::Unavailable("the strata daemon is shutting down");
  if (ep->state == EndpointState::kSuspended) {
    spdlog::info("endpoint {}: its cluster did not shut down cleanly: recovering it", branch);
    STRATA_RETURN_IF_ERROR(StartLocked(ep.get(), "recovery"));
  }
  StopLocked(ep.get(), "recovery");
  control = ReadPgdataFile(control_file, 64);
  STRATA_RETURN_IF_ERROR(control.status());
  if (!PgControlSaysShutDown(*control)) {
    return Status::IO("the server of branch '" + branch +
                      "' did not shut down cleanly after its crash recovery: " + ep->last_error);
  }
  return Status::OK();
}

Result<bool> EndpointManager::Checkpoint(const std::string& branch, uint64_t min_redo_bytes) {
  std::shared_ptr<Endpoint> ep = Find(branch, false);
  if (!ep) return false;
  std::string socket;
  {
    MutexLock lock(&ep->mu);
    Settle(ep.get());
    ReapIfDead(ep.get());
    if (ep->state != EndpointState::kRunning) return false;
    ep->connections++;
    socket = ep->server->socket_path();
  }
  Result<bool> ran = [&]() -> Result<bool> {
    LocalSql sql;
    STRATA_RETURN_IF_ERROR(
        sql.Connect(socket, opts_.user, std::chrono::milliseconds(opts_.start_timeout_ms)));
    STRATA_ASSIGN_OR_RETURN(
        std::string distance,
        sql.Query("SELECT pg_current_wal_insert_lsn() - redo_lsn FROM pg_control_checkpoint()"));
    // numeric, e.g. "1234" (an integer: a difference of LSNs)
    if (std::strtoull(distance.c_str(), nullptr, 10) < min_redo_bytes) return false;
    STRATA_RETURN_IF_ERROR(sql.Query("CHECKPOINT").status());
    return true;
  }();
  Release(branch);
  return ran;
}

Result<EndpointInfo> EndpointManager::Suspend(const std::string& branch) {
  STRATA_RETURN_IF_ERROR(resolve_(branch).status());
  std::shared_ptr<Endpoint> ep = Find(branch, true);
  MutexLock lock(&ep->mu);
  Settle(ep.get());
  ReapIfDead(ep.get());
  StopLocked(ep.get(), "api");
  return InfoLocked(*ep);
}

Result<EndpointInfo> EndpointManager::Get(const std::string& branch) {
  STRATA_RETURN_IF_ERROR(resolve_(branch).status());
  std::shared_ptr<Endpoint> ep = Find(branch, false);
  if (!ep) {
    EndpointInfo info;
    info.branch = branch;
    info.idle_timeout_s = IdleTimeoutOf(branch);
    return info;
  }
  MutexLock lock(&ep->mu);
  return InfoLocked(*ep);
}

int64_t EndpointManager::IdleTimeoutOf(const std::string& branch) {
  Result<EndpointTarget> t = resolve_(branch);
  return t.ok() && t->idle_timeout_s ? t->idle_timeout_s : opts_.idle_timeout_s;
}

EndpointInfo EndpointManager::InfoLocked(const Endpoint& ep) {
  EndpointInfo info;
  info.branch = ep.branch;
  info.state = ep.state;
  if (ep.state == EndpointState::kRunning && ep.server) {
    info.pid = ep.server->pid();
    info.socket_path = ep.server->socket_path();
  }
  info.connections = ep.connections;
  info.idle_timeout_s = IdleTimeoutOf(ep.branch);
  info.last_active_ns = ep.last_active_ns;
  info.started_ns = ep.started_ns;
  info.starts = ep.starts;
  info.last_start_seconds = ep.last_start_seconds;
  info.last_error = ep.last_error;
  return info;
}

std::vector<EndpointInfo> EndpointManager::List() {
  std::vector<EndpointInfo> out;
  for (auto& ep : All()) {
    MutexLock lock(&ep->mu);
    out.push_back(InfoLocked(*ep));
  }
  return out;
}

int EndpointManager::SuspendAll() {
  int n = 0;
  for (auto& ep : All()) {
    MutexLock lock(&ep->mu);
    Settle(ep.get());
    if (ep->state != EndpointState::kRunning) continue;
    StopLocked(ep.get(), "api");
    n++;
  }
  return n;
}

Status EndpointManager::Block(const std::string& branch, const std::string& why) {
  std::shared_ptr<Endpoint> ep = Find(branch, true);
  MutexLock lock(&ep->mu);
  Settle(ep.get());
  if (!ep->blocked.empty()) return Status::Busy("branch '" + branch + "' is " + ep->blocked);
  ep->blocked = why;
  ReapIfDead(ep.get());
  StopLocked(ep.get(), "delete");
  return Status::OK();
}

void EndpointManager::Unblock(const std::string& branch) {
  std::shared_ptr<Endpoint> ep = Find(branch, false);
  if (!ep) return;
  MutexLock lock(&ep->mu);
  ep->blocked.clear();
}

void EndpointManager::Forget(const std::string& branch) {
  MutexLock lock(&mu_);
  endpoints_.erase(branch);
}

void EndpointManager::SuspendIdle(int64_t now_ns) {
  std::vector<std::shared_ptr<Endpoint>> all;
  {
    MutexLock lock(&mu_);
    for (auto it = endpoints_.begin(); it != endpoints_.end();) {
      // Forget endpoints of deleted branches once they are stopped. Only
      // try the endpoint's lock: mu_ is never waited for behind one.
      Endpoint* ep = it->second.get();
      bool gone = false;
      if (ep->mu.TryLock()) {
        gone = ep->state == EndpointState::kSuspended && !resolve_(it->first).ok();
        ep->mu.Unlock();
      }
      if (gone) {
        it = endpoints_.erase(it);
        continue;
      }
      all.push_back(it->second);
      ++it;
    }
  }
  for (auto& ep : all) {
    MutexLock lock(&ep->mu);
    if (ep->state != EndpointState::kRunning) continue;
    ReapIfDead(ep.get());
    if (ep->state != EndpointState::kRunning || ep->connections > 0) continue;
    const int64_t timeout = IdleTimeoutOf(ep->branch);
    if (now_ns - ep->last_active_ns < timeout * 1'000'000'000) continue;
    StopLocked(ep.get(), "idle");
  }
}

void EndpointManager::Drain() {
  std::thread starter;
  {
    MutexLock lock(&starter_mu_);
    starter_stop_ = true;
    starter_queue_.clear();
    starter.swap(starter_);
  }
  starter_cv_.SignalAll();
  if (starter.joinable()) starter.join();
  std::vector<std::shared_ptr<Endpoint>> all;
  {
    MutexLock lock(&mu_);
    draining_ = true;  // before any endpoint lock: a start in progress is stopped below
    for (auto& [name, ep] : endpoints_) all.push_back(ep);
  }
  for (auto& ep : all) {
    MutexLock lock(&ep->mu);
    Settle(ep.get());
    StopLocked(ep.get(), "shutdown");
  }
}

}  // namespace strata
