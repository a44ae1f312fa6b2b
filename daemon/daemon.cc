#include "daemon/daemon.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "common/fd_util.h"
#include "common/logging.h"
#include "daemon/control_server.h"
#include "daemon/service.h"
#include "daemon/store_stack.h"
#include "fs/fuse_server.h"
#include "layers/inode.h"
#include "snapshot/fork_spec.h"
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
  auto fuse = std::make_unique<FuseServer>(versions->get(), catalog->get(), fopts);
  branches.SetBranchGoneListener([&](const std::string& name) { fuse->InvalidateBranch(name); });

  ServiceContext sctx{
      store,     sink->get(),     versions->get(), catalog->get(),
      &branches, opts.mountpoint, opts.cache_dir,  [&] { return (*stack)->StatsJson(); },
      nullptr};
  if (shipping) {
    sctx.sink_stats = [shipping] {
      const ShippingStats s = shipping->Shipping();
      return nlohmann::json{{"server", s.server},
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
    };
  }
  Service service(sctx);
  ControlServer control(fopts.control_socket, [&](const std::string& line) {
    std::string answer = service.Handle(line);
    // A created branch may have a cached negative entry.
    if (line.find("\"branch_create\"") != std::string::npos) {
      try {
        auto j = nlohmann::json::parse(line);
        fuse->InvalidateBranch(j.value("name", ""));
      } catch (...) {
      }
    }
    return answer;
  });
  if (st = fuse->Mount(); !st.ok()) return fail(st);
  if (st = control.Start(); !st.ok()) return fail(st);
  spdlog::info("mounted {} at {}", opts.store_url, opts.mountpoint);
  ::unlink((opts.cache_dir + "/exit-status").c_str());
  Ready(ready_fd, "OK");

  int rc = fuse->Loop();
  spdlog::info("unmounting (loop rc {})", rc);
  control.Stop();
  fuse.reset();  // unmounts if a signal ended the loop
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
