#include "cluster/relay_key.h"

#include <gtest/gtest.h>

#include <string>

#include "cluster/test_store.h"
#include "common/status_test_util.h"

namespace strata {
namespace {

TEST(RelayKeyTest, TheFirstLoadMakesTheKeyAndEveryLaterOneReadsIt) {
  testing::TestStore store;
  ASSERT_OK_AND_ASSIGN(std::string first, LoadRelayKey(&store));
  EXPECT_EQ(first.size(), 32u);
  ASSERT_OK_AND_ASSIGN(std::string stored, store.Get(kRelayKeyKey));
  EXPECT_EQ(stored.size(), 64u);
  ASSERT_OK_AND_ASSIGN(std::string second, LoadRelayKey(&store));
  EXPECT_EQ(second, first);
}

TEST(RelayKeyTest, TwoStoresGetDifferentKeys) {
  testing::TestStore a, b;
  ASSERT_OK_AND_ASSIGN(std::string ka, LoadRelayKey(&a));
  ASSERT_OK_AND_ASSIGN(std::string kb, LoadRelayKey(&b));
  EXPECT_NE(ka, kb);
}

TEST(RelayKeyTest, AnExistingKeyIsDecodedFromHex) {
  testing::TestStore store;
  ASSERT_OK(store.Put(kRelayKeyKey, std::string(62, '0') + "1f"));
  ASSERT_OK_AND_ASSIGN(std::string key, LoadRelayKey(&store));
  EXPECT_EQ(key, std::string(31, '\0') + "\x1f");
}

TEST(RelayKeyTest, AMalformedKeyIsCorruptionNamingTheObject) {
  testing::TestStore store;
  for (const std::string& bad :
       {std::string("short"), std::string(64, 'G'), std::string(64, 'A')}) {
    ASSERT_OK(store.Put(kRelayKeyKey, bad));
    Result<std::string> key = LoadRelayKey(&store);
    EXPECT_EQ(key.status().code(), Code::kCorruption) << bad;
    EXPECT_NE(key.status().message().find("cluster/relay-key"), std::string::npos);
  }
}

TEST(RelayKeyTest, AStoreThatCannotBeWrittenIsAnError) {
  testing::TestStore store;
  store.FailPuts(true);
  EXPECT_FALSE(LoadRelayKey(&store).ok());
}

}  // namespace
}  // namespace strata
