// The strata daemon: mounts a store and serves it until unmounted.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace strata {

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
  // HOST:PORT of a walsink server to ship the op log to; empty: none (the
  // op log stays on this machine and `remote` durability is unavailable).
  std::string sink_addr;
  int64_t sink_timeout_ms = 60000;  // a remote barrier fails with EIO after this

  // Endpoints (docs/api.md): the proxy clients connect to, the control API's
  // TCP listener (the unix socket CACHE_DIR/control.sock is always there), and
  // the postgres servers the daemon runs. An empty address turns it off.
  std::string proxy_addr = "127.0.0.1:55432";
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
};

// Parses a store's store.json (`data`): the store's id, or kCorruption naming
// `url` if it is malformed or of an unsupported kind or format.
Result<std::string> ParseStoreMarker(const std::string& data, const std::string& url);

// Creates a new, empty store at `url`. kExists if one is already there,
// kInvalid for a malformed URL.
Status InitStore(const std::string& url);

// Mounts and serves until the mountpoint is unmounted or SIGTERM/SIGINT
// arrives, then flushes every branch to the store and returns 0. If
// `ready_fd` >= 0 the daemon writes "OK\n" to it once the mount is live, or
// "ERR <message>\n" if it could not start, and closes it. Returns non-zero on
// a failed start.
int RunDaemon(const MountOptions& opts, int ready_fd);

}  // namespace strata
