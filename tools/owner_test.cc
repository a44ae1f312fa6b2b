#include "tools/owner.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace strata::cli {
namespace {

// Every Linux system has root (uid 0, gid 0) in its user database.
TEST(OwnerTest, ByNameAndById) {
  auto by_name = ResolveOwner("root");
  ASSERT_TRUE(by_name.ok()) << by_name.status().ToString();
  EXPECT_EQ(by_name->uid, 0u);
  EXPECT_EQ(by_name->gid, 0u);
  auto by_id = ResolveOwner("0");
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->uid, 0u);
}

TEST(OwnerTest, ExplicitGroup) {
  auto r = ResolveOwner("root:123");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->uid, 0u);
  EXPECT_EQ(r->gid, 123u);
  auto numeric = ResolveOwner("4000000:5000");
  ASSERT_TRUE(numeric.ok()) << numeric.status().ToString();
  EXPECT_EQ(numeric->uid, 4000000u);
  EXPECT_EQ(numeric->gid, 5000u);
}

TEST(OwnerTest, UnknownIsAnError) {
  auto r = ResolveOwner("no-such-user-strata-test");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_EQ(r.status().message(), "unknown user 'no-such-user-strata-test'");
  EXPECT_FALSE(ResolveOwner("4000000").ok());
  EXPECT_FALSE(ResolveOwner("root:no-such-group-strata-test").ok());
  EXPECT_FALSE(ResolveOwner("").ok());
  EXPECT_FALSE(ResolveOwner(":0").ok());
  EXPECT_FALSE(ResolveOwner("root:").ok());
}

TEST(OwnerTest, CallerIsRealIds) {
  Owner o = CallerOwner();
  EXPECT_EQ(o.uid, getuid());
  EXPECT_EQ(o.gid, getgid());
}

}  // namespace
}  // namespace strata::cli
