#include "endpoint/branch_diff.h"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "endpoint/diff_server.h"
#include "endpoint/fast_recovery.h"
#include "endpoint/pg_client.h"
#include "layers/key.h"

namespace strata {

namespace {

std::string SideOf(const std::set<std::string>& sides) {
  return sides.size() > 1 ? "both" : *sides.begin();
}

// The path a relation's files share: no fork, no segment.
std::string RelationPathOf(const RelationFile& f) {
  return (f.db_oid ? "base/" + std::to_string(f.db_oid) + "/" : std::string("global/")) +
         std::to_string(f.filenode);
}

}  // namespace

void RollUp(const std::vector<std::pair<std::string, FileChange>>& changes,
            const RelationLookup& lookup, std::vector<RelationChange>* relations,
            std::vector<FileDiffEntry>* files) {
  std::map<std::string, std::pair<RelationChange, std::set<std::string>>> rels;
  std::map<std::string, std::pair<FileDiffEntry, std::set<std::string>>> others;
  for (const auto& [side, fc] : changes) {
    const std::optional<RelationFile> rf = ParseRelationPath(fc.path);
    if (!rf) {
      auto& [e, sides] = others[fc.path];
      e.path = fc.path;
      e.pages += fc.pages;
      e.bytes += fc.pages * kPageSize;
      e.created |= fc.created;
      e.deleted |= fc.deleted;
      e.truncated |= fc.truncated;
      sides.insert(side);
      continue;
    }
    std::optional<RelationName> name = lookup(side, *rf);
    if (!name) name = lookup(side == "branch" ? "against" : "branch", *rf);
    if (!name) name = RelationName{RelationPathOf(*rf), "unknown", "unknown"};
    auto& [r, sides] = rels[name->name];
    r.name = name->name;
    r.kind = name->kind;
    r.pages += fc.pages;
    r.bytes += fc.pages * kPageSize;
    r.parts[name->part] += fc.pages;
    sides.insert(side);
  }
  for (auto& [name, v] : rels) {
    v.first.side = SideOf(v.second);
    relations->push_back(std::move(v.first));
  }
  for (auto& [path, v] : others) {
    v.first.side = SideOf(v.second);
    files->push_back(std::move(v.first));
  }
}

std::vector<std::string> ChangedRelationNames(const SideChanges& changes,
                                              const RelationLookup& lookup) {
  std::vector<std::pair<std::string, FileChange>> all;
  for (const FileChange& f : changes.files) {
    if (ParseRelationPath(f.path)) all.emplace_back("against", f);
  }
  std::vector<RelationChange> relations;
  std::vector<FileDiffEntry> files;
  RollUp(
      all,
      [&](const std::string& side, const RelationFile& f) {
        return side == "against" ? lookup(side, f) : std::nullopt;
      },
      &relations, &files);
  std::vector<std::string> out;
  for (const RelationChange& r : relations) out.push_back(r.name);
  return out;
}

std::string StripDumpNoise(const std::string& dump) {
  std::istringstream in(dump);
  std::string out, line;
  while (std::getline(in, line)) {
    if (line.rfind("-- Dumped from database version", 0) == 0 ||
        line.rfind("-- Dumped by pg_dump version", 0) == 0 || line.rfind("\\restrict ", 0) == 0 ||
        line.rfind("\\unrestrict ", 0) == 0) {
      continue;
    }
    out += line;
    out += '\n';
  }
  return out;
}

Result<DiffReport> BranchDiff::Diff(const std::string& branch, const std::string& against,
                                    bool schema) {
  const int64_t start_ns = opts_.clock->NowNs();
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  const BranchInfo* b = cat->FindBranch(branch);
  if (!b) return Status::NotFound("no branch named '" + branch + "'");
  const BranchInfo* o = nullptr;
  if (against.empty()) {
    if (!b->parent) {
      return Status::Invalid("branch '" + branch +
                             "' has no parent: name a branch to diff against");
    }
    o = cat->FindBranchById(b->parent);
  } else {
    o = cat->FindBranch(against);
    if (!o) return Status::NotFound("no branch named '" + against + "'");
  }
  // A running server's committed changes may still be in its buffers only:
  // it writes them to its files first, so that the keyspace holds them.
  for (const BranchInfo* side : {b, o}) {
    if (!endpoints_) break;  // no servers (tests of the route alone)
    STRATA_RETURN_IF_ERROR(endpoints_->Checkpoint(side->name, /*min_redo_bytes=*/0).status());
  }
  STRATA_ASSIGN_OR_RETURN(BranchChanges changes, DiffBranches(versions_, *cat, *b, *o));
  DiffReport report;
  report.branch = b->name;
  report.against = o->name;
  const BranchInfo* base = cat->FindBranchById(changes.base.branch);
  report.base_branch = base ? base->name : "";
  report.base_seq = changes.base.seq;
  report.keys_changed = changes.branch.keys + changes.against.keys;
  report.keyspace_ms = (opts_.clock->NowNs() - start_ns) / 1000000;

  std::vector<std::pair<std::string, FileChange>> all;
  for (FileChange& f : changes.branch.files) all.emplace_back("branch", std::move(f));
  for (FileChange& f : changes.against.files) all.emplace_back("against", std::move(f));
  // Names only once the changes are read: starting a server writes to its branch.
  DiffServer mine(endpoints_, b->name, opts_.user), theirs(endpoints_, o->name, opts_.user);
  RollUp(
      all,
      [&](const std::string& side, const RelationFile& f) {
        return (side == "branch" ? mine : theirs).Lookup(f);
      },
      &report.relations, &report.files);
  STRATA_RETURN_IF_ERROR(mine.error());
  STRATA_RETURN_IF_ERROR(theirs.error());
  if (schema) {
    STRATA_ASSIGN_OR_RETURN(report.schema_diff, SchemaDiff(mine, theirs));
  }
  report.elapsed_ms = (opts_.clock->NowNs() - start_ns) / 1000000;
  return report;
}

namespace {

// Whether `parent` ended no transaction after `since_seq`, by its pg_control
// then and at its head (PgControlNoTransactionBetween). False when a file
// is missing.
Result<bool> NoTransactionSince(VersionStore* versions, const CatalogData& cat,
                                const BranchInfo& parent, uint64_t since_seq) {
  Result<std::string> version = ReadFirstPage(versions, cat, parent, UINT64_MAX, "PG_VERSION");
  Result<std::string> then = ReadFirstPage(versions, cat, parent, since_seq, "global/pg_control");
  Result<std::string> now = ReadFirstPage(versions, cat, parent, UINT64_MAX, "global/pg_control");
  for (const Status& st : {version.status(), then.status(), now.status()}) {
    if (st.IsNotFound()) return false;
    STRATA_RETURN_IF_ERROR(st);
  }
  return PgControlNoTransactionBetween(*then, *now, atoi(version->c_str()));
}

}  // namespace

Result<std::vector<std::string>> BranchDiff::ChangedRelationFiles(const BranchInfo& parent,
                                                                  uint64_t since_seq) {
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  STRATA_ASSIGN_OR_RETURN(SideChanges changes, ChangesSince(versions_, *cat, parent, since_seq));
  std::vector<std::string> out;
  for (const FileChange& f : changes.files) {
    if (ParseRelationPath(f.path).has_value()) out.push_back(f.path);
  }
  if (out.empty()) return out;
  STRATA_ASSIGN_OR_RETURN(const bool quiet, NoTransactionSince(versions_, *cat, parent, since_seq));
  if (quiet) {
    spdlog::info(
        "branch {}: {} relation files written since seq {} but no transaction ended (hint "
        "bits, vacuum): not a change",
        parent.name, out.size(), since_seq);
    out.clear();
  }
  return out;
}

Result<std::vector<std::string>> BranchDiff::DivergedRelations(const BranchInfo& parent,
                                                               uint64_t since_seq) {
  std::shared_ptr<const CatalogData> cat = catalog_->Current();
  STRATA_ASSIGN_OR_RETURN(SideChanges changes, ChangesSince(versions_, *cat, parent, since_seq));
  if (std::none_of(changes.files.begin(), changes.files.end(),
                   [](const FileChange& f) { return ParseRelationPath(f.path).has_value(); })) {
    return std::vector<std::string>{};  // no server to start
  }
  DiffServer names(endpoints_, parent.name, opts_.user);
  std::vector<std::string> out = ChangedRelationNames(
      changes, [&](const std::string&, const RelationFile& f) { return names.Lookup(f); });
  STRATA_RETURN_IF_ERROR(names.error());
  return out;
}

}  // namespace strata
