#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "common/coding.h"

namespace strata {
namespace {

TEST(StatusTest, ErrnoRoundTrip) {
  EXPECT_EQ(Status::FromErrno(ENOENT, "open x").ToErrno(), ENOENT);
  EXPECT_EQ(Status::FromErrno(ENOSPC, "write x").ToErrno(), ENOSPC);
  EXPECT_EQ(Status::Corruption("layer y").ToErrno(), EIO);
  EXPECT_EQ(Status::OK().ToErrno(), 0);
  EXPECT_NE(Status::FromErrno(ENOENT, "open x").message().find("open x"), std::string::npos);
}

TEST(StatusTest, ResultCarriesValueOrError) {
  Result<int> good(7);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad(Status::NotFound("nope"));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
}

TEST(CodingTest, BigEndianSortsNumerically) {
  std::string a, b;
  PutBig64(&a, 255);
  PutBig64(&b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(DecodeBig64(b.data()), 256u);
  std::string c;
  PutFixed64(&c, 0x0102030405060708ull);
  EXPECT_EQ(DecodeFixed64(c.data()), 0x0102030405060708ull);
}

TEST(CodingTest, ReaderRefusesToOverrun) {
  std::string buf;
  PutFixed32(&buf, 9);
  Reader r(buf);
  uint64_t v64;
  EXPECT_FALSE(r.GetFixed64(&v64));
  uint32_t v32;
  EXPECT_TRUE(r.GetFixed32(&v32));
  EXPECT_EQ(v32, 9u);
  uint8_t b;
  EXPECT_FALSE(r.GetByte(&b));
}

}  // namespace
}  // namespace strata
