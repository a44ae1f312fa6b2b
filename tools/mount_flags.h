// The endpoint, API, quota, history, GC and cluster flags of `strata mount`
// (docs/cli.md), checked and turned into MountOptions before the daemon
// starts, so a typo fails with one line instead of a daemon that will not
// start. A pure function: files
// and users are checked by the caller (mount_command.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/daemon.h"
#include "tools/cli_format.h"

namespace strata::cli {

// Unset flags keep MountOptions' defaults (daemon/daemon.h).
struct ServiceFlags {
  std::optional<std::string> proxy;           // HOST:PORT (port 0: any) or "off"
  std::optional<std::string> proxy_tls_cert;  // PEM; with proxy_tls_key
  std::optional<std::string> proxy_tls_key;   // PEM; with proxy_tls_cert
  bool proxy_require_tls = false;             // refuse plaintext sessions
  std::optional<std::string> api;             // HOST:PORT (port 0: any) or "off"
  std::optional<std::string> api_token_file;  // default: CACHE_DIR/api-token
  std::optional<std::string> idle_timeout;    // DURATION
  std::optional<std::string> pg_bin;          // directory of postgres and initdb
  std::optional<std::string> pg_user;         // the user the servers run as
  std::vector<std::string> pg_settings;       // NAME=VALUE, repeatable
  std::optional<std::string> quota_branches;  // N, or unlimited / -1
  std::optional<std::string> quota_bytes;     // SIZE, or unlimited / -1
  std::optional<std::string> credential_ttl;  // DURATION
  std::optional<std::string> history;         // DURATION, or 0: the default history window
  bool no_gc = false;                         // no background compaction and GC
  std::optional<std::string> gc_interval;     // DURATION between background passes
  std::optional<std::string> gc_rate;         // SIZE rewritten per second at most
  std::optional<std::string> memtable_size;   // SIZE at which a memtable is flushed
  std::optional<std::string> node_id;         // the daemon's id among the store's daemons
  std::optional<std::string> lease_ttl;       // DURATION of the heartbeat, 3s..1h
  std::optional<std::string> advertise_host;  // where other daemons reach the proxy and API
};

// The smallest --gc-rate and --memtable-size.
inline constexpr int64_t kMinGcSizeFlag = int64_t{1} << 20;

// Sets the matching MountOptions fields; "off" turns the proxy or the TCP API
// off (empty address). kInvalid "--FLAG: why" for the first bad flag.
// `parse_size` reads SIZE (the daemon's ParseByteSize).
Status ApplyServiceFlags(const ServiceFlags& flags, LimitParser parse_size, MountOptions* opts);

}  // namespace strata::cli
