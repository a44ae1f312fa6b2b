// DbTemplate: the template branch new databases fork from (docs/postgres.md,
// "New databases"). `branch create NAME --initdb` (API `initdb: true`) forks
// it instead of running initdb: a new database costs one fork, not an
// initdb.
//
// Contract:
// - One template per store and PostgreSQL major version, the root branch
//   named TemplateName(major) ("_initdb_pg15"). It is made on first need:
//   initdb with StrataServerSettings() (a cleanly shut-down cluster), the
//   marker file kTemplateMarker written last and fsync'ed, then the branch
//   flushed to the store. A failure at any step deletes the branch again:
//   nothing half-made is left by a failure we see.
// - Two concurrent first creations make one template: Ensure runs under one
//   lock, which the fork of a new database also holds.
// - An existing template is checked once per daemon before its first use:
//   its marker, PG_VERSION naming `major`, and pg_control saying "shut down"
//   (a server started on it and not cleanly stopped, or a creation that a
//   crash cut short, fails the check). A broken template without forks is
//   deleted and made again (logged); one with forks is refused with one
//   line saying why and what to do.
// - Names starting with kTemplatePrefix are reserved: users cannot create,
//   delete or start such branches (Fleet and the endpoint resolver refuse).
//
// Thread-safety: every method may be called from any thread. Lock order:
// mu_ first, then what Ensure and Fork call into with it held (the
// BranchManager and the Catalog, and the host: initdb and reads of files
// on the mount, which FUSE threads serve). Held for seconds while a
// template is made; nothing else waits for it but other new databases.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "catalog/branch_manager.h"
#include "catalog/catalog.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace strata {

inline constexpr std::string_view kTemplatePrefix = "_initdb_";
// Written last into the template's PGDATA; every fork inherits it (harmless:
// PostgreSQL ignores files it does not know).
inline constexpr std::string_view kTemplateMarker = "strata_template";

// "_initdb_pg15" for major "15".
std::string TemplateName(const std::string& major);
bool IsTemplateName(std::string_view branch);

// What making and checking a template needs outside the catalog: the
// daemon's is postgres and the mount (fleet.cc); tests fake it.
class TemplateHost {
 public:
  virtual ~TemplateHost() = default;
  // The major version of the PostgreSQL binaries, e.g. "15".
  virtual Result<std::string> MajorVersion() = 0;
  // The options of the template's root branch (uid and gid of the postgres user).
  virtual Result<BranchOptions> RootOptions() = 0;
  // initdb into the (empty) top directory of `branch`, with the strata settings.
  virtual Status InitDb(const std::string& branch) = 0;
  // A file of `branch` (path relative to its top directory); kNotFound if absent.
  virtual Result<std::string> ReadFile(const std::string& branch, const std::string& path) = 0;
  // Writes and fsyncs a new file in `branch`, owned like the branch's top directory.
  virtual Status WriteFile(const std::string& branch, const std::string& path,
                           const std::string& data) = 0;
  // Writes the branch's memtable to the store.
  virtual Status Flush(uint32_t id) = 0;
};

class DbTemplate {
 public:
  DbTemplate(BranchManager* branches, Catalog* catalog, TemplateHost* host)
      : branches_(branches), catalog_(catalog), host_(host) {}

  // The template, made first if there is none (or only a broken one without forks).
  Result<BranchInfo> Ensure() EXCLUDES(mu_);
  // A new database `name`: a fork of the template's head with `opts`.
  Result<BranchInfo> Fork(const std::string& name, const BranchOptions& opts) EXCLUDES(mu_);

  // How many templates this daemon made (tests, logs).
  int made() const EXCLUDES(mu_);

 private:
  Result<BranchInfo> EnsureLocked() REQUIRES(mu_);
  // OK if `name` holds a complete template of `major`; else why not.
  Status Check(const std::string& name, const std::string& major) REQUIRES(mu_);
  Result<BranchInfo> Make(const std::string& name, const std::string& major) REQUIRES(mu_);

  BranchManager* const branches_;
  Catalog* const catalog_;
  TemplateHost* const host_;

  mutable Mutex mu_;  // one template change or fork at a time
  std::optional<std::string> major_ GUARDED_BY(mu_);
  uint32_t checked_id_ GUARDED_BY(mu_) = 0;  // the template branch Check passed
  int made_ GUARDED_BY(mu_) = 0;
};

}  // namespace strata
