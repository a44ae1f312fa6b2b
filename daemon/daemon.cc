#include "daemon/daemon.h"

#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "daemon/control_server.h"
#include "daemon/service.h"
#include "fs/fuse_server.h"
#include "layers/inode.h"
#include "snapshot/fork_spec.h"

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

Status CheckStore(ObjectStore* store) {
  Result<std::string> marker = store->Get(kStoreMarker);
  if (marker.status().IsNotFound()) {
    return Status::NotFound("no strata store at " + store->Url() +
                            " (create one with `strata init " + store->Url() + "`)");
  }
  if (!marker.ok()) return marker.status();
  try {
    auto j = nlohmann::json::parse(*marker);
    if (j.at("kind").get<std::string>() != "strata-store" || j.at("format").get<int>() != 1) {
      return Status::Corruption("store " + store->Url() + " has an unsupported store.json");
    }
  } catch (const std::exception& e) {
    return Status::Corruption("store " + store->Url() + ": store.json is malformed: " + e.what());
  }
  return Status::OK();
}

void SetupLogging(const std::string& log_file) {
  std::shared_ptr<spdlog::logger> logger;
  if (log_file == "-") {
    logger = spdlog::stderr_color_mt("strata");
  } else {
    logger = spdlog::basic_logger_mt("strata", log_file);
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
}

// Exclusive use of the cache directory: two daemons must never share an op log.
class CacheLock {
 public:
  Status Acquire(const std::string& dir) {
    std::string path = dir + "/LOCK";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return Status::FromErrno(errno, "open " + path);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::Busy("cache directory " + dir + " is in use by another strata daemon");
    }
    return Status::OK();
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

}  // namespace

Status InitStore(const std::string& url) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenObjectStore(url));
  nlohmann::json j = {{"kind", "strata-store"}, {"format", 1}, {"created", FormatRfc3339(NowNs())}};
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
  SetupLogging(opts.log_file);
  RaiseFdLimit();
  spdlog::info("strata daemon pid {} starting: store {}, mount {}, cache {}", getpid(),
               opts.store_url, opts.mountpoint, opts.cache_dir);

  CacheLock cache_lock;
  if (st = cache_lock.Acquire(opts.cache_dir); !st.ok()) return fail(st);
  Result<std::unique_ptr<ObjectStore>> store = OpenObjectStore(opts.store_url);
  if (!store.ok()) return fail(store.status());
  if (st = CheckStore(store->get()); !st.ok()) return fail(st);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  Result<std::unique_ptr<StoreLease>> lease = (*store)->AcquireLease(
      "pid " + std::to_string(getpid()) + " on " + host + ", mount " + opts.mountpoint);
  if (!lease.ok()) return fail(lease.status());
  if (st = MakeDir(opts.sink_dir); !st.ok()) return fail(st);
  Result<std::unique_ptr<Sink>> sink = OpenLocalSink(opts.sink_dir);
  if (!sink.ok()) return fail(sink.status());
  Result<std::unique_ptr<Catalog>> catalog = Catalog::Load(store->get());
  if (!catalog.ok()) return fail(catalog.status());
  VersionStoreOptions vopts;
  vopts.index_dir = opts.cache_dir + "/index";
  Result<std::unique_ptr<VersionStore>> versions =
      VersionStore::Open(store->get(), sink->get(), vopts);
  if (!versions.ok()) return fail(versions.status());
  std::vector<uint32_t> ids;
  for (const BranchInfo& b : (*catalog)->Current()->branches) ids.push_back(b.id);
  if (st = (*versions)->Recover(ids); !st.ok()) return fail(st);

  BranchManager branches(catalog->get(), versions->get());
  FuseOptions fopts;
  fopts.mountpoint = opts.mountpoint;
  fopts.control_socket = opts.cache_dir + "/control.sock";
  fopts.statfs_path = opts.cache_dir;
  auto fuse = std::make_unique<FuseServer>(versions->get(), catalog->get(), fopts);
  branches.SetBranchGoneListener([&](const std::string& name) { fuse->InvalidateBranch(name); });

  ServiceContext sctx{store->get(), sink->get(),     versions->get(), catalog->get(),
                      &branches,    opts.mountpoint, opts.cache_dir};
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
  Ready(ready_fd, "OK");

  int rc = fuse->Loop();
  spdlog::info("unmounting (loop rc {})", rc);
  control.Stop();
  fuse.reset();  // unmounts if a signal ended the loop
  Status flushed = (*versions)->FlushAll();
  if (!flushed.ok()) {
    spdlog::error("final flush failed (the op log still holds every op): {}", flushed.ToString());
    return 1;
  }
  spdlog::info("all branches flushed to the store; exiting");
  return 0;
}

}  // namespace strata
