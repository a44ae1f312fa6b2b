#include "mcp/sql_runner.h"

#include <libpq-fe.h>

#include <algorithm>
#include <memory>

namespace strata::mcp {

namespace {

using json = nlohmann::json;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// Newlines and runs of spaces folded: an error is one line.
std::string Fold(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// "ERROR: relation "t" does not exist", with a hint for the read-only refusal.
Status ErrorOf(const PGresult* r) {
  const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY);
  const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char* sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string msg = primary ? std::string(severity ? severity : "ERROR") + ": " + primary
                            : PQresultErrorMessage(r);
  if (sqlstate && std::string(sqlstate) == "25006") {
    msg += " (run_sql is read-only unless read_only is false)";
  }
  return Status::Invalid(Fold(msg));
}

// One of our own fixed commands (simple protocol).
Status Exec(PGconn* c, const char* sql) {
  PgResult r(PQexec(c, sql));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::OK();
  return ErrorOf(r.get());
}

std::vector<std::optional<std::string>> RowOf(const PGresult* r) {
  std::vector<std::optional<std::string>> row;
  const int n = PQnfields(r);
  row.reserve(n);
  for (int i = 0; i < n; i++) {
    if (PQgetisnull(r, 0, i)) {
      row.emplace_back(std::nullopt);
    } else {
      row.emplace_back(std::string(PQgetvalue(r, 0, i), PQgetlength(r, 0, i)));
    }
  }
  return row;
}

void Cancel(PGconn* c) {
  PGcancel* cancel = PQgetCancel(c);
  if (!cancel) return;
  char err[256];
  (void)PQcancel(cancel, err, sizeof(err));  // best effort: else the drain waits for the timeout
  PQfreeCancel(cancel);
}

// The statement's results, read row by row until the last one.
Result<SqlResult> ReadResults(PGconn* c, const SqlRequest& req) {
  SqlResult out;
  RowCollector rows(&out, req.max_rows, req.max_bytes);
  bool collecting = true, cancelled = false;
  std::optional<Status> error;
  while (PgResult r{PQgetResult(c)}) {
    const ExecStatusType st = PQresultStatus(r.get());
    if ((st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) && out.columns.empty()) {
      for (int i = 0; i < PQnfields(r.get()); i++) out.columns.push_back(PQfname(r.get(), i));
    }
    if (st == PGRES_SINGLE_TUPLE) {
      out.rows_seen++;
      if (collecting && !rows.Add(RowOf(r.get()))) {
        collecting = false;
        if (req.read_only) {
          Cancel(c);
          cancelled = true;
        }
      }
    } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      out.command = PQcmdStatus(r.get());
    } else if (st == PGRES_COPY_IN) {
      (void)PQputCopyEnd(c, "run_sql does not support COPY FROM STDIN");
    } else if (st == PGRES_COPY_OUT) {
      char* buf = nullptr;
      while (PQgetCopyData(c, &buf, 0) > 0) PQfreemem(buf);
      error = Status::Invalid("run_sql does not support COPY TO STDOUT");
    } else if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && !cancelled && !error) {
      error = ErrorOf(r.get());
    }
  }
  if (error) return *error;
  if (cancelled)
    out.command = "SELECT (cancelled after " + std::to_string(out.rows_seen) + " rows)";
  return out;
}

}  // namespace

bool RowCollector::Add(std::vector<std::optional<std::string>> row) {
  size_t bytes = 0;
  for (const auto& v : row) bytes += v ? v->size() : 0;
  if (static_cast<int64_t>(out_->rows.size()) >= max_rows_) {
    out_->truncated = true;
    out_->truncated_by = "max_rows";
    return false;
  }
  if (bytes_ + bytes > max_bytes_) {
    out_->truncated = true;
    out_->truncated_by = "bytes";
    return false;
  }
  bytes_ += bytes;
  out_->rows.push_back(std::move(row));
  return true;
}

std::string SqlResult::Note() const {
  if (!truncated) return "";
  const std::string n = std::to_string(rows.size());
  if (truncated_by == "bytes") {
    return "result cut: only the first " + n + " rows are returned (values over " +
           std::to_string(kMaxResultBytes / 1024) + " KiB); add a LIMIT or select fewer columns";
  }
  return "result cut: only the first " + n +
         " rows are returned (max_rows); add a LIMIT or raise max_rows (at most " +
         std::to_string(kMaxMaxRows) + ")";
}

json SqlResult::ToJson() const {
  json rs = json::array();
  for (const auto& row : rows) {
    json r = json::array();
    for (const auto& v : row) r.push_back(v ? json(*v) : json(nullptr));
    rs.push_back(std::move(r));
  }
  json j = {{"columns", columns},
            {"rows", std::move(rs)},
            {"row_count", rows.size()},
            {"command", command},
            {"truncated", truncated}};
  if (truncated) j["note"] = Note();
  return j;
}

std::string SqlResult::ToText() const {
  std::string out;
  if (!columns.empty()) {
    std::vector<size_t> width;
    for (const std::string& c : columns) width.push_back(c.size());
    for (const auto& row : rows) {
      for (size_t i = 0; i < row.size() && i < width.size(); i++) {
        width[i] = std::max(width[i], row[i] ? row[i]->size() : 0);
      }
    }
    auto line = [&](auto cell) {
      for (size_t i = 0; i < width.size(); i++) {
        std::string v = cell(i);
        out += (i ? " | " : " ") + v + std::string(width[i] - v.size(), ' ');
      }
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += "\n";
    };
    line([&](size_t i) { return columns[i]; });
    for (size_t i = 0; i < width.size(); i++) out += (i ? "-+-" : "-") + std::string(width[i], '-');
    out += "-\n";
    for (const auto& row : rows) line([&](size_t i) { return row[i].value_or(""); });
    out += "(" + std::to_string(rows.size()) + (rows.size() == 1 ? " row)\n" : " rows)\n");
  }
  if (!command.empty()) out += command + "\n";
  if (truncated) out += "note: " + Note() + "\n";
  return out;
}

Result<SqlResult> RunSql(const SqlRequest& req) {
  const std::string timeout = std::to_string(req.connect_timeout_s);
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* vals[] = {req.conninfo.c_str(), timeout.c_str(), "strata-mcp", nullptr};
  Conn c(PQconnectdbParams(keys, vals, /*expand_dbname=*/1));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    return Status::Unavailable("could not connect to the branch's server: " +
                               Fold(c ? PQerrorMessage(c.get()) : "out of memory"));
  }
  const std::string set_timeout =
      "SET statement_timeout = " + std::to_string(req.statement_timeout_ms);
  STRATA_RETURN_IF_ERROR(Exec(c.get(), set_timeout.c_str()));
  if (req.read_only) {
    STRATA_RETURN_IF_ERROR(Exec(c.get(), "SET default_transaction_read_only = on"));
    STRATA_RETURN_IF_ERROR(Exec(c.get(), "BEGIN READ ONLY"));
    // Takes the snapshot: from here SET TRANSACTION READ WRITE is refused.
    STRATA_RETURN_IF_ERROR(Exec(c.get(), "SELECT 1"));
  }
  if (!PQsendQueryParams(c.get(), req.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) {
    return Status::Invalid(Fold(PQerrorMessage(c.get())));
  }
  (void)PQsetSingleRowMode(c.get());
  Result<SqlResult> out = ReadResults(c.get(), req);
  if (req.read_only) (void)Exec(c.get(), "ROLLBACK");
  return out;
}

}  // namespace strata::mcp
