// S3ObjectStore against a real S3 server: s3rver, started by the ctest
// fixture in objstore/CMakeLists.txt (tests/s3rver/start.sh). The server is
// found through STRATA_TEST_S3_ENDPOINT (http://127.0.0.1:PORT) or the
// "endpoint" file in STRATA_TEST_S3RVER_DIR; without either every test fails.
//
// Each test works under its own random prefix of the bucket "strata-test", so
// tests may run in parallel and the server's data may outlive a run.
#include "objstore/s3_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "common/fd_util.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

constexpr char kBucket[] = "strata-test";

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// s3rver knows one key pair, and does not check signatures (see docs/s3.md).
EnvLookup FakeCredentials() {
  return Env({{"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"}});
}

std::string FindEndpoint() {
  if (const char* e = getenv("STRATA_TEST_S3_ENDPOINT"); e != nullptr && *e != '\0') return e;
  if (const char* d = getenv("STRATA_TEST_S3RVER_DIR"); d != nullptr && *d != '\0') {
    std::string endpoint;
    std::ifstream(std::string(d) + "/endpoint") >> endpoint;
    return endpoint;
  }
  return "";
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A loopback port with nothing listening on it.
int ClosedPort() {
  const UniqueFd fd(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 1;
  }
  return ntohs(addr.sin_port);  // the port is free again once fd closes
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = FindEndpoint();
    ASSERT_FALSE(endpoint_.empty())
        << "no S3 server: run this test through ctest (its s3rver fixture starts one), or run "
           "tests/s3rver/start.sh DIR and set STRATA_TEST_S3_ENDPOINT to the endpoint it prints";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = std::string("run-") + std::to_string(getpid()) + "-" +
              std::to_string(std::random_device()()) + "/" + info->name();
    store_ = Open(prefix_);
    ASSERT_NE(store_, nullptr);
  }

  std::string UrlFor(const std::string& prefix, const std::string& bucket = kBucket) const {
    return "s3://" + bucket + "/" + prefix + "?endpoint=" + endpoint_;
  }

  std::unique_ptr<S3ObjectStore> Open(const std::string& prefix, S3StoreOptions options = {},
                                      EnvLookup env = FakeCredentials()) {
    auto s = S3ObjectStore::Open(UrlFor(prefix), options, env);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // The store one level up, which can write this store's LOCK as "<name>/LOCK".
  std::unique_ptr<S3ObjectStore> Parent() { return Open(prefix_.substr(0, prefix_.rfind('/'))); }
  std::string LockKeyInParent() const { return prefix_.substr(prefix_.rfind('/') + 1) + "/LOCK"; }

  std::string endpoint_;
  std::string prefix_;
  std::unique_ptr<S3ObjectStore> store_;
};

TEST_F(S3StoreTest, RoundTripsAwkwardKeysAndBytes) {
  const std::vector<std::string> keys = {
      "a",
      "dir/sub/object",
      "with space/x y",
      "plus+sign",
      "eq=uals&amp",
      "unicode/caf\xc3\xa9-\xe2\x98\x83",
      "percent%41%2F",
      "q?h#~_-.,;:@!$'()*",
  };
  std::string all_bytes;
  for (int i = 0; i < 256; i++) all_bytes.push_back(static_cast<char>(i));
  const std::vector<std::string> values = {"", all_bytes, RandomBytes(100000, 1), "x"};
  for (size_t i = 0; i < keys.size(); i++) {
    const std::string& v = values[i % values.size()];
    ASSERT_TRUE(store_->Put(keys[i], v).ok()) << keys[i];
  }
  for (size_t i = 0; i < keys.size(); i++) {
    const std::string& v = values[i % values.size()];
    Result<std::string> got = store_->Get(keys[i]);
    ASSERT_TRUE(got.ok()) << keys[i] << ": " << got.status().ToString();
    EXPECT_EQ(*got, v) << keys[i];
    Result<uint64_t> size = store_->Size(keys[i]);
    ASSERT_TRUE(size.ok()) << keys[i] << ": " << size.status().ToString();
    EXPECT_EQ(*size, v.size()) << keys[i];
  }
  Result<std::vector<std::string>> listed = store_->List("");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(*listed, sorted);

  ASSERT_TRUE(store_->Put("a", "replaced").ok());
  EXPECT_EQ(*store_->Get("a"), "replaced");
}

TEST_F(S3StoreTest, MissingObjects) {
  Result<std::string> get = store_->Get("nope");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.status().code(), Code::kNotFound);
  EXPECT_FALSE(get.status().retryable());
  EXPECT_NE(get.status().message().find("s3 get s3://strata-test/" + prefix_ + "/nope: 404"),
            std::string::npos)
      << get.status().message();
  EXPECT_EQ(store_->Size("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetRange("nope", 0, 1).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetRange("nope", 0, 0).status().code(), Code::kNotFound);
}

TEST_F(S3StoreTest, GetRange) {
  ASSERT_TRUE(store_->Put("r", "0123456789").ok());
  struct Case {
    uint64_t offset, len;
    std::string want;
  };
  for (const Case& c : {Case{0, 10, "0123456789"}, Case{3, 4, "3456"}, Case{9, 1, "9"},
                        Case{0, 1, "0"}, Case{10, 0, ""}, Case{0, 0, ""}}) {
    Result<std::string> got = store_->GetRange("r", c.offset, c.len);
    ASSERT_TRUE(got.ok()) << c.offset << "+" << c.len << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want) << c.offset << "+" << c.len;
  }
  for (auto [offset, len] : {std::pair<uint64_t, uint64_t>{5, 6}, {10, 1}, {11, 0}, {100, 5}}) {
    Result<std::string> got = store_->GetRange("r", offset, len);
    ASSERT_FALSE(got.ok()) << offset << "+" << len;
    EXPECT_EQ(got.status().code(), Code::kInvalid) << got.status().ToString();
    EXPECT_NE(got.status().message().find("runs past the end"), std::string::npos)
        << got.status().message();
  }
  // Not GetRange("empty", 0, 1): S3 answers 416 (kInvalid), but s3rver
  // promises one byte and sends none (docs/s3.md, s3rver quirks).
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->GetRange("empty", 0, 0), "");
  EXPECT_EQ(store_->GetRange("empty", 1, 0).status().code(), Code::kInvalid);
}

TEST_F(S3StoreTest, ListPagesAndStaysInsideThePrefix) {
  S3StoreOptions small_pages;
  small_pages.list_max_keys = 4;
  std::unique_ptr<S3ObjectStore> store = Open(prefix_ + "/list", small_pages);
  std::unique_ptr<S3ObjectStore> sibling = Open(prefix_ + "/list2");
  ASSERT_TRUE(sibling->Put("k00", "not mine").ok());
  std::vector<std::string> want;
  for (int i = 0; i < 25; i++) {
    char key[32];
    snprintf(key, sizeof(key), "%s/k%02d", i % 2 ? "odd" : "even", i);
    want.push_back(key);
    ASSERT_TRUE(store->Put(key, "v").ok());
  }
  std::sort(want.begin(), want.end());
  Result<std::vector<std::string>> all = store->List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, want);

  Result<std::vector<std::string>> odd = store->List("odd/k1");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(*odd,
            (std::vector<std::string>{"odd/k11", "odd/k13", "odd/k15", "odd/k17", "odd/k19"}));
  EXPECT_TRUE(store->List("none/")->empty());
  EXPECT_EQ(store->List("/abs").status().code(), Code::kInvalid);
}

TEST_F(S3StoreTest, ListHidesAnOldLeaseObject) {
  ASSERT_TRUE(store_->Put("dir/LOCK", "an ordinary key").ok());
  // The lease record of a daemon from before shared stores.
  const std::string record = R"({"holder": "old daemon", "host": "h", "pid": 1})";
  ASSERT_TRUE(Parent()->Put(LockKeyInParent(), record).ok());
  EXPECT_EQ(*store_->List(""), std::vector<std::string>{"dir/LOCK"});
  EXPECT_EQ(store_->Get("LOCK").status().code(), Code::kInvalid);
  EXPECT_EQ(store_->Put("LOCK", "x").code(), Code::kInvalid);
  EXPECT_EQ(store_->Delete("LOCK").code(), Code::kInvalid);
  EXPECT_EQ(*Parent()->Get(LockKeyInParent()), record);
}

TEST_F(S3StoreTest, DeleteAndInvalidKeys) {
  EXPECT_TRUE(store_->Delete("never-existed").ok());
  ASSERT_TRUE(store_->Put("d/x", "1").ok());
  ASSERT_TRUE(store_->Delete("d/x").ok());
  EXPECT_EQ(store_->Get("d/x").status().code(), Code::kNotFound);
  for (const std::string bad : {"", "/a", "a/", "a//b", "a/../b", "./a", ".tmp-x", "a/.tmp-1"}) {
    Status s = store_->Put(bad, "x");
    EXPECT_EQ(s.code(), Code::kInvalid) << bad;
    EXPECT_NE(s.message().find("invalid key"), std::string::npos) << s.message();
  }
}

TEST_F(S3StoreTest, DeleteManyDeletesInBatchesAndIgnoresMissingKeys) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1005; i++) keys.push_back("many/" + std::to_string(i) + " & <x>");
  for (size_t i = 0; i < keys.size(); i += 100) ASSERT_TRUE(store_->Put(keys[i], "v").ok());
  ASSERT_TRUE(store_->Put("many/kept", "v").ok());
  keys.push_back("many/never-existed");
  Status st = store_->DeleteMany(keys);  // two DeleteObjects requests
  ASSERT_TRUE(st.ok()) << st.ToString();
  Result<std::vector<std::string>> left = store_->List("many/");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, std::vector<std::string>{"many/kept"});
  EXPECT_TRUE(store_->DeleteMany({}).ok());
  EXPECT_EQ(store_->DeleteMany({"many/kept", "a//b"}).code(), Code::kInvalid);
  EXPECT_TRUE(store_->Get("many/kept").ok());  // a bad key fails the call before any delete
}

TEST_F(S3StoreTest, PutIfAbsentHasExactlyOneWinner) {
  for (int round = 0; round < 5; round++) {
    const std::string key = "race/" + std::to_string(round);
    constexpr int kWriters = 8;
    std::vector<Status> results(kWriters);
    std::vector<std::thread> threads;
    for (int i = 0; i < kWriters; i++) {
      threads.emplace_back([&, i] {
        results[i] = store_->PutIfAbsent(key, "writer " + std::to_string(i) + RandomBytes(3000, i));
      });
    }
    for (auto& t : threads) t.join();
    int winner = -1;
    for (int i = 0; i < kWriters; i++) {
      if (results[i].ok()) {
        EXPECT_EQ(winner, -1) << "two winners in round " << round;
        winner = i;
      } else {
        EXPECT_EQ(results[i].code(), Code::kExists) << results[i].ToString();
        EXPECT_FALSE(results[i].retryable());
      }
    }
    ASSERT_NE(winner, -1) << "no winner in round " << round;
    EXPECT_EQ(*store_->Get(key), "writer " + std::to_string(winner) + RandomBytes(3000, winner));
  }
  Status again = store_->PutIfAbsent("race/0", "late");
  EXPECT_EQ(again.code(), Code::kExists);
  EXPECT_NE(again.message().find("412"), std::string::npos) << again.message();
}

TEST_F(S3StoreTest, MultipartUploads) {
  S3StoreOptions o;
  o.multipart_threshold = 1000;
  o.part_size = 256;
  std::unique_ptr<S3ObjectStore> store = Open(prefix_, o);
  const std::string big = RandomBytes(5000, 7);  // 20 parts, the last one short
  ASSERT_TRUE(store->Put("big", big).ok());
  EXPECT_EQ(*store->Get("big"), big);
  EXPECT_EQ(*store->Size("big"), big.size());
  EXPECT_EQ(*store->GetRange("big", 250, 10), big.substr(250, 10));

  const std::string bigger = RandomBytes(3001, 8);
  ASSERT_TRUE(store->Put("big", bigger).ok());
  EXPECT_EQ(*store->Get("big"), bigger);

  ASSERT_TRUE(store->PutIfAbsent("big-once", big).ok());
  EXPECT_EQ(*store->Get("big-once"), big);
  EXPECT_EQ(store->PutIfAbsent("big-once", bigger).code(), Code::kExists);
  EXPECT_EQ(*store->Get("big-once"), big);

  // Racing multipart uploads are decided by the conditional completion.
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&, i] {
      Status s = store->PutIfAbsent("big-race", RandomBytes(2000, 100 + i));
      if (s.ok()) wins++;
      EXPECT_TRUE(s.ok() || s.IsExists()) << s.ToString();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

TEST_F(S3StoreTest, ManyThreadsShareTheConnectionPool) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 16; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; i++) {
        const std::string key = "t" + std::to_string(t) + "/" + std::to_string(i);
        const std::string value = RandomBytes(1000 + i, t * 100 + i);
        if (!store_->Put(key, value).ok() || *store_->Get(key) != value ||
            *store_->GetRange(key, 10, 20) != value.substr(10, 20)) {
          failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->List("")->size(), 160u);
}

TEST_F(S3StoreTest, MissingBucketIsAClearPermanentError) {
  auto s = S3ObjectStore::Open(UrlFor(prefix_, "strata-no-such-bucket"), {}, FakeCredentials());
  ASSERT_TRUE(s.ok());
  for (Status st :
       {(*s)->Put("k", "v"), (*s)->Get("k").status(), (*s)->List("").status(), (*s)->Delete("k")}) {
    EXPECT_EQ(st.code(), Code::kInvalid) << st.ToString();
    EXPECT_FALSE(st.retryable());
    EXPECT_NE(st.message().find("bucket \"strata-no-such-bucket\" does not exist"),
              std::string::npos)
        << st.message();
  }
}

TEST_F(S3StoreTest, UnreachableEndpointIsRetryable) {
  S3StoreOptions o;
  o.http.connect_timeout = milliseconds(2000);
  auto s = S3ObjectStore::Open(
      "s3://strata-test/x?endpoint=http://127.0.0.1:" + std::to_string(ClosedPort()), o,
      FakeCredentials());
  ASSERT_TRUE(s.ok());
  Result<std::string> got = (*s)->Get("k");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kIO);
  EXPECT_TRUE(got.status().retryable());
  EXPECT_NE(got.status().message().find("s3 get s3://strata-test/x/k: "), std::string::npos)
      << got.status().message();
}

TEST_F(S3StoreTest, UnknownAccessKeyIsAPermissionError) {
  std::unique_ptr<S3ObjectStore> store =
      Open(prefix_, {}, Env({{"AWS_ACCESS_KEY_ID", "WRONG"}, {"AWS_SECRET_ACCESS_KEY", "WRONG"}}));
  Status s = store->Put("k", "v");
  EXPECT_EQ(s.code(), Code::kPermission) << s.ToString();
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find("403 InvalidAccessKeyId"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("check the credentials"), std::string::npos) << s.message();
}

TEST_F(S3StoreTest, OpenObjectStoreReadsTheProcessEnvironment) {
  ASSERT_EQ(setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1), 0);
  ASSERT_EQ(setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1), 0);
  auto s = OpenObjectStore(UrlFor(prefix_ + "/"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Url(), "s3://strata-test/" + prefix_ + "?endpoint=" + endpoint_);
  ASSERT_TRUE((*s)->Put("via-open", "v").ok());
  EXPECT_EQ(*store_->Get("via-open"), "v");
}

}  // namespace
}  // namespace strata
