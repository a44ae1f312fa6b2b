// Time behind a seam. The parts that act on time (the reaper and idle
// timeouts of endpoints, credential expiry, the time -> seq map, retries
// and their backoff) take a Clock* in their options, so a test moves time
// with a ManualClock instead of sleeping. Clock::Real() is the default.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace strata {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch (CLOCK_REALTIME): timestamps that are
  // stored or shown, expiries, the time -> seq map. May jump.
  virtual int64_t NowNs() = 0;
  // A monotonic clock (CLOCK_MONOTONIC), for durations and deadlines.
  virtual std::chrono::steady_clock::time_point SteadyNow() = 0;
  // Blocks the caller for `d`. A ManualClock advances by `d` instead.
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;

  // The process's clock: never null, never destroyed, thread-safe.
  static Clock* Real();
};

// Clock::Real()->NowNs(), for the timestamps no test needs to control
// (file times in the namespace).
int64_t NowNs();

// ns since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC), as the API and
// the audit log show times.
std::string FormatRfc3339(int64_t ns);

// A clock that moves only when told: Advance(), SetNowNs(), or a SleepFor()
// of the code under test. Both of its readings move together.
// Thread-safe.
class ManualClock final : public Clock {
 public:
  // 2026-01-01T00:00:00Z: a plausible wall-clock start.
  static constexpr int64_t kDefaultStartNs = 1'767'225'600'000'000'000;

  explicit ManualClock(int64_t start_ns = kDefaultStartNs) : now_ns_(start_ns) {}

  int64_t NowNs() override { return now_ns_.load(); }
  std::chrono::steady_clock::time_point SteadyNow() override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(steady_ns_.load()));
  }
  void SleepFor(std::chrono::nanoseconds d) override { Advance(d); }

  void Advance(std::chrono::nanoseconds d) {
    if (d.count() <= 0) return;
    now_ns_ += d.count();
    steady_ns_ += d.count();
  }
  // Sets the wall clock only (as an NTP step would); the steady clock stays.
  void SetNowNs(int64_t ns) { now_ns_ = ns; }

 private:
  std::atomic<int64_t> now_ns_;
  std::atomic<int64_t> steady_ns_{1'000'000'000};
};

}  // namespace strata
