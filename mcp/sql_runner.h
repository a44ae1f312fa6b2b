// run_sql's PostgreSQL side: one statement on a branch's server through the
// proxy, with libpq, under a statement timeout, its rows capped by count and
// by bytes (docs/mcp.md, "run_sql").
//
// Read-only statements run as BEGIN READ ONLY; SELECT 1 (which takes the
// transaction's snapshot, so a later SET TRANSACTION READ WRITE is refused
// by PostgreSQL); the statement; ROLLBACK. The statement always goes through
// the extended protocol (PQsendQueryParams), which takes exactly one
// statement: "COMMIT; DELETE ..." is a syntax error, not two statements.
// Rows are read one at a time (single-row mode), so a huge result is never
// held whole: past the cap a read-only statement is cancelled, a write is
// drained (its rows counted, not kept) and committed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace strata::mcp {

inline constexpr int64_t kDefaultMaxRows = 100;
inline constexpr int64_t kMaxMaxRows = 1000;
inline constexpr size_t kMaxResultBytes = 256 * 1024;  // of the values kept
inline constexpr int kDefaultStatementTimeoutMs = 30'000;

struct SqlRequest {
  std::string conninfo;  // a postgresql:// URI (an issued credential's)
  std::string sql;
  bool read_only = true;
  int64_t max_rows = kDefaultMaxRows;
  size_t max_bytes = kMaxResultBytes;
  int statement_timeout_ms = kDefaultStatementTimeoutMs;
  int connect_timeout_s = 60;  // the branch's server may have to start
};

struct SqlResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // text values; nullopt: NULL
  std::string command;       // the command tag: "SELECT 3", "INSERT 0 1", ...
  bool truncated = false;    // rows were left out
  std::string truncated_by;  // "max_rows" or "bytes" when truncated
  int64_t rows_seen = 0;     // rows read before stopping (>= rows.size())

  // {"columns", "rows", "row_count", "command", "truncated", "note"?}
  nlohmann::json ToJson() const;
  // An aligned text table (psql-like) with the command and the note.
  std::string ToText() const;
  // "" or the sentence saying the result was cut and how many rows it has.
  std::string Note() const;
};

// Keeps rows up to a count and a byte cap. Add returns false once the row
// offered did not fit: the caller stops (or drains) from there.
class RowCollector {
 public:
  RowCollector(SqlResult* out, int64_t max_rows, size_t max_bytes)
      : out_(out), max_rows_(max_rows), max_bytes_(max_bytes) {}
  bool Add(std::vector<std::optional<std::string>> row);

 private:
  SqlResult* const out_;
  const int64_t max_rows_;
  const size_t max_bytes_;
  size_t bytes_ = 0;
};

// Runs one statement as described above. A PostgreSQL error is kInvalid
// with its one-line message ("ERROR:  ..." without the prefix); a failed
// connection is kUnavailable.
using SqlRunner = std::function<Result<SqlResult>(const SqlRequest&)>;
Result<SqlResult> RunSql(const SqlRequest& req);

}  // namespace strata::mcp
