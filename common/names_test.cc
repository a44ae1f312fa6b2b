#include "common/names.h"

#include <gtest/gtest.h>

#include <string>

namespace strata {
namespace {

TEST(NamesTest, AcceptsLettersDigitsDashUnderscore) {
  EXPECT_TRUE(IsValidName("main"));
  EXPECT_TRUE(IsValidName("a"));
  EXPECT_TRUE(IsValidName("Agent_42-try-3"));
  EXPECT_TRUE(IsValidName("_x"));
  EXPECT_TRUE(IsValidName("9lives"));
  EXPECT_TRUE(IsValidName(std::string(63, 'x')));
}

TEST(NamesTest, RejectsBadNames) {
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(std::string(64, 'x')));
  EXPECT_FALSE(IsValidName("-dash"));
  EXPECT_FALSE(IsValidName(".hidden"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName("a b"));
  EXPECT_FALSE(IsValidName("a@b"));
  EXPECT_FALSE(IsValidName("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidName(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidName("a.b"));
  EXPECT_FALSE(IsValidName("a\n"));
}

TEST(NamesTest, MessageNamesKindAndValue) {
  Status s = ValidateName("branch", "x/y");
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(
      s.message(),
      "invalid branch name 'x/y': use 1-63 letters, digits, '-' or '_', not starting with '-'");
  EXPECT_EQ(
      ValidateName("snapshot", "").message(),
      "invalid snapshot name '': use 1-63 letters, digits, '-' or '_', not starting with '-'");
  EXPECT_TRUE(ValidateName("branch", "ok").ok());
}

}  // namespace
}  // namespace strata
