// GoogleTest helpers for Status and Result: ASSERT_OK, EXPECT_OK,
// ASSERT_OK_AND_ASSIGN and CodeOf, for the unit tests of every module.
#pragma once

#include <gtest/gtest.h>

#include <utility>

#include "common/status.h"

namespace strata::testing {

inline Status ToStatus(const Status& s) { return s; }
template <class T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}

#define STRATA_TEST_CONCAT_(a, b) a##b
#define STRATA_TEST_CONCAT(a, b) STRATA_TEST_CONCAT_(a, b)
#define ASSERT_OK(expr)                                         \
  do {                                                          \
    ::strata::Status _st = ::strata::testing::ToStatus((expr)); \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString();   \
  } while (0)
#define EXPECT_OK(expr)                                         \
  do {                                                          \
    ::strata::Status _st = ::strata::testing::ToStatus((expr)); \
    EXPECT_TRUE(_st.ok()) << #expr << ": " << _st.ToString();   \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                          \
  auto STRATA_TEST_CONCAT(_r_, __LINE__) = (expr);                               \
  ASSERT_TRUE(STRATA_TEST_CONCAT(_r_, __LINE__).ok())                            \
      << #expr << ": " << STRATA_TEST_CONCAT(_r_, __LINE__).status().ToString(); \
  lhs = std::move(STRATA_TEST_CONCAT(_r_, __LINE__)).value()
// The code of a Status or Result, for EXPECT_EQ(CodeOf(x), Code::kExists).
#define CodeOf(expr) ::strata::testing::ToStatus((expr)).code()

}  // namespace strata::testing
