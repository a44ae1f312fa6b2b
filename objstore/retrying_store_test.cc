#include "objstore/retrying_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/temp_dir.h"
#include "objstore/fault_injection.h"
#include "objstore/file_store.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

// A ManualClock that also records the sleeps a RetryingStore asks for, and
// runs `on_sleep` (if set) in each: time passes only through those sleeps.
class SleepRecorder : public Clock {
 public:
  int64_t NowNs() override { return time_.NowNs(); }
  std::chrono::steady_clock::time_point SteadyNow() override { return time_.SteadyNow(); }
  void SleepFor(std::chrono::nanoseconds d) override {
    {
      MutexLock l(&mu_);
      sleeps_.push_back(std::chrono::duration_cast<milliseconds>(d));
    }
    time_.SleepFor(d);
    if (on_sleep) on_sleep();
  }

  std::vector<milliseconds> sleeps() const EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return sleeps_;
  }
  void clear() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    sleeps_.clear();
  }
  // Moves the time by `d` without a sleep, as an attempt that takes `d` does.
  void Advance(std::chrono::nanoseconds d) { time_.Advance(d); }

  std::function<void()> on_sleep;  // set before the store is used

 private:
  ManualClock time_;
  mutable Mutex mu_;
  std::vector<milliseconds> sleeps_ GUARDED_BY(mu_);
};

// Fails the first `failures` PutIfAbsent calls with a retryable error; when
// `land` is set the write reaches the target first, as when only the reply of
// a remote store is lost.
class LostReplyStore : public ObjectStoreWrapper {
 public:
  LostReplyStore(ObjectStore* target, int failures, bool land)
      : ObjectStoreWrapper(target), failures_left_(failures), land_(land) {}

  Status PutIfAbsent(const std::string& k, std::string_view d) override {
    put_if_absent_calls_++;
    if (failures_left_ > 0) {
      failures_left_--;
      if (land_) STRATA_RETURN_IF_ERROR(target()->PutIfAbsent(k, d));
      return Status::IO("lost reply: put-if-absent " + k + ": connection reset",
                        /*retryable=*/true);
    }
    return target()->PutIfAbsent(k, d);
  }

  int put_if_absent_calls() const { return put_if_absent_calls_; }

 private:
  int failures_left_;
  const bool land_;
  int put_if_absent_calls_ = 0;
};

// Fails every call with a non-retryable kIO.
class BrokenStore : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  Status Put(const std::string& k, std::string_view) override {
    return Status::IO("broken: put " + k + ": permission denied by policy");
  }
};

class RetryingStoreTest : public ::testing::Test {
 protected:
  RetryingStoreTest() : target_(std::make_unique<FileObjectStore>(root_)) {}

  // A policy with fixed seed that records its sleeps in recorder_.
  RetryPolicy TestPolicy() {
    RetryPolicy p;
    p.seed = 12345;
    p.clock = &recorder_;
    return p;
  }

  testing::TempDir tmp_;
  const std::string root_ = tmp_.path();
  std::unique_ptr<FileObjectStore> target_;
  SleepRecorder recorder_;
};

TEST_F(RetryingStoreTest, PassesThroughWithoutFaults) {
  FaultInjectingStore faults(target_.get());
  RetryingStore store(&faults, TestPolicy());
  ASSERT_TRUE(store.Put("a/k", "value").ok());
  EXPECT_EQ(*store.Get("a/k"), "value");
  EXPECT_EQ(*store.GetRange("a/k", 1, 3), "alu");
  EXPECT_EQ(*store.Size("a/k"), 5u);
  EXPECT_EQ(*store.List("a/"), std::vector<std::string>{"a/k"});
  EXPECT_TRUE(store.PutIfAbsent("a/n", "new").ok());
  EXPECT_TRUE(store.Delete("a/k").ok());
  EXPECT_EQ(store.Url(), target_->Url());
  EXPECT_EQ(faults.calls(), 7u);
  RetryStats stats = store.Stats();
  EXPECT_EQ(stats.calls, 7u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.give_ups, 0u);
  EXPECT_TRUE(recorder_.sleeps().empty());
}

TEST_F(RetryingStoreTest, AbsorbsTransientFaults) {
  FaultConfig config;
  config.error_rate = 0.5;
  config.seed = 7;
  FaultInjectingStore faults(target_.get(), config);
  RetryPolicy policy = TestPolicy();
  // At 50% per attempt, 8 attempts would give up about once in 256 calls.
  policy.max_attempts = 40;
  policy.deadline = std::chrono::hours(24);
  RetryingStore store(&faults, policy);

  constexpr int kObjects = 200;
  auto key = [](int i) { return "branches/" + std::to_string(i % 7) + "/obj" + std::to_string(i); };
  auto data = [](int i) { return std::string(100 + i, static_cast<char>('a' + i % 26)); };
  int ops = 0;
  for (int i = 0; i < kObjects; i++, ops += 5) {
    ASSERT_TRUE(store.Put(key(i), data(i)).ok()) << i;
    ASSERT_TRUE(store.PutIfAbsent(key(i) + ".m", data(i)).ok()) << i;
    auto got = store.Get(key(i));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data(i));
    auto range = store.GetRange(key(i), 10, 20);
    ASSERT_TRUE(range.ok()) << range.status().ToString();
    EXPECT_EQ(*range, data(i).substr(10, 20));
    auto size = store.Size(key(i) + ".m");
    ASSERT_TRUE(size.ok()) << size.status().ToString();
    EXPECT_EQ(*size, data(i).size());
  }
  EXPECT_EQ(ops, 1000);

  auto listed = store.List("branches/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 2u * kObjects);
  // The data is intact in the target itself, not only as seen through faults.
  for (int i = 0; i < kObjects; i++) {
    EXPECT_EQ(*target_->Get(key(i)), data(i));
    EXPECT_EQ(*target_->Get(key(i) + ".m"), data(i));
  }

  RetryStats stats = store.Stats();
  EXPECT_EQ(stats.calls, 1001u);
  EXPECT_EQ(stats.give_ups, 0u);
  EXPECT_GT(stats.retries, 500u);  // about one per call at 50%
  EXPECT_EQ(stats.retries, faults.injected_faults());
  EXPECT_EQ(faults.calls(), stats.calls + stats.retries);
  EXPECT_EQ(recorder_.sleeps().size(), stats.retries);
}

TEST_F(RetryingStoreTest, GivesUpAfterMaxAttemptsWithBoundedExponentialSleeps) {
  FaultConfig config;
  config.fail_all = true;
  FaultInjectingStore faults(target_.get(), config);
  RetryPolicy policy = TestPolicy();
  policy.max_attempts = 8;
  policy.initial_backoff = milliseconds(50);
  policy.max_backoff = milliseconds(1000);  // reached at the 6th sleep
  policy.deadline = std::chrono::hours(24);
  RetryingStore store(&faults, policy);

  Status s = store.Put("branches/1/x", "data");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("put branches/1/x: gave up after 8 attempts in "), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("store unreachable"), std::string::npos) << s.message();
  EXPECT_EQ(faults.calls(), 8u);

  auto got = store.Get("branches/1/y");
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_NE(got.status().message().find("get branches/1/y: gave up after 8 attempts"),
            std::string::npos)
      << got.status().message();

  // Many more give-ups, to look at the distribution of sleeps per attempt.
  constexpr int kCalls = 300;
  recorder_.clear();
  for (int i = 0; i < kCalls; i++) {
    EXPECT_EQ(store.Delete("k" + std::to_string(i)).code(), Code::kUnavailable);
  }
  std::vector<milliseconds> sleeps = recorder_.sleeps();
  ASSERT_EQ(sleeps.size(), 7u * kCalls);  // max_attempts - 1 sleeps per call
  const int64_t caps[7] = {50, 100, 200, 400, 800, 1000, 1000};
  double sum[7] = {};
  for (size_t i = 0; i < sleeps.size(); i++) {
    const int n = static_cast<int>(i % 7);
    EXPECT_GE(sleeps[i].count(), 0);
    EXPECT_LE(sleeps[i].count(), caps[n]) << "sleep after attempt " << n;
    EXPECT_LE(sleeps[i], policy.max_backoff);
    sum[n] += static_cast<double>(sleeps[i].count());
  }
  // Full jitter: the mean sleep is about half the cap, so it doubles with
  // every attempt until max_backoff.
  for (int n = 0; n < 7; n++) {
    const double mean = sum[n] / kCalls;
    EXPECT_GT(mean, 0.35 * static_cast<double>(caps[n])) << n;
    EXPECT_LT(mean, 0.65 * static_cast<double>(caps[n])) << n;
    if (n > 0 && caps[n] > caps[n - 1]) {
      EXPECT_GT(mean, sum[n - 1] / kCalls) << n;
    }
  }

  RetryStats stats = store.Stats();
  EXPECT_EQ(stats.calls, 2u + kCalls);
  EXPECT_EQ(stats.give_ups, 2u + kCalls);
  EXPECT_EQ(stats.retries, 7u * (2 + kCalls));
}

TEST_F(RetryingStoreTest, DeadlineStopsEarly) {
  FaultConfig config;
  config.fail_all = true;
  FaultInjectingStore faults(target_.get(), config);
  RetryPolicy policy = TestPolicy();
  policy.max_attempts = 1000;
  policy.initial_backoff = milliseconds(100);
  policy.max_backoff = milliseconds(1000);
  policy.deadline = milliseconds(3000);
  RetryingStore store(&faults, policy);

  Status s = store.Put("manifests/7", "data");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  const uint64_t attempts = faults.calls();
  EXPECT_LT(attempts, 50u);  // 1000 attempts would take ~500 s of backoff
  EXPECT_GE(attempts, 3u);
  EXPECT_NE(s.message().find("put manifests/7: gave up after " + std::to_string(attempts) +
                             " attempts in "),
            std::string::npos)
      << s.message();
  std::vector<milliseconds> sleeps = recorder_.sleeps();
  EXPECT_EQ(sleeps.size(), attempts - 1);
  milliseconds total{0};
  for (milliseconds d : sleeps) total += d;
  EXPECT_LE(total, policy.deadline);
  EXPECT_EQ(store.Stats().give_ups, 1u);
}

// Fails every Size with a retryable error after taking `latency` of the
// clock's time, as a slow remote attempt does.
class SlowFailingStore : public ObjectStoreWrapper {
 public:
  SlowFailingStore(ObjectStore* target, SleepRecorder* clock, milliseconds latency)
      : ObjectStoreWrapper(target), clock_(clock), latency_(latency) {}
  Result<uint64_t> Size(const std::string& k) override {
    calls_++;
    clock_->Advance(latency_);
    return Status::IO("slow: size " + k + ": timed out", /*retryable=*/true);
  }
  int calls() const { return calls_; }

 private:
  SleepRecorder* const clock_;
  const milliseconds latency_;
  int calls_ = 0;
};

// The time the attempts themselves take counts towards the deadline too, not
// only the sleeps between them.
TEST_F(RetryingStoreTest, DeadlineCountsTheAttemptsTime) {
  SlowFailingStore slow(target_.get(), &recorder_, milliseconds(50));
  RetryPolicy policy = TestPolicy();
  policy.max_attempts = 100000;
  policy.initial_backoff = milliseconds(0);
  policy.max_backoff = milliseconds(0);
  policy.deadline = milliseconds(200);
  RetryingStore store(&slow, policy);

  auto got = store.Size("k");
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_NE(got.status().message().find("size k: gave up after 5 attempts in "), std::string::npos)
      << got.status().message();
  // 50 ms each: the 4th attempt ends at 200 ms, within the deadline; the
  // 5th ends past it.
  EXPECT_EQ(slow.calls(), 5);
}

TEST_F(RetryingStoreTest, NonRetryableErrorsAreNotRetried) {
  FaultInjectingStore faults(target_.get());
  RetryingStore store(&faults, TestPolicy());
  ASSERT_TRUE(target_->Put("k", "0123456789").ok());

  auto expect_unchanged = [&](const Status& got, const Status& direct, Code code) {
    EXPECT_EQ(got.code(), code);
    EXPECT_EQ(got.message(), direct.message());
    EXPECT_FALSE(got.retryable());
  };

  uint64_t calls = faults.calls();
  expect_unchanged(store.Get("missing").status(), target_->Get("missing").status(),
                   Code::kNotFound);
  EXPECT_EQ(faults.calls(), ++calls);
  expect_unchanged(store.PutIfAbsent("k", "other"), target_->PutIfAbsent("k", "other"),
                   Code::kExists);
  EXPECT_EQ(faults.calls(), ++calls);  // no read-back without an earlier failure
  expect_unchanged(store.GetRange("k", 5, 100).status(), target_->GetRange("k", 5, 100).status(),
                   Code::kInvalid);
  EXPECT_EQ(faults.calls(), ++calls);
  expect_unchanged(store.Put("../escape", "x"), target_->Put("../escape", "x"), Code::kInvalid);
  EXPECT_EQ(faults.calls(), ++calls);
  expect_unchanged(store.Size("missing").status(), target_->Size("missing").status(),
                   Code::kNotFound);
  EXPECT_EQ(faults.calls(), ++calls);

  // A non-retryable kIO is returned unchanged too.
  BrokenStore broken(&faults);
  RetryingStore over_broken(&broken, TestPolicy());
  Status s = over_broken.Put("k", "x");
  EXPECT_EQ(s.code(), Code::kIO);
  EXPECT_EQ(s.message(), "broken: put k: permission denied by policy");

  RetryStats stats = store.Stats();
  EXPECT_EQ(stats.calls, 5u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.give_ups, 0u);
  EXPECT_EQ(over_broken.Stats().retries, 0u);
  EXPECT_TRUE(recorder_.sleeps().empty());
}

TEST_F(RetryingStoreTest, NonRetryableErrorAfterRetriesIsReturnedUnchanged) {
  // The first attempt fails retryably without landing, the second finds a
  // real conflicting object: kExists, and the other writer's object stays.
  ASSERT_TRUE(target_->Put("manifests/1", "theirs").ok());
  LostReplyStore lossy(target_.get(), /*failures=*/1, /*land=*/false);
  RetryingStore store(&lossy, TestPolicy());
  Status s = store.PutIfAbsent("manifests/1", "mine");
  EXPECT_EQ(s.code(), Code::kExists) << s.ToString();
  EXPECT_EQ(lossy.put_if_absent_calls(), 2);
  EXPECT_EQ(*target_->Get("manifests/1"), "theirs");
  EXPECT_EQ(store.Stats().retries, 1u);
  EXPECT_EQ(store.Stats().give_ups, 0u);
}

TEST_F(RetryingStoreTest, PutIfAbsentSeesItsOwnLandedAttempt) {
  LostReplyStore lossy(target_.get(), /*failures=*/1, /*land=*/true);
  RetryingStore store(&lossy, TestPolicy());
  // Attempt 1 lands and loses its reply; attempt 2 meets our own object.
  Status s = store.PutIfAbsent("manifests/2", "mine");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(lossy.put_if_absent_calls(), 2);
  EXPECT_EQ(*target_->Get("manifests/2"), "mine");
  RetryStats stats = store.Stats();
  EXPECT_EQ(stats.calls, 1u);
  EXPECT_EQ(stats.retries, 1u);
}

TEST_F(RetryingStoreTest, PutIfAbsentReadBackIsRetriedToo) {
  // The read-back Get meets transient faults as well and still verifies.
  FaultConfig config;
  config.error_rate = 0.5;
  config.seed = 3;
  FaultInjectingStore faults(target_.get(), config);
  LostReplyStore lossy(&faults, /*failures=*/1, /*land=*/true);
  RetryPolicy policy = TestPolicy();
  policy.max_attempts = 40;
  policy.deadline = std::chrono::hours(24);
  RetryingStore store(&lossy, policy);
  for (int i = 0; i < 20; i++) {
    const std::string key = "manifests/r" + std::to_string(i);
    Status s = store.PutIfAbsent(key, "mine" + std::to_string(i));
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(*target_->Get(key), "mine" + std::to_string(i));
  }
}

TEST_F(RetryingStoreTest, PutIfAbsentRealConflictAfterRetryIsExists) {
  // Attempt 1 fails retryably without landing; during the backoff another
  // writer creates the object. Attempt 2 gets kExists, the read-back differs:
  // kExists, and the other writer's object stays.
  FaultInjectingStore counter(target_.get());
  LostReplyStore lossy(&counter, /*failures=*/1, /*land=*/false);
  RetryPolicy policy = TestPolicy();
  recorder_.on_sleep = [this] { ASSERT_TRUE(target_->PutIfAbsent("manifests/3", "theirs").ok()); };
  RetryingStore store(&lossy, policy);
  Status s = store.PutIfAbsent("manifests/3", "mine");
  EXPECT_EQ(s.code(), Code::kExists) << s.ToString();
  EXPECT_EQ(*target_->Get("manifests/3"), "theirs");
  EXPECT_EQ(lossy.put_if_absent_calls(), 2);
  EXPECT_EQ(counter.calls(), 2u);  // attempt 2 and the read-back
}

TEST_F(RetryingStoreTest, TornPutIfAbsentIsExists) {
  // The first attempt tears (half the data lands, retryable error); the backoff
  // sleep ends the tearing, so the second attempt finds the torn object. Its
  // read-back differs from the data: kExists, documented in the header.
  FaultConfig config;
  config.torn_put = true;
  FaultInjectingStore faults(target_.get(), config);
  RetryPolicy policy = TestPolicy();
  recorder_.on_sleep = [&faults] { faults.set_config(FaultConfig{}); };
  RetryingStore store(&faults, policy);
  Status s = store.PutIfAbsent("manifests/4", "0123456789");
  EXPECT_EQ(s.code(), Code::kExists) << s.ToString();
  EXPECT_EQ(*target_->Get("manifests/4"), "01234");
  EXPECT_EQ(faults.calls(), 3u);  // torn attempt, kExists attempt, read-back
}

TEST_F(RetryingStoreTest, ConcurrentCallsUnderFaults) {
  FaultConfig config;
  config.error_rate = 0.3;
  FaultInjectingStore faults(target_.get(), config);
  RetryPolicy policy = TestPolicy();
  policy.max_attempts = 40;
  policy.deadline = std::chrono::hours(24);
  RetryingStore store(&faults, policy);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; i++) {
        const std::string key = "t" + std::to_string(t) + "/" + std::to_string(i);
        if (!store.Put(key, key).ok()) failures++;
        auto got = store.Get(key);
        if (!got.ok() || *got != key) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  RetryStats stats = store.Stats();
  EXPECT_EQ(stats.calls, 400u);
  EXPECT_EQ(stats.give_ups, 0u);
  EXPECT_EQ(faults.calls(), stats.calls + stats.retries);
}

}  // namespace
}  // namespace strata
