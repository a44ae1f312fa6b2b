#include "tools/render_diff.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace strata::cli {
namespace {

using nlohmann::json;

TEST(RenderDiffTest, RelationsFilesAndSchema) {
  json diff = {
      {"branch", "kid"},
      {"against", "main"},
      {"base", {{"branch", "main"}, {"seq", 42}}},
      {"relations",
       {{{"name", "public.pgbench_accounts"},
         {"kind", "table"},
         {"side", "branch"},
         {"pages_changed", 12},
         {"bytes", 98304}},
        {{"name", "public.t"},
         {"kind", "table"},
         {"side", "both"},
         {"pages_changed", 1},
         {"bytes", 8192}}}},
      {"files",
       {{{"path", "pg_wal/000000010000000000000002"},
         {"side", "branch"},
         {"pages_changed", 3},
         {"bytes", 24576},
         {"created", true}}}},
      {"schema_diff", "--- main/postgres\n+++ kid/postgres\n@@ -1 +1,2 @@\n x\n+CREATE TABLE t;"},
      {"elapsed_ms", 7}};
  EXPECT_EQ(RenderDiff(diff),
            "kid against main, since main@seq:42 (7 ms)\n"
            "\n"
            "RELATION                 KIND   SIDE    PAGES     BYTES\n"
            "public.pgbench_accounts  table  branch     12  96.0 KiB\n"
            "public.t                 table  both        1   8.0 KiB\n"
            "\n"
            "FILE                             STATE    SIDE    PAGES     BYTES\n"
            "pg_wal/000000010000000000000002  created  branch      3  24.0 KiB\n"
            "\n"
            "--- main/postgres\n+++ kid/postgres\n@@ -1 +1,2 @@\n x\n+CREATE TABLE t;\n");
}

TEST(RenderDiffTest, NothingChangedAndMissingFields) {
  EXPECT_EQ(RenderDiff(json{{"branch", "a"}, {"against", "b"}, {"schema_diff", ""}}),
            "a against b\n\nno relation changed\n\nno schema change\n");
  EXPECT_EQ(RenderDiff(json::object()), "- against -\n\nno relation changed\n");
}

}  // namespace
}  // namespace strata::cli
