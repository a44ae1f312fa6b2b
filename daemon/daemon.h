// The strata daemon: mounts a store and serves it until unmounted.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/audit_log.h"
#include "common/fd_util.h"
#include "common/net.h"
#include "common/status.h"
#include "common/tls.h"

namespace strata {

// `--sink store`: the op log's durable copy is log objects in the store.
inline constexpr char kSinkStore[] = "store";

struct MountOptions {
  std::string store_url;   // file:///abs/path or s3://bucket/prefix?...
  std::string mountpoint;  // absolute path of an existing empty directory
  std::string cache_dir;   // index, op log (the local sink) and logs live here
  std::string sink_dir;    // default: cache_dir + "/sink"
  std::string log_file;    // default: cache_dir + "/strata.log"; "-" = stderr
  bool foreground = false;
  int64_t cache_bytes = -1;          // L2 capacity; -1: default for the store kind, 0: off
  int64_t store_timeout_ms = 60000;  // retry budget of one object-store call
  std::string inject_faults;         // test-only: objstore fault spec (store_stack.h)
  // HOST:PORT of a walsink server to ship the op log to, or kSinkStore
  // ("store": log objects in the store itself); empty: none (the op log
  // stays on this machine and `remote` durability is unavailable).
  std::string sink_addr;
  int64_t sink_timeout_ms = 60000;  // a remote barrier fails with EIO after this
  // How the walsink connection is secured (docs/sink-protocol.md, "Access"):
  // TLS verified against sink_ca_file (empty: the system's roots) and the
  // token in sink_token_file; plaintext when sink_insecure.
  std::string sink_token_file;
  std::string sink_ca_file;
  bool sink_insecure = false;

  // Endpoints (docs/api.md): the proxy clients connect to, the control API's
  // TCP listener (the unix socket CACHE_DIR/control.sock is always there), and
  // the postgres servers the daemon runs. An empty address turns it off.
  std::string proxy_addr = "127.0.0.1:55432";
  // The proxy's TLS certificate and key (PEM); both empty: a self-signed
  // pair made once in CACHE_DIR (filename::ProxyTlsCert, ProxyTlsKey).
  std::string proxy_tls_cert, proxy_tls_key;
  bool proxy_require_tls = false;  // refuse sessions that do not start TLS
  std::string api_addr = "127.0.0.1:55433";
  std::string api_token_file;    // default: CACHE_DIR/api-token, made at the first mount
  int64_t idle_timeout_s = 300;  // a server without clients this long is suspended
  std::string pg_bin_dir = "/usr/lib/postgresql/15/bin";
  std::string pg_user = "postgres";
  std::vector<std::pair<std::string, std::string>> pg_settings;  // extra -c name=value
  int64_t quota_branches = -1;                                   // per-owner default; -1: unlimited
  int64_t quota_bytes = -1;                                      // per-owner default; -1: unlimited
  int64_t credential_ttl_s = 86400;  // default lifetime of an issued credential

  // History and garbage collection (docs/gc.md). history_s is the store-wide
  // default window of branches that set none; the collector runs every
  // gc_interval_ms and rewrites at most gc_rate_bytes per second.
  int64_t history_s = 3600;
  bool gc = true;
  int64_t gc_interval_ms = 60000;
  int64_t gc_rate_bytes = 64ll << 20;
  int64_t memtable_bytes = 64ll << 20;  // a memtable this big is flushed to a layer

  // Membership of the store (docs/cluster.md): this daemon's node id (empty:
  // the one kept in CACHE_DIR/node-id, made at the first mount) and how long
  // its heartbeat, and so the leases of the branches it writes, live without
  // renewal.
  std::string node_id;
  int64_t lease_ttl_ms = 30000;
  // The host other daemons (and the addresses the API reports) use for this
  // daemon's proxy and API; empty: each listener's own host, or this
  // machine's host name for a wildcard listener.
  std::string advertise_host;
};

// Parses a store's store.json (`data`): the store's id, or kCorruption naming
// `url` if it is malformed or of an unsupported kind or format.
Result<std::string> ParseStoreMarker(const std::string& data, const std::string& url);

// Creates a new, empty store at `url`. kExists if one is already there,
// kInvalid for a malformed URL.
Status InitStore(const std::string& url);

class Api;
class McpHttp;
class BranchAccess;
class BranchDiff;
class BranchMover;
class Clock;
class BranchManager;
class Catalog;
class CatalogFollower;
class Collector;
class Credentials;
class EndpointManager;
class Fleet;
class FuseServer;
class HttpServer;
class Metrics;
class NodeLeases;
class NodeRegistry;
class Proxy;
class ShippingSink;
class Sink;
class StoreSink;
class StoreStack;
class VersionStore;
struct ApiContext;

// One mount: the store stack, the op log, the version store, the catalog and
// its branch manager and collector, the FUSE server, the endpoints and the
// proxy, the control API. Open() brings them up in that order (each part
// only uses parts opened before it), Serve() runs the FUSE loop until the
// mountpoint is unmounted or SIGTERM/SIGINT/SIGHUP arrives (which stops the
// proxy and the postgres servers first, then unmounts), and Stop() takes
// them down and flushes every branch to the store. Members are declared in
// the order they are opened, so a failed Open() unwinds in reverse (the
// parts that run threads stop them in their destructors).
//
// Thread-safety: Open, Serve and Stop from one thread; the parts run threads
// of their own (see their headers).
class Daemon {
 public:
  // Everything up to a live mount; the logging must be set up already.
  static Result<std::unique_ptr<Daemon>> Open(const MountOptions& opts);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The FUSE loop's return code, once the mount has ended.
  int Serve();
  // Stops every part, then flushes every branch to the store: the flush's
  // status (CACHE_DIR/exit-status records it for `strata umount`).
  Status Stop();

 private:
  class SignalPipe;
  explicit Daemon(const MountOptions& opts);
  Status OpenStore();     // the cache lock, the store stack, the store id, the node
  Status JoinStore();     // the node's registry record and its branch leases
  Status OpenOpLog();     // the local sink, shipped to a walsink or the store when asked
  Status OpenStoreLog();  // --sink store: wraps sink_ in a StoreSink
  Status OpenVersions();  // the catalog and the version store, recovered
  Status OpenBranches();  // the branch manager, the FUSE server, the collector
  // After a catalog refresh, every kForeignRefreshMs while another daemon
  // lives: the branches in use on the mount that this daemon does not hold
  // are read again at their newest manifest.
  void ReloadForeignBranches();
  Status OpenEndpoints();  // the endpoints, credentials, fleet and the proxy
  // The proxy's TLS context from the given files or a self-signed pair;
  // sets proxy_tls_json_.
  Result<std::shared_ptr<const TlsContext>> OpenProxyTls(const HostPort& listen);
  Status OpenApi();  // the API's context and its listeners
  Status Mount();    // signals, the mount, the control socket, the reaper

  MountOptions opts_;  // sink_dir and log_file filled in
  // The time of the endpoints (idle timeouts), the reaper (TTLs), credentials
  // and the API: one real clock, handed to each.
  Clock* const clock_;
  UniqueFd cache_lock_;  // released last: no other daemon may use the cache before the flush
  std::unique_ptr<StoreStack> stack_;
  std::string store_id_;
  // The node's record in the store and the branch leases it holds: released
  // by Stop() after the final flush, and outliving every part that writes.
  std::unique_ptr<NodeRegistry> node_;
  std::unique_ptr<NodeLeases> leases_;
  // leases_ and endpoints_ once they exist, for the node's load (read by
  // the registry's renewer thread).
  std::atomic<NodeLeases*> leases_ptr_{nullptr};
  std::atomic<EndpointManager*> endpoints_ptr_{nullptr};
  // CACHE_DIR/audit.log; outlives the proxy and the API, which record into it.
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Sink> sink_;
  ShippingSink* shipping_ = nullptr;  // sink_ itself when the op log is shipped
  StoreSink* store_log_ = nullptr;    // sink_ itself with --sink store
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<VersionStore> versions_;
  std::unique_ptr<BranchManager> branches_;
  std::unique_ptr<FuseServer> fuse_;
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<CatalogFollower> follower_;  // other daemons' catalog changes
  // When ReloadForeignBranches next reads, and when it last saw another
  // live daemon (the follower's thread only).
  std::chrono::steady_clock::time_point next_foreign_refresh_;
  std::chrono::steady_clock::time_point others_seen_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<EndpointManager> endpoints_;
  std::unique_ptr<BranchDiff> diff_;  // the diff route; promote's diverged check
  std::unique_ptr<Credentials> credentials_;
  std::unique_ptr<Fleet> fleet_;
  std::unique_ptr<BranchAccess> access_;
  std::unique_ptr<BranchMover> mover_;  // endpoint move (docs/cluster.md)
  nlohmann::json proxy_tls_json_;       // status: the proxy's certificate (OpenProxyTls)
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<ApiContext> api_context_;
  // Requests may arrive as soon as the TCP listener is up, before the Api
  // (which names the listener's port) exists: api_ptr_ is null until then.
  // api_ is declared before http_ so that the server stops before it goes.
  std::unique_ptr<Api> api_;
  std::atomic<Api*> api_ptr_{nullptr};
  std::unique_ptr<McpHttp> mcp_;  // /mcp on the same listeners; set before api_ptr_
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<SignalPipe> signals_;
  std::thread stopper_;  // waits for a signal, then ends the FUSE loop
  bool stopped_ = false;
};

// Mounts and serves until the mountpoint is unmounted or SIGTERM/SIGINT
// arrives, then flushes every branch to the store and returns 0. If
// `ready_fd` >= 0 the daemon writes "OK\n" to it once the mount is live, or
// "ERR <message>\n" if it could not start, and closes it. Returns non-zero on
// a failed start.
int RunDaemon(const MountOptions& opts, int ready_fd);

}  // namespace strata
