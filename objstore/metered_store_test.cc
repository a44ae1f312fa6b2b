#include "objstore/metered_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/temp_dir.h"
#include "objstore/fault_injection.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

class MeteredStoreTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  std::unique_ptr<FileObjectStore> files_ = std::make_unique<FileObjectStore>(dir_.path());
  std::unique_ptr<FaultInjectingStore> faults_ =
      std::make_unique<FaultInjectingStore>(files_.get());
};

TEST_F(MeteredStoreTest, CountsCallsAndBytes) {
  MeteredStore store(faults_.get());
  ASSERT_TRUE(store.Put("a", "12345").ok());
  ASSERT_TRUE(store.PutIfAbsent("b", "123").ok());
  EXPECT_TRUE(store.PutIfAbsent("b", "xyz").IsExists());
  EXPECT_EQ(*store.Get("a"), "12345");
  EXPECT_EQ(*store.GetRange("a", 1, 2), "23");
  EXPECT_TRUE(store.Get("missing").status().IsNotFound());
  EXPECT_EQ(*store.Size("b"), 3u);
  EXPECT_EQ(store.List("")->size(), 2u);
  EXPECT_TRUE(store.Delete("b").ok());

  MeterStats s = store.Stats();
  EXPECT_EQ(s.writes, 3u);
  EXPECT_EQ(s.write_bytes, 8u);  // the refused PutIfAbsent stored nothing
  EXPECT_EQ(s.reads, 3u);
  EXPECT_EQ(s.read_bytes, 7u);
  EXPECT_EQ(s.heads, 1u);
  EXPECT_EQ(s.lists, 1u);
  EXPECT_EQ(s.deletes, 1u);
  EXPECT_EQ(s.errors, 0u);  // absent and already-there are answers, not errors
}

TEST_F(MeteredStoreTest, CountsFailuresAsErrorsWithoutBytes) {
  MeteredStore store(faults_.get());
  ASSERT_TRUE(store.Put("a", "12345").ok());
  FaultConfig down;
  down.fail_all = true;
  faults_->set_config(down);
  EXPECT_FALSE(store.Get("a").ok());
  EXPECT_FALSE(store.Put("c", "zz").ok());
  MeterStats s = store.Stats();
  EXPECT_EQ(s.errors, 2u);
  EXPECT_EQ(s.read_bytes, 0u);
  EXPECT_EQ(s.write_bytes, 5u);
}

}  // namespace
}  // namespace strata
