#include "objstore/store_stack.h"

#include <gtest/gtest.h>

#include "common/status_test_util.h"
#include "common/temp_dir.h"

namespace strata {
namespace {

using testing::TempDir;

TEST(ParseFaultSpec, AcceptsEveryKnobAndRejectsBadItems) {
  ASSERT_OK_AND_ASSIGN(FaultConfig c, ParseFaultSpec("error_rate=0.2,latency_ms=15,seed=7"));
  EXPECT_DOUBLE_EQ(c.error_rate, 0.2);
  EXPECT_EQ(c.latency, std::chrono::milliseconds(15));
  EXPECT_EQ(c.seed, 7u);
  EXPECT_FALSE(c.fail_all);
  ASSERT_OK_AND_ASSIGN(FaultConfig d, ParseFaultSpec("fail_all=1"));
  EXPECT_TRUE(d.fail_all);
  for (const char* bad : {"error_rate=1.5", "error_rate=", "error_rate=x", "latency_ms=-1",
                          "latency_ms=99999999", "nope=1", "seed", "fail_all=yes"}) {
    Result<FaultConfig> r = ParseFaultSpec(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalid) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
}

TEST(ParseByteSize, UnitsAndErrors) {
  EXPECT_EQ(*ParseByteSize("0"), 0);
  EXPECT_EQ(*ParseByteSize("4096"), 4096);
  EXPECT_EQ(*ParseByteSize("512M"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("8g"), int64_t{8} << 30);
  EXPECT_EQ(*ParseByteSize("2T"), int64_t{2} << 40);
  for (const char* bad : {"", "M", "-1", "1.5G", "12X", "99999999999999999999", "100000000T"}) {
    EXPECT_EQ(ParseByteSize(bad).status().code(), Code::kInvalid) << bad;
  }
}

TEST(StoreStack, FileStoresHaveNoL2ByDefaultAndCanAskForOne) {
  TempDir dir;
  StoreStackOptions o;
  o.url = "file://" + dir.path() + "/store";
  o.cache_dir = dir.path() + "/cache";
  ASSERT_OK_AND_ASSIGN(auto plain, StoreStack::Open(o));
  EXPECT_TRUE(plain->StatsJson()["l2"].is_null());
  o.cache_bytes = 1 << 20;
  ASSERT_OK_AND_ASSIGN(auto cached, StoreStack::Open(o));
  ASSERT_OK(cached->store()->Put("branches/1/layers/0000000001.layer", std::string(5000, 'x')));
  ASSERT_OK_AND_ASSIGN(std::string got,
                       cached->store()->GetRange("branches/1/layers/0000000001.layer", 10, 20));
  EXPECT_EQ(got, std::string(20, 'x'));
  nlohmann::json stats = cached->StatsJson();
  EXPECT_EQ(stats["l2"]["hits"], 1u) << stats.dump();  // populated by the Put
  EXPECT_EQ(stats["l3"]["reads"], 0u) << stats.dump();
  EXPECT_EQ(stats["l3"]["writes"], 1u) << stats.dump();
  EXPECT_EQ(stats["l3"]["url"], o.url);
}

TEST(StoreStack, InjectedFaultsAreRetriedAndCounted) {
  TempDir dir;
  StoreStackOptions o;
  o.url = "file://" + dir.path() + "/store";
  o.faults = "error_rate=0.5,seed=3";
  ASSERT_OK_AND_ASSIGN(auto stack, StoreStack::Open(o));
  for (int i = 0; i < 20; i++) {
    ASSERT_OK(stack->store()->Put("k" + std::to_string(i), "v"));
    ASSERT_OK_AND_ASSIGN(std::string v, stack->store()->Get("k" + std::to_string(i)));
    EXPECT_EQ(v, "v");
  }
  nlohmann::json l3 = stack->StatsJson()["l3"];
  EXPECT_GT(l3["injected_faults"].get<uint64_t>(), 0u) << l3.dump();
  EXPECT_EQ(l3["retries"], l3["injected_faults"]) << l3.dump();
  EXPECT_EQ(l3["errors"], 0u) << l3.dump();
}

TEST(StoreStack, BadUrlOrFaultSpecFailsToOpen) {
  StoreStackOptions o;
  o.url = "ftp://x";
  EXPECT_EQ(StoreStack::Open(o).status().code(), Code::kInvalid);
  o.url = "file:///tmp/x";
  o.faults = "error_rate=2";
  EXPECT_EQ(StoreStack::Open(o).status().code(), Code::kInvalid);
}

}  // namespace
}  // namespace strata
