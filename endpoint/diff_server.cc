#include "endpoint/diff_server.h"

#include <spdlog/spdlog.h>

#include "endpoint/pg_client.h"

namespace strata {

namespace {

// Every relation with storage, its filenode (mapped catalogs included), its
// tablespace (1664: global/), the kind of its own file, and the table it
// rolls up to: an index to its table, a TOAST table to its owner, a TOAST
// index to the owner of its TOAST table.
constexpr const char* kRelationsSql = R"sql(
SELECT pg_relation_filenode(c.oid)::text, c.reltablespace::text,
  CASE WHEN c.relkind = 't' OR (c.relkind = 'i' AND ic.relkind = 't') THEN 'toast'
       WHEN c.relkind = 'i' THEN 'index' WHEN c.relkind = 'S' THEN 'sequence'
       WHEN c.relkind = 'm' THEN 'matview' ELSE 'table' END,
  n.nspname || '.' || t.relname,
  CASE t.relkind WHEN 'S' THEN 'sequence' WHEN 'm' THEN 'matview' ELSE 'table' END
FROM pg_class c
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class ic ON ic.oid = i.indrelid
LEFT JOIN pg_class owner ON owner.reltoastrelid <> 0
  AND owner.reltoastrelid = COALESCE(i.indrelid, c.oid)
JOIN pg_class t ON t.oid = COALESCE(owner.oid, i.indrelid, c.oid)
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE pg_relation_filenode(c.oid) IS NOT NULL)sql";

constexpr const char* kDatabasesSql =
    "SELECT oid::text, datname, (datallowconn AND NOT datistemplate)::text FROM pg_database";
constexpr uint32_t kGlobalTablespace = 1664;

}  // namespace

DiffServer::~DiffServer() {
  if (acquired_) endpoints_->Release(branch_);
}

Status DiffServer::Failed(const Status& st) const {
  return Status(st.code(), branch_ + ": " + st.message());
}

Result<std::string> DiffServer::Socket() {
  if (!acquired_) {
    Result<std::string> s = endpoints_->Acquire(branch_);
    if (!s.ok()) return Failed(s.status());
    socket_ = *s;
    acquired_ = true;
  }
  return socket_;
}

Result<DiffServer::DatabaseMap> DiffServer::Databases() {
  if (databases_) return *databases_;
  STRATA_ASSIGN_OR_RETURN(std::string socket, Socket());
  Result<PgRows> rows = PgQuery(socket, user_, "postgres", kDatabasesSql);
  if (!rows.ok()) rows = PgQuery(socket, user_, "template1", kDatabasesSql);
  if (!rows.ok()) return Failed(rows.status());
  databases_.emplace();
  for (const auto& r : *rows) {
    (*databases_)[static_cast<uint32_t>(std::stoul(r[0]))] = {r[1], r[2] == "true"};
  }
  return *databases_;
}

std::optional<RelationName> DiffServer::Lookup(const RelationFile& f) {
  if (!error_.ok()) return std::nullopt;
  if (Status st = Load(f.db_oid); !st.ok()) {
    error_ = st;
    return std::nullopt;
  }
  auto it = relations_[f.db_oid].find(f.filenode);
  if (it == relations_[f.db_oid].end()) return std::nullopt;
  return it->second;
}

// The relations of database `db` (0: the shared catalogs), once.
Status DiffServer::Load(uint32_t db) {
  if (loaded_.count(db)) return Status::OK();
  loaded_.insert(db);
  STRATA_ASSIGN_OR_RETURN(auto dbs, Databases());
  std::string dbname = "postgres";
  if (db != 0) {
    auto it = dbs.find(db);
    if (it == dbs.end()) return Status::OK();  // dropped: named on the other side, or by path
    dbname = it->second.first;
  }
  STRATA_ASSIGN_OR_RETURN(std::string socket, Socket());
  Result<PgRows> rows = PgQuery(socket, user_, dbname, kRelationsSql);
  if (!rows.ok()) {
    // datallowconn off (template0): its files are reported by path.
    spdlog::info("diff: relations of database {} on {}: {}", dbname, branch_,
                 rows.status().ToString());
    return Status::OK();
  }
  for (const auto& r : *rows) {
    const uint32_t tablespace = static_cast<uint32_t>(std::stoul(r[1]));
    const uint32_t owner_db = tablespace == kGlobalTablespace ? 0 : db;
    if (tablespace != 0 && tablespace != kGlobalTablespace) continue;  // pg_tblspc/
    relations_[owner_db][static_cast<uint32_t>(std::stoul(r[0]))] = {r[3], r[4], r[2]};
  }
  return Status::OK();
}

}  // namespace strata
