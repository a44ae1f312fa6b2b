// What two branches changed since their common ancestor point, file by file,
// read from the keyspace (docs/diff.md).
//
// A branch's own levels hold exactly what it wrote since its fork point, each
// version with its seq (layers/version_store.h, ChangedKeys), so the changed
// keys cost what was written, not the size of the database. Keys become files
// by resolving data ids to inodes and inodes to paths; the paths come from a
// walk of the directory entries of each view (never a page).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"
#include "layers/version_store.h"

namespace strata {

// One file one side changed.
struct FileChange {
  std::string path;  // relative to the top of the branch: "base/5/16384"
  uint64_t ino = 0;
  // Pages whose content may differ from the base: pages written, pages cut
  // off by a truncate, every page of a deleted file, and every page of the
  // old contents of a file whose data id changed (truncated to zero).
  uint64_t pages = 0;
  bool created = false;    // absent at the base point
  bool deleted = false;    // absent (or without a name) at the side's head
  bool truncated = false;  // its data id changed: truncated to zero at least once
  uint64_t size = 0;       // at the side's head (0 when deleted)
  uint64_t base_size = 0;  // at the base point (0 when created)
};

struct SideChanges {
  uint64_t keys = 0;              // distinct keys written on this side since the base
  std::vector<FileChange> files;  // in path order
};

// The common ancestor point of two branches: `branch`'s level `seq`, the
// newest point both lineages read.
struct CommonPoint {
  uint32_t branch = 0;
  uint64_t seq = 0;
};

struct BranchChanges {
  CommonPoint base;
  SideChanges branch, against;
};

// The newest point `a` and `b` both read: the first branch of a's lineage
// that b's lineage holds, at the lower of the two bounds they read it at (a
// head resolves to the branch's head seq). kInvalid, naming both, when the
// lineages share no branch (two roots, or a detached branch).
Result<CommonPoint> FindCommonPoint(VersionStore* versions, const CatalogData& cat,
                                    const BranchInfo& a, const BranchInfo& b);

// What `a` and `b` each changed since their common point: each side's own
// levels, and the common level past the point up to where the side reads it.
Result<BranchChanges> DiffBranches(VersionStore* versions, const CatalogData& cat,
                                   const BranchInfo& a, const BranchInfo& b);

// What `branch` itself changed after `since_seq` (promote's check on a parent).
Result<SideChanges> ChangesSince(VersionStore* versions, const CatalogData& cat,
                                 const BranchInfo& branch, uint64_t since_seq);

// The first page (kPageSize bytes, zeros past what was written) of the
// regular file at `path` ("global/pg_control", relative to the branch's
// top) as `branch` read it at `seq` (UINT64_MAX: its head), from the
// keyspace alone; kNotFound if there was no such file then.
Result<std::string> ReadFirstPage(VersionStore* versions, const CatalogData& cat,
                                  const BranchInfo& branch, uint64_t seq, std::string_view path);

}  // namespace strata
