#include "endpoint/branch_diff.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace strata {
namespace {

FileChange Changed(const std::string& path, uint64_t pages) {
  FileChange f;
  f.path = path;
  f.pages = pages;
  return f;
}

// Database 5 on the branch: public.t (16384) with index 16390, its TOAST
// table 16387 and TOAST index 16388; public.fresh (16500, created on the
// branch) with index 16501; pg_catalog.pg_database (1262, shared). The
// against side knows public.old (16450), which the branch dropped.
std::optional<RelationName> Lookup(const std::string& side, const RelationFile& f) {
  static const std::map<std::pair<uint32_t, uint32_t>, RelationName> branch = {
      {{5, 16384}, {"public.t", "table", "table"}},
      {{5, 16390}, {"public.t", "table", "index"}},
      {{5, 16387}, {"public.t", "table", "toast"}},
      {{5, 16388}, {"public.t", "table", "toast"}},
      {{5, 16500}, {"public.fresh", "table", "table"}},
      {{5, 16501}, {"public.fresh", "table", "index"}},
      {{5, 16600}, {"public.s", "sequence", "sequence"}},
      {{0, 1262}, {"pg_catalog.pg_database", "table", "table"}},
  };
  static const std::map<std::pair<uint32_t, uint32_t>, RelationName> against = {
      {{5, 16384}, {"public.t", "table", "table"}},
      {{5, 16450}, {"public.old", "table", "table"}},
  };
  const auto& m = side == "branch" ? branch : against;
  auto it = m.find({f.db_oid, f.filenode});
  if (it == m.end()) return std::nullopt;
  return it->second;
}

TEST(BranchDiffRollUp, IndexesAndToastRollUpToTheirTable) {
  std::vector<std::pair<std::string, FileChange>> changes = {
      {"branch", Changed("base/5/16384", 3)},
      {"branch", Changed("base/5/16384_fsm", 1)},
      {"branch", Changed("base/5/16384.1", 2)},
      {"branch", Changed("base/5/16390", 4)},
      {"branch", Changed("base/5/16387", 5)},
      {"branch", Changed("base/5/16388", 1)},
      {"branch", Changed("base/5/16500", 1)},
      {"branch", Changed("base/5/16501", 2)},
      {"branch", Changed("base/5/16600", 1)},
      {"branch", Changed("global/1262", 1)},
      {"branch", Changed("pg_wal/000000010000000000000002", 10)},
      {"branch", Changed("pg_xact/0000", 1)},
      {"against", Changed("base/5/16384", 1)},
      {"against", Changed("pg_xact/0000", 2)},
      {"branch", Changed("base/5/16450", 9)},
      {"branch", Changed("base/5/17000", 6)},
      {"branch", Changed("base/5/17000_vm", 1)},
      {"branch", Changed("base/5/pg_internal.init", 2)},
  };
  std::vector<RelationChange> rels;
  std::vector<FileDiffEntry> files;
  RollUp(changes, Lookup, &rels, &files);

  std::map<std::string, RelationChange> by;
  for (const RelationChange& r : rels) by[r.name] = r;
  ASSERT_EQ(by.size(), 6u);
  const RelationChange& t = by["public.t"];
  EXPECT_EQ(t.side, "both");
  EXPECT_EQ(t.kind, "table");
  EXPECT_EQ(t.pages, 3u + 1 + 2 + 4 + 5 + 1 + 1);
  EXPECT_EQ(t.bytes, t.pages * 8192);
  EXPECT_EQ(t.parts.at("table"), 7u);
  EXPECT_EQ(t.parts.at("index"), 4u);
  EXPECT_EQ(t.parts.at("toast"), 6u);
  EXPECT_EQ(by["public.fresh"].pages, 3u);
  EXPECT_EQ(by["public.fresh"].side, "branch");
  EXPECT_EQ(by["public.s"].kind, "sequence");
  EXPECT_EQ(by["pg_catalog.pg_database"].pages, 1u);
  // Dropped on the branch, named by the other side.
  EXPECT_EQ(by["public.old"].pages, 9u);
  // Named by neither: its path, every fork of it together.
  EXPECT_EQ(by["base/5/17000"].kind, "unknown");
  EXPECT_EQ(by["base/5/17000"].pages, 7u);

  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].path, "base/5/pg_internal.init");
  EXPECT_EQ(files[1].path, "pg_wal/000000010000000000000002");
  EXPECT_EQ(files[1].side, "branch");
  EXPECT_EQ(files[2].path, "pg_xact/0000");
  EXPECT_EQ(files[2].side, "both");
  EXPECT_EQ(files[2].pages, 3u);
}

TEST(BranchDiffDiverged, RelationsOnlyByNameThenByPath) {
  SideChanges parent;
  for (const char* p :
       {"base/5/16390", "base/5/16384_vm", "pg_wal/000000010000000000000003", "pg_xact/0000",
        "global/pg_control", "postmaster.pid", "pg_stat/x", "base/5/16999", "global/1262"}) {
    parent.files.push_back(Changed(p, 1));
  }
  // Named as the branch side names them here ("against": the parent).
  auto lookup = [](const std::string& side, const RelationFile& f) {
    return Lookup(side == "against" ? "branch" : "against", f);
  };
  EXPECT_EQ(ChangedRelationNames(parent, lookup),
            (std::vector<std::string>{"base/5/16999", "pg_catalog.pg_database", "public.t"}));
  EXPECT_TRUE(ChangedRelationNames(SideChanges{}, lookup).empty());
}

TEST(BranchDiffSchema, DumpNoiseIsStripped) {
  const std::string dump =
      "--\n-- PostgreSQL database dump\n--\n\n"
      "\\restrict AbCdEf123\n\n"
      "-- Dumped from database version 15.14 (Debian 15.14-1.pgdg120+1)\n"
      "-- Dumped by pg_dump version 15.14 (Debian 15.14-1.pgdg120+1)\n\n"
      "CREATE TABLE public.t (\n    id integer\n);\n\n"
      "\\unrestrict AbCdEf123\n";
  EXPECT_EQ(StripDumpNoise(dump),
            "--\n-- PostgreSQL database dump\n--\n\n\n\nCREATE TABLE public.t (\n    id "
            "integer\n);\n\n");
}

}  // namespace
}  // namespace strata
