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
#include <random>
#include <thread>

#include "api/api.h"
#include "api/http_server.h"
#include "api/status_metrics.h"
#include "catalog/fork_spec.h"
#include "common/fd_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "endpoint/branch_access.h"
#include "endpoint/credentials.h"
#include "endpoint/endpoint_manager.h"
#include "endpoint/fleet.h"
#include "fs/fuse_server.h"
#include "layers/inode.h"
#include "objstore/store_stack.h"
#include "pgwire/proxy.h"
#include "walsink/shipping_sink.h"

namespace strata {

namespace {

constexpr char kStoreMarker[] = "store.json";

void Ready(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string msg = line + "\n";
  ssize_t n = ::write(fd, msg.data(), msg.size());
  (void)n;
  ::close(fd);
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

// A cache directory holds one store's op log: replaying it into another store
// would apply ops to the wrong branches. The first mount writes the store id
// into CACHE_DIR/STORE; later mounts must match it.
Status BindCacheDir(const std::string& dir, const std::string& store_id, const std::string& url) {
  const std::string path = dir + "/STORE";
  std::string existing;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[256] = {};
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    existing.assign(buf, n);
    while (!existing.empty() && existing.back() == '\n') existing.pop_back();
  }
  if (existing.empty()) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return Status::FromErrno(errno, "create " + path);
    std::fprintf(f, "%s\n", store_id.c_str());
    const bool ok = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) return Status::FromErrno(errno, "write " + path);
    return Status::OK();
  }
  if (existing != store_id) {
    return Status::Invalid("cache directory " + dir + " belongs to another store (id " + existing +
                           "), not " + url + " (id " + store_id + "): use another --cache-dir");
  }
  return Status::OK();
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

std::string RandomId() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

// CACHE_DIR/exit-status tells `strata umount` (not our parent) whether the
// final flush worked: "ok", or the error.
void WriteExitStatus(const std::string& cache_dir, const std::string& verdict) {
  if (std::FILE* f = std::fopen((cache_dir + "/exit-status").c_str(), "w")) {
    std::fprintf(f, "%s\n", verdict.c_str());
    std::fclose(f);
  }
}

// Exclusive use of the cache directory: two daemons must never share an op log.
class CacheLock {
 public:
  Status Acquire(const std::string& dir) {
    STRATA_ASSIGN_OR_RETURN(
        fd_, LockDirectory(dir, "cache directory " + dir + " is in use by another strata daemon"));
    return Status::OK();
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

// SIGTERM, SIGINT and SIGHUP, delivered to a thread through a pipe: stopping
// takes work (the postgres servers on the mount first) that no signal
// handler may do.
class SignalPipe {
 public:
  Status Install() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
    write_fd_ = fds_[1];
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
    while (::read(fds_[0], &c, 1) < 0 && errno == EINTR) {
    }
    return c;
  }
  void Cancel() {
    const char c = 0;
    ssize_t n = ::write(fds_[1], &c, 1);
    (void)n;
  }
  ~SignalPipe() {
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) signal(sig, SIG_DFL);
    write_fd_ = -1;
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }

 private:
  static inline std::atomic<int> write_fd_{-1};
  int fds_[2] = {-1, -1};
};

// The API token: the file's first line, or a new random token written to a
// new file (0600) on the first mount.
Result<std::string> LoadApiToken(const std::string& path) {
  std::string token;
  if (std::FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[512] = {};
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    token.assign(buf, n);
    token = token.substr(0, token.find('\n'));
    if (token.size() < 16) {
      return Status::Invalid("API token file " + path + " holds fewer than 16 characters");
    }
    return token;
  }
  if (errno != ENOENT) return Status::FromErrno(errno, "read " + path);
  token = RandomId() + RandomId();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  UniqueFd closer(fd);
  STRATA_RETURN_IF_ERROR(WriteAll(fd, token + "\n", path));
  if (::fsync(fd) != 0) return Status::FromErrno(errno, "fsync " + path);
  return token;
}

nlohmann::json ShippingStatsJson(const ShippingStats& s) {
  return {{"server", s.server},
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

nlohmann::json ProxyStatsJson(const ProxyStats& s) {
  return {{"accepted", s.accepted},
          {"active", s.active},
          {"sessions", s.sessions},
          {"auth_failures", s.auth_failures},
          {"refused", s.refused},
          {"cancels", s.cancels},
          {"protocol_errors", s.protocol_errors}};
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

int RunDaemon(const MountOptions& in, int ready_fd) {
  MountOptions opts = in;
  if (opts.sink_dir.empty()) opts.sink_dir = opts.cache_dir + "/sink";
  if (opts.log_file.empty()) opts.log_file = opts.cache_dir + "/strata.log";
  auto fail = [&](const Status& st) {
    spdlog::error("mount failed: {}", st.ToString());
    Ready(ready_fd, "ERR " + st.ToString());
    return 1;
  };
  Status st = MakeDir(opts.cache_dir);
  if (!st.ok()) return Ready(ready_fd, "ERR " + st.ToString()), 1;
  // The postgres servers run as another user and must reach their socket
  // directories under CACHE_DIR/pg: search permission only, no listing.
  ::chmod(opts.cache_dir.c_str(), 0711);
  if (st = SetupLogging("strata", opts.log_file); !st.ok()) {
    return Ready(ready_fd, "ERR " + st.ToString()), 1;
  }
  RaiseFdLimit();
  spdlog::info("strata daemon pid {} starting: store {}, mount {}, cache {}", getpid(),
               opts.store_url, opts.mountpoint, opts.cache_dir);

  CacheLock cache_lock;
  if (st = cache_lock.Acquire(opts.cache_dir); !st.ok()) return fail(st);
  StoreStackOptions sopts;
  sopts.url = opts.store_url;
  sopts.cache_dir = opts.cache_dir;
  sopts.cache_bytes = opts.cache_bytes;
  sopts.faults = opts.inject_faults;
  sopts.retry_deadline = std::chrono::milliseconds(opts.store_timeout_ms);
  Result<std::unique_ptr<StoreStack>> stack = StoreStack::Open(sopts);
  if (!stack.ok()) return fail(stack.status());
  ObjectStore* const store = (*stack)->store();
  if (!opts.inject_faults.empty()) {
    spdlog::warn("injecting object-store faults for testing: {}", opts.inject_faults);
  }
  Result<std::string> store_id = CheckStore(store);
  if (!store_id.ok()) return fail(store_id.status());
  if (st = BindCacheDir(opts.cache_dir, *store_id, opts.store_url); !st.ok()) return fail(st);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  Result<std::unique_ptr<StoreLease>> lease = (*stack)->base()->AcquireLease(
      "pid " + std::to_string(getpid()) + " on " + host + ", mount " + opts.mountpoint);
  if (!lease.ok()) return fail(lease.status());
  if (st = MakeDir(opts.sink_dir); !st.ok()) return fail(st);
  Result<std::unique_ptr<Sink>> sink = OpenLocalSink(opts.sink_dir);
  if (!sink.ok()) return fail(sink.status());
  ShippingSink* shipping = nullptr;
  if (!opts.sink_addr.empty()) {
    Result<HostPort> addr = ParseHostPort(opts.sink_addr);
    if (!addr.ok()) return fail(addr.status());
    ShippingSinkOptions shopts;
    shopts.server = *addr;
    shopts.store_id = *store_id;
    shopts.barrier_timeout_ms = static_cast<int>(opts.sink_timeout_ms);
    Result<std::unique_ptr<ShippingSink>> shipped = ShippingSink::Open(std::move(*sink), shopts);
    if (!shipped.ok()) return fail(shipped.status());
    shipping = shipped->get();
    *sink = std::move(*shipped);
    spdlog::info("shipping the op log to walsink {} (barrier timeout {} ms)", opts.sink_addr,
                 opts.sink_timeout_ms);
  }
  const Durability default_tier = shipping ? Durability::kRemote : Durability::kLocal;
  Result<std::unique_ptr<Catalog>> catalog = Catalog::Load(store);
  if (!catalog.ok()) return fail(catalog.status());
  VersionStoreOptions vopts;
  vopts.index_dir = opts.cache_dir + "/index";
  vopts.memtable_bytes = static_cast<size_t>(opts.memtable_bytes);
  vopts.default_durability = default_tier;
  // The store may fall behind the acknowledged barriers by one retry budget,
  // no more: after that, fsync fails with EIO until flushes get through.
  vopts.max_store_lag_seconds = static_cast<int>((opts.store_timeout_ms + 999) / 1000);
  StoreLease* const held = lease->get();
  vopts.may_write = [held]() -> Status {
    if (!held->lost()) return Status::OK();
    return Status::Busy(
        "the store lease was lost (another daemon may have taken the store "
        "over): this daemon no longer writes to the store");
  };
  Result<std::unique_ptr<VersionStore>> versions = VersionStore::Open(store, sink->get(), vopts);
  if (!versions.ok()) return fail(versions.status());
  std::vector<uint32_t> ids;
  for (const BranchInfo& b : (*catalog)->Current()->branches) ids.push_back(b.id);
  if (st = (*versions)->Recover(ids); !st.ok()) return fail(st);

  BranchManager branches(catalog->get(), versions->get());
  branches.SetDurabilityPolicy(default_tier, shipping != nullptr);
  if (st = branches.ApplyDurabilities(); !st.ok()) return fail(st);
  FuseOptions fopts;
  fopts.mountpoint = opts.mountpoint;
  fopts.control_socket = opts.cache_dir + "/control.sock";
  fopts.statfs_path = opts.cache_dir;
  // SIGTERM must stop the postgres servers on the mount while it still serves.
  fopts.handle_signals = false;
  auto fuse = std::make_unique<FuseServer>(versions->get(), catalog->get(), fopts);
  branches.SetBranchGoneListener([&](const std::string& name) { fuse->InvalidateBranch(name); });
  branches.SetDefaultHistory(opts.history_s);
  branches.SetLineageListener(
      [&](uint32_t id, const Lineage& lineage) { fuse->SetLineage(id, lineage); });
  CollectorOptions gcopts;
  gcopts.background = opts.gc;
  gcopts.interval_ms = opts.gc_interval_ms;
  gcopts.rate_bytes = static_cast<uint64_t>(opts.gc_rate_bytes);
  Collector collector(catalog->get(), versions->get(), &branches, gcopts);

  Metrics metrics;
  EndpointOptions eopts;
  eopts.run_dir = opts.cache_dir + "/pg";
  eopts.bin_dir = opts.pg_bin_dir;
  eopts.user = opts.pg_user;
  eopts.idle_timeout_s = opts.idle_timeout_s;
  eopts.settings = opts.pg_settings;
  Catalog* const cat = catalog->get();
  const std::string mountpoint = opts.mountpoint;
  EndpointManager endpoints(
      eopts,
      [cat, mountpoint](const std::string& name) -> Result<EndpointTarget> {
        auto c = cat->Current();
        const BranchInfo* b = c->FindBranch(name);
        if (!b) return Status::NotFound("branch \"" + name + "\" does not exist");
        return EndpointTarget{b->id, mountpoint + "/" + name, b->idle_timeout_s};
      },
      [v = versions->get()](uint32_t id) { return v->Flush(id); }, &metrics);
  if (st = endpoints.Init(); !st.ok()) {
    spdlog::warn("endpoints cannot start postgres servers: {}", st.ToString());
  }
  Credentials credentials(cat);
  FleetOptions flopts;
  flopts.mountpoint = opts.mountpoint;
  flopts.run_dir = eopts.run_dir;
  flopts.pg_bin_dir = opts.pg_bin_dir;
  flopts.pg_user = opts.pg_user;
  flopts.default_quota = {opts.quota_branches, opts.quota_bytes};
  flopts.exclusive_bytes = [&collector](uint32_t id) -> std::optional<uint64_t> {
    std::optional<BranchSpace> sp = collector.SpaceOf(id);
    if (!sp) return std::nullopt;
    return sp->exclusive_bytes;
  };
  Fleet fleet(flopts, cat, versions->get(), &branches, &endpoints, &credentials, &metrics);
  BranchAccess access(cat, &credentials, &endpoints, [&fleet](const std::string& owner) {
    return fleet.CheckSessionQuota(owner);
  });
  std::unique_ptr<Proxy> proxy;
  if (!opts.proxy_addr.empty()) {
    Result<HostPort> hp = ParseHostPort(opts.proxy_addr, /*allow_zero_port=*/true);
    if (!hp.ok()) return fail(hp.status());
    ProxyOptions popts;
    popts.listen = *hp;
    proxy = std::make_unique<Proxy>(popts, &access);
    if (st = proxy->Start(); !st.ok()) return fail(st);
  }
  Result<std::string> token = LoadApiToken(
      opts.api_token_file.empty() ? opts.cache_dir + "/api-token" : opts.api_token_file);
  if (!token.ok()) return fail(token.status());

  ApiContext actx;
  actx.store = store;
  actx.sink = sink->get();
  actx.versions = versions->get();
  actx.catalog = cat;
  actx.branches = &branches;
  actx.fleet = &fleet;
  actx.endpoints = &endpoints;
  actx.credentials = &credentials;
  actx.metrics = &metrics;
  actx.collector = &collector;
  actx.mountpoint = opts.mountpoint;
  actx.cache_dir = opts.cache_dir;
  actx.api_token = *token;
  actx.credential_ttl_s = opts.credential_ttl_s;
  actx.store_stats = [&] { return (*stack)->StatsJson(); };
  if (shipping) actx.sink_stats = [shipping] { return ShippingStatsJson(shipping->Shipping()); };
  if (proxy) {
    actx.proxy_address =
        FormatHostPort({ParseHostPort(opts.proxy_addr, true)->host, proxy->port()});
    actx.proxy_stats = [p = proxy.get()] { return ProxyStatsJson(p->Stats()); };
  }
  actx.branch_created = [&](const std::string& name) { fuse->InvalidateBranch(name); };
  AddStatusMetrics(&metrics, actx);

  // Requests may arrive as soon as the TCP listener is up, before the Api
  // (which names the listener's port) exists.
  std::unique_ptr<Api> api;
  std::atomic<Api*> api_ptr{nullptr};
  HttpServer http([&api_ptr](const HttpRequest& req) {
    if (Api* a = api_ptr.load()) return a->Handle(req);
    HttpResponse r;
    r.status = 503;
    r.body = R"({"code":"unavailable","error":"the daemon is still starting"})"
             "\n";
    return r;
  });
  if (!opts.api_addr.empty()) {
    Result<HostPort> hp = ParseHostPort(opts.api_addr, /*allow_zero_port=*/true);
    if (!hp.ok()) return fail(hp.status());
    if (st = http.ListenTcp(*hp); !st.ok()) return fail(st);
    actx.api_address = FormatHostPort({hp->host, http.port()});
  }
  api = std::make_unique<Api>(actx);
  api_ptr = api.get();

  SignalPipe signals;
  if (st = signals.Install(); !st.ok()) return fail(st);
  if (st = fuse->Mount(); !st.ok()) return fail(st);
  if (st = http.ListenUnix(fopts.control_socket); !st.ok()) return fail(st);
  std::thread stopper([&] {
    const int sig = signals.Wait();
    if (sig <= 0) return;
    spdlog::info("signal {}: stopping the proxy and the postgres servers, then unmounting", sig);
    if (proxy) proxy->Stop();
    endpoints.Drain();
    fuse->Exit();
  });
  fleet.StartReaper(std::chrono::seconds(1));
  collector.Start();
  spdlog::info("mounted {} at {}; proxy {}, api {} and {}", opts.store_url, opts.mountpoint,
               actx.proxy_address.empty() ? "off" : actx.proxy_address,
               actx.api_address.empty() ? "off" : actx.api_address, fopts.control_socket);
  ::unlink((opts.cache_dir + "/exit-status").c_str());
  Ready(ready_fd, "OK");

  int rc = fuse->Loop();
  spdlog::info("unmounting (loop rc {})", rc);
  fleet.StopReaper();
  collector.Stop();
  if (proxy) proxy->Stop();
  endpoints.Drain();
  signals.Cancel();
  stopper.join();
  http.Stop();
  fuse.reset();  // unmounts if Exit() ended the loop
  Status flushed = (*versions)->FlushAll();
  if (!flushed.ok()) {
    spdlog::error("final flush failed (the op log still holds every op): {}", flushed.ToString());
    WriteExitStatus(opts.cache_dir, flushed.ToString());
    return 1;
  }
  WriteExitStatus(opts.cache_dir, "ok");
  spdlog::info("all branches flushed to the store; exiting");
  return 0;
}

}  // namespace strata
