#include "objstore/metered_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "objstore/fault_injection.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

class MeteredStoreTest : public ::testing::Test {
 protected:
  MeteredStoreTest() {
    char tmpl[] = "/tmp/strata-meter-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) abort();
    root_ = tmpl;
    files_ = std::make_unique<FileObjectStore>(root_);
    faults_ = std::make_unique<FaultInjectingStore>(files_.get());
  }
  ~MeteredStoreTest() override {
    faults_.reset();
    files_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::string root_;
  std::unique_ptr<FileObjectStore> files_;
  std::unique_ptr<FaultInjectingStore> faults_;
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
