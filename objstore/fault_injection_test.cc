#include "objstore/fault_injection.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

class FaultInjectionTest : public ::testing::Test {
 protected:
  FaultInjectionTest() : target_(std::make_unique<FileObjectStore>(root_)) {}

  testing::TempDir dir_;
  const std::string root_ = dir_.path();
  std::unique_ptr<FileObjectStore> target_;
};

TEST_F(FaultInjectionTest, PassesThroughWithDefaultConfig) {
  FaultInjectingStore store(target_.get());
  ASSERT_TRUE(store.Put("k", "value").ok());
  EXPECT_EQ(*store.Get("k"), "value");
  EXPECT_EQ(*store.GetRange("k", 1, 2), "al");
  EXPECT_EQ(*store.Size("k"), 5u);
  EXPECT_EQ(*store.List(""), std::vector<std::string>{"k"});
  EXPECT_EQ(store.PutIfAbsent("k", "x").code(), Code::kExists);
  EXPECT_TRUE(store.Delete("k").ok());
  EXPECT_EQ(store.Url(), target_->Url());
  EXPECT_EQ(store.calls(), 7u);
  EXPECT_EQ(store.injected_faults(), 0u);
}

TEST_F(FaultInjectionTest, ErrorRateMatchesAndIsDeterministic) {
  ASSERT_TRUE(target_->Put("k", "v").ok());
  FaultConfig config;
  config.error_rate = 0.1;
  config.seed = 42;
  FaultInjectingStore store(target_.get(), config);
  constexpr int kCalls = 10000;
  std::vector<bool> outcomes;
  int failed = 0;
  for (int i = 0; i < kCalls; i++) {
    auto r = store.GetRange("k", 0, 1);
    outcomes.push_back(r.ok());
    if (r.ok()) {
      EXPECT_EQ(*r, "v");
    } else {
      failed++;
      EXPECT_EQ(r.status().code(), Code::kIO);
      EXPECT_TRUE(r.status().retryable());
    }
  }
  // Binomial(10000, 0.1): sigma = 30, so +-150 is five sigma.
  EXPECT_GT(failed, 850);
  EXPECT_LT(failed, 1150);
  EXPECT_EQ(store.calls(), static_cast<uint64_t>(kCalls));
  EXPECT_EQ(store.injected_faults(), static_cast<uint64_t>(failed));

  store.set_config(config);  // same seed: same faults
  for (int i = 0; i < 1000; i++) {
    EXPECT_EQ(store.Get("k").ok(), outcomes[i]) << "call " << i;
  }
}

TEST_F(FaultInjectionTest, TornPutLeavesAPrefixAndFails) {
  FaultConfig config;
  config.torn_put = true;
  FaultInjectingStore store(target_.get(), config);
  std::string data(1000, 'x');
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<char>('a' + i % 26);

  Status s = store.Put("layer", data);
  EXPECT_EQ(s.code(), Code::kIO);
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(*target_->Get("layer"), data.substr(0, 500));

  s = store.PutIfAbsent("other", data);
  EXPECT_EQ(s.code(), Code::kIO);
  EXPECT_EQ(*target_->Get("other"), data.substr(0, 500));
  EXPECT_EQ(store.injected_faults(), 2u);

  store.set_config({});  // a retry after the fault clears writes it whole
  ASSERT_TRUE(store.Put("layer", data).ok());
  EXPECT_EQ(*target_->Get("layer"), data);
}

TEST_F(FaultInjectionTest, FailAllMakesTheStoreUnreachable) {
  ASSERT_TRUE(target_->Put("k", "v").ok());
  FaultConfig config;
  config.fail_all = true;
  FaultInjectingStore store(target_.get(), config);
  std::vector<Status> results = {
      store.Put("new", "v"),    store.PutIfAbsent("new", "v"),
      store.Get("k").status(),  store.GetRange("k", 0, 1).status(),
      store.Size("k").status(), store.List("").status(),
      store.Delete("k"),
  };
  for (const Status& s : results) {
    EXPECT_EQ(s.code(), Code::kIO) << s.message();
    EXPECT_TRUE(s.retryable());
    EXPECT_NE(s.message().find("unreachable"), std::string::npos);
  }
  EXPECT_EQ(store.injected_faults(), results.size());
  // Nothing reached the target.
  EXPECT_EQ(target_->Get("new").status().code(), Code::kNotFound);
  EXPECT_EQ(*target_->Get("k"), "v");
}

TEST_F(FaultInjectionTest, LatencyIsAddedToEveryCall) {
  FaultConfig config;
  config.latency = std::chrono::milliseconds(2);
  FaultInjectingStore store(target_.get(), config);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; i++) EXPECT_EQ(store.Get("k").status().code(), Code::kNotFound);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(10));
}

}  // namespace
}  // namespace strata
