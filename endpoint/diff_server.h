// DiffServer: one branch's own postgres as the diff asks it (docs/diff.md):
// started through its endpoint on first use and released at the end; its
// databases and the names of its relation files. Private to BranchDiff.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "common/status.h"
#include "endpoint/branch_diff.h"
#include "endpoint/endpoint_manager.h"
#include "endpoint/relation_path.h"

namespace strata {

class DiffServer {
 public:
  // oid -> (name, whether the schema diff dumps it) of every database.
  using DatabaseMap = std::map<uint32_t, std::pair<std::string, bool>>;

  DiffServer(EndpointManager* endpoints, std::string branch, std::string user)
      : endpoints_(endpoints), branch_(std::move(branch)), user_(std::move(user)) {}
  ~DiffServer();  // releases the endpoint if it was acquired
  DiffServer(const DiffServer&) = delete;
  DiffServer& operator=(const DiffServer&) = delete;

  const std::string& branch() const { return branch_; }
  // The server's socket path; acquires the endpoint (starting it) the first time.
  Result<std::string> Socket();
  Result<DatabaseMap> Databases();
  // The name of a relation file, or nullopt when this side has no such
  // relation. The first error is kept in error() and ends the lookups.
  std::optional<RelationName> Lookup(const RelationFile& f);
  const Status& error() const { return error_; }

 private:
  Status Failed(const Status& st) const;  // prefixed with the branch name
  // Loads the relations of database `db` (0: the shared catalogs), once.
  Status Load(uint32_t db);

  EndpointManager* const endpoints_;
  const std::string branch_, user_;
  bool acquired_ = false;
  std::string socket_;
  Status error_;
  std::optional<DatabaseMap> databases_;
  std::set<uint32_t> loaded_;
  std::map<uint32_t, std::map<uint32_t, RelationName>> relations_;
};

}  // namespace strata
