// ledger: a client-side ledger of acknowledged commits, for crash tests.
//
//   ledger write CONNINFO LEDGER_FILE [--seconds N] [--start ID]
//     Creates table ledger(id bigint primary key, payload text) if missing, then
//     inserts ids start, start+1, ... one by one in autocommit mode. An id is
//     appended to LEDGER_FILE (one line, written with a single write(2)) only
//     after PQexec returned PGRES_COMMAND_OK, i.e. after the server acknowledged
//     the commit. Stops after N seconds (0 = until the connection breaks) or on
//     a connection error (exit 0 in both cases; it prints how many commits were
//     acknowledged). Setup errors exit 1.
//
//   ledger check CONNINFO LEDGER_FILE [--prefix]
//     Verifies every id in LEDGER_FILE is present in table ledger. Prints the
//     counts; exit 1 listing the first missing ids otherwise.
//     --prefix: the contract of an `ephemeral` branch instead. Acknowledged
//     commits may be missing, but only at the end: the ids present must be a
//     prefix of LEDGER_FILE (a consistent earlier state, no holes). Prints
//     how many were lost.

#include <fcntl.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: ledger write CONNINFO LEDGER_FILE [--seconds N] [--start ID]\n"
               "       ledger check CONNINFO LEDGER_FILE [--prefix]\n");
  return 2;
}

bool ParseInt(const char* s, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  *out = v;
  return true;
}

PGconn* Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "ledger: cannot connect: %s", PQerrorMessage(conn));
    PQfinish(conn);
    return nullptr;
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

bool Exec(PGconn* conn, const char* sql) {
  PGresult* r = PQexec(conn, sql);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) std::fprintf(stderr, "ledger: %s: %s", sql, PQerrorMessage(conn));
  PQclear(r);
  return ok;
}

// Inserts ids from `start` on into `conn`, appending each acknowledged one
// to `fd`; returns the exit code (0 when it stopped for time or a lost
// connection) and prints how many were acknowledged.
int InsertUntilStopped(PGconn* conn, int fd, const std::string& path, int64_t seconds,
                       int64_t start) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  const std::string payload(100, 'x');
  int64_t acked = 0, errors = 0, id = start;
  std::string stop_reason = "time is up";
  for (;; ++id) {
    if (seconds > 0 && Clock::now() >= deadline) break;
    const std::string id_text = std::to_string(id);
    const char* params[2] = {id_text.c_str(), payload.c_str()};
    PGresult* r = PQexecParams(conn, "INSERT INTO ledger (id, payload) VALUES ($1::bigint, $2)", 2,
                               nullptr, params, nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK) {
      PQclear(r);
      const std::string line = id_text + "\n";
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        std::fprintf(stderr, "ledger: write to %s failed: %s\n", path.c_str(),
                     std::strerror(errno));
        return 1;
      }
      ++acked;
      continue;
    }
    const char* sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const std::string state = sqlstate ? sqlstate : "";
    const std::string msg = PQerrorMessage(conn);
    PQclear(r);
    if (PQstatus(conn) == CONNECTION_BAD) {
      stop_reason = "connection lost: " + msg;
      break;
    }
    if (state == "23505") {  // unique_violation: the ids overlap an earlier run
      std::fprintf(stderr, "ledger: id %lld already exists (use --start): %s", (long long)id,
                   msg.c_str());
      return 1;
    }
    // Any other error: the id was not acknowledged; skip it and try the next
    // after a pause (a server in recovery refuses everything for a while).
    ++errors;
    if (errors <= 5)
      std::fprintf(stderr, "ledger: id %lld not acknowledged: %s", (long long)id, msg.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("ledger: %lld commits acknowledged (ids %lld..%lld), %lld errors; stopped: %s\n",
              (long long)acked, (long long)start, (long long)(id - 1), (long long)errors,
              stop_reason.c_str());
  return 0;
}

int Write(const std::string& conninfo, const std::string& path, int64_t seconds, int64_t start) {
  PGconn* conn = Connect(conninfo);
  if (conn == nullptr) return 1;
  if (!Exec(conn, "CREATE TABLE IF NOT EXISTS ledger (id bigint PRIMARY KEY, payload text)")) {
    PQfinish(conn);
    return 1;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "ledger: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    PQfinish(conn);
    return 1;
  }
  int rc = InsertUntilStopped(conn, fd, path, seconds, start);
  // The one close of the ledger file: an error there may have lost lines.
  if (::close(fd) != 0 && rc == 0) {
    std::fprintf(stderr, "ledger: closing %s failed: %s\n", path.c_str(), std::strerror(errno));
    rc = 1;
  }
  PQfinish(conn);
  std::fflush(stdout);
  return rc;
}

int Check(const std::string& conninfo, const std::string& path, bool prefix) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "ledger: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<int64_t> acked;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    int64_t v;
    if (!ParseInt(line.c_str(), &v)) {
      std::fprintf(stderr, "ledger: bad line in %s: '%s'\n", path.c_str(), line.c_str());
      return 1;
    }
    acked.push_back(v);
  }
  PGconn* conn = Connect(conninfo);
  if (conn == nullptr) return 1;
  PGresult* r = PQexec(conn, "SELECT id FROM ledger");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "ledger: SELECT id FROM ledger: %s", PQerrorMessage(conn));
    PQclear(r);
    PQfinish(conn);
    return 1;
  }
  std::set<int64_t> present;
  for (int i = 0; i < PQntuples(r); ++i) {
    int64_t v;
    if (ParseInt(PQgetvalue(r, i, 0), &v)) present.insert(v);
  }
  PQclear(r);
  PQfinish(conn);
  std::vector<int64_t> missing;
  for (int64_t v : acked)
    if (!present.count(v)) missing.push_back(v);
  std::printf("ledger: %zu acknowledged ids in %s, %zu rows in table, %zu missing\n", acked.size(),
              path.c_str(), present.size(), missing.size());
  if (prefix) {
    // Present ids must be acked[0..k) for some k: everything after the first
    // missing id must be missing too.
    size_t k = 0;
    while (k < acked.size() && present.count(acked[k])) k++;
    for (size_t i = k; i < acked.size(); ++i) {
      if (present.count(acked[i])) {
        std::fprintf(stderr,
                     "ledger: NOT A PREFIX: id %lld is missing but later id %lld is there\n",
                     (long long)acked[k], (long long)acked[i]);
        return 1;
      }
    }
    std::printf("ledger: prefix of %zu acknowledged commits kept, %zu lost at the end\n", k,
                acked.size() - k);
    return 0;
  }
  if (missing.empty()) return 0;
  std::fprintf(stderr, "ledger: acknowledged commits are MISSING; first ids:");
  for (size_t i = 0; i < missing.size() && i < 20; ++i)
    std::fprintf(stderr, " %lld", (long long)missing[i]);
  std::fprintf(stderr, "\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Usage();
  const std::string cmd = argv[1], conninfo = argv[2], path = argv[3];
  if (cmd == "check") {
    if (argc == 4) return Check(conninfo, path, false);
    if (argc == 5 && std::string(argv[4]) == "--prefix") return Check(conninfo, path, true);
    return Usage();
  }
  if (cmd != "write") return Usage();
  int64_t seconds = 10, start = 1;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--seconds") {
      if (!ParseInt(argv[++i], &seconds) || seconds < 0) return Usage();
    } else if (a == "--start") {
      if (!ParseInt(argv[++i], &start)) return Usage();
    } else {
      return Usage();
    }
  }
  return Write(conninfo, path, seconds, start);
}
