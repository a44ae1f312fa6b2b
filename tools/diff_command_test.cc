#include <gtest/gtest.h>

#include "common/status_test_util.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

TEST(BranchDiffPathTest, QueryFromTheFlags) {
  BranchDiffArgs a;
  a.name = "kid";
  ASSERT_OK_AND_ASSIGN(std::string p, BranchDiffPath(a));
  EXPECT_EQ(p, "/v1/branches/kid/diff");
  a.no_schema = true;
  ASSERT_OK_AND_ASSIGN(p, BranchDiffPath(a));
  EXPECT_EQ(p, "/v1/branches/kid/diff?schema=false");
  a.against = "sib-2";
  ASSERT_OK_AND_ASSIGN(p, BranchDiffPath(a));
  EXPECT_EQ(p, "/v1/branches/kid/diff?against=sib-2&schema=false");
  a.no_schema = false;
  ASSERT_OK_AND_ASSIGN(p, BranchDiffPath(a));
  EXPECT_EQ(p, "/v1/branches/kid/diff?against=sib-2");
}

TEST(BranchDiffPathTest, BadNamesAreRefusedBeforeAnythingIsSent) {
  BranchDiffArgs a;
  a.name = "-x";
  EXPECT_EQ(BranchDiffPath(a).status().code(), Code::kInvalid);
  a.name = "kid";
  a.against = "a/b";
  EXPECT_EQ(BranchDiffPath(a).status().code(), Code::kInvalid);
}

}  // namespace
}  // namespace strata::cli
