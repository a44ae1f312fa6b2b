// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// clang's thread-safety annotations (common/thread_annotations.h), in the
// manner of LevelDB's port::Mutex. No cost over the std types: they wrap them.
//
//   Mutex mu_;
//   int n_ GUARDED_BY(mu_) = 0;
//   void Add() EXCLUDES(mu_) { MutexLock l(&mu_); ++n_; }
//   void WaitPositive() EXCLUDES(mu_) {
//     MutexLock l(&mu_);
//     cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return n_ > 0; });
//   }
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "common/clock.h"
#include "common/thread_annotations.h"

namespace strata {

class CondVar;

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // For code the checker cannot see into: tells it the caller holds the lock.
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  // BasicLockable, for std::scoped_lock over several mutexes.
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// A reader-writer lock.
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex for its scope; Unlock()/Lock() let a scope drop it for a
// while (the checker follows both).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A condition variable over a Mutex the caller holds. Waits release the
// mutex while blocked and hold it again when they return; spurious wakeups
// happen, so wait with a predicate (the predicate runs with the mutex held).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // Waits until pred() holds; pred runs with the mutex held. Annotate its
  // lambda REQUIRES(the mutex) so the checker reads its body as such. (The
  // predicate waits opt out of the analysis only because the checker cannot
  // tie `mu` to the member the lambda names; callers are still checked.)
  template <class Pred>
  void Wait(Mutex* mu, Pred pred) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    while (!pred()) Wait(mu);
  }
  // Waits until `deadline` at most; true if woken before it (perhaps spuriously).
  bool WaitUntil(Mutex* mu, std::chrono::steady_clock::time_point deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(l, deadline) == std::cv_status::no_timeout;
    l.release();
    return woken;
  }
  // Waits until pred() holds or `deadline` passes: pred()'s last value.
  template <class Pred>
  bool WaitUntil(Mutex* mu, std::chrono::steady_clock::time_point deadline, Pred pred)
      REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    while (!pred()) {
      if (!WaitUntil(mu, deadline)) return pred();
    }
    return true;
  }
  // Waits until pred() holds or `clock` reads `deadline` (a time of its
  // SteadyNow()): pred()'s last value. On the real clock this is WaitUntil
  // above. On another (a test's ManualClock) real time is waited in slices of
  // kClockSlice and the clock read again after each, so a test that moves
  // the clock ends the wait within a slice.
  template <class Pred>
  bool WaitUntil(Mutex* mu, Clock* clock, std::chrono::steady_clock::time_point deadline, Pred pred)
      REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    if (clock == Clock::Real()) return WaitUntil(mu, deadline, std::move(pred));
    while (!pred()) {
      const auto left = deadline - clock->SteadyNow();
      if (left <= std::chrono::steady_clock::duration::zero()) return false;
      WaitUntil(mu, std::chrono::steady_clock::now() +
                        std::min<std::chrono::steady_clock::duration>(left, kClockSlice));
    }
    return true;
  }
  static constexpr std::chrono::milliseconds kClockSlice{1};

  template <class Rep, class Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> d) REQUIRES(mu) {
    return WaitUntil(mu, std::chrono::steady_clock::now() + d);
  }
  template <class Rep, class Period, class Pred>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> d, Pred pred) REQUIRES(mu) {
    return WaitUntil(mu, std::chrono::steady_clock::now() + d, std::move(pred));
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace strata
