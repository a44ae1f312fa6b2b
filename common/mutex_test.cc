#include "common/mutex.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace strata {
namespace {

using std::chrono::milliseconds;

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    ++n_;
    cv_.SignalAll();
  }
  int WaitAtLeast(int n) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return n_ >= n; });
    return n_;
  }
  bool WaitAtLeastFor(int n, milliseconds d) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return cv_.WaitFor(&mu_, d, [&]() REQUIRES(mu_) { return n_ >= n; });
  }
  // Drops the lock in the middle of a scope and takes it again.
  int AddTwiceWithAGap() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    ++n_;
    l.Unlock();
    l.Lock();
    return ++n_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int n_ GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, ExcludesConcurrentIncrements) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; i++) c.Add();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.WaitAtLeast(40000), 40000);
}

TEST(MutexTest, WaitReturnsOncePredicateHolds) {
  Counter c;
  std::thread waiter([&c] { EXPECT_EQ(c.WaitAtLeast(3), 3); });
  for (int i = 0; i < 3; i++) c.Add();
  waiter.join();
}

TEST(MutexTest, WaitForTimesOutWithFalsePredicate) {
  Counter c;
  EXPECT_FALSE(c.WaitAtLeastFor(1, milliseconds(5)));
  c.Add();
  EXPECT_TRUE(c.WaitAtLeastFor(1, milliseconds(0)));
}

TEST(MutexTest, WaitUntilOnAManualClockEndsWhenTheClockGetsThere) {
  ManualClock clock;
  Mutex mu;
  CondVar cv;
  const auto deadline = clock.SteadyNow() + std::chrono::hours(1);
  std::thread mover([&clock] { clock.Advance(std::chrono::hours(1)); });
  {
    MutexLock l(&mu);
    EXPECT_FALSE(cv.WaitUntil(&mu, &clock, deadline, [] { return false; }));
  }
  mover.join();
}

TEST(MutexTest, WaitUntilOnAClockReturnsOnceThePredicateHolds) {
  for (Clock* clock : {Clock::Real(), static_cast<Clock*>(new ManualClock())}) {
    Mutex mu;
    CondVar cv;
    bool ready = false;
    std::thread setter([&] {
      MutexLock l(&mu);
      ready = true;
      cv.SignalAll();
    });
    {
      MutexLock l(&mu);
      EXPECT_TRUE(cv.WaitUntil(&mu, clock, clock->SteadyNow() + std::chrono::hours(1),
                               [&] { return ready; }));
    }
    setter.join();
    if (clock != Clock::Real()) delete clock;
  }
}

TEST(MutexTest, ScopedLockCanBeDroppedAndRetaken) {
  Counter c;
  EXPECT_EQ(c.AddTwiceWithAGap(), 2);
  EXPECT_EQ(c.AddTwiceWithAGap(), 4);
}

TEST(MutexTest, TryLockFailsWhileHeld) {
  Mutex mu;
  if (!mu.TryLock()) FAIL() << "TryLock of a free mutex failed";
  std::thread other([&mu] {
    if (mu.TryLock()) {
      mu.Unlock();
      ADD_FAILURE() << "TryLock of a held mutex succeeded";
    }
  });
  other.join();
  mu.Unlock();
}

TEST(MutexTest, SharedMutexAdmitsManyReaders) {
  SharedMutex mu;
  ReaderLock a(&mu);
  std::thread other([&mu] { ReaderLock b(&mu); });  // would deadlock if exclusive
  other.join();
}

}  // namespace
}  // namespace strata
