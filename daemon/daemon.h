// The strata daemon: mounts a store and serves it until unmounted.
#pragma once

#include <cstdint>
#include <string>

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
