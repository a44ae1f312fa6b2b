#include "daemon/daemon.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/api.h"
#include "api/http_server.h"
#include "api/mcp_http.h"
#include "api/status_metrics.h"
#include "catalog/catalog_follower.h"
#include "catalog/fork_spec.h"
#include "cluster/node_leases.h"
#include "cluster/node_registry.h"
#include "cluster/relay_key.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/fd_util.h"
#include "common/filename.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/process.h"
#include "common/token_file.h"
#include "endpoint/branch_access.h"
#include "endpoint/branch_diff.h"
#include "endpoint/branch_move.h"
#include "endpoint/credentials.h"
#include "endpoint/db_template.h"
#include "endpoint/endpoint_manager.h"
#include "endpoint/fleet.h"
#include "fs/fuse_server.h"
#include "objstore/store_stack.h"
#include "pgwire/proxy.h"
#include "storelog/store_sink.h"
#include "walsink/shipping_sink.h"

namespace strata {

namespace {

constexpr char kStoreMarker[] = "store.json";
// How often the catalog is read for other daemons' changes (one LIST).
constexpr int kFollowIntervalMs = 1000;
// How often the branches in use that other daemons write are read again.
constexpr int kForeignRefreshMs = 5000;

// Tells the process waiting on `fd` (if any) how the start went, and closes it.
void Ready(UniqueFd* fd, const std::string& line) {
  if (!fd->valid()) return;
  std::string msg = line + "\n";
  ssize_t n = ::write(fd->get(), msg.data(), msg.size());
  (void)n;
  fd->reset();
}

// PostgreSQL's crash recovery opens every relation file; never pin an fd per
// inode, and lift the descriptor limit for the object store's fd cache.
void RaiseFdLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IO("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return Status::OK();
}

// The first line of a small file of ours; empty if it does not exist.
std::string ReadLineFile(const std::string& path) {
  std::string line;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[256] = {};
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    line.assign(buf, n);
    line.resize(std::min(line.size(), line.find('\n')));
  }
  return line;
}

// Atomically (common/fd_util.h): a crash leaves the old line or the new one.
Status WriteLineFile(const std::string& path, const std::string& line) {
  return WriteFileAtomically(path, line + "\n", 0644);
}

// A cache directory holds one store's op log: replaying it into another store
// would apply ops to the wrong branches. The first mount writes the store id
// into CACHE_DIR/STORE; later mounts must match it.
Status BindCacheDir(const std::string& dir, const std::string& store_id, const std::string& url) {
  const std::string path = filename::StoreId(dir);
  const std::string existing = ReadLineFile(path);
  if (existing.empty()) return WriteLineFile(path, store_id);
  if (existing != store_id) {
    return Status::Invalid("cache directory " + dir + " belongs to another store (id " + existing +
                           "), not " + url + " (id " + store_id + "): use another --cache-dir");
  }
  return Status::OK();
}

// The node id of this cache directory (docs/cluster.md): --node-id if given,
// else the one kept in CACHE_DIR/node-id, else a new random one. The caller
// keeps it there once the node registered (KeepNodeId).
Result<std::string> NodeIdOf(const std::string& cache_dir, const std::string& flag) {
  std::string id = flag.empty() ? ReadLineFile(filename::NodeId(cache_dir)) : flag;
  if (id.empty()) id = crypto::HexEncode(crypto::RandomBytes(6));
  if (!ValidNodeId(id)) {
    return Status::Invalid("node id \"" + id +
                           "\" is not valid: 1-64 of a-z, 0-9 and '-', not starting with '-'");
  }
  return id;
}

Status KeepNodeId(const std::string& cache_dir, const std::string& id) {
  const std::string path = filename::NodeId(cache_dir);
  return ReadLineFile(path) == id ? Status::OK() : WriteLineFile(path, id);
}

// Reads store.json: the store's identity, a random id made by `strata init`.
Result<std::string> CheckStore(ObjectStore* store) {
  Result<std::string> marker = store->Get(kStoreMarker);
  if (marker.status().IsNotFound()) {
    return Status::NotFound("no strata store at " + store->Url() +
                            " (create one with `strata init " + store->Url() + "`)");
  }
  if (!marker.ok()) return marker.status();
  return ParseStoreMarker(*marker, store->Url());
}

// 32 hex digits.
std::string RandomId() { return crypto::HexEncode(crypto::RandomBytes(16)); }

// CACHE_DIR/exit-status tells `strata umount` (not our parent) whether the
// final flush worked: "ok", or the error.
void WriteExitStatus(const std::string& cache_dir, const std::string& verdict) {
  if (std::FILE* f = std::fopen(filename::ExitStatus(cache_dir).c_str(), "w")) {
    std::fprintf(f, "%s\n", verdict.c_str());
    std::fclose(f);
  }
}

nlohmann::json ShippingStatsJson(const ShippingStats& s) {
  return {{"server", s.server},
          {"tls", s.tls},
          {"connected", s.connected},
          {"tail", s.tail},
          {"acked_offset", s.acked_offset},
          {"unacked_bytes", s.tail - std::min(s.tail, s.acked_offset)},
          {"reconnects", s.reconnects},
          {"frames_sent", s.frames_sent},
          {"bytes_sent", s.bytes_sent},
          {"acks", s.acks},
          {"barrier_timeouts", s.barrier_timeouts},
          {"last_error", s.last_error}};
}

nlohmann::json StoreShippingStatsJson(const StoreShippingStats& s) {
  return {{"tail", s.tail},
          {"acked_offset", s.acked_offset},
          {"unacked_bytes", s.tail - std::min(s.tail, s.acked_offset)},
          {"rounds", s.rounds},
          {"objects_written", s.objects_written},
          {"bytes_written", s.bytes_written},
          {"objects_deleted", s.objects_deleted},
          {"fences", s.fences},
          {"barrier_timeouts", s.barrier_timeouts},
          {"last_error", s.last_error}};
}

nlohmann::json ProxyStatsJson(const ProxyStats& s, const nlohmann::json& tls) {
  return {{"accepted", s.accepted},
          {"active", s.active},
          {"sessions", s.sessions},
          {"tls_sessions", s.tls_sessions},
          {"auth_failures", s.auth_failures},
          {"refused", s.refused},
          {"cancels", s.cancels},
          {"protocol_errors", s.protocol_errors},
          {"auth_throttled", s.auth_throttled},
          {"relayed_out", s.relayed_out},
          {"relayed_in", s.relayed_in},
          {"tls", tls}};
}

// Per opcode, for the opcodes that were asked for at least once; the
// latency buckets are not cumulative, one per bound of bounds_us and a last
// open one (docs/api.md, `fuse`).
nlohmann::json FuseStatsJson(const FuseStats& stats) {
  nlohmann::json ops = nlohmann::json::object();
  for (size_t i = 0; i < kFuseOpCount; i++) {
    const FuseOpStats s = stats.Snapshot(static_cast<FuseOp>(i));
    if (s.count == 0) continue;
    ops[std::string(FuseOpName(static_cast<FuseOp>(i)))] = {
        {"count", s.count},          {"errors", s.errors},          {"bytes", s.bytes},
        {"sum_us", s.sum_ns / 1000}, {"p50_us", s.QuantileUs(0.5)}, {"p99_us", s.QuantileUs(0.99)},
        {"buckets", s.buckets}};
  }
  return {{"requests", stats.TotalRequests()}, {"bounds_us", kFuseLatencyBoundsUs}, {"ops", ops}};
}

}  // namespace

Result<std::string> ParseStoreMarker(const std::string& data, const std::string& url) {
  try {
    auto j = nlohmann::json::parse(data);
    if (j.at("kind").get<std::string>() != "strata-store" || j.at("format").get<int>() != 1 ||
        j.at("id").get<std::string>().empty()) {
      return Status::Corruption("store " + url + " has an unsupported store.json");
    }
    return j.at("id").get<std::string>();
  } catch (const std::exception& e) {
    return Status::Corruption("store " + url + ": store.json is malformed: " + e.what());
  }
}

Status InitStore(const std::string& url) {
  StoreStackOptions sopts;
  sopts.url = url;
  sopts.retry_deadline = std::chrono::seconds(15);  // a person is waiting
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<StoreStack> stack, StoreStack::Open(sopts));
  ObjectStore* store = stack->store();
  nlohmann::json j = {{"kind", "strata-store"},
                      {"format", 1},
                      {"id", RandomId()},
                      {"created", FormatRfc3339(NowNs())}};
  Status st = store->PutIfAbsent(kStoreMarker, j.dump(2) + "\n");
  if (st.IsExists()) return Status::Exists("a strata store already exists at " + url);
  return st;
}

// SIGTERM, SIGINT and SIGHUP, delivered to a thread through a pipe: stopping
// takes work (the postgres servers on the mount first) that no signal
// handler may do.
class Daemon::SignalPipe {
 public:
  Status Install() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
    read_.reset(fds[0]);
    write_.reset(fds[1]);
    write_fd_ = fds[1];
    struct sigaction sa = {};
    sa.sa_handler = [](int sig) {
      const char c = static_cast<char>(sig);
      ssize_t n = ::write(write_fd_, &c, 1);
      (void)n;
    };
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return Status::OK();
  }
  // The signal received, or 0 after Cancel().
  int Wait() {
    char c = 0;
    while (::read(read_.get(), &c, 1) < 0 && errno == EINTR) {
    }
    return c;
  }
  void Cancel() {
    const char c = 0;
    ssize_t n = ::write(write_.get(), &c, 1);
    (void)n;
  }
  ~SignalPipe() {
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) signal(sig, SIG_DFL);
    write_fd_ = -1;  // before write_ closes it
  }

 private:
  static inline std::atomic<int> write_fd_{-1};  // write_, for the handler
  UniqueFd read_, write_;
};

Daemon::Daemon(const MountOptions& opts) : opts_(opts), clock_(Clock::Real()) {
  if (opts_.sink_dir.empty()) opts_.sink_dir = filename::Sink(opts_.cache_dir);
  if (opts_.log_file.empty()) opts_.log_file = filename::Log(opts_.cache_dir);
}

Daemon::~Daemon() {
  if (stopper_.joinable()) {
    signals_->Cancel();
    stopper_.join();
  }
}

Result<std::unique_ptr<Daemon>> Daemon::Open(const MountOptions& opts) {
  std::unique_ptr<Daemon> d(new Daemon(opts));
  STRATA_RETURN_IF_ERROR(d->OpenStore());
  STRATA_RETURN_IF_ERROR(d->OpenOpLog());
  STRATA_RETURN_IF_ERROR(d->OpenVersions());
  STRATA_RETURN_IF_ERROR(d->OpenBranches());
  STRATA_RETURN_IF_ERROR(d->OpenEndpoints());
  STRATA_RETURN_IF_ERROR(d->OpenApi());
  STRATA_RETURN_IF_ERROR(d->Mount());
  return d;
}

Status Daemon::OpenStore() {
  const std::string& dir = opts_.cache_dir;
  STRATA_ASSIGN_OR_RETURN(
      const int lock_fd,
      LockDirectory(dir, "cache directory " + dir + " is in use by another strata daemon"));
  cache_lock_.reset(lock_fd);
  StoreStackOptions sopts;
  sopts.url = opts_.store_url;
  sopts.cache_dir = opts_.cache_dir;
  sopts.cache_bytes = opts_.cache_bytes;
  sopts.faults = opts_.inject_faults;
  sopts.retry_deadline = std::chrono::milliseconds(opts_.store_timeout_ms);
  STRATA_ASSIGN_OR_RETURN(stack_, StoreStack::Open(sopts));
  if (!opts_.inject_faults.empty()) {
    spdlog::warn("injecting object-store faults for testing: {}", opts_.inject_faults);
  }
  STRATA_ASSIGN_OR_RETURN(store_id_, CheckStore(stack_->store()));
  STRATA_RETURN_IF_ERROR(BindCacheDir(opts_.cache_dir, store_id_, opts_.store_url));
  // Several daemons may mount the store: each branch has its own lease
  // (docs/cluster.md), taken when this daemon first writes it.
  STRATA_RETURN_IF_ERROR(JoinStore());
  STRATA_ASSIGN_OR_RETURN(audit_, AuditLog::Open(filename::AuditLog(opts_.cache_dir)));
  return Status::OK();
}

namespace {

// The host others reach a listener bound to `listen_host` at: --advertise-host,
// else the listener's own host, else (a wildcard) this machine's name.
std::string AdvertisedHost(const std::string& advertise, const std::string& listen_host) {
  if (!advertise.empty()) return advertise;
  if (listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "::") return Hostname();
  return listen_host;
}

// Reads again the newest manifest of every branch `id` forked from that this
// daemon does not hold (VersionStore::RefreshForeign; a no-op for held ones).
void RefreshAncestors(const CatalogData& cat, VersionStore* v, uint32_t id) {
  const Lineage lineage = cat.LineageOf(id);  // the branch itself first
  for (size_t i = 1; i < lineage.size(); i++) {
    Result<bool> newer = v->RefreshForeign(lineage[i].branch);
    if (!newer.ok()) {
      spdlog::warn("branch {}: reading the newest manifest of its parent {}: {}", id,
                   lineage[i].branch, newer.status().ToString());
    }
  }
}

}  // namespace

Status Daemon::JoinStore() {
  NodeRecord self;
  STRATA_ASSIGN_OR_RETURN(self.id, NodeIdOf(opts_.cache_dir, opts_.node_id));
  self.mountpoint = opts_.mountpoint;
  self.proxy_addr = opts_.proxy_addr;
  self.api_addr = opts_.api_addr;
  NodeRegistryOptions nopts;
  nopts.ttl = std::chrono::milliseconds(opts_.lease_ttl_ms);
  nopts.clock = clock_;
  nopts.load = [this]() -> nlohmann::json {
    NodeLeases* leases = leases_ptr_.load();
    nlohmann::json load = {{"branches_held", leases ? leases->Held().size() : 0}};
    if (EndpointManager* e = endpoints_ptr_.load()) {
      size_t running = 0;
      for (const EndpointInfo& info : e->List()) running += info.state == EndpointState::kRunning;
      load["endpoints_running"] = running;
    }
    return load;
  };
  STRATA_ASSIGN_OR_RETURN(node_, NodeRegistry::Register(stack_->store(), self, nopts));
  STRATA_RETURN_IF_ERROR(KeepNodeId(opts_.cache_dir, self.id));
  leases_ = std::make_unique<NodeLeases>(stack_->store(), node_.get(), clock_);
  leases_ptr_ = leases_.get();
  spdlog::info("joined the store as node {} (lease ttl {} ms)", node_->self().id,
               opts_.lease_ttl_ms);
  return Status::OK();
}

Status Daemon::OpenOpLog() {
  STRATA_RETURN_IF_ERROR(MakeDir(opts_.sink_dir));
  STRATA_ASSIGN_OR_RETURN(sink_, OpenLocalSink(opts_.sink_dir));
  if (opts_.sink_addr.empty()) return Status::OK();
  if (opts_.sink_addr == kSinkStore) return OpenStoreLog();
  STRATA_ASSIGN_OR_RETURN(const HostPort addr, ParseHostPort(opts_.sink_addr));
  ShippingSinkOptions shopts;
  shopts.server = addr;
  shopts.store_id = store_id_;
  shopts.barrier_timeout_ms = static_cast<int>(opts_.sink_timeout_ms);
  // Every daemon of the store ships to this walsink (docs/cluster.md).
  shopts.shared = true;
  shopts.void_file = opts_.sink_dir + "/void";
  if (!opts_.sink_token_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(shopts.token,
                            ReadTokenFile(opts_.sink_token_file, "--sink-token-file"));
  }
  if (!opts_.sink_insecure) {
    Result<std::shared_ptr<const TlsContext>> tls = TlsContext::ForClient(opts_.sink_ca_file);
    if (!tls.ok()) return Status::Invalid("--sink-ca: " + tls.status().message());
    shopts.tls = *tls;
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ShippingSink> shipped,
                          ShippingSink::Open(std::move(sink_), shopts));
  shipping_ = shipped.get();
  sink_ = std::move(shipped);
  spdlog::info("shipping the op log to walsink {} over {} (barrier timeout {} ms)", opts_.sink_addr,
               opts_.sink_insecure ? "plaintext" : "TLS", opts_.sink_timeout_ms);
  return Status::OK();
}

Status Daemon::OpenStoreLog() {
  StoreSinkOptions o;
  o.store = stack_->store();
  o.void_file = opts_.sink_dir + "/void";
  o.barrier_timeout_ms = static_cast<int>(opts_.sink_timeout_ms);
  o.clock = clock_;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<StoreSink> s, StoreSink::Open(std::move(sink_), o));
  store_log_ = s.get();
  sink_ = std::move(s);
  spdlog::info(
      "the op log goes to the store as log objects (group commit: one round in flight, up to {} "
      "MiB a round, {} ms for records no barrier waits for; barrier timeout {} ms)",
      o.round_bytes >> 20, o.window_ms, opts_.sink_timeout_ms);
  return Status::OK();
}

Status Daemon::OpenVersions() {
  STRATA_ASSIGN_OR_RETURN(catalog_, Catalog::Load(stack_->store()));
  VersionStoreOptions vopts;
  vopts.index_dir = filename::Index(opts_.cache_dir);
  vopts.memtable_bytes = static_cast<size_t>(opts_.memtable_bytes);
  vopts.default_durability = shipping_ || store_log_ ? Durability::kRemote : Durability::kLocal;
  // The store may fall behind the acknowledged barriers by one retry budget,
  // no more: after that, fsync fails with EIO until flushes get through.
  vopts.max_store_lag_seconds = static_cast<int>((opts_.store_timeout_ms + 999) / 1000);
  vopts.may_write = [node = node_.get()]() -> Status {
    if (!node->Alive()) {
      return Status::Busy("node " + node->self().id +
                          " missed its heartbeat: other daemons may hold its branches now, so "
                          "it no longer writes to the store");
    }
    return Status::OK();
  };
  vopts.claim = [leases = leases_.get()](uint32_t branch) { return leases->Claim(branch); };
  // Records replayed at mount are stale once another node took the branch
  // over: it has them from the walsink (TakeOver), or they were on this
  // machine alone (docs/cluster.md, "Failover").
  vopts.held_at = [leases = leases_.get()](uint32_t branch, uint64_t epoch) {
    return leases->HeldAt(branch, epoch);
  };
  vopts.forget_claim = [leases = leases_.get()](uint32_t branch) { leases->Forget(branch); };
  STRATA_ASSIGN_OR_RETURN(versions_, VersionStore::Open(stack_->store(), sink_.get(), vopts));
  std::vector<uint32_t> ids;
  for (const BranchInfo& b : catalog_->Current()->branches) ids.push_back(b.id);
  return versions_->Recover(ids);
}

Status Daemon::OpenBranches() {
  branches_ = std::make_unique<BranchManager>(catalog_.get(), versions_.get());
  const bool remote = shipping_ || store_log_;
  branches_->SetDurabilityPolicy(remote ? Durability::kRemote : Durability::kLocal, remote);
  STRATA_RETURN_IF_ERROR(branches_->ApplyDurabilities());
  FuseOptions fopts;
  fopts.mountpoint = opts_.mountpoint;
  fopts.control_socket = filename::ControlSocket(opts_.cache_dir);
  fopts.statfs_path = opts_.cache_dir;
  // SIGTERM must stop the postgres servers on the mount while it still serves.
  fopts.handle_signals = false;
  fuse_ = std::make_unique<FuseServer>(versions_.get(), catalog_.get(), fopts);
  branches_->SetBranchGoneListener(
      [this](const std::string& name) { fuse_->InvalidateBranch(name); });
  branches_->SetDefaultHistory(opts_.history_s);
  branches_->SetLineageListener(
      [this](uint32_t id, const Lineage& lineage) { fuse_->SetLineage(id, lineage); });
  CollectorOptions gcopts;
  gcopts.background = opts_.gc;
  gcopts.interval_ms = opts_.gc_interval_ms;
  gcopts.rate_bytes = static_cast<uint64_t>(opts_.gc_rate_bytes);
  collector_ =
      std::make_unique<Collector>(catalog_.get(), versions_.get(), branches_.get(), gcopts);
  follower_ = std::make_unique<CatalogFollower>(catalog_.get(), branches_.get(),
                                                std::chrono::milliseconds(kFollowIntervalMs),
                                                [this] { ReloadForeignBranches(); });
  return Status::OK();
}

void Daemon::ReloadForeignBranches() {
  // Every tick: a write that claimed a branch here has made what the kernel
  // cached of it before stale.
  fuse_->InvalidateClaimedBranches();
  // At most every kForeignRefreshMs, and only while other daemons are
  // around (one was alive in the last minute: its last flushes count too):
  // each branch costs a LIST and a GET, and a store one daemon mounts has
  // no foreign branch at all.
  const auto now = clock_->SteadyNow();
  if (now < next_foreign_refresh_) return;
  next_foreign_refresh_ = now + std::chrono::milliseconds(kForeignRefreshMs);
  Result<std::vector<NodeRecord>> nodes = NodeRegistry::List(stack_->store(), clock_);
  if (!nodes.ok()) return;
  const int64_t now_ms = clock_->NowNs() / 1'000'000;
  if (std::any_of(nodes->begin(), nodes->end(), [&](const NodeRecord& n) {
        return n.id != node_->self().id && NodeAlive(n, now_ms);
      })) {
    others_seen_ = now;
  }
  if (now - others_seen_ > std::chrono::minutes(1)) return;
  for (uint32_t id : fuse_->OpenBranches()) {
    Result<bool> newer = versions_->RefreshForeign(id);
    if (!newer.ok()) {
      spdlog::warn("branch {}: reading its newest manifest: {}", id, newer.status().ToString());
      continue;
    }
    if (!*newer) continue;
    auto cat = catalog_->Current();
    if (const BranchInfo* b = cat->FindBranchById(id)) fuse_->ReloadBranch(id, b->name);
  }
}

Status Daemon::OpenEndpoints() {
  metrics_ = std::make_unique<Metrics>();
  EndpointOptions eopts;
  eopts.run_dir = filename::PgRun(opts_.cache_dir);
  eopts.bin_dir = opts_.pg_bin_dir;
  eopts.user = opts_.pg_user;
  eopts.idle_timeout_s = opts_.idle_timeout_s;
  eopts.settings = opts_.pg_settings;
  eopts.clock = clock_;
  endpoints_ = std::make_unique<EndpointManager>(
      eopts,
      [cat = catalog_.get(), v = versions_.get(), fuse = fuse_.get(),
       mnt = opts_.mountpoint](const std::string& name) -> Result<EndpointTarget> {
        auto c = cat->Current();
        const BranchInfo* b = c->FindBranch(name);
        if (!b) return Status::NotFound("branch \"" + name + "\" does not exist");
        EndpointTarget t{b->id, mnt + "/" + name, b->idle_timeout_s, "", nullptr};
        if (IsTemplateName(name)) {
          t.no_start = "branch '" + name +
                       "' is the template of new databases: create one with initdb instead";
        } else {
          // Its server runs where it is written (docs/cluster.md).
          t.before_start = [cat, v, fuse, id = b->id, name] {
            const bool held = v->Epoch(id) != 0;
            Status st = v->Claim(id);
            if (st.ok() && !held) {
              // A claim adopts what another daemon published last (a move, a
              // takeover), and the branch reads its parents through the
              // fork: what this daemon read of either may be older.
              RefreshAncestors(*cat->Current(), v, id);
              if (fuse) fuse->ReloadBranch(id, name);
            }
            return st.code() == Code::kReadOnly ? Status::Busy(st.message()) : st;
          };
        }
        return t;
      },
      [v = versions_.get()](uint32_t id) { return v->Flush(id); }, metrics_.get());
  endpoints_ptr_ = endpoints_.get();
  if (Status st = endpoints_->Init(); !st.ok()) {
    spdlog::warn("endpoints cannot start postgres servers: {}", st.ToString());
  }
  credentials_ = std::make_unique<Credentials>(catalog_.get(), clock_);
  FleetOptions flopts;
  flopts.mountpoint = opts_.mountpoint;
  flopts.run_dir = eopts.run_dir;
  flopts.pg_bin_dir = opts_.pg_bin_dir;
  flopts.pg_user = opts_.pg_user;
  flopts.clock = clock_;
  flopts.default_quota = {opts_.quota_branches, opts_.quota_bytes};
  flopts.exclusive_bytes = [c = collector_.get()](uint32_t id) -> std::optional<uint64_t> {
    std::optional<BranchSpace> sp = c->SpaceOf(id);
    if (!sp) return std::nullopt;
    return sp->exclusive_bytes;
  };
  fleet_ = std::make_unique<Fleet>(flopts, catalog_.get(), versions_.get(), branches_.get(),
                                   endpoints_.get(), credentials_.get(), metrics_.get());
  access_ = std::make_unique<BranchAccess>(
      catalog_.get(), credentials_.get(), endpoints_.get(),
      [f = fleet_.get()](const std::string& owner) { return f->CheckSessionQuota(owner); },
      leases_.get());
  mover_ = std::make_unique<BranchMover>(stack_->store(), catalog_.get(), versions_.get(),
                                         endpoints_.get(), leases_.get(), clock_);
  if (opts_.proxy_addr.empty()) return Status::OK();
  STRATA_ASSIGN_OR_RETURN(const HostPort hp,
                          ParseHostPort(opts_.proxy_addr, /*allow_zero_port=*/true));
  ProxyOptions popts;
  popts.listen = hp;
  STRATA_ASSIGN_OR_RETURN(popts.tls, OpenProxyTls(hp));
  popts.require_tls = opts_.proxy_require_tls;
  popts.audit = audit_.get();
  // Sessions of branches other daemons hold are relayed to their proxies
  // (docs/proxy.md, "Relay between daemons").
  popts.node_id = node_->self().id;
  STRATA_ASSIGN_OR_RETURN(popts.relay_key, LoadRelayKey(stack_->store(), clock_));
  proxy_ = std::make_unique<Proxy>(popts, access_.get());
  return proxy_->Start();
}

Result<std::shared_ptr<const TlsContext>> Daemon::OpenProxyTls(const HostPort& listen) {
  const bool self_signed = opts_.proxy_tls_cert.empty();
  const std::string cert =
      self_signed ? filename::ProxyTlsCert(opts_.cache_dir) : opts_.proxy_tls_cert;
  const std::string key =
      self_signed ? filename::ProxyTlsKey(opts_.cache_dir) : opts_.proxy_tls_key;
  if (self_signed) {
    // Names a client may verify with sslmode=verify-full and sslrootcert=CERT.
    STRATA_RETURN_IF_ERROR(EnsureSelfSignedCertificate(cert, key, SelfSignedNames(listen.host)));
  }
  Result<std::shared_ptr<const TlsContext>> tls = TlsContext::ForServer(cert, key);
  if (!tls.ok()) return Status::Invalid("proxy TLS: " + tls.status().message());
  proxy_tls_json_ = {{"certificate", cert},
                     {"fingerprint_sha256", (*tls)->fingerprint()},
                     {"self_signed", self_signed},
                     {"required", opts_.proxy_require_tls}};
  spdlog::info("proxy: TLS with {} certificate {} (SHA-256 {})",
               self_signed ? "self-signed" : "the", cert, (*tls)->fingerprint());
  return tls;
}

Status Daemon::OpenApi() {
  STRATA_ASSIGN_OR_RETURN(
      const std::string token,
      LoadOrMakeTokenFile(
          opts_.api_token_file.empty() ? filename::ApiToken(opts_.cache_dir) : opts_.api_token_file,
          "API token file"));
  api_context_ = std::make_unique<ApiContext>();
  ApiContext& actx = *api_context_;
  actx.audit = audit_.get();
  actx.store = stack_->store();
  actx.sink = sink_.get();
  actx.versions = versions_.get();
  actx.catalog = catalog_.get();
  actx.branches = branches_.get();
  actx.fleet = fleet_.get();
  actx.endpoints = endpoints_.get();
  actx.credentials = credentials_.get();
  actx.metrics = metrics_.get();
  actx.collector = collector_.get();
  actx.leases = leases_.get();
  actx.mover = mover_.get();
  diff_ = std::make_unique<BranchDiff>(
      catalog_.get(), versions_.get(), endpoints_.get(),
      BranchDiffOptions{opts_.pg_bin_dir, opts_.pg_user, "/usr/bin/diff", "/tmp", clock_});
  actx.diff = diff_.get();
  // Promote's check that the parent did not move: relation files from the
  // keyspace, named by the parent's server for the refusal.
  fleet_->SetDiverged(
      [d = diff_.get()](const BranchInfo& p, uint64_t s) { return d->ChangedRelationFiles(p, s); },
      [d = diff_.get()](const BranchInfo& p, uint64_t s) { return d->DivergedRelations(p, s); });
  actx.mountpoint = opts_.mountpoint;
  actx.cache_dir = opts_.cache_dir;
  actx.api_token = token;
  actx.credential_ttl_s = opts_.credential_ttl_s;
  actx.clock = clock_;
  actx.store_stats = [s = stack_.get()] { return s->StatsJson(); };
  if (shipping_) actx.sink_stats = [s = shipping_] { return ShippingStatsJson(s->Shipping()); };
  if (store_log_) {
    actx.store_log_stats = [s = store_log_] { return StoreShippingStatsJson(s->Shipping()); };
  }
  if (proxy_) {
    actx.proxy_address = FormatHostPort(
        {AdvertisedHost(opts_.advertise_host, ParseHostPort(opts_.proxy_addr, true)->host),
         proxy_->port()});
    actx.proxy_stats = [p = proxy_.get(), tls = proxy_tls_json_] {
      return ProxyStatsJson(p->Stats(), tls);
    };
  }
  actx.branch_created = [this](const std::string& name) { fuse_->InvalidateBranch(name); };
  actx.fuse_stats = [f = fuse_.get()] { return FuseStatsJson(*f->stats()); };
  AddStatusMetrics(metrics_.get(), actx);
  http_ = std::make_unique<HttpServer>([this](const HttpRequest& req) {
    if (Api* a = api_ptr_.load()) return req.path == "/mcp" ? mcp_->Handle(req) : a->Handle(req);
    HttpResponse r;
    r.status = 503;
    r.body = R"({"code":"unavailable","error":"the daemon is still starting"})"
             "\n";
    return r;
  });
  if (!opts_.api_addr.empty()) {
    STRATA_ASSIGN_OR_RETURN(const HostPort hp,
                            ParseHostPort(opts_.api_addr, /*allow_zero_port=*/true));
    STRATA_RETURN_IF_ERROR(http_->ListenTcp(hp));
    actx.api_address =
        FormatHostPort({AdvertisedHost(opts_.advertise_host, hp.host), http_->port()});
  }
  api_ = std::make_unique<Api>(actx);
  mcp_ = std::make_unique<McpHttp>(api_.get());
  api_ptr_ = api_.get();
  return node_->SetAddresses(actx.proxy_address, actx.api_address,
                             proxy_tls_json_.value("fingerprint_sha256", ""));
}

Status Daemon::Mount() {
  signals_ = std::make_unique<SignalPipe>();
  STRATA_RETURN_IF_ERROR(signals_->Install());
  STRATA_RETURN_IF_ERROR(fuse_->Mount());
  const std::string control_socket = filename::ControlSocket(opts_.cache_dir);
  STRATA_RETURN_IF_ERROR(http_->ListenUnix(control_socket));
  stopper_ = std::thread([this] {
    const int sig = signals_->Wait();
    if (sig <= 0) return;
    spdlog::info("signal {}: stopping the proxy and the postgres servers, then unmounting", sig);
    if (proxy_) proxy_->Stop();
    endpoints_->Drain();
    fuse_->Exit();
  });
  fleet_->StartReaper(std::chrono::seconds(1));
  collector_->Start();
  follower_->Start();
  const ApiContext& actx = *api_context_;
  spdlog::info("mounted {} at {}; proxy {}, api {} and {}", opts_.store_url, opts_.mountpoint,
               actx.proxy_address.empty() ? "off" : actx.proxy_address,
               actx.api_address.empty() ? "off" : actx.api_address, control_socket);
  ::unlink(filename::ExitStatus(opts_.cache_dir).c_str());
  return Status::OK();
}

int Daemon::Serve() {
  const int rc = fuse_->Loop();
  spdlog::info("unmounting (loop rc {})", rc);
  return rc;
}

Status Daemon::Stop() {
  follower_->Stop();
  fleet_->StopReaper();
  collector_->Stop();
  if (proxy_) proxy_->Stop();
  endpoints_->Drain();
  signals_->Cancel();
  stopper_.join();
  http_->Stop();
  fuse_.reset();  // unmounts if Exit() ended the loop
  Status flushed = versions_->FlushAll();
  if (!flushed.ok()) {
    spdlog::error("final flush failed (the op log still holds every op): {}", flushed.ToString());
    WriteExitStatus(opts_.cache_dir, flushed.ToString());
    return flushed;
  }
  WriteExitStatus(opts_.cache_dir, "ok");
  spdlog::info("all branches flushed to the store; exiting");
  // Only after the flush: until a lease is released no other node may
  // write the branch, and its records are all in the store now.
  leases_->ReleaseAll().PermitUnchecked();
  node_->Deregister();
  return Status::OK();
}

int RunDaemon(const MountOptions& in, int ready_fd) {
  UniqueFd ready(ready_fd);
  const std::string log_file = in.log_file.empty() ? filename::Log(in.cache_dir) : in.log_file;
  Status st = MakeDir(in.cache_dir);
  if (!st.ok()) return Ready(&ready, "ERR " + st.ToString()), 1;
  // The postgres servers run as another user and must reach their socket
  // directories under CACHE_DIR/pg: search permission only, no listing.
  ::chmod(in.cache_dir.c_str(), 0711);
  if (st = SetupLogging("strata", log_file); !st.ok()) {
    return Ready(&ready, "ERR " + st.ToString()), 1;
  }
  RaiseFdLimit();
  spdlog::info("strata daemon pid {} starting: store {}, mount {}, cache {}", getpid(),
               in.store_url, in.mountpoint, in.cache_dir);
  Result<std::unique_ptr<Daemon>> daemon = Daemon::Open(in);
  if (!daemon.ok()) {
    spdlog::error("mount failed: {}", daemon.status().ToString());
    Ready(&ready, "ERR " + daemon.status().ToString());
    return 1;
  }
  Ready(&ready, "OK");
  (*daemon)->Serve();
  return (*daemon)->Stop().ok() ? 0 : 1;
}

}  // namespace strata
