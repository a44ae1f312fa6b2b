#include "tools/pg_checkpoint.h"

#include <libpq-fe.h>

#include <memory>

namespace strata::cli {

namespace {

// libpq messages can span lines; the CLI prints one.
std::string OneLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "; ";
    } else if (c == '\t') {
      if (out.empty() || out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  return out.empty() ? "unknown error" : out;
}

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

Status CheckpointServer(const std::string& conninfo) {
  // Keywords are applied in order and the expanded conninfo comes last, so a
  // connect_timeout in it wins over this default.
  const char* keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {"10", "strata", conninfo.c_str(), nullptr};
  std::unique_ptr<PGconn, ConnCloser> conn(
      PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn == nullptr) return Status::Unavailable("checkpoint of the parent failed: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::Unavailable("checkpoint of the parent failed: could not connect: " +
                               OneLine(PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, ResultClearer> res(PQexec(conn.get(), "CHECKPOINT"));
  if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    return Status::Unavailable("checkpoint of the parent failed: " +
                               OneLine(PQerrorMessage(conn.get())));
  }
  return Status::OK();
}

}  // namespace strata::cli
