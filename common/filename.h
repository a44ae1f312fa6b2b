// The names of the files and folders strata keeps in a mount's cache
// directory and shows in the mount itself, in one place (the manner of
// LevelDB's db/filename.h). docs/store-layout.md, "The cache directory",
// describes each one; a new file gets its name here and a row there.
//
//   CACHE_DIR/LOCK          flock: one daemon per cache directory (LockDirectory)
//   CACHE_DIR/STORE         the id of the store this cache belongs to
//   CACHE_DIR/node-id       this daemon's node id in the store (docs/cluster.md)
//   CACHE_DIR/index/        RocksDB: the index of layers and the catalog cache
//   CACHE_DIR/sink/         the local op log (MountOptions::sink_dir moves it)
//   CACHE_DIR/objects/      L2: the disk cache of immutable objects
//   CACHE_DIR/strata.log    the daemon's log (--log-file moves it)
//   CACHE_DIR/control.sock  the control API's unix socket
//   CACHE_DIR/api-token     the bearer token of the TCP API (--api-token-file moves it)
//   CACHE_DIR/exit-status   "ok" or the error of the last unmount's final flush
//   CACHE_DIR/pg/           endpoints: hba.conf, initdb-<branch>.log, and per branch id
//                           <id>/ (the server's socket) and <id>.log (its log)
//   MOUNT/.strata.sock      a symlink to CACHE_DIR/control.sock, how the CLI finds it
#pragma once

#include <cstdint>
#include <string>

namespace strata::filename {

inline constexpr char kControlLink[] = ".strata.sock";  // in the mount's root

// LockDirectory's lock file, in the cache directory and a walsink's data directory.
inline std::string Lock(const std::string& dir) { return dir + "/LOCK"; }
inline std::string StoreId(const std::string& cache_dir) { return cache_dir + "/STORE"; }
inline std::string NodeId(const std::string& cache_dir) { return cache_dir + "/node-id"; }
inline std::string Index(const std::string& cache_dir) { return cache_dir + "/index"; }
inline std::string Sink(const std::string& cache_dir) { return cache_dir + "/sink"; }
inline std::string Objects(const std::string& cache_dir) { return cache_dir + "/objects"; }
inline std::string Log(const std::string& cache_dir) { return cache_dir + "/strata.log"; }
inline std::string ControlSocket(const std::string& cache_dir) {
  return cache_dir + "/control.sock";
}
inline std::string ApiToken(const std::string& cache_dir) { return cache_dir + "/api-token"; }
// The proxy's self-signed TLS certificate and key, made at the first mount
// that was given none.
inline std::string ProxyTlsCert(const std::string& cache_dir) {
  return cache_dir + "/proxy-tls.crt";
}
inline std::string ProxyTlsKey(const std::string& cache_dir) {
  return cache_dir + "/proxy-tls.key";
}
inline std::string ExitStatus(const std::string& cache_dir) { return cache_dir + "/exit-status"; }
// One JSON line per API call and proxy authentication (common/audit_log.h);
// rotated to audit.log.1, .2, ...
inline std::string AuditLog(const std::string& cache_dir) { return cache_dir + "/audit.log"; }
inline std::string PgRun(const std::string& cache_dir) { return cache_dir + "/pg"; }

// Inside PgRun: the pg_hba.conf every endpoint shares, initdb's log of one
// branch, and the socket directory of one branch's server.
inline std::string PgHba(const std::string& run_dir) { return run_dir + "/hba.conf"; }
inline std::string InitdbLog(const std::string& run_dir, const std::string& branch) {
  return run_dir + "/initdb-" + branch + ".log";
}
inline std::string PgSocketDir(const std::string& run_dir, uint32_t branch_id) {
  return run_dir + "/" + std::to_string(branch_id);
}
inline std::string PgServerLog(const std::string& run_dir, uint32_t branch_id) {
  return PgSocketDir(run_dir, branch_id) + ".log";
}

inline std::string ControlLink(const std::string& mountpoint) {
  return mountpoint + "/" + kControlLink;
}

}  // namespace strata::filename
