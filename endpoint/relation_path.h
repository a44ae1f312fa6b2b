// The files of a PGDATA that hold relations: base/<database oid>/<filenode>
// and global/<filenode>, each with an optional fork (_fsm, _vm, _init) and
// segment number (.N), as PostgreSQL 15 names them (relpath, md.c).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strata {

struct RelationFile {
  uint32_t db_oid = 0;  // 0: global/ (shared catalogs)
  uint32_t filenode = 0;
  std::string fork = "main";  // main, fsm, vm, init
  uint32_t segment = 0;
};

// nullopt for any other file: pg_wal/, pg_xact/, pg_control, pg_filenode.map,
// pg_internal.init, temporary relations (t<backend>_<node>), tablespaces.
std::optional<RelationFile> ParseRelationPath(std::string_view path);

}  // namespace strata
