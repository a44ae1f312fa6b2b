// `strata mount` and `strata umount`: start a daemon for a store on a mount
// point (in the background by default) and stop it again, after suspending the
// postgres servers it runs, waiting until it has flushed every branch to the
// store.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "tools/mount_flags.h"

namespace strata::cli {

struct MountArgs {
  std::string store_url;
  std::string mountpoint;
  std::optional<std::string> cache_dir;  // default: DefaultCacheDir(store_url)
  std::optional<std::string> log_file;   // default: CACHE/strata.log, "-" in the foreground
  bool foreground = false;
  std::optional<std::string> cache_size;       // L2 cap, e.g. "8G"; "0" turns L2 off
  int store_timeout_s = 60;                    // retry budget of one object-store call
  std::optional<std::string> inject_faults;    // test-only (docs/cli.md)
  std::optional<std::string> sink;             // HOST:PORT of a walsink server
  int sink_timeout_s = 60;                     // a remote barrier fails after this
  std::optional<std::string> sink_token_file;  // the walsink's token (required unless insecure)
  std::optional<std::string> sink_ca;          // trust for the walsink's TLS; default: system roots
  bool sink_insecure = false;                  // plaintext to the walsink (loopback tests)
  ServiceFlags service;                        // proxy, API, endpoints, quotas, credentials
};

// Prints "mounted URL at MOUNT (pid N, cache DIR)" once the daemon reports the
// mount live. In the foreground, serves until unmounted.
Status Mount(const MountArgs& args);

// Suspends the daemon's endpoints (POST /v1/endpoints/suspend: its own
// postgres servers would keep the mount busy), unmounts, waits for the daemon
// to exit, prints "unmounted MOUNT". A dead mount (its daemon gone) is detached.
Status Umount(const std::string& mountpoint);

}  // namespace strata::cli
