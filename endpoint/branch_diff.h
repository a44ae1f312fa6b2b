// BranchDiff: what a branch changed against another since their common
// ancestor point, per relation, per file, and as a schema diff
// (docs/diff.md). The changed files come from the keyspace
// (catalog/branch_changes.h); the relation names from each branch's own
// postgres, through its endpoint; the schema diff from pg_dump on each.
//
// Used by the API's diff route, and by promote (DivergedRelations). Holds no
// lock of its own; calls EndpointManager (Acquire/Release, which start a
// server and wait for it) with none held, as the manager asks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/branch_changes.h"
#include "catalog/catalog.h"
#include "common/clock.h"
#include "common/status.h"
#include "endpoint/endpoint_manager.h"
#include "endpoint/relation_path.h"
#include "layers/version_store.h"

namespace strata {

class DiffServer;  // endpoint/diff_server.h

// One relation a side changed: a table with its indexes and TOAST rolled up.
struct RelationChange {
  std::string name;  // "schema.table"; the file path when no side can name it
  std::string kind;  // of the table: table, sequence, matview; "unknown" by path
  std::string side;  // branch, against, both
  uint64_t pages = 0;
  uint64_t bytes = 0;                     // pages * 8192
  std::map<std::string, uint64_t> parts;  // pages by the kind of file: table, index, toast, ...
};

// A file that is not a relation (pg_wal/..., pg_xact/..., pg_control, ...).
struct FileDiffEntry {
  std::string path;
  std::string side;
  uint64_t pages = 0;
  uint64_t bytes = 0;
  bool created = false, deleted = false, truncated = false;
};

struct DiffReport {
  std::string branch, against;
  std::string base_branch;
  uint64_t base_seq = 0;
  std::vector<RelationChange> relations;  // by name
  std::vector<FileDiffEntry> files;       // by path
  std::optional<std::string> schema_diff;
  uint64_t keys_changed = 0;  // both sides, as ChangedKeys counts them
  int64_t keyspace_ms = 0;    // reading the changes from the keyspace, of elapsed_ms
  int64_t elapsed_ms = 0;
};

// What the file of a relation belongs to, as one side's catalog says.
struct RelationName {
  std::string name;  // the table it rolls up to: "schema.table"
  std::string kind;  // the table's kind
  std::string part;  // the kind of the file's own relation: table, index, toast, sequence, ...
};
// The name of a relation file changed on `side` ("branch" or "against").
using RelationLookup =
    std::function<std::optional<RelationName>(const std::string& side, const RelationFile& f)>;

// Groups changed files into relations and other files. A relation file is
// named by the side that changed it, else by the other side (a relation the
// side created or dropped), else by its path, kind "unknown".
void RollUp(const std::vector<std::pair<std::string, FileChange>>& changes,
            const RelationLookup& lookup, std::vector<RelationChange>* relations,
            std::vector<FileDiffEntry>* files);

// The relations among `changes` (one side's files), by name as `lookup`
// gives it for side "against", else by path; other files are left out. The
// answer of DivergedRelations.
std::vector<std::string> ChangedRelationNames(const SideChanges& changes,
                                              const RelationLookup& lookup);

// Drops the lines of a pg_dump output that differ between identical schemas
// (versions, the \restrict key).
std::string StripDumpNoise(const std::string& dump);

struct BranchDiffOptions {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";  // pg_dump
  std::string user = "postgres";                       // connects as, runs pg_dump as
  std::string diff_program = "/usr/bin/diff";
  std::string tmp_dir = "/tmp";  // the dumps, while they are compared
  Clock* clock = Clock::Real();  // elapsed_ms
};

class BranchDiff {
 public:
  BranchDiff(Catalog* catalog, VersionStore* versions, EndpointManager* endpoints,
             BranchDiffOptions options = {})
      : catalog_(catalog), versions_(versions), endpoints_(endpoints), opts_(std::move(options)) {}

  // `against` empty: the branch's parent. kNotFound for an unknown branch,
  // kInvalid for a root without `against` or two branches with no common
  // ancestor, kUnavailable when a server cannot start or answer.
  Result<DiffReport> Diff(const std::string& branch, const std::string& against, bool schema);

  // The relations ("schema.table", or a path when the parent cannot name
  // one) `parent` changed after `since_seq`; files that are not relations
  // (WAL, pg_xact, pg_control, stats, postmaster.*) do not count. Promote's
  // check that the parent has not moved since the fork point.
  Result<std::vector<std::string>> DivergedRelations(const BranchInfo& parent, uint64_t since_seq);
  // The paths of the relation files `parent` changed after `since_seq`, from
  // the keyspace alone (no server is started): promote's check under the
  // branch manager's lock. Empty also when those pages were written without
  // a transaction ending (hint bits, vacuum): the parent's pg_control then
  // and now show no xid assigned or running (PgControlNoTransactionBetween;
  // its server must have shut down cleanly since, see
  // EndpointManager::RecoverIfCrashed).
  Result<std::vector<std::string>> ChangedRelationFiles(const BranchInfo& parent,
                                                        uint64_t since_seq);

 private:
  Result<std::string> SchemaDiff(DiffServer& branch, DiffServer& against);

  Catalog* const catalog_;
  VersionStore* const versions_;
  EndpointManager* const endpoints_;
  const BranchDiffOptions opts_;
};

}  // namespace strata
