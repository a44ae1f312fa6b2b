// AuditLog: who did what, one JSON object per line (docs/security.md,
// "Audit log"): every control-API call and every proxy authentication.
//
// Lines go to one file (CACHE_DIR/audit.log), each with a single write(2)
// under a mutex, so they never interleave and a crash cuts at most the last
// line. When a line would take the file past `max_bytes`, the file becomes
// PATH.1 (PATH.1 becomes PATH.2, ..., up to `keep` old files; the oldest is
// deleted) and a new file is begun. No fsync: the log is evidence, not a
// commit. A failure to write is logged once (spdlog) and counted; the
// caller's request goes on.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/fd_util.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace strata {

struct AuditEvent {
  std::string source;  // "api" or "proxy"
  std::string peer;    // HOST:PORT of the client; "local" for the API's unix socket
  std::string actor;   // who: a token id ("admin" for the admin token), a credential id
  std::string owner;   // the owner the actor acts for; empty: none (the admin)
  std::string action;  // "POST /v1/branches", "authenticate", ...
  std::string branch;  // the branch acted on; empty: none
  std::string result;  // "ok", or the refusal ("401 ...", "28P01 ...")
  // A session relayed from another daemon's proxy: "node N, client ADDR", as
  // that proxy said. Empty: none, and the line has no "origin" field. (The
  // initializer spares braced lists that leave it out a GCC warning.)
  std::string origin{};
};

struct AuditLogOptions {
  uint64_t max_bytes = 64ull << 20;  // rotate before a file passes this
  int keep = 4;                      // rotated files kept: PATH.1 .. PATH.keep
  Clock* clock = Clock::Real();      // the "time" of each line
};

class AuditLog {
 public:
  // Opens (creates, mode 0600) `path` for appending.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                AuditLogOptions options = {});

  // Appends one line: {"time": RFC 3339 UTC with milliseconds, then the
  // event's fields in declaration order}.
  void Record(const AuditEvent& e) EXCLUDES(mu_);
  uint64_t lines() const EXCLUDES(mu_);
  uint64_t write_errors() const EXCLUDES(mu_);

 private:
  AuditLog(std::string path, AuditLogOptions options, UniqueFd fd, uint64_t size);
  // Renames the files up by one and opens a new PATH.
  Status Rotate() REQUIRES(mu_);

  const std::string path_;
  const AuditLogOptions opts_;
  mutable Mutex mu_;  // a leaf lock
  UniqueFd fd_ GUARDED_BY(mu_);
  uint64_t size_ GUARDED_BY(mu_);
  uint64_t lines_ GUARDED_BY(mu_) = 0;
  uint64_t write_errors_ GUARDED_BY(mu_) = 0;
};

}  // namespace strata
