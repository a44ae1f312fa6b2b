#include <gtest/gtest.h>
TEST(PlaceholderB, Builds) { SUCCEED(); }
