#include "endpoint/relation_path.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

std::string Show(std::string_view path) {
  std::optional<RelationFile> f = ParseRelationPath(path);
  if (!f) return "-";
  return std::to_string(f->db_oid) + ":" + std::to_string(f->filenode) + ":" + f->fork + ":" +
         std::to_string(f->segment);
}

TEST(RelationPath, RelationFilesWithForksAndSegments) {
  EXPECT_EQ(Show("base/5/16384"), "5:16384:main:0");
  EXPECT_EQ(Show("base/16385/2619.3"), "16385:2619:main:3");
  EXPECT_EQ(Show("base/5/16384_fsm"), "5:16384:fsm:0");
  EXPECT_EQ(Show("base/5/16384_vm"), "5:16384:vm:0");
  EXPECT_EQ(Show("base/5/16384_init"), "5:16384:init:0");
  EXPECT_EQ(Show("base/5/16384_fsm.1"), "5:16384:fsm:1");
  EXPECT_EQ(Show("global/1262"), "0:1262:main:0");
  EXPECT_EQ(Show("global/1262_vm"), "0:1262:vm:0");
}

TEST(RelationPath, EverythingElseIsAFile) {
  for (const char* p : {"pg_control",
                        "global/pg_control",
                        "global/pg_filenode.map",
                        "base/5/pg_filenode.map",
                        "base/5/pg_internal.init",
                        "base/5/t3_16384",
                        "base/5/16384_xyz",
                        "base/5/16384.0",
                        "base/5/016384",
                        "base/5/16384.",
                        "base/5",
                        "base/0/16384",
                        "base/x/16384",
                        "base/5/sub/16384",
                        "pg_wal/000000010000000000000001",
                        "pg_xact/0000",
                        "pg_tblspc/16400/PG_15_202209061/5/16384",
                        "base/5/99999999999",
                        "",
                        "base/5/",
                        "base/5/16384_vm_fsm"}) {
    EXPECT_EQ(Show(p), "-") << p;
  }
}

}  // namespace
}  // namespace strata
