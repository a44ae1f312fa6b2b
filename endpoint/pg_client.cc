#include "endpoint/pg_client.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/wait.h>

#include <cerrno>
#include <memory>

#include "endpoint/process_launcher.h"

namespace strata {

namespace {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};

// libpq messages span lines; an API error is one.
std::string OneLine(const char* msg) {
  std::string out;
  for (const char* p = msg ? msg : ""; *p; ++p) {
    if (*p == '\n') {
      if (p[1]) out += "; ";
    } else {
      out += *p;
    }
  }
  return out.empty() ? "unknown error" : out;
}

}  // namespace

std::string SocketDir(const std::string& socket_path) {
  const size_t slash = socket_path.rfind('/');
  return slash == std::string::npos ? "." : socket_path.substr(0, slash);
}

std::string SocketPort(const std::string& socket_path) {
  const size_t dot = socket_path.rfind('.');
  return dot == std::string::npos ? "5432" : socket_path.substr(dot + 1);
}

Result<PgRows> PgQuery(const std::string& socket_path, const std::string& user,
                       const std::string& dbname, const std::string& sql) {
  const std::string host = SocketDir(socket_path), port = SocketPort(socket_path);
  const char* keywords[] = {"host", "port", "user", "dbname", "connect_timeout", "application_name",
                            nullptr};
  const char* values[] = {host.c_str(), port.c_str(),  user.c_str(), dbname.c_str(),
                          "10",         "strata-diff", nullptr};
  std::unique_ptr<PGconn, ConnCloser> conn(PQconnectdbParams(keywords, values, 0));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::Unavailable("could not connect to database " + dbname + ": " +
                               OneLine(conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  std::unique_ptr<PGresult, ResultClearer> res(PQexec(conn.get(), sql.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    return Status::Unavailable("query in database " + dbname +
                               " failed: " + OneLine(PQerrorMessage(conn.get())));
  }
  PgRows rows(static_cast<size_t>(PQntuples(res.get())));
  for (int r = 0; r < PQntuples(res.get()); r++) {
    for (int c = 0; c < PQnfields(res.get()); c++) {
      rows[r].emplace_back(PQgetvalue(res.get(), r, c));
    }
  }
  return rows;
}

Result<int> RunToFile(const std::vector<std::string>& argv, const std::string& run_as,
                      const std::string& out_path) {
  launcher::Identity id;
  if (!run_as.empty()) {
    STRATA_ASSIGN_OR_RETURN(id, launcher::ResolveIdentity(run_as));
  }
  UniqueFd opened(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!opened.valid()) return Status::FromErrno(errno, "create " + out_path);
  // Spawn wants fds >= 3 (a daemon may run with its stdio closed).
  UniqueFd out(opened.get() >= 3 ? opened.release() : fcntl(opened.get(), F_DUPFD_CLOEXEC, 3));
  if (!out.valid()) return Status::FromErrno(errno, "dup " + out_path);
  STRATA_ASSIGN_OR_RETURN(UniqueFd dev_null, launcher::OpenDevNull());
  launcher::SpawnSpec spec;
  spec.argv = argv;
  spec.env = {"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "PGCONNECT_TIMEOUT=10"};
  spec.id = id;
  spec.stdin_fd = dev_null.get();
  spec.output_fd = out.get();
  STRATA_ASSIGN_OR_RETURN(pid_t pid, launcher::Spawn(spec));
  STRATA_ASSIGN_OR_RETURN(const int ws, launcher::WaitFor(pid, argv[0]));
  if (!WIFEXITED(ws)) {
    return Status::IO(argv[0] + " ended: " + launcher::DescribeWaitStatus(ws));
  }
  return WEXITSTATUS(ws);
}

}  // namespace strata
